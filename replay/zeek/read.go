package zeek

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/halo-sec/halo/events"
)

// Stats summarises one Read.
type Stats struct {
	// Records is the number of connection records read (skipped ones
	// included; headers, comments and blank lines excluded).
	Records int
	// Emitted is the number of events passed to emit.
	Emitted int
	// Labels is the number of label.recorded events emitted; Malicious
	// the number of those with Malicious set.
	Labels, Malicious int
	// Skipped is the number of records (or lines) rejected as malformed.
	Skipped int
	// Errors holds the first Options.MaxErrors skip reasons, each naming
	// its line.
	Errors []string
	// First is the earliest connection start; Last the latest event time
	// (connection end). Zero when nothing was emitted.
	First, Last time.Time
	// Devices is the number of distinct devices (originators).
	Devices int
	// ByLabel counts accepted records per `label` value (all of them,
	// benign included); empty when the log has no label column.
	ByLabel map[string]int
	// ByDetail counts accepted records per "label/detailedlabel" (just
	// "label" when the detail is unset).
	ByDetail map[string]int
}

// Read parses a Zeek conn.log (TSV or JSON lines, told apart by the first
// non-blank line starting with '{') from r and calls emit, in file order, with
// each record's conn.opened, conn.closed and (for a non-benign label)
// label.recorded events. Malformed records are skipped and counted in Stats.
// It returns an error wrapping ErrNotConnLog when the input is no conn.log,
// ErrInvalidOptions for bad options, and the first error of r or emit
// (wrapped, naming the line); Stats covers what was done until then. To
// cancel, have emit return ctx.Err().
//
// With Options.Source empty, Read reads all of r into memory to take its
// SHA-256 digest first; ImportFile streams a file instead.
func Read(r io.Reader, opts Options, emit func(events.Event) error) (Stats, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	if emit == nil {
		return Stats{}, ErrNoEmit
	}
	if opts.Source == "" {
		b, err := io.ReadAll(r)
		if err != nil {
			return Stats{}, fmt.Errorf("zeek: reading input: %w", err)
		}
		sum := sha256.Sum256(b)
		opts.Source = hex.EncodeToString(sum[:])
		r = bytes.NewReader(b)
	}
	p := &parser{opts: opts, emit: emit, br: bufio.NewReaderSize(r, 64<<10), devices: map[string]struct{}{}}
	err := p.run()
	p.stats.Devices = len(p.devices)
	return p.stats, err
}

// ImportFile reads the conn.log at path like Read, with Options.Source
// defaulting to the SHA-256 hex digest of the file's content.
func ImportFile(path string, opts Options, emit func(events.Event) error) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, fmt.Errorf("zeek: %w", err)
	}
	defer f.Close()
	if opts.Source == "" {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return Stats{}, fmt.Errorf("zeek: hashing %s: %w", path, err)
		}
		opts.Source = hex.EncodeToString(h.Sum(nil))
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Stats{}, fmt.Errorf("zeek: rewinding %s: %w", path, err)
		}
	}
	st, err := Read(f, opts, emit)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

type parser struct {
	opts    Options
	emit    func(events.Event) error
	br      *bufio.Reader
	line    int
	long    []byte
	stats   Stats
	devices map[string]struct{}
	evs     []events.Event

	// TSV state
	sep          string
	unset, empty string
	cols         map[string]int
	ncols        int
	rec          record
}

// errTooLong marks a line longer than Options.MaxLineBytes.
var errTooLong = errors.New("line too long")

