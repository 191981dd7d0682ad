package features

import (
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/pipeline/window"
)

// scratch holds the reusable sets of Compute.
type scratch struct {
	hosts, ips, ports, dsts, tls, strict, loose set
}

// columns are the typed value slices and arrays of a window's batch.
type columns struct {
	typ, mode, reason, outcome []int8
	port, status               []uint32
	up, down                   []uint64
	dur                        []int64
	host, ip, tls, state       strs
	strict, loose              *array.Binary
}

// strs reads a utf8 column's values, testing the validity bit only of a
// value with bytes: a null slot's value is "" whatever the bitmap says,
// unless it holds bytes, which Arrow allows (the window's batches never
// do). The bitmap is read from the array's own fields: its buffers are
// other allocations, cold in a window of a few rows.
type strs struct {
	a     *array.String
	valid []byte // validity bitmap; nil when the column has no nulls
	bit0  int    // the bit of value 0 in valid
}

// bind reads a into s (in place: a window of a few rows pays for bind's
// copies more than for the rows).
func (s *strs) bind(a *array.String) {
	s.a, s.valid, s.bit0 = a, nil, 0
	if v := a.NullBitmapBytes(); len(v) > 0 {
		s.valid, s.bit0 = v, a.Offset()
	}
}

// at returns value i, "" when null.
func (s *strs) at(i int) string {
	v := s.a.Value(i)
	if v != "" && s.valid != nil {
		if j := s.bit0 + i; s.valid[j>>3]>>(j&7)&1 == 0 {
			return ""
		}
	}
	return v
}

// bind reads w's columns into c (Compute keeps them on its stack), false
// when w's batch does not have window.Schema.
func (c *columns) bind(w *window.Window) bool {
	b := w.Batch
	if b == nil || !b.Schema().Equal(window.Schema) {
		return false
	}
	idx := func(col int) []int8 {
		return b.Column(col).(*array.Dictionary).Indices().(*array.Int8).Int8Values()
	}
	c.typ, c.mode, c.reason, c.outcome = idx(window.ColType), idx(window.ColMode), idx(window.ColCloseReason), idx(window.ColOutcome)
	c.port = b.Column(window.ColDstPort).(*array.Uint32).Uint32Values()
	c.status = b.Column(window.ColStatus).(*array.Uint32).Uint32Values()
	c.up = b.Column(window.ColBytesUp).(*array.Uint64).Uint64Values()
	c.down = b.Column(window.ColBytesDown).(*array.Uint64).Uint64Values()
	c.dur = b.Column(window.ColDurationNs).(*array.Int64).Int64Values()
	c.host.bind(b.Column(window.ColDstHost).(*array.String))
	c.ip.bind(b.Column(window.ColDstIP).(*array.String))
	c.tls.bind(b.Column(window.ColTLSFp).(*array.String))
	c.state.bind(b.Column(window.ColConnState).(*array.String))
	c.strict = b.Column(window.ColStrictFp).(*array.Binary)
	c.loose = b.Column(window.ColLooseFp).(*array.Binary)
	return true
}

// Row type, mode, close reason and outcome codes as stored in the window's
// dictionary columns (index = protobuf enum number).
const (
	tOpened  = window.TypeConnOpened
	tClosed  = window.TypeConnClosed
	tBlocked = window.TypeConnBlocked
	tTx      = window.TypeTxObserved
	tAuth    = window.TypeAuthFailed

	modeHTTP      = int8(events.ConnMode_CONN_MODE_HTTP)
	reasonBlocked = int8(events.CloseReason_CLOSE_REASON_BLOCKED)
	reasonError   = int8(events.CloseReason_CLOSE_REASON_ERROR)
	reasonTimeout = int8(events.CloseReason_CLOSE_REASON_TIMEOUT)
	reasonRefused = int8(events.CloseReason_CLOSE_REASON_REFUSED)
	reasonRevoked = int8(events.CloseReason_CLOSE_REASON_REVOKED)
	outcomeError  = int8(events.TxOutcome_TX_OUTCOME_ERROR)
	outcomeReplay = int8(events.TxOutcome_TX_OUTCOME_REFUSED_REPLAY)
)

