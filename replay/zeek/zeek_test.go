package zeek_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/replay/zeek"
)

// dataDir walks up from the package directory to shared/data/zeek.
func dataDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		d := filepath.Join(dir, "shared", "data", "zeek")
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("shared/data/zeek not found above the package directory")
		}
		dir = parent
	}
}

// logFiles lists every conn.log under shared/data/zeek, relative to it.
func logFiles(tb testing.TB) (string, []string) {
	root := dataDir(tb)
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), "conn.log") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	return root, files
}

// want holds hand counts (awk over the non-'#' lines and the last two TSV
// columns; Python over the JSON file) of every log.
var want = map[string]struct{ records, labels, malicious, devices int }{
	"stratosphere/001-zeek-scenario-malicious/labeled-conn.log":          {992, 244, 244, -1},
	"stratosphere/002-zeek-scenario-port-scanning/conn.log":              {4504, 0, 0, 1},
	"stratosphere/008-zeek-mixed/data/conn.log.labeled":                  {5663, 4201, 4201, -1},
	"stratosphere/010-zeek-mixed/data/conn.log.labeled":                  {5347, 3373, 3373, -1},
	"stratosphere/011-zeek-mixed/data/conn.log.labeled":                  {9048, 3951, 3951, -1},
	"stratosphere/012-zeek-mixed/data/conn.log.labeled":                  {4740, 3028, 3028, -1},
	"stratosphere/slips-test18-ctu-sme-11/zeek-labeled/conn.log.labeled": {766, 722, 719, -1},
}

// independentCount counts records and label/detail pairs without the
// package: TSV lines not starting with '#', label and detail in the last two
// tab-separated columns; JSON via a generic map.
func independentCount(tb testing.TB, path string) (records int, devices map[string]bool, byDetail map[string]int) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	devices, byDetail = map[string]bool{}, map[string]int{}
	// The device is the local endpoint: Zeek's flag, else a private,
	// link-local or carrier-grade NAT address (checked here with the
	// standard library's predicates, not the importer's prefix list).
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	local := func(flag, addr string) bool {
		a, err := netip.ParseAddr(addr)
		return flag == "T" || err == nil && (a.IsPrivate() || a.IsLinkLocalUnicast() || cgnat.Contains(a))
	}
	device := func(lo, origH, lr, respH string) string {
		if !local(lo, origH) && local(lr, respH) {
			return respH
		}
		return origH
	}
	col := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#fields\t") {
			for i, name := range strings.Split(l, "\t")[1:] {
				col[name] = i
			}
		}
		if l == "" || l[0] == '#' {
			continue
		}
		records++
		if l[0] == '{' {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				tb.Fatal(err)
			}
			flag := func(k string) string {
				if b, ok := m[k].(bool); ok && b {
					return "T"
				}
				return "F"
			}
			devices[device(flag("local_orig"), m["id.orig_h"].(string), flag("local_resp"), m["id.resp_h"].(string))] = true
			continue
		}
		c := strings.Split(l, "\t")
		at := func(name string) string {
			if i, ok := col[name]; ok && i < len(c) {
				return c[i]
			}
			return "-"
		}
		devices[device(at("local_orig"), c[2], at("local_resp"), c[4])] = true
		k := c[len(c)-2]
		if d := c[len(c)-1]; d != "(empty)" && d != "-" {
			k += "/" + d
		}
		byDetail[k]++
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return records, devices, byDetail
}

