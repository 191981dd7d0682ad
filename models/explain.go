package models

import (
	"cmp"
	"errors"
	"math"
	"slices"
)

// Contribution is one feature's part in a row's score, against its
// training baseline.
type Contribution struct {
	// Feature is the feature's name, Index its position in the row.
	Feature string `json:"feature"`
	Index   int    `json:"index"`
	// Value is the row's value.
	Value float64 `json:"value"`
	// Baseline is the feature's training median (Artifact.Baselines).
	Baseline float64 `json:"baseline"`
	// Deviation is (Value − Baseline) / Baseline scale: how many robust
	// standard deviations (1.4826·MAD) the value is from the median,
	// signed. See Baseline.Scale for features whose MAD is 0.
	Deviation float64 `json:"deviation"`
	// Weight is how much the feature pushed the score, by the model's own
	// paths:
	//
	//   - iforest: the feature's share of the isolation the row's paths
	//     achieved. Each split on a path narrows the training points around
	//     the row from n to n′; it isolates log2((n+1)/(n′+1)) bits. Weight
	//     is the bits of the splits on this feature over the bits of all
	//     splits, over all trees: in [0, 1], summing to 1. An anomaly is
	//     isolated in few splits, most of them on the features it is
	//     unusual in.
	//   - forest: the feature's signed contribution to the score (the
	//     "tree interpreter" decomposition): the change in the share of
	//     positives from a node to the child the row goes to, summed over
	//     the splits on this feature and averaged over the trees. The
	//     score is the forest's mean root share plus the sum of the
	//     weights; a positive weight pushed towards positive.
	Weight float64 `json:"weight"`
}

// Explain tells which features pushed row's score and how far each is
// from its training baseline. It returns one Contribution per feature,
// ordered by |Weight| (then |Deviation|, then feature index), largest
// first: an alert quotes the first few.
func (a *Artifact) Explain(row []float64) ([]Contribution, error) {
	if a == nil || a.m == nil {
		return nil, errors.New("models: Explain on an artifact that was not trained or loaded")
	}
	if err := checkRow(row, 0, a.Features); err != nil {
		return nil, err
	}
	m := a.m
	w := make([]float64, m.width)
	for _, root := range m.roots {
		i := root
		for {
			nd := &m.nodes[i]
			if nd.f < 0 {
				break
			}
			c := nd.c[1]
			if row[nd.f] <= nd.v {
				c = nd.c[0]
			}
			if m.kind == KindIForest {
				w[nd.f] += math.Log2((float64(m.size[i]) + 1) / (float64(m.size[c]) + 1))
			} else {
				w[nd.f] += m.value[c] - m.value[i]
			}
			i = c
		}
	}
	if m.kind == KindIForest {
		total := 0.0
		for _, v := range w {
			total += v
		}
		if total > 0 {
			for j := range w {
				w[j] /= total
			}
		}
	} else {
		for j := range w {
			w[j] /= float64(len(m.roots))
		}
	}

	out := make([]Contribution, m.width)
	for j := range out {
		b := a.Baselines[j]
		out[j] = Contribution{
			Feature:   a.Features[j],
			Index:     j,
			Value:     row[j],
			Baseline:  b.Median,
			Deviation: clampFinite((row[j] - b.Median) / b.Scale),
			Weight:    w[j],
		}
	}
	slices.SortFunc(out, func(x, y Contribution) int {
		if c := cmp.Compare(math.Abs(y.Weight), math.Abs(x.Weight)); c != 0 {
			return c
		}
		if c := cmp.Compare(math.Abs(y.Deviation), math.Abs(x.Deviation)); c != 0 {
			return c
		}
		return cmp.Compare(x.Index, y.Index)
	})
	return out, nil
}

func clampFinite(v float64) float64 {
	return math.Max(-math.MaxFloat64, math.Min(math.MaxFloat64, v))
}