// Compute returns the feature vector of every device of w, in (tenant,
// device) order, judging novelty against st and then recording the window
// in st. cohort names a device's cohort (nil: one cohort per tenant); st
// nil judges against an empty memory (every destination is new) and keeps
// nothing. w must come from a window.Assembler or window.FromBatch; a window
// whose batch does not have window.Schema gives nil.
//
// Windows must be computed in the order the assembler closed them
// (window.Assembler.Closed): then the same events in the same log order give
// the same vectors whatever the batch boundaries.
func Compute(w *window.Window, cohort func(tenant, device string) string, st *State) []Vector {
	if w == nil {
		return nil
	}
	var c columns
	if !c.bind(w) {
		return nil
	}
	if st == nil {
		st, _ = NewState(StateConfig{})
	}
	start := w.Start.UnixNano()
	st.advance(start)
	vals := make([]float64, len(w.Devices)*NumFeatures)
	out := make([]Vector, len(w.Devices))
	for i, d := range w.Devices {
		v := vals[i*NumFeatures : (i+1)*NumFeatures : (i+1)*NumFeatures]
		name := ""
		if cohort != nil {
			name = cohort(d.Tenant, d.Device)
		}
		c.device(d.Rows[0], d.Rows[1], v, &st.sc)
		st.novelty(d.Tenant, d.Device, name, start, v)
		out[i] = Vector{Tenant: d.Tenant, Device: d.Device, Cohort: name, Start: w.Start, End: w.End, Values: v, Rows: d.Rows}
	}
	return out
}

// str returns value i of a utf8 column, "" when null.
func str(a *array.String, i int) string {
	if a.IsNull(i) {
		return ""
	}
	return a.Value(i)
}

func bin(a *array.Binary, i int) []byte {
	if a.IsNull(i) {
		return nil
	}
	return a.Value(i)
}

// device computes the features of rows [lo, hi) into v, leaving the
// distinct destinations and TLS fingerprints in sc.dsts and sc.tls for
// novelty. A first pass counts the row types, which size the sets (their
// sizes order what novelty records); a second reads every row once,
// whatever its type, where one pass per type read the columns three
// times over.
func (c *columns) device(lo, hi int, v []float64, sc *scratch) {
	typ := c.typ[lo:hi]
	// A count a type, without a branch on the type (they come mixed:
	// a switch mispredicted); 5-7 count the types no feature reads (none
	// in a window's own batch) and any code above them, which the pass
	// below skips too.
	var count [8]int
	for _, t := range typ {
		count[min(uint8(t), 7)]++
	}
	nOpened, nClosed, nBlocked := count[tOpened], count[tClosed], count[tBlocked]
	nTx, nAuth := count[tTx], count[tAuth]
	v[Connections] = float64(nOpened)
	v[Transactions] = float64(nTx)
	v[AuthFailures] = float64(nAuth)

	sc.dsts.reset(nOpened + nBlocked)
	sc.tls.reset(nOpened)
	if k := nOpened + nBlocked; k > 0 {
		sc.hosts.reset(k)
		sc.ips.reset(k)
		sc.ports.reset(k)
	}
	if nTx > 0 {
		sc.strict.reset(nTx)
		sc.loose.reset(nTx)
	}
	http := 0
	var up, down uint64
	var durSum, durMax int64
	failed, refused, cut := 0, 0, 0
	errs, replays, withStrict, withLoose := 0, 0, 0, 0
	for k, t := range typ {
		i := lo + k
		switch t {
		case tOpened, tBlocked:
			// Destinations: conn.opened and conn.blocked rows.
			host, ip, port := c.host.at(i), c.ip.at(i), c.port[i]
			var hh uint64
			if host != "" {
				hh = hashString(host)
				sc.hosts.add(hh)
			}
			if ip != "" {
				ih := hashString(ip)
				sc.ips.add(ih)
				if host == "" {
					hh = ih
				}
			}
			sc.ports.add(uint64(port) + 1)
			if hh != 0 {
				sc.dsts.add(hashPair(hh, uint64(port)))
			}
			if t == tOpened {
				http += b2i(c.mode[i] == modeHTTP) // a branch mispredicted
				if fp := c.tls.at(i); fp != "" {
					sc.tls.add(hashString(fp))
				}
			}
		case tClosed:
			// Connections that ended.
			up += c.up[i]
			down += c.down[i]
			d := c.dur[i]
			durSum += d
			durMax = max(durMax, d)
			switch r := c.reason[i]; r {
			case reasonRefused:
				failed++
				refused++
				continue
			case reasonError, reasonTimeout:
				failed++
				continue
			case reasonBlocked, reasonRevoked:
				cut++
			}
			switch c.state.at(i) {
			case "REJ":
				failed++
				refused++
			case "S0", "RSTOS0", "SH":
				failed++
			}
		case tTx:
			// Transactions.
			if s := c.status[i]; (s >= 500 && s <= 599) || c.outcome[i] == outcomeError {
				errs++
			}
			if c.outcome[i] == outcomeReplay {
				replays++
			}
			if fp := bin(c.strict, i); len(fp) > 0 {
				withStrict++
				sc.strict.add(hashBytes(fp))
			}
			if fp := bin(c.loose, i); len(fp) > 0 {
				withLoose++
				sc.loose.add(hashBytes(fp))
			}
		}
	}
	if nOpened+nBlocked > 0 {
		v[DstHosts] = float64(sc.hosts.n)
		v[DstIPs] = float64(sc.ips.n)
		v[DstPorts] = float64(sc.ports.n)
		if nOpened > 0 {
			v[PlainHTTPShare] = float64(http) / float64(nOpened)
		}
	}
	v[BlockedConns] = float64(nBlocked)
	if nClosed > 0 {
		v[BytesUp] = float64(up)
		v[BytesDown] = float64(down)
		if up+down > 0 {
			v[BytesUpShare] = float64(up) / (float64(up) + float64(down))
		}
		v[DurationMean] = float64(durSum) / float64(nClosed) / 1e9
		v[DurationMax] = float64(durMax) / 1e9
		v[FailedConns] = float64(failed)
		v[RefusedConns] = float64(refused)
		v[BlockedConns] += float64(cut)
	}
	if nTx > 0 {
		v[TxErrors] = float64(errs)
		v[TxReplaysRefused] = float64(replays)
		v[RepeatedStrict] = float64(withStrict - sc.strict.n)
		v[RepeatedLoose] = float64(withLoose - sc.loose.n)
	}
}

