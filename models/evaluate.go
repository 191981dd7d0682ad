package models

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Metrics is how well scores separate positive (anomalous, malicious) rows
// from negative ones.
type Metrics struct {
	// ROCAUC is the area under the ROC curve: the probability that a
	// random positive scores above a random negative, ties counting one
	// half. NaN when the labels hold only one class.
	ROCAUC float64 `json:"roc_auc"`
	// PRAUC is the area under the precision-recall curve as average
	// precision: Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds from
	// the highest down (rows with equal scores enter together), as
	// scikit-learn's average_precision_score. NaN without positives.
	PRAUC float64 `json:"pr_auc"`
	// Precision and Recall at the threshold (a row is flagged when its
	// score is above the threshold); 0 when undefined (nothing flagged,
	// no positives).
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// The confusion matrix at the threshold.
	TP int `json:"tp"`
	FP int `json:"fp"`
	FN int `json:"fn"`
	TN int `json:"tn"`
}

// Evaluate computes Metrics for scores against labels (true = positive),
// flagging a row when its score is above threshold, as Artifact.Flag
// does. Scores must not be NaN.
func Evaluate(scores []float64, labels []bool, threshold float64) (Metrics, error) {
	if len(scores) != len(labels) {
		return Metrics{}, fmt.Errorf("%w: %d scores, %d labels", ErrInput, len(scores), len(labels))
	}
	if math.IsNaN(threshold) {
		return Metrics{}, fmt.Errorf("%w: threshold is NaN", ErrInput)
	}
	var m Metrics
	for i, s := range scores {
		if math.IsNaN(s) {
			return Metrics{}, fmt.Errorf("%w: score %d is NaN", ErrInput, i)
		}
		switch flagged := s > threshold; {
		case flagged && labels[i]:
			m.TP++
		case flagged:
			m.FP++
		case labels[i]:
			m.FN++
		default:
			m.TN++
		}
	}
	if m.TP+m.FP > 0 {
		m.Precision = float64(m.TP) / float64(m.TP+m.FP)
	}
	pos, neg := m.TP+m.FN, m.FP+m.TN
	if pos > 0 {
		m.Recall = float64(m.TP) / float64(pos)
	}
	m.ROCAUC, m.PRAUC = math.NaN(), math.NaN()
	if pos == 0 {
		return m, nil
	}

	// Rows by descending score; ties form groups.
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })

	// Average precision, and the Mann-Whitney U statistic for ROC-AUC:
	// each positive counts the negatives below it, plus one half of the
	// negatives tied with it.
	var tp, fp int
	var ap, prevRecall, u float64
	for g := 0; g < len(idx); {
		e := g
		gp, gn := 0, 0
		for e < len(idx) && scores[idx[e]] == scores[idx[g]] {
			if labels[idx[e]] {
				gp++
			} else {
				gn++
			}
			e++
		}
		// Negatives strictly below this group: neg − fp − gn.
		u += float64(gp) * (float64(neg-fp-gn) + float64(gn)/2)
		tp += gp
		fp += gn
		recall := float64(tp) / float64(pos)
		ap += (recall - prevRecall) * (float64(tp) / float64(tp+fp))
		prevRecall = recall
		g = e
	}
	m.PRAUC = ap
	if neg > 0 {
		m.ROCAUC = u / (float64(pos) * float64(neg))
	}
	return m, nil
}
