package models

import (
	"fmt"
	"math"
)

// MinRows is the fewest training rows either trainer accepts.
const MinRows = 10

// MaxFeatures is the widest feature vector either trainer accepts.
const MaxFeatures = 1024

// MaxAbsValue bounds feature values: anything larger in magnitude is
// rejected as invalid input, which keeps every difference and sum the
// trainers and explanations compute finite.
const MaxAbsValue = 1e100

// classAttrName names the class attribute of the golearn grids the forest
// trainer builds; no feature may use it.
const classAttrName = "__halo_label__"

// checkNames validates feature names: 1..MaxFeatures distinct, non-empty
// names, none of them reserved.
func checkNames(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("%w: no feature names", ErrInput)
	}
	if len(names) > MaxFeatures {
		return fmt.Errorf("%w: %d features, at most %d", ErrInput, len(names), MaxFeatures)
	}
	seen := make(map[string]int, len(names))
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("%w: feature %d has an empty name", ErrInput, i)
		}
		if n == classAttrName {
			return fmt.Errorf("%w: feature name %q is reserved", ErrInput, n)
		}
		if j, ok := seen[n]; ok {
			return fmt.Errorf("%w: feature name %q used twice (features %d and %d)", ErrInput, n, j, i)
		}
		seen[n] = i
	}
	return nil
}

// checkRow reports the first problem of row: a width other than
// len(names), a NaN or ±Inf value, or one beyond ±MaxAbsValue.
func checkRow(row []float64, i int, names []string) error {
	if len(row) != len(names) {
		return fmt.Errorf("%w: row %d has %d values, want %d (one per feature name)", ErrInput, i, len(row), len(names))
	}
	for j, v := range row {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: row %d, feature %q: value %v is not finite", ErrInput, i, names[j], v)
		}
		if math.Abs(v) > MaxAbsValue {
			return fmt.Errorf("%w: row %d, feature %q: value %v exceeds ±%g", ErrInput, i, names[j], v, MaxAbsValue)
		}
	}
	return nil
}

// checkTraining validates a training set: names, at least MinRows rows,
// each as wide as names and finite.
func checkTraining(rows [][]float64, names []string) error {
	if err := checkNames(names); err != nil {
		return err
	}
	if len(rows) < MinRows {
		return fmt.Errorf("%w: %d rows, need at least %d", ErrInput, len(rows), MinRows)
	}
	for i, r := range rows {
		// One comparison a value for the rows that pass (NaN compares
		// false, an infinity is above the bound); checkRow tells what is
		// wrong with one that does not.
		ok := len(r) == len(names)
		for _, v := range r {
			ok = ok && math.Abs(v) <= MaxAbsValue
		}
		if !ok {
			if err := checkRow(r, i, names); err != nil {
				return err
			}
		}
	}
	return nil
}
