package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-27T05:00:00Z", time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)},
		{"2026-11-27T06:00:00+01:00", time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)},
		{"2019-03-01T00:00:00.123456789Z", time.Date(2019, 3, 1, 0, 0, 0, 123456789, time.UTC)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"1h", now.Add(-time.Hour)},
		{"90s", now.Add(-90 * time.Second)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"1d12h", now.Add(-36 * time.Hour)},
		{"0s", now},
	} {
		got, err := parseTime(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-1h", "2026-13-01", "1x", "d", "12:00"} {
		if _, err := parseTime(bad, now); err == nil {
			t.Errorf("parseTime(%q) succeeded, want an error", bad)
		}
	}
}

func TestTypesFlag(t *testing.T) {
	var f typesFlag
	for _, v := range []string{"conn.opened,tx.observed", " alert.raised ", "conn.opened"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := []events.Type{events.TypeConnOpened, events.TypeTxObserved, events.TypeAlertRaised}
	if len(f.types) != len(want) {
		t.Fatalf("types = %v, want %v", f.types, want)
	}
	for i := range want {
		if f.types[i] != want[i] {
			t.Fatalf("types = %v, want %v", f.types, want)
		}
	}
	err := f.Set("conn_opened")
	if err == nil || !strings.Contains(err.Error(), `did you mean "conn.opened"`) {
		t.Errorf("Set(conn_opened) = %v, want a suggestion", err)
	}
	err = f.Set("conn.bogus")
	if err == nil || !strings.Contains(err.Error(), "tx.observed") {
		t.Errorf("Set(conn.bogus) = %v, want the list of known types", err)
	}
}

func TestCheckListenAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8080", "[::1]:8443", ":8080", "localhost:80", "halo-edge.example.com:443"} {
		if err := checkListenAddr(ok, false); err != nil {
			t.Errorf("checkListenAddr(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"8080", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "127.0.0.1:0", "bad_host!:80", "::1:80"} {
		if err := checkListenAddr(bad, false); err == nil {
			t.Errorf("checkListenAddr(%q) succeeded, want an error", bad)
		}
	}
	if err := checkListenAddr("127.0.0.1:0", true); err != nil {
		t.Errorf("port 0 where allowed: %v", err)
	}
}

func TestSameAddr(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{":8080", "127.0.0.1:8080", true},
		{"0.0.0.0:8080", "10.0.0.1:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:8443", false},
		{"127.0.0.1:8080", "127.0.0.2:8080", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
	} {
		if got := sameAddr(tc.a, tc.b); got != tc.want {
			t.Errorf("sameAddr(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSyncFlag(t *testing.T) {
	var f syncFlag
	if err := f.Set("always"); err != nil || f.value != -1 || f.String() != "always" {
		t.Errorf("always: %v %v %q", err, f.value, f.String())
	}
	if err := f.Set("10s"); err != nil || f.value != 10*time.Second {
		t.Errorf("10s: %v %v", err, f.value)
	}
	if f := (syncFlag{2 * time.Minute}); f.String() != "2m" {
		t.Errorf("String() = %q, want 2m", f.String())
	}
	for _, bad := range []string{"0", "-1s", "never", ""} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) succeeded", bad)
		}
	}
}

func TestDurationFlag(t *testing.T) {
	var f durationFlag
	if err := f.Set("30d"); err != nil || f.value != 30*24*time.Hour || f.String() != "720h" {
		t.Errorf("30d: %v %v %q", err, f.value, f.String())
	}
	if err := f.Set("0"); err != nil || f.value != 0 || f.String() != "0" {
		t.Errorf("0: %v %v %q", err, f.value, f.String())
	}
	if err := f.Set("-1h"); err == nil {
		t.Error("negative duration accepted")
	}
}

func TestBytesFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		str  string
	}{
		{"0", 0, "0"},
		{"1073741824", 1 << 30, "1GiB"},
		{"500MB", 500e6, "500MB"},
		{"10GiB", 10 << 30, "10GiB"},
		{"2tb", 2e12, "2TB"},
		{"1500B", 1500, "1500"},
		{"3KB", 3000, "3KB"},
		{"1001", 1001, "1001"},
	} {
		var f bytesFlag
		if err := f.Set(tc.in); err != nil || f.value != tc.want || f.String() != tc.str {
			t.Errorf("Set(%q): err %v, value %d, String %q; want %d %q", tc.in, err, f.value, f.String(), tc.want, tc.str)
		}
	}
	for _, bad := range []string{"", "GiB", "-1", "1.5GB", "10XB", "99999999999TiB"} {
		var f bytesFlag
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) succeeded with %d", bad, f.value)
		}
	}
}

func TestResolveDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/srv/xdg")
	if got, _ := resolveDataDir(""); got != "/srv/xdg/halo" {
		t.Errorf("with XDG_DATA_HOME: %q", got)
	}
	t.Setenv("XDG_DATA_HOME", "relative") // ignored, as the XDG spec says
	t.Setenv("HOME", "/home/op")
	if got, _ := resolveDataDir(""); got != "/home/op/.local/share/halo" {
		t.Errorf("without XDG_DATA_HOME: %q", got)
	}
	if got, _ := resolveDataDir("/var/lib/halo"); got != "/var/lib/halo" {
		t.Errorf("explicit: %q", got)
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://halo:s3cret@nats-1:4222, nats://nats-2:4222")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "nats-2:4222") {
		t.Errorf("redactURLs = %q", got)
	}
}