func collect(tb testing.TB, path string, opts zeek.Options) ([]events.Event, zeek.Stats) {
	tb.Helper()
	var evs []events.Event
	st, err := zeek.ImportFile(path, opts, func(e events.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		tb.Fatalf("ImportFile(%s): %v", path, err)
	}
	return evs, st
}

func TestRealFiles(t *testing.T) {
	root, files := logFiles(t)
	if len(files) != len(want) {
		t.Errorf("found %d logs under %s, want %d: %v", len(files), root, len(want), files)
	}
	allIDs := map[events.ID]string{}
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			w, ok := want[rel]
			if !ok {
				t.Fatalf("no hand count for %s", rel)
			}
			path := filepath.Join(root, rel)
			evs, st := collect(t, path, zeek.Options{Tenant: "acme"})
			if st.Skipped != 0 {
				t.Errorf("skipped %d: %v", st.Skipped, st.Errors)
			}
			records, devices, byDetail := independentCount(t, path)
			if st.Records != w.records || records != w.records {
				t.Errorf("records = %d, independent count %d, hand count %d", st.Records, records, w.records)
			}
			if st.Labels != w.labels || st.Malicious != w.malicious {
				t.Errorf("labels = %d (malicious %d), want %d (%d)", st.Labels, st.Malicious, w.labels, w.malicious)
			}
			if st.Devices != len(devices) || w.devices >= 0 && st.Devices != w.devices {
				t.Errorf("devices = %d, independent count %d", st.Devices, len(devices))
			}
			if len(byDetail) > 0 && fmt.Sprint(st.ByDetail) != fmt.Sprint(byDetail) {
				t.Errorf("ByDetail = %v, independent count %v", st.ByDetail, byDetail)
			}
			if st.Emitted != len(evs) || len(evs) != 2*st.Records+st.Labels {
				t.Errorf("emitted %d events (stats %d) for %d records and %d labels", len(evs), st.Emitted, st.Records, st.Labels)
			}
			types := map[events.Type]int{}
			opened := map[events.ID]events.Event{}
			for i, e := range evs {
				if err := e.Validate(); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if prev, dup := allIDs[e.ID]; dup {
					t.Fatalf("id %s of %s also in %s", e.ID, rel, prev)
				}
				allIDs[e.ID] = rel
				types[e.Type()]++
				switch p := e.Payload.(type) {
				case *events.ConnOpened:
					opened[e.ID] = e
				case *events.LabelRecorded:
					if len(p.EventIds) != 1 {
						t.Fatalf("label %s has %d event ids", e.ID, len(p.EventIds))
					}
					o, ok := opened[events.ID(p.EventIds[0])]
					if !ok || o.Device != e.Device || !o.Time.Equal(e.Time) || p.Start != e.Time.UnixNano() || p.End <= p.Start {
						t.Fatalf("label %s does not match its conn.opened %v", e.ID, o)
					}
					if p.Source != events.LabelSource_LABEL_SOURCE_IMPORT || p.Malicious != (p.Label == "Malicious") {
						t.Fatalf("label %s: %v", e.ID, p)
					}
				}
			}
			if types[events.TypeConnOpened] != st.Records || types[events.TypeConnClosed] != st.Records || types[events.TypeLabelRecorded] != st.Labels {
				t.Errorf("types %v", types)
			}
			var details []string
			for k, n := range st.ByDetail {
				details = append(details, fmt.Sprintf("%s=%d", k, n))
			}
			sort.Strings(details)
			t.Logf("| %s | %d | %d | %d | %s | %s .. %s (%s) |", rel, st.Records, st.Devices, st.Labels,
				strings.Join(details, ", "), st.First.Format("2006-01-02T15:04:05Z"), st.Last.Format("2006-01-02T15:04:05Z"), st.Last.Sub(st.First).Round(1e9))
		})
	}
}