// next returns the next line without its line ending, or io.EOF.
func (p *parser) next() ([]byte, error) {
	b, err := p.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		p.long = append(p.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = p.br.ReadSlice('\n')
			if len(p.long) <= p.opts.MaxLineBytes {
				p.long = append(p.long, b...)
			}
		}
		b = p.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if err == io.EOF && len(b) == 0 {
		return nil, io.EOF
	}
	p.line++
	if len(b) > p.opts.MaxLineBytes {
		return nil, errTooLong
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return b, nil
}

func (p *parser) skip(err error) {
	p.stats.Skipped++
	if len(p.stats.Errors) < p.opts.MaxErrors {
		p.stats.Errors = append(p.stats.Errors, fmt.Sprintf("line %d: %v", p.line, err))
	}
}

func (p *parser) run() error {
	isJSON := false
	first := true
	for {
		b, err := p.next()
		if err == io.EOF {
			break
		}
		if err == errTooLong {
			p.stats.Records++
			p.skip(err)
			continue
		}
		if err != nil {
			return fmt.Errorf("zeek: reading line %d: %w", p.line+1, err)
		}
		if first {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		t := bytes.TrimSpace(b)
		if len(t) == 0 {
			continue
		}
		if first {
			first = false
			isJSON = t[0] == '{'
		}
		if isJSON {
			p.stats.Records++
			var r record
			if err := decodeJSON(t, &r); err != nil {
				p.skip(err)
				continue
			}
			if err := p.record(&r); err != nil {
				return err
			}
			continue
		}
		if b[0] == '#' {
			if err := p.header(string(b)); err != nil {
				return err
			}
			continue
		}
		if p.cols == nil {
			return fmt.Errorf("%w: line %d is a record before any #fields header", ErrNotConnLog, p.line)
		}
		p.stats.Records++
		if err := p.splitTSV(string(b)); err != nil {
			p.skip(err)
			continue
		}
		if err := p.record(&p.rec); err != nil {
			return err
		}
	}
	if first {
		return fmt.Errorf("%w: no records and no #fields header", ErrNotConnLog)
	}
	if !isJSON && p.cols == nil {
		return fmt.Errorf("%w: no #fields header", ErrNotConnLog)
	}
	return nil
}

// record emits the events of one record, or counts it as skipped.
func (p *parser) record(r *record) error {
	evs, err := p.recordEvents(p.line, r)
	if err != nil {
		p.skip(err)
		return nil
	}
	for _, e := range evs {
		if err := p.emit(e); err != nil {
			return fmt.Errorf("zeek: emitting %s of line %d: %w", e.Type(), p.line, err)
		}
		p.stats.Emitted++
		if lr, ok := e.Payload.(*events.LabelRecorded); ok {
			p.stats.Labels++
			if lr.Malicious {
				p.stats.Malicious++
			}
		}
		if p.stats.First.IsZero() || e.Time.Before(p.stats.First) {
			p.stats.First = e.Time
		}
		if e.Time.After(p.stats.Last) {
			p.stats.Last = e.Time
		}
	}
	if _, ok := p.devices[evs[0].Device]; !ok {
		p.devices[evs[0].Device] = struct{}{}
	}
	if r.labeled {
		if p.stats.ByLabel == nil {
			p.stats.ByLabel, p.stats.ByDetail = map[string]int{}, map[string]int{}
		}
		p.stats.ByLabel[r.label]++
		k := r.label
		if r.detail != "" {
			k += "/" + r.detail
		}
		p.stats.ByDetail[k]++
	}
	return nil
}

// required are the columns a TSV conn.log must have.
var required = []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"}

// header handles one '#' line of a TSV log.
func (p *parser) header(h string) error {
	if v, ok := strings.CutPrefix(h, "#separator "); ok {
		p.sep = unescape(strings.TrimSpace(v))
		return nil
	}
	sep := p.separator()
	name, val, _ := strings.Cut(h, sep)
	switch name {
	case "#unset_field":
		p.unset = val
	case "#empty_field":
		p.empty = val
	case "#fields":
		var cols []string
		for _, f := range strings.Split(val, sep) {
			// Stratosphere's labelers append "label   detailed-label"
			// with spaces to the last column.
			cols = append(cols, strings.Fields(f)...)
		}
		m := make(map[string]int, len(cols))
		for i, c := range cols {
			m[strings.ToLower(c)] = i
		}
		for _, c := range required {
			if _, ok := m[c]; !ok {
				return fmt.Errorf("%w: line %d: #fields has no %s column", ErrNotConnLog, p.line, c)
			}
		}
		p.cols, p.ncols = m, len(cols)
	}
	return nil
}

func (p *parser) separator() string {
	if p.sep == "" {
		return "\t"
	}
	return p.sep
}

// splitTSV fills p.rec from a TSV line.
func (p *parser) splitTSV(line string) error {
	f := strings.Split(line, p.separator())
	if len(f) < p.ncols && strings.ContainsAny(f[len(f)-1], " ") {
		f = append(f[:len(f)-1], strings.Fields(f[len(f)-1])...)
	}
	if len(f) != p.ncols {
		return fmt.Errorf("%d fields, the #fields header has %d", len(f), p.ncols)
	}
	get := func(name string) string {
		i, ok := p.cols[name]
		if !ok {
			return ""
		}
		v := f[i]
		if v == p.unsetValue() || v == p.emptyValue() {
			return ""
		}
		if strings.Contains(v, `\x`) {
			v = unescape(v)
		}
		return v
	}
	r := &p.rec
	*r = record{
		ts: get("ts"), uid: get("uid"), origH: get("id.orig_h"), origP: get("id.orig_p"),
		respH: get("id.resp_h"), respP: get("id.resp_p"), proto: get("proto"), service: get("service"),
		duration: get("duration"), origBytes: get("orig_bytes"), respBytes: get("resp_bytes"),
		state: get("conn_state"), history: get("history"), origPkts: get("orig_pkts"), respPkts: get("resp_pkts"),
		localOrig: get("local_orig"), localResp: get("local_resp"),
	}
	for _, c := range []string{"label"} {
		if _, ok := p.cols[c]; ok {
			r.labeled, r.label = true, get(c)
		}
	}
	for _, c := range []string{"detailedlabel", "detailed-label", "detailed_label"} {
		if _, ok := p.cols[c]; ok {
			r.detail = get(c)
		}
	}
	return nil
}

func (p *parser) unsetValue() string {
	if p.unset == "" {
		return "-"
	}
	return p.unset
}

func (p *parser) emptyValue() string {
	if p.empty == "" {
		return "(empty)"
	}
	return p.empty
}

// unescape decodes Zeek's \xNN escapes; other text is kept.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// jsonConn is the JSON form of a conn.log record.
type jsonConn struct {
	TS        json.RawMessage `json:"ts"`
	UID       string          `json:"uid"`
	OrigH     string          `json:"id.orig_h"`
	OrigP     json.Number     `json:"id.orig_p"`
	RespH     string          `json:"id.resp_h"`
	RespP     json.Number     `json:"id.resp_p"`
	Proto     string          `json:"proto"`
	Service   string          `json:"service"`
	Duration  json.Number     `json:"duration"`
	OrigBytes json.Number     `json:"orig_bytes"`
	RespBytes json.Number     `json:"resp_bytes"`
	State     string          `json:"conn_state"`
	History   string          `json:"history"`
	LocalOrig *bool           `json:"local_orig"`
	LocalResp *bool           `json:"local_resp"`
	OrigPkts  json.Number     `json:"orig_pkts"`
	RespPkts  json.Number     `json:"resp_pkts"`
	Label     *string         `json:"label"`
	Detail1   string          `json:"detailedlabel"`
	Detail2   string          `json:"detailed-label"`
	Detail3   string          `json:"detailed_label"`
}

// decodeJSON decodes one JSON record: the common flat shape by
// decodeJSONFast, anything else by encoding/json (decodeJSONStd).
func decodeJSON(b []byte, r *record) error {
	if decodeJSONFast(b, r) {
		return nil
	}
	return decodeJSONStd(b, r)
}

func decodeJSONStd(b []byte, r *record) error {
	var j jsonConn
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("bad JSON record: %w", err)
	}
	ts := string(j.TS)
	if len(ts) > 0 && ts[0] == '"' {
		if err := json.Unmarshal(j.TS, &ts); err != nil {
			return fmt.Errorf("ts: %w", err)
		}
	} else if ts == "null" {
		ts = ""
	}
	clean := func(s string) string {
		if s == "-" || s == "(empty)" {
			return ""
		}
		return s
	}
	*r = record{
		ts: ts, uid: j.UID, origH: j.OrigH, origP: j.OrigP.String(), respH: j.RespH, respP: j.RespP.String(),
		proto: j.Proto, service: clean(j.Service), duration: j.Duration.String(),
		origBytes: j.OrigBytes.String(), respBytes: j.RespBytes.String(), state: j.State, history: j.History,
		origPkts: j.OrigPkts.String(), respPkts: j.RespPkts.String(),
		localOrig: tf(j.LocalOrig), localResp: tf(j.LocalResp),
	}
	if j.Label != nil {
		r.labeled, r.label = true, clean(*j.Label)
		r.detail = clean(j.Detail1 + j.Detail2 + j.Detail3)
	}
	return nil
}

// Append puts the events of an import in (event time, id) order — Zeek
// writes a connection when it ends, so files are not in time order — and
// appends them to the log (AppendSorted). The slice is sorted in place.
func Append(ctx context.Context, store events.Store, evs []events.Event) error {
	events.SortByTime(evs)
	_, err := AppendSorted(ctx, store, events.Values(evs))
	return err
}

// AppendSorted appends events already in (event time, id) order (a
// TimeSorter's, for an import larger than memory) to the log in chunks, so
// that each device's events reach the live pipeline in time order and the
// log stays within the store's batch span of time order across partitions:
// the live pipeline consuming the import and a replay of it then agree. It
// returns how many events it appended.
func AppendSorted(ctx context.Context, store events.Store, seq iter.Seq2[events.Event, error]) (int, error) {
	const chunk = 4096
	buf := make([]events.Event, 0, chunk)
	n := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := store.Append(ctx, buf...); err != nil {
			return fmt.Errorf("appending to the log: %w", err)
		}
		n += len(buf)
		clear(buf)
		buf = buf[:0]
		return nil
	}
	for ev, err := range seq {
		if err != nil {
			return n, err
		}
		if buf = append(buf, ev); len(buf) == chunk {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// tf turns a JSON boolean into conn.log's T, F or "" (unset).
func tf(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "T"
	}
	return "F"
}
