package windowtest

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/halo-sec/halo/events"
)

// BuildPlain is the baseline of the window benchmarks: it appends every
// event's values to one set of Arrow builders of the 25-column window
// layout (plain Append / AppendNull calls; enums and the type as int8
// codes; no windows, join or sort) and builds a record batch every batch rows. It
// returns the number of rows built.
func BuildPlain(evs []events.Event, batch int) int {
	mem := memory.DefaultAllocator
	str := func() *array.StringBuilder { return array.NewStringBuilder(mem) }
	i8 := func() *array.Int8Builder { return array.NewInt8Builder(mem) }
	var (
		tenant, device, connID, host, ip, sni, tlsFp, state, method, ivID = str(), str(), str(), str(), str(), str(), str(), str(), str(), str()
		typ, mode, closeReason, outcome, authReason                       = i8(), i8(), i8(), i8(), i8()
		tm                                                                = array.NewInt64Builder(mem)
		id                                                                = array.NewFixedSizeBinaryBuilder(mem, &arrow.FixedSizeBinaryType{ByteWidth: 16})
		port, status                                                      = array.NewUint32Builder(mem), array.NewUint32Builder(mem)
		up, down                                                          = array.NewUint64Builder(mem), array.NewUint64Builder(mem)
		dur, lat                                                          = array.NewInt64Builder(mem), array.NewInt64Builder(mem)
		strict, loose                                                     = array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary), array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	)
	all := []array.Builder{tenant, device, tm, id, typ, connID, host, ip, port, mode, sni, tlsFp, up, down, dur, closeReason, state, method, status, outcome, strict, loose, lat, authReason, ivID}
	nulls := func(bs ...array.Builder) {
		for _, b := range bs {
			b.AppendNull()
		}
	}
	rows := 0
	flush := func() {
		cols := make([]arrow.Array, len(all))
		for i, b := range all {
			cols[i] = b.NewArray()
		}
		for _, c := range cols {
			rows += c.Len() / len(all)
			c.Release()
		}
	}
	for i := range evs {
		ev := &evs[i]
		tenant.Append(ev.Tenant)
		device.Append(ev.Device)
		tm.Append(ev.Time.UnixNano())
		id.Append(ev.ID[:])
		typ.Append(int8(len(ev.Type())))
		switch p := ev.Payload.(type) {
		case *events.ConnOpened:
			connID.Append(p.ConnId)
			host.Append(p.DstHost)
			ip.Append(p.DstIp)
			port.Append(p.DstPort)
			mode.Append(int8(p.Mode))
			sni.Append(p.Sni)
			tlsFp.Append(p.TlsFp)
			nulls(up, down, dur, closeReason, state, method, status, outcome, strict, loose, lat, authReason, ivID)
		case *events.ConnClosed:
			connID.Append(p.ConnId)
			nulls(host, ip, port, mode, sni, tlsFp)
			up.Append(p.BytesUp)
			down.Append(p.BytesDown)
			dur.Append(p.DurationNs)
			closeReason.Append(int8(p.Reason))
			state.Append(p.State)
			nulls(method, status, outcome, strict, loose, lat, authReason, ivID)
		case *events.TxObserved:
			connID.Append(p.ConnId)
			host.Append(p.Host)
			nulls(ip, port, mode, sni, tlsFp, up, down, dur, closeReason, state)
			method.Append(p.Method)
			status.Append(p.Status)
			outcome.Append(int8(p.Outcome))
			strict.Append(p.StrictFp)
			loose.Append(p.LooseFp)
			lat.Append(p.LatencyNs)
			nulls(authReason, ivID)
		case *events.ConnBlocked:
			connID.Append(p.ConnId)
			host.Append(p.DstHost)
			ip.Append(p.DstIp)
			port.Append(p.DstPort)
			nulls(mode, sni, tlsFp, up, down, dur, closeReason, state, method, status, outcome)
			strict.Append(p.StrictFp)
			nulls(loose, lat, authReason)
			ivID.Append(p.InterventionId)
		default:
			p2, _ := ev.Payload.(*events.AuthFailed)
			nulls(connID, host, ip, port, mode, sni, tlsFp, up, down, dur, closeReason, state, method, status, outcome, strict, loose, lat)
			authReason.Append(int8(p2.GetReason()))
			ivID.AppendNull()
		}
		if (i+1)%batch == 0 {
			flush()
		}
	}
	flush()
	for _, b := range all {
		b.Release()
	}
	return rows
}

// MapGroupBy is the other baseline: events and bytes up per device with a
// plain Go map.
func MapGroupBy(evs []events.Event) int {
	type agg struct{ n, up uint64 }
	m := make(map[string]*agg)
	for i := range evs {
		a := m[evs[i].Device]
		if a == nil {
			a = &agg{}
			m[evs[i].Device] = a
		}
		a.n++
		if c, ok := evs[i].Payload.(*events.ConnClosed); ok {
			a.up += c.BytesUp
		}
	}
	return len(m)
}
