package models

import (
	"errors"
	"math"
	"testing"
)

func TestEvaluateHandComputed(t *testing.T) {
	cases := []struct {
		name      string
		scores    []float64
		labels    []bool
		threshold float64
		want      Metrics
	}{
		{
			// Positives 0.9, 0.7, 0.6; negatives 0.8, 0.5, 0.4.
			// ROC: 0.9 beats 3 negatives, 0.7 and 0.6 beat 2 each: 7/9.
			// AP, from the top: 0.9+ (R 1/3, P 1) + 0.7+ (R 2/3, P 2/3)
			// + 0.6+ (R 1, P 3/4) = 1/3 + 2/9 + 1/4 = 29/36.
			name:      "distinct scores",
			scores:    []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
			labels:    []bool{true, false, true, true, false, false},
			threshold: 0.55,
			want:      Metrics{ROCAUC: 7.0 / 9, PRAUC: 29.0 / 36, Precision: 0.75, Recall: 1, TP: 3, FP: 1, FN: 0, TN: 2},
		},
		{
			// Positives 0.5, 0.2; negatives 0.5, 0.5. ROC: the tied 0.5
			// counts one half against each negative, 0.2 nothing: 1/4.
			// AP: the 0.5 group enters together (R 1/2, P 1/3), then 0.2
			// (R 1, P 1/2): 1/6 + 1/4 = 5/12. Nothing is above 0.5.
			name:      "ties",
			scores:    []float64{0.5, 0.5, 0.5, 0.2},
			labels:    []bool{true, false, false, true},
			threshold: 0.5,
			want:      Metrics{ROCAUC: 0.25, PRAUC: 5.0 / 12, Precision: 0, Recall: 0, TP: 0, FP: 0, FN: 2, TN: 2},
		},
		{
			name:      "perfect",
			scores:    []float64{0.1, 0.9, 0.2, 0.8},
			labels:    []bool{false, true, false, true},
			threshold: 0.5,
			want:      Metrics{ROCAUC: 1, PRAUC: 1, Precision: 1, Recall: 1, TP: 2, TN: 2},
		},
		{
			// All tied: ROC 1/2; AP = base rate 1/3.
			name:      "all tied",
			scores:    []float64{0.3, 0.3, 0.3},
			labels:    []bool{false, true, false},
			threshold: 0.2,
			want:      Metrics{ROCAUC: 0.5, PRAUC: 1.0 / 3, Precision: 1.0 / 3, Recall: 1, TP: 1, FP: 2},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Evaluate(c.scores, c.labels, c.threshold)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{{"roc", got.ROCAUC, c.want.ROCAUC}, {"pr", got.PRAUC, c.want.PRAUC}, {"precision", got.Precision, c.want.Precision}, {"recall", got.Recall, c.want.Recall}} {
				if math.Abs(f.got-f.want) > 1e-12 {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			if got.TP != c.want.TP || got.FP != c.want.FP || got.FN != c.want.FN || got.TN != c.want.TN {
				t.Errorf("confusion %d/%d/%d/%d, want %d/%d/%d/%d", got.TP, got.FP, got.FN, got.TN, c.want.TP, c.want.FP, c.want.FN, c.want.TN)
			}
		})
	}
}

func TestEvaluateOneClassAndBadInput(t *testing.T) {
	m, err := Evaluate([]float64{0.1, 0.2}, []bool{false, false}, 0.15)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m.ROCAUC) || !math.IsNaN(m.PRAUC) || m.FP != 1 || m.Recall != 0 {
		t.Errorf("negatives only: %+v", m)
	}
	m, err = Evaluate([]float64{0.1, 0.2}, []bool{true, true}, 0.15)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m.ROCAUC) || m.PRAUC != 1 || m.Recall != 0.5 {
		t.Errorf("positives only: %+v", m)
	}
	if _, err := Evaluate([]float64{0.1}, []bool{true, false}, 0.5); !errors.Is(err, ErrInput) {
		t.Errorf("length mismatch: %v", err)
	}
	if _, err := Evaluate([]float64{math.NaN()}, []bool{true}, 0.5); !errors.Is(err, ErrInput) {
		t.Errorf("NaN score: %v", err)
	}
}
