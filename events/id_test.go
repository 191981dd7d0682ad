package events_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func idVersion(id events.ID) int { return int(id[6] >> 4) }

// idVariantRFC reports whether id has the RFC 9562 variant (10xx).
func idVariantRFC(id events.ID) bool { return id[8]&0xc0 == 0x80 }

func TestNewID(t *testing.T) {
	before := time.Now()
	const n = 10000
	ids := make([]events.ID, n)
	for i := range ids {
		ids[i] = events.NewID()
	}
	after := time.Now()
	for i, id := range ids {
		if v := idVersion(id); v != 7 {
			t.Fatalf("id %d %s is version %d, want 7", i, id, v)
		}
		if !idVariantRFC(id) {
			t.Fatalf("id %d %s: variant is not RFC 9562", i, id)
		}
		if id.IsZero() {
			t.Fatalf("id %d is zero", i)
		}
		if i > 0 {
			if bytes.Compare(ids[i-1][:], id[:]) >= 0 {
				t.Fatalf("ids %d and %d are not strictly increasing: %s, %s", i-1, i, ids[i-1], id)
			}
			if ids[i-1].Compare(id) != -1 || id.Compare(ids[i-1]) != 1 {
				t.Fatalf("Compare disagrees with the byte order for %s, %s", ids[i-1], id)
			}
		}
	}
	// The embedded time has millisecond precision; allow a second either way.
	for _, id := range []events.ID{ids[0], ids[n-1]} {
		ts := id.Time()
		if ts.Before(before.Add(-time.Second)) || ts.After(after.Add(time.Second)) {
			t.Errorf("%s.Time() = %v, not within a second of [%v, %v]", id, ts, before, after)
		}
		if ts.Location() != time.UTC {
			t.Errorf("%s.Time() is in %v, want UTC", id, ts.Location())
		}
	}
}

func TestDerivedID(t *testing.T) {
	a := events.DerivedID("zeek:sha256:9f2c", "conn.log", "1042")
	if b := events.DerivedID("zeek:sha256:9f2c", "conn.log", "1042"); a != b {
		t.Errorf("DerivedID is not deterministic: %s, %s", a, b)
	}
	if v := idVersion(a); v != 5 {
		t.Errorf("DerivedID is version %d, want 5", v)
	}
	if !idVariantRFC(a) {
		t.Errorf("DerivedID %s: variant is not RFC 9562", a)
	}
	if !a.Time().IsZero() {
		t.Errorf("a derived id carries no time, got %v", a.Time())
	}
	// Pinned: a derived id must not change between releases, or a
	// re-import would store every event a second time.
	if got, want := events.DerivedID("source", "part").String(), pinnedDerivedID; got != want {
		t.Errorf(`DerivedID("source", "part") = %s, want %s (derived ids must never change)`, got, want)
	}

	distinct := [][]string{
		{"ab", "c"},
		{"a", "bc"},
		{"abc"},
		{"abc", ""},
		{"", "abc"},
		{"a", "b", "c"},
		{"a\x00\x00\x00\x01b", "c"},
		{"zeek:sha256:9f2c", "conn.log", "1042"},
		{"zeek:sha256:9f2c", "conn.log", "1043"},
	}
	seen := map[events.ID][]string{}
	for _, parts := range distinct {
		id := events.DerivedID(parts[0], parts[1:]...)
		if prev, ok := seen[id]; ok {
			t.Errorf("DerivedID(%q) = DerivedID(%q) = %s", parts, prev, id)
		}
		seen[id] = parts
	}
}

// pinnedDerivedID is DerivedID("source", "part") as first released: UUIDv5
// (SHA-1) in namespace 6f1d3c52-7a0e-4b8e-9d51-0c7a4e2b9f10 of the 4-byte
// big-endian length-prefixed parts, checked independently with Python's
// uuid.uuid5.
const pinnedDerivedID = "ed77f099-9072-51a1-993e-5154610bd762"

func TestIDText(t *testing.T) {
	for _, id := range []events.ID{events.NewID(), events.DerivedID("x"), sampleID(1), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		s := id.String()
		if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || strings.ToLower(s) != s {
			t.Errorf("String() = %q, want the canonical lower-case form", s)
		}
		got, err := events.ParseID(s)
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %s, %v; want %s", s, got, err, id)
		}
		got, err = events.ParseID(strings.ToUpper(s))
		if err != nil || got != id {
			t.Errorf("ParseID(upper %q) = %s, %v", s, got, err)
		}
		got, err = events.ParseID(strings.ReplaceAll(s, "-", ""))
		if err != nil || got != id {
			t.Errorf("ParseID(32 hex digits of %q) = %s, %v", s, got, err)
		}

		text, err := id.MarshalText()
		if err != nil || string(text) != s {
			t.Errorf("MarshalText = %q, %v; want %q", text, err, s)
		}
		var back events.ID
		if err := back.UnmarshalText(text); err != nil || back != id {
			t.Errorf("UnmarshalText(%q) = %s, %v", text, back, err)
		}

		// Through encoding/json, as a map key and a value.
		type doc struct {
			ID   events.ID
			Seen map[events.ID]int
		}
		j, err := json.Marshal(doc{ID: id, Seen: map[events.ID]int{id: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"ID":"` + s + `","Seen":{"` + s + `":1}}`; string(j) != want {
			t.Errorf("json.Marshal = %s, want %s", j, want)
		}
		var d doc
		if err := json.Unmarshal(j, &d); err != nil || d.ID != id || d.Seen[id] != 1 {
			t.Errorf("json.Unmarshal(%s) = %+v, %v", j, d, err)
		}
	}
	if s := (events.ID{}).String(); s != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("zero ID String() = %q", s)
	}
}

func TestParseIDRejectsGarbage(t *testing.T) {
	for _, s := range []string{
		"",
		"not-an-id",
		"0196f3a2-5c4d-7e8f-9a0b-00000000000",   // 35 characters
		"0196f3a2-5c4d-7e8f-9a0b-0000000000001", // 37 characters
		"0196f3a2-5c4d-7e8f-9a0b-00000000000g",  // not hex
		"0196f3a2+5c4d-7e8f-9a0b-000000000001",  // wrong separator
		"0196f3a25c4d7e8f9a0b00000000000",       // 31 hex digits
		"0196f3a2-5c4d-7e8f-9a0b-000000000001\n",
		" 0196f3a2-5c4d-7e8f-9a0b-000000000001",
		"\xff\xfe",
	} {
		if id, err := events.ParseID(s); err == nil {
			t.Errorf("ParseID(%q) = %s, want an error", s, id)
		}
		var id events.ID
		if err := id.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", s)
		}
		if !id.IsZero() {
			t.Errorf("UnmarshalText(%q) changed the id on error: %s", s, id)
		}
	}
}

func TestIDCompareAndTime(t *testing.T) {
	a, b := sampleID(1), sampleID(2)
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Errorf("Compare(%s, %s) wrong", a, b)
	}
	// sampleID's time: 0x0196f3a25c4d ms after the epoch.
	if got, want := a.Time(), time.UnixMilli(0x0196f3a25c4d).UTC(); !got.Equal(want) {
		t.Errorf("Time() = %v, want %v", got, want)
	}
	if !(events.ID{}).IsZero() || a.IsZero() {
		t.Error("IsZero wrong")
	}
	if !(events.ID{}).Time().IsZero() {
		t.Error("the zero id has a time")
	}
}
