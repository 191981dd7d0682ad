// Package models will hold the machine-learned detectors the pipeline runs:
// golearn models (IsolationForest without labels, RandomForest when
// label.recorded events give labels) trained per tenant and device cohort
// (device model and firmware version) on the pipeline's feature vectors,
// with a score threshold calibrated on benign scores, and a model's
// explanation (which features, against which baseline) for the alerts it
// raises. A deployed model is announced by a model.deployed event, so which
// model was in force at any moment is a fold over the log and a replay
// scores with the same model the live path used. Training will be seeded
// and deterministic: golearn draws from the global math/rand, which needs
// GODEBUG randseednop=0 for seeding to work (see MEASURED.md).
//
// Nothing is implemented yet; this paragraph is the package's contract.
package models