// novelty sets the novelty features of a device from the distinct values
// left in st.sc, then records them.
func (st *State) novelty(tenant, device, cohort string, start int64, v []float64) {
	sc := &st.sc
	if sc.dsts.n == 0 && sc.tls.n == 0 {
		return
	}
	dm := st.device(tenant, device)
	cm := st.cohort(tenant, cohort)
	// Judge everything first, then record: an eviction while recording
	// must not change the judgement of the values after it. The judging
	// lookups are kept for the recording, which then only stores (one map
	// operation a value and set instead of two). The values not held are
	// counted: they tell whether recording will fill a set.
	looks := st.looks[:0]
	newDev, newCohort, newTLS := 0, 0, 0
	addDev, addCohort, addTLS := 0, 0, 0
	for _, k := range sc.dsts.vals {
		ld, lc := st.lookup(dm, k), st.lookup(&cm.dsts, k)
		if st.isNewSeen(ld, start) {
			newDev++
		}
		if st.isNewSeen(lc, start) {
			newCohort++
		}
		addDev += b2i(!ld.ok)
		addCohort += b2i(!lc.ok)
		looks = append(looks, ld, lc)
	}
	for _, k := range sc.tls.vals {
		l := st.lookup(&cm.tls, k)
		if st.isNewSeen(l, start) {
			newTLS++
		}
		addTLS += b2i(!l.ok)
		looks = append(looks, l)
	}
	st.looks = looks
	v[NewDstsDevice] = float64(newDev)
	v[NewDstsCohort] = float64(newCohort)
	v[NewTLSFpsCohort] = float64(newTLS)

	if dm.len()+addDev > st.cfg.MaxPerDevice || cm.dsts.len()+addCohort > st.cfg.MaxPerCohort ||
		cm.tls.len()+addTLS > st.cfg.MaxPerCohort {
		// A set will be full: which values an eviction drops depends on
		// the values recorded before it, so they are recorded in the
		// order of the sets' slots, each looked up again (the memory
		// State documents).
		for _, k := range sc.dsts.slots {
			if k != 0 {
				st.note(dm, k, start, st.cfg.MaxPerDevice)
				st.note(&cm.dsts, k, start, st.cfg.MaxPerCohort)
			}
		}
		for _, k := range sc.tls.slots {
			if k != 0 {
				st.note(&cm.tls, k, start, st.cfg.MaxPerCohort)
			}
		}
		return
	}
	// No eviction: each value is stored where its lookup found it or its
	// place, and what the sets hold does not depend on the order.
	j := 0
	for _, k := range sc.dsts.vals {
		st.noteSeen(dm, k, looks[j], start, st.cfg.MaxPerDevice)
		st.noteSeen(&cm.dsts, k, looks[j+1], start, st.cfg.MaxPerCohort)
		j += 2
	}
	for _, k := range sc.tls.vals {
		st.noteSeen(&cm.tls, k, looks[j], start, st.cfg.MaxPerCohort)
		j++
	}
}
