package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestParseLabels: the simulator's format is read (blank lines and CRLF
// skipped, a missing end is the start), and every malformed line is an
// error naming the file and the line.
func TestParseLabels(t *testing.T) {
	in := "{\"tenant\":\"shop\",\"device\":\"pos-1\",\"label\":\"replay\",\"start\":\"2026-11-27T10:00:00Z\",\"end\":\"2026-11-27T10:02:00Z\"}\r\n" +
		"\n   \n" +
		`{"tenant":"shop","device":"pos-2","label":"Malicious","detail":"C&C","start":"2026-11-27T11:00:00Z"}` + "\n"
	ls, err := parseLabels(strings.NewReader(in), "a.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || !ls[0].Malicious || !ls[1].Malicious || ls[1].Name() != "C&C" || !ls[1].End.Equal(ls[1].Start) ||
		ls[0].End.Sub(ls[0].Start) != 2*time.Minute {
		t.Fatalf("labels %+v", ls)
	}
	for _, c := range []struct{ in, want string }{
		{"{\"tenant\":\"a\"\n", "a.jsonl line 1: unexpected EOF"},
		{"\n{\"tenant\":\"a\",\"device\":\"d\"}\n", "a.jsonl line 2: tenant, device and start are required"},
		{`{"tenant":"a","device":"d","start":"2026-11-27T10:00:00Z","malicious":true}`, `a.jsonl line 1: json: unknown field "malicious"`},
		{`{"tenant":"a","device":"d","start":"2026-11-27T10:00:00Z","end":"2026-11-27T09:00:00Z"}`, "a.jsonl line 1: end 2026-11-27T09:00:00Z is before start 2026-11-27T10:00:00Z"},
		{`{"tenant":"a","device":"d","start":"2026-11-27T10:00:00Z"} {"tenant":"b"}`, "a.jsonl line 1: more than one JSON value on the line"},
		{`{"tenant":"a","device":"d","start":"yesterday"}`, "a.jsonl line 1: parsing time"},
		{"\n\n" + strings.Repeat("x", maxLabelLine+1) + "\n", "a.jsonl line 3: longer than 1048576 bytes"},
	} {
		if _, err := parseLabels(strings.NewReader(c.in), "a.jsonl"); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%.60q: error %v, want %q", c.in, err, c.want)
		}
	}
}

// FuzzParseLabels: any bytes give labels or an error naming the line, never
// a panic; every label read has a tenant, a device, a start and an end not
// before it, is malicious, and reads back the same from its JSON.
func FuzzParseLabels(f *testing.F) {
	f.Add([]byte(`{"tenant":"shop","device":"pos-1","label":"replay","start":"2026-11-27T10:00:00Z","end":"2026-11-27T10:02:00Z"}` + "\n"))
	f.Add([]byte("\r\n{\"tenant\":\"a\",\"device\":\"d\",\"label\":\"x\",\"detail\":\"DDoS\",\"start\":\"2026-11-27T10:00:00.5+02:00\"}\r\n"))
	f.Add([]byte(`{"tenant":"a","device":"d","start":"2026-11-27T10:00:00Z","end":"2026-11-27T09:00:00Z"}`))
	f.Add([]byte(`{"tenant":"a"} {"x":1}` + "\n[1,2]\nnull\n\"s\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, err := parseLabels(bytes.NewReader(b), "f.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.jsonl") {
				t.Fatalf("error without the file's name: %v", err)
			}
			return
		}
		for _, l := range ls {
			if l.Tenant == "" || l.Device == "" || l.Start.IsZero() || l.End.Before(l.Start) || !l.Malicious {
				t.Fatalf("label %+v", l)
			}
			j, err := json.Marshal(l)
			if err != nil {
				continue // a time JSON cannot write (year past 9999): not read back
			}
			back, err := parseLabels(bytes.NewReader(j), "back")
			if err != nil || len(back) != 1 || back[0].Tenant != l.Tenant || back[0].Device != l.Device || back[0].Label != l.Label ||
				back[0].Detail != l.Detail || !back[0].Start.Equal(l.Start) || !back[0].End.Equal(l.End) {
				t.Fatalf("label %+v reads back as %+v (%v) from %s", l, back, err, j)
			}
		}
	})
}
