package zeek

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
)

// FuzzJSONFast: whenever the fast decoder takes a line, encoding/json
// accepts it too and decodes the same record.
func FuzzJSONFast(f *testing.F) {
	for _, s := range []string{
		`{"ts":1664462456.755299,"uid":"C5xhsO3uGtOfyrBlHh","id.orig_h":"172.16.1.11","id.orig_p":40042,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","service":"dns","duration":0.012166976928710938,"orig_bytes":0,"resp_bytes":111,"conn_state":"SHR","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Cd","orig_pkts":0,"orig_ip_bytes":0,"resp_pkts":1,"resp_ip_bytes":139}`,
		`{"ts":"2022-06-12T21:56:55.5Z","uid":"C1","label":"Malicious","detailed-label":"C&C","tunnel_parents":["a","b"],"local_orig":null}`,
		`{"ts":null,"uid":"C2","label":null,"duration":null,"service":"-"}`,
		`{}`, ` { "uid" : "x" } `, `{"UID":"x"}`, `{"uid":"a\"b"}`, `{"uid":5}`, `{"id.orig_p":"53"}`, `{"x":{"y":1}}`,
		`{"id.orig_p":01}`, `{"uid":"a"} x`, `{"uid":"a",}`, `{"duration":-0.5e-3}`, `{"label":"x","label":null}`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, std record
		if !decodeJSONFast(b, &fast) {
			return
		}
		if err := decodeJSONStd(b, &std); err != nil {
			t.Fatalf("the fast decoder took %q, encoding/json refuses it: %v", b, err)
		}
		if fast != std {
			t.Fatalf("%q:\nfast %+v\nstd  %+v", b, fast, std)
		}
	})
}

// TestJSONFastOnRealLog: every record of the JSON port-scan log takes the
// fast path and decodes as encoding/json does.
func TestJSONFastOnRealLog(t *testing.T) {
	dir, _ := os.Getwd()
	var path string
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(filepath.Dir(d), "shared", "data", "zeek", "stratosphere", "002-zeek-scenario-port-scanning", "conn.log")
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("shared/data/zeek not found above " + dir)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var fast, std record
		if !decodeJSONFast(sc.Bytes(), &fast) {
			t.Fatalf("line %d fell back: %s", n+1, sc.Bytes())
		}
		if err := decodeJSONStd(sc.Bytes(), &std); err != nil || fast != std {
			t.Fatalf("line %d: %v\nfast %+v\nstd  %+v", n+1, err, fast, std)
		}
		n++
	}
	if n != 4504 {
		t.Fatalf("%d lines, want 4504", n)
	}
}

// BenchmarkDecodeJSON compares the fast decoder with encoding/json on one
// record of the port-scan log.
func BenchmarkDecodeJSON(b *testing.B) {
	line := []byte(`{"ts":1664462456.755299,"uid":"C5xhsO3uGtOfyrBlHh","id.orig_h":"172.16.1.11","id.orig_p":40042,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","service":"dns","duration":0.012166976928710938,"orig_bytes":0,"resp_bytes":111,"conn_state":"SHR","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Cd","orig_pkts":0,"orig_ip_bytes":0,"resp_pkts":1,"resp_ip_bytes":139}`)
	var r record
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !decodeJSONFast(line, &r) {
				b.Fatal("fell back")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeJSONStd(line, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
