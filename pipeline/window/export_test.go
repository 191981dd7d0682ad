package window

import "sync/atomic"

// BlockRows is the rows of a block of a pending window's rows.
const BlockRows = blockRows

// OwnedCounts returns the reference counts of the arrays of w's batch
// that w owns (not the caches'), by column (nil: shared): a test reads them after
// the window's release to tell the record's release (sole: the counts are
// left as build made them, 1) from arrow-go's (each dropped to 0, or kept
// above by a consumer's reference).
func OwnedCounts(w *Window) []*atomic.Int64 {
	r := w.Batch.(*record)
	out := make([]*atomic.Int64, NumCols)
	for i, c := range r.cols {
		if r.shared&(1<<i) != 0 {
			continue
		}
		if l, _ := layoutOf(c); l != nil {
			out[i] = &l.refCount
		}
	}
	return out
}

// SetFusedBytes sets the most string bytes of a window whose values
// stringSpans copies itself, and returns a function that restores it.
func SetFusedBytes(n int) (restore func()) {
	old := fusedBytes
	fusedBytes = n
	return func() { fusedBytes = old }
}
