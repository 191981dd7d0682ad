// Package detect holds Halo's detectors: small units, registered by name,
// that turn events and feature windows into findings. A finding becomes an
// alert (package pipeline decides which and applies the tenant's policy).
//
// Every detector is deterministic: its findings are a function of what it
// was shown, in the order shown (log order), never of the wall clock, so a
// replay gives the same findings as the live run. Each detector documents
// what it catches and its false-positive risks next to its code.
package detect
