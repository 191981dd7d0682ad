package detect

// fifo is a queue of records taken from its front in the order pushed,
// held in chunks of fifoChunk: a chunk emptied at the front is reused at
// the back. A slice compacted once half spent grew by doubling, each
// growth copying every record held (beaconing's records of a six-hour
// horizon: a tenth of the detectors' allocation on the Zeek logs).
type fifo[T any] struct {
	chunks [][]T // the first from head on; all full but the last
	head   int
	n      int // records held
	spare  []T // an emptied chunk, for the next
}

// fifoChunk is the number of records a chunk holds (a power of two).
const fifoChunk = 512

func (q *fifo[T]) len() int { return q.n }

// push adds v at the back.
func (q *fifo[T]) push(v T) {
	k := len(q.chunks)
	if k == 0 || len(q.chunks[k-1]) == fifoChunk {
		c := q.spare
		q.spare = nil
		if c == nil {
			c = make([]T, 0, fifoChunk)
		}
		q.chunks = append(q.chunks, c)
		k++
	}
	q.chunks[k-1] = append(q.chunks[k-1], v)
	q.n++
}

// at returns the i-th record from the front (i < len()).
func (q *fifo[T]) at(i int) *T {
	i += q.head
	return &q.chunks[i/fifoChunk][i%fifoChunk]
}

// pop drops the record at the front (len() > 0), zeroed so that the queue
// keeps nothing of it.
func (q *fifo[T]) pop() {
	c := q.chunks[0]
	var zero T
	c[q.head] = zero
	q.head++
	q.n--
	switch {
	case q.n == 0: // empty: the chunk is reused from its start
		q.chunks[0], q.head = c[:0], 0
	case q.head == fifoChunk:
		q.spare = c[:0]
		k := copy(q.chunks, q.chunks[1:])
		q.chunks[k] = nil
		q.chunks, q.head = q.chunks[:k], 0
	}
}

// reset drops every record.
func (q *fifo[T]) reset() {
	for q.n > 0 {
		q.pop()
	}
}
