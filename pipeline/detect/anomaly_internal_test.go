package detect

import "testing"

// A cohort model reports a window only when a feature is clearly beyond
// the training windows: one payment retry more than the training hour held
// is not, an exfiltration's bytes are.
func TestBeyondAllNeedsAMargin(t *testing.T) {
	trainMax := []float64{0, 3, 1e6} // repeated_strict, connections, bytes_up
	for _, c := range []struct {
		name string
		row  []float64
		want bool
	}{
		{"within", []float64{0, 3, 1e6}, false},
		{"one retry never seen in training", []float64{1, 3, 1e6}, false},
		{"one connection more", []float64{0, 4, 1e6}, false},
		{"two repeats", []float64{2, 3, 1e6}, true},
		{"connections well beyond", []float64{0, 6, 1e6}, true},
		{"bytes 10 % above", []float64{0, 3, 1.1e6}, false},
		{"exfiltration", []float64{0, 3, 5e7}, true},
	} {
		if got := beyondAll(c.row, trainMax); got != c.want {
			t.Errorf("%s: beyondAll(%v) = %v, want %v", c.name, c.row, got, c.want)
		}
	}
}