func TestIDsStable(t *testing.T) {
	root, files := logFiles(t)
	path := filepath.Join(root, files[0])
	a, _ := collect(t, path, zeek.Options{Tenant: "acme"})
	b, _ := collect(t, path, zeek.Options{Tenant: "acme"})
	if len(a) != len(b) {
		t.Fatalf("%d events, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Fatalf("event %d: id %s, then %s", i, a[i].ID, b[i].ID)
		}
	}
	// Read without a Source digests the content: same ids as ImportFile.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c []events.Event
	if _, err := zeek.Read(bytes.NewReader(data), zeek.Options{Tenant: "acme"}, func(e events.Event) error { c = append(c, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(c) != len(a) || c[0].ID != a[0].ID || c[len(c)-1].ID != a[len(a)-1].ID {
		t.Fatal("Read and ImportFile give different ids")
	}
	// Another source gives other ids.
	var d []events.Event
	if _, err := zeek.Read(bytes.NewReader(data), zeek.Options{Tenant: "acme", Source: "other"}, func(e events.Event) error { d = append(d, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if d[0].ID == a[0].ID {
		t.Fatal("a different Source gives the same ids")
	}
	// Another tenant, the same file: other ids (one tenant's import is
	// not taken for a repeat of another's).
	var e []events.Event
	if _, err := zeek.Read(bytes.NewReader(data), zeek.Options{Tenant: "globex"}, func(ev events.Event) error { e = append(e, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if e[0].ID == c[0].ID || e[len(e)-1].ID == c[len(c)-1].ID {
		t.Fatal("another tenant's import of the same file gives the same ids")
	}
}

// stripIDs returns the events with ids and label references cleared, for
// comparing two encodings of the same records.
func stripIDs(evs []events.Event) []events.Event {
	out := make([]events.Event, len(evs))
	for i, e := range evs {
		e.ID = events.ID{}
		e.Payload = proto.Clone(e.Payload).(events.Payload)
		if l, ok := e.Payload.(*events.LabelRecorded); ok {
			l.EventIds = nil
		}
		out[i] = e
	}
	return out
}

func readAll(t *testing.T, data string) ([]events.Event, zeek.Stats) {
	t.Helper()
	var evs []events.Event
	st, err := zeek.Read(strings.NewReader(data), zeek.Options{Tenant: "acme", Source: "s"}, func(e events.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs, st
}

func sameEvents(t *testing.T, a, b []events.Event) {
	t.Helper()
	a, b = stripIDs(a), stripIDs(b)
	if len(a) != len(b) {
		t.Fatalf("%d events vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Tenant != b[i].Tenant || a[i].Device != b[i].Device || !a[i].Time.Equal(b[i].Time) || !proto.Equal(a[i].Payload, b[i].Payload) {
			t.Fatalf("event %d differs:\n%v %v %v\n%v %v %v", i, a[i].Device, a[i].Time, a[i].Payload, b[i].Device, b[i].Time, b[i].Payload)
		}
	}
}

var tsvCols = strings.Fields("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents label detailedlabel")

// TestJSONTSVEquivalent converts real records from each form into the other
// and checks both give the same events.
func TestJSONTSVEquivalent(t *testing.T) {
	root := dataDir(t)
	for _, rel := range []string{
		"stratosphere/002-zeek-scenario-port-scanning/conn.log",
		"stratosphere/slips-test18-ctu-sme-11/zeek-labeled/conn.log.labeled",
		"stratosphere/001-zeek-scenario-malicious/labeled-conn.log",
	} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		var js, tsv strings.Builder
		tsv.WriteString("#separator \\x09\n#unset_field\t-\n#empty_field\t(empty)\n#fields\t" + strings.Join(tsvCols, "\t") + "\n")
		n := 0
		for _, l := range strings.Split(string(data), "\n") {
			if l == "" || l[0] == '#' {
				continue
			}
			if n++; n > 300 {
				break
			}
			row := make([]string, len(tsvCols))
			m := map[string]json.RawMessage{}
			if l[0] == '{' {
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatal(err)
				}
				for i, c := range tsvCols {
					v, ok := m[c]
					switch {
					case !ok:
						row[i] = "-"
					case v[0] == '"':
						var s string
						json.Unmarshal(v, &s)
						row[i] = s
					default:
						row[i] = string(v)
					}
				}
				js.WriteString(l + "\n")
			} else {
				vals := strings.Split(l, "\t")
				obj := map[string]any{}
				for i, c := range tsvCols {
					v := vals[i]
					row[i] = v
					if v == "-" {
						continue
					}
					switch c {
					case "id.orig_h", "id.resp_h", "uid", "proto", "service", "conn_state", "history", "label", "detailedlabel":
						obj[c] = v
					case "local_orig", "local_resp":
						obj[c] = v == "T"
					case "tunnel_parents":
					default:
						obj[c] = json.Number(v)
					}
				}
				b, err := json.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				js.Write(append(b, '\n'))
			}
			tsv.WriteString(strings.Join(row, "\t") + "\n")
		}
		fromJSON, sj := readAll(t, js.String())
		fromTSV, st := readAll(t, tsv.String())
		if sj.Skipped+st.Skipped != 0 || sj.Records != 300 || st.Records != 300 {
			t.Fatalf("%s: json %+v, tsv %+v", rel, sj, st)
		}
		sameEvents(t, fromJSON, fromTSV)
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		state, history string
		want           events.CloseReason
	}{
		{"REJ", "Sr", events.CloseReason_CLOSE_REASON_REFUSED},
		{"S0", "S", events.CloseReason_CLOSE_REASON_TIMEOUT},
		{"OTH", "C", events.CloseReason_CLOSE_REASON_TIMEOUT},
		{"S1", "ShAD", events.CloseReason_CLOSE_REASON_TIMEOUT},
		{"SF", "ShADadFf", events.CloseReason_CLOSE_REASON_CLIENT},
		{"SF", "ShADadfF", events.CloseReason_CLOSE_REASON_SERVER},
		{"SF", "Dd", events.CloseReason_CLOSE_REASON_CLIENT},
		{"S2", "", events.CloseReason_CLOSE_REASON_CLIENT},
		{"S3", "", events.CloseReason_CLOSE_REASON_SERVER},
		{"RSTO", "", events.CloseReason_CLOSE_REASON_CLIENT},
		{"RSTOS0", "", events.CloseReason_CLOSE_REASON_CLIENT},
		{"SH", "", events.CloseReason_CLOSE_REASON_CLIENT},
		{"RSTR", "", events.CloseReason_CLOSE_REASON_SERVER},
		{"RSTRH", "", events.CloseReason_CLOSE_REASON_SERVER},
		{"SHR", "", events.CloseReason_CLOSE_REASON_SERVER},
		{"", "", events.CloseReason_CLOSE_REASON_UNSPECIFIED},
		{"XYZ", "", events.CloseReason_CLOSE_REASON_UNSPECIFIED},
	} {
		if got := zeek.Reason(tc.state, tc.history); got != tc.want {
			t.Errorf("Reason(%q, %q) = %v, want %v", tc.state, tc.history, got, tc.want)
		}
	}
}

const header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts\tlabel\tdetailedlabel\n" +
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tstring\tcount\tcount\tstring\tstring\n"

func TestRecordFields(t *testing.T) {
	evs, st := readAll(t, header+
		"1655071198.444458\tCa\t10.0.0.5\t62771\t2001:db8::1\t443\ttcp\tssl\t1.5\t1596\t4039\tSF\tShADdaFf\t14\t16\tMalicious\tC&C\n"+
		"1655071199.000001\tCb\t10.0.0.6\t1\t10.0.0.1\t53\tudp\t-\t-\t-\t-\tS0\tD\t1\t0\tBackground\t(empty)\n"+
		"#close\t2022-06-17-00-00-07\n")
	if st.Records != 2 || st.Skipped != 0 || st.Labels != 1 || len(evs) != 5 || st.Devices != 2 {
		t.Fatalf("stats %+v, %d events", st, len(evs))
	}
	o := evs[0].Payload.(*events.ConnOpened)
	want := &events.ConnOpened{ConnId: "Ca", SrcAddr: "10.0.0.5:62771", DstIp: "2001:db8::1", DstHost: "2001:db8::1", DstPort: 443,
		Mode: events.ConnMode_CONN_MODE_IMPORTED, Transport: "tcp", Service: "ssl"}
	if !proto.Equal(o, want) || evs[0].Device != "10.0.0.5" || evs[0].Tenant != "acme" || evs[0].Time.UnixNano() != 1655071198444458000 {
		t.Errorf("opened %v %v", evs[0], o)
	}
	c := evs[1].Payload.(*events.ConnClosed)
	wantC := &events.ConnClosed{ConnId: "Ca", BytesUp: 1596, BytesDown: 4039, PacketsUp: 14, PacketsDown: 16, DurationNs: 1.5e9, State: "SF", Reason: events.CloseReason_CLOSE_REASON_CLIENT}
	if !proto.Equal(c, wantC) || evs[1].Time.UnixNano() != 1655071199944458000 {
		t.Errorf("closed %v %v", evs[1].Time, c)
	}
	l := evs[2].Payload.(*events.LabelRecorded)
	if l.Label != "Malicious" || l.Detail != "C&C" || !l.Malicious || l.Start != evs[0].Time.UnixNano() || l.End != evs[1].Time.UnixNano() ||
		events.ID(l.EventIds[0]) != evs[0].ID || evs[2].ID != events.DerivedID("zeek", "acme", "s", "8", "label") {
		t.Errorf("label %v %v", evs[2], l)
	}
	if o2 := evs[3].Payload.(*events.ConnOpened); o2.Service != "" || !evs[4].Time.Equal(evs[3].Time) {
		t.Errorf("unset service/duration: %v %v", o2, evs[4])
	}
}

// TestStratosphereSpaces reads the IoT-23 layout: label columns appended with
// spaces, CRLF line endings, no #close, detailed-label with a hyphen.
func TestStratosphereSpaces(t *testing.T) {
	in := "#separator \\x09\r\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\ttunnel_parents   label   detailed-label\r\n" +
		"1545403816.962094\tCrDn63\t192.168.1.195\t41040\t185.244.25.235\t80\ttcp\t-\t-   Malicious   PartOfAHorizontalPortScan\r\n"
	evs, st := readAll(t, in)
	if st.Skipped != 0 || len(evs) != 3 {
		t.Fatalf("%+v", st)
	}
	if l := evs[2].Payload.(*events.LabelRecorded); l.Detail != "PartOfAHorizontalPortScan" {
		t.Errorf("label %v", l)
	}
}

func TestMalformed(t *testing.T) {
	good := "1655071198.444458\tCa\t10.0.0.5\t62771\t10.0.0.1\t443\ttcp\tssl\t1.5\t1\t2\tSF\tF\t1\t1\tBenign\t-\n"
	in := header + good +
		"1655071198.444458\tCa\t10.0.0.5\t62771\n" + // line 9: field count
		strings.Replace(good, "62771", "70000", 1) + // 10: port
		strings.Replace(good, "10.0.0.5", "fe80::1%eth0", 1) + // 11: zone
		strings.Replace(good, "10.0.0.5", "host", 1) + // 12: address
		strings.Replace(good, "1655071198.444458", "99999999999", 1) + // 13: time
		strings.Replace(good, "\t1\t2\t", "\tx\t2\t", 1) + // 14: count
		strings.Replace(good, "\t1.5\t", "\t-1\t", 1) + // 15: duration
		good
	evs, st := readAll(t, in)
	if st.Records != 9 || st.Skipped != 7 || len(evs) != 4 || len(st.Errors) != 7 {
		t.Fatalf("stats %+v, %d events", st, len(evs))
	}
	for i, e := range st.Errors {
		if !strings.HasPrefix(e, fmt.Sprintf("line %d: ", 9+i)) {
			t.Errorf("error %d = %q", i, e)
		}
	}
	t.Logf("errors: %q", st.Errors)

	js := `{"ts":1,"uid":"C","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"tcp"}` + "\nnot json\n{\"ts\":true}\n"
	_, st = readAll(t, js)
	if st.Records != 3 || st.Skipped != 2 || st.Emitted != 2 {
		t.Fatalf("json stats %+v", st)
	}
}

func TestNotConnLog(t *testing.T) {
	for _, in := range []string{
		"", "\n\n", "hello world\n", "#separator \\x09\n#path\tdns\n",
		"#separator \\x09\n#fields\tts\tuid\tquery\n1\tC\tx\n",
	} {
		_, err := zeek.Read(strings.NewReader(in), zeek.Options{Tenant: "acme"}, func(events.Event) error { return nil })
		if !errors.Is(err, zeek.ErrNotConnLog) {
			t.Errorf("Read(%q) = %v, want ErrNotConnLog", in, err)
		}
	}
}

func TestOptionsAndEmitErrors(t *testing.T) {
	if _, err := zeek.Read(strings.NewReader(header), zeek.Options{Tenant: "a b"}, func(events.Event) error { return nil }); !errors.Is(err, zeek.ErrInvalidOptions) {
		t.Errorf("bad tenant: %v", err)
	}
	if _, err := zeek.Read(strings.NewReader(header), zeek.Options{Tenant: "a"}, nil); !errors.Is(err, zeek.ErrNoEmit) {
		t.Errorf("nil emit: %v", err)
	}
	stop := errors.New("stop")
	in := header + "1.5\tCa\t10.0.0.5\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tS0\tS\t1\t0\t-\t-\n"
	st, err := zeek.Read(strings.NewReader(in), zeek.Options{Tenant: "a", Source: "x"}, func(events.Event) error { return stop })
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "line 8") || st.Emitted != 0 {
		t.Errorf("emit error: %v, %+v", err, st)
	}
	if _, err := zeek.ImportFile(filepath.Join(t.TempDir(), "missing"), zeek.Options{Tenant: "a"}, func(events.Event) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func ExampleRead() {
	log := "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\tconn_state\tlabel\tdetailedlabel\n" +
		"1655071231.749548\tCEL3a\t193.201.9.232\t46563\t147.32.81.167\t3933\ttcp\t-\t0.000010\tS0\tMalicious\tExternal-Attack-to-Device\n"
	st, err := zeek.Read(strings.NewReader(log), zeek.Options{Tenant: "acme", Source: "example"}, func(e events.Event) error {
		fmt.Println(e.Type(), e.Device, e.Time.Format("15:04:05.000000"))
		return nil
	})
	fmt.Println(st.Records, st.Emitted, st.Labels, err)
	// Output:
	// conn.opened 193.201.9.232 22:00:31.749548
	// conn.closed 193.201.9.232 22:00:31.749558
	// label.recorded 193.201.9.232 22:00:31.749548
	// 1 3 1 <nil>
}

// TestLocalNets: the device is the endpoint inside LocalNets, so a site
// whose devices have public addresses attributes an inbound connection to
// the device, seen from its side.
func TestLocalNets(t *testing.T) {
	in := `{"ts":1664462456.5,"uid":"Cout","id.orig_h":"203.0.113.5","id.orig_p":40000,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","duration":0.1,"orig_bytes":10,"resp_bytes":90,"conn_state":"SF"}
{"ts":1664462457.5,"uid":"Cin","id.orig_h":"198.51.100.9","id.orig_p":51000,"id.resp_h":"203.0.113.5","id.resp_p":23,"proto":"tcp","duration":1,"orig_bytes":300,"resp_bytes":20,"conn_state":"SF"}
`
	read := func(nets []netip.Prefix) []events.Event {
		var evs []events.Event
		if _, err := zeek.Read(strings.NewReader(in), zeek.Options{Tenant: "site", Source: "t", LocalNets: nets}, func(e events.Event) error {
			evs = append(evs, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	// Default (private ranges): neither endpoint is local, so each record
	// stays with its originator.
	if evs := read(nil); evs[0].Device != "203.0.113.5" || evs[2].Device != "198.51.100.9" {
		t.Fatalf("default attribution: %s, %s", evs[0].Device, evs[2].Device)
	}
	evs := read([]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")})
	op := evs[2].Payload.(*events.ConnOpened)
	cl := evs[3].Payload.(*events.ConnClosed)
	if evs[0].Device != "203.0.113.5" || evs[2].Device != "203.0.113.5" || !op.Inbound || op.DstIp != "198.51.100.9" || cl.BytesUp != 20 || cl.BytesDown != 300 {
		t.Fatalf("with --local-net: device %s inbound %v peer %s up %d down %d", evs[2].Device, op.Inbound, op.DstIp, cl.BytesUp, cl.BytesDown)
	}
}
