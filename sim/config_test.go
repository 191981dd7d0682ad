package sim

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAttacks(t *testing.T) {
	got, err := ParseAttacks(" beacon@10m:device-3, replay@5m ,scan@30s:acme-pos-00002,,flood@0s")
	if err != nil {
		t.Fatal(err)
	}
	want := []Attack{{AttackFlood, 0, ""}, {AttackScan, 30 * time.Second, "acme-pos-00002"}, {AttackReplay, 5 * time.Minute, ""}, {AttackBeacon, 10 * time.Minute, "device-3"}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("attack %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if a, err := ParseAttacks(""); err != nil || len(a) != 0 {
		t.Fatalf("empty schedule: %v %v", a, err)
	}
	// Every problem is reported at once.
	_, err = ParseAttacks("nuke@1m,replay,scan@soon,beacon@-1s")
	if !errors.Is(err, ErrAttackSpec) {
		t.Fatalf("err %v, want ErrAttackSpec", err)
	}
	for _, s := range []string{`unknown attack "nuke"`, `"replay": want KIND@OFFSET`, `offset "soon"`, `offset "-1s"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func FuzzParseAttacks(f *testing.F) {
	for _, s := range []string{"replay@5m,beacon@10m:device-3", "scan@0s:7", "flood@1h30m:acme-pos-00001", "", ",,", "x@y:z", "badcert@1s:", "@:", "exfil@5m:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseAttacks(s)
		if err != nil {
			if !errors.Is(err, ErrAttackSpec) {
				t.Fatalf("error %v is not ErrAttackSpec", err)
			}
			return
		}
		// What parses prints back to a schedule that parses the same.
		parts := make([]string, len(as))
		for i, a := range as {
			parts[i] = a.String()
		}
		again, err := ParseAttacks(strings.Join(parts, ","))
		if err != nil {
			t.Fatalf("%q → %q: %v", s, parts, err)
		}
		for i := range as {
			if again[i] != as[i] {
				t.Fatalf("%q: %v then %v", s, as, again)
			}
		}
	})
}

func TestConfigValidateReportsEverything(t *testing.T) {
	c := Config{Edge: "nowhere", Tenant: "bad tenant!", Devices: -1, Rate: -2, Duration: time.Minute,
		Attacks: []Attack{{Kind: "scan", At: 2 * time.Minute}, {Kind: "replay", Device: "device-99"}}}
	c.setDefaults()
	err := c.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v", err)
	}
	for _, s := range []string{"edge", "store", "data directory", "tenant", "devices -1", "rate -2", "starts after", "device-99"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q:\n%v", s, err)
		}
	}
}

func TestDeviceIndex(t *testing.T) {
	c := Config{Tenant: "acme", Devices: 5}
	c.setDefaults()
	for in, want := range map[string]int{"3": 3, "device-5": 5, "acme-pos-00002": 2} {
		if got, err := c.deviceIndex(in); err != nil || got != want {
			t.Errorf("deviceIndex(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "device-6", "other-00001"} {
		if _, err := c.deviceIndex(in); err == nil {
			t.Errorf("deviceIndex(%q): no error", in)
		}
	}
}

func TestNumCohorts(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 7: 3, 8: 4, 1000: 4} {
		if got := numCohorts(n); got != want {
			t.Errorf("numCohorts(%d) = %d, want %d", n, got, want)
		}
	}
}
