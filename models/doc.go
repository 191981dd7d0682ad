// Package models holds the machine-learned detectors the pipeline runs:
// golearn models (an IsolationForest without labels, a random forest of
// golearn ID3 trees when label.recorded events give labels) trained per
// tenant and device cohort (device model and firmware version) on the
// pipeline's feature vectors, with a score threshold calibrated on benign
// scores, and a model's explanation (which features, against which
// baseline) for the alerts it raises. A deployed model is announced by a
// model.deployed event, so which model was in force at any moment is a fold
// over the log and a replay scores with the same model the live path used.
//
// TrainIsolationForest and TrainRandomForest take plain rows ([][]float64,
// one feature window per row) with the feature names; they return an
// Artifact: versioned JSON holding the features, their training medians,
// the threshold, the training span, rows, seed, metrics and the trees,
// whose ID is the SHA-256 of its content (format version 2 writes the ID
// as the last member; Load reads version 1 too, where it follows the
// version). Save and Load write and check it (ErrForeign, ErrVersion,
// ErrCorrupt). Artifact.Score scores rows on all
// cores over the trees laid out flat (an isolation forest scores exactly as
// golearn's Predict, bit for bit, about 5× faster on two cores);
// Artifact.Explain says which features pushed a row's score and how far
// each is from its baseline; Evaluate gives ROC-AUC, PR-AUC, precision and
// recall against labels.
//
// Training is deterministic: the same rows, options and seed give the same
// artifact, bit for bit. The isolation forest's trees are golearn's: Halo
// grows exactly the trees golearn's IsolationForest.Fit grows after
// rand.Seed(seed), drawing the same values from its own math/rand source
// seeded with the artifact's seed (the tests fit golearn itself, on the
// global source under GODEBUG=randseednop=0, and compare tree for tree), so
// training needs no process-wide lock, no GODEBUG setting and no second fit
// to rule out other goroutines drawing meanwhile, and it allocates per tree
// instead of per node. The random forest draws from its own seeded sources
// too.
//
// Training from Arrow record batches or pipeline/features vectors is an
// adapter still to write over these functions.
package models
