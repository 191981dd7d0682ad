package window

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Window is one closed (partition, window): its events as an Arrow record
// batch with Schema, rows sorted by (tenant, device, time, id).
type Window struct {
	// Partition is the log partition the events came from.
	Partition int
	// Start and End bound the window's event times: [Start, End).
	Start, End time.Time
	// Batch holds the rows. The Window owns one reference: Release drops it.
	// Windows may share column arrays (immutable, as every Arrow array):
	// the columns without a value in any row, and the tenant column of a
	// window of one tenant.
	Batch arrow.RecordBatch
	// Devices lists the devices of the window in (tenant, device) order
	// with their row ranges in Batch; a device is "" for auth.failed events
	// that name none.
	Devices []DeviceRows
}

// DeviceRows is the row range [Rows[0], Rows[1]) of one device in a window's
// batch.
type DeviceRows struct {
	Tenant, Device string
	Rows           [2]int
}

// Release frees the window's Arrow memory; safe to call twice.
func (w *Window) Release() {
	if w.Batch != nil {
		w.Batch.Release()
		w.Batch = nil
	}
}

// FromBatch wraps a record batch with Schema whose rows are sorted by
// (tenant, device) (a window read back from an export, say) as a Window,
// deriving Devices from the tenant and device columns. It retains b.
func FromBatch(b arrow.RecordBatch, partition int, start, end time.Time) (*Window, error) {
	if !b.Schema().Equal(Schema) {
		return nil, fmt.Errorf("%w: schema %v", ErrSchema, b.Schema())
	}
	ten, ok1 := b.Column(ColTenant).(*array.String)
	dev, ok2 := b.Column(ColDevice).(*array.String)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: tenant and device must be utf8", ErrSchema)
	}
	var devs []DeviceRows
	n := int(b.NumRows())
	for i := 0; i < n; {
		t, d := ten.Value(i), dev.Value(i)
		j := i + 1
		for j < n && ten.Value(j) == t && dev.Value(j) == d {
			j++
		}
		if k := len(devs); k > 0 {
			prev := devs[k-1]
			if prev.Tenant > t || (prev.Tenant == t && prev.Device >= d) {
				return nil, fmt.Errorf("%w: rows are not sorted by (tenant, device) at row %d", ErrSchema, i)
			}
		}
		devs = append(devs, DeviceRows{Tenant: string([]byte(t)), Device: string([]byte(d)), Rows: [2]int{i, j}})
		i = j
	}
	b.Retain()
	return &Window{Partition: partition, Start: start.UTC(), End: end.UTC(), Batch: b, Devices: devs}, nil
}
