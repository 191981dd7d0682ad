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
// whose ID is the SHA-256 of its content. Save and Load write and check it
// (ErrForeign, ErrVersion, ErrCorrupt). Artifact.Score scores rows on all
// cores over the trees laid out flat (an isolation forest scores exactly as
// golearn's Predict, bit for bit, about 5× faster on two cores);
// Artifact.Explain says which features pushed a row's score and how far
// each is from its baseline; Evaluate gives ROC-AUC, PR-AUC, precision and
// recall against labels.
//
// Training is deterministic: the same rows, options and seed give the same
// artifact, bit for bit. golearn's IsolationForest draws from the global
// math/rand source, which rand.Seed only seeds when the process runs with
// GODEBUG=randseednop=0: a "godebug randseednop=0" line in Halo's go.mod
// sets it for the module's binaries and tests, and without it training
// fails with ErrSeedIgnored. Training holds a package lock, seeds the
// source, trains twice to catch other goroutines drawing from it meanwhile
// (ErrNotReproducible), and re-seeds it unpredictably afterwards. The random forest
// draws from its own seeded sources and needs none of this.
//
// Training from Arrow record batches or pipeline/features vectors is an
// adapter still to write over these functions.
package models
