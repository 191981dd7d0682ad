// Package features computes per-device feature vectors from the windows of
// package window, column-wise over each device's rows of the window's Arrow
// record batch.
//
// Names and Doc list the features (docs/features.md is generated from Doc).
// Compute turns one closed window into one Vector per device, in (tenant,
// device) order; the features that judge novelty ("never seen before for
// this device / its cohort") consult a State that remembers destinations and
// TLS fingerprints across windows with bounded memory. Table lays vectors out
// as an Arrow record batch for export and training. The same code serves the
// live pipeline, replays and exports, so the same events in the same log
// order give the same vectors, byte for byte.
//
// Compute and State are not safe for concurrent use: the pipeline computes
// windows one at a time, in the order the window assembler closed them.
package features
