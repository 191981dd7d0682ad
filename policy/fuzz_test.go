package policy

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/halo-sec/halo/events"
)

// FuzzParse feeds Parse arbitrary bytes (a tenant's policy comes through
// the API and the command line): it never panics, an accepted document is
// valid, and rendering it back (as Record stores it) and parsing that gives
// the same document; the decisions made with it do not panic either.
func FuzzParse(f *testing.F) {
	def := Default()
	b, err := def.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{
		"",
		"rules: []\n",
		"replay_shield:\n  enabled: false\n  methods: [put, delete]\n  horizon: 90m\nquarantine:\n  allow: [\"*.mgmt.example.com\", 10.0.0.0/8, \"::1\"]\nrules:\n  - detector: scan\n    min_severity: high\n    actions: [quarantine]\n    expiry: 2h\n    dry_run: true\n",
		"rules:\n  - detector: \"*\"\n    actions: [notify, block-destination, block-fingerprint]\n",
		"rules:\n  - detector: x\n    actions: [nope]\n    expiry: -1h\n",
		"quarantine:\n  allow: [\"[\"]\n",
		"replay_shield:\n  horizon: 1y\n",
		"version: 3\nextra: 1\n",
		"rules: &a [*a]\n",
		"--- \n...\n",
		"rules:\n  - {detector: flood, actions: [quarantine], min_severity: critical}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			if !reflect.DeepEqual(d, Document{}) {
				t.Fatalf("an error with a document: %v", err)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid document: %v", err)
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("rendering an accepted document: %v", err)
		}
		d2, err := Parse(out)
		if err != nil {
			t.Fatalf("the rendering of an accepted document does not parse: %v\n%s", err, out)
		}
		// Compared as rendered: an absent list and an empty one are the
		// same policy.
		if out2, err := d2.Marshal(); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the document (%v):\n%s\n%s", err, out, out2)
		}
		for sev := events.Severity(0); sev <= 6; sev++ {
			d.RuleFor("scan", sev)
		}
		d.ShieldApplies("POST")
		d.QuarantineAllows("updates.example.com", netip.MustParseAddr("10.1.2.3"))
	})
}
