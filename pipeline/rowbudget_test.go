package pipeline

import (
	"testing"
	"time"
)

// rowBudget: windows wait while the rows in flight would pass stageRows,
// and a window larger than the whole budget goes alone instead of waiting
// for ever.
func TestRowBudget(t *testing.T) {
	var b rowBudget
	b.cond.L = &b.mu
	b.acquire(2 * stageRows) // alone: larger than the budget
	got := make(chan struct{})
	go func() {
		b.acquire(1)
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a window went while the budget was spent")
	case <-time.After(20 * time.Millisecond):
	}
	b.release(2 * stageRows)
	<-got // released: it goes (no timeout: a deadlock fails the test run)
	b.acquire(stageRows - 1)
	b.release(stageRows - 1)
	b.release(1)
	if b.used != 0 {
		t.Fatalf("%d rows left in the budget", b.used)
	}
}
