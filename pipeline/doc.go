// Package pipeline will turn the event log into alerts: a watermill router
// whose handlers are small functions, with retry, poison queue,
// de-duplication and metrics as middleware, one per file. It will read
// conn.*, tx.observed and auth.failed events per partition, cut them into
// event-time windows closed by watermarks with a bounded lateness (clock.tick
// advances idle partitions), build each window's events into Arrow record
// batches, compute per-device feature vectors column-wise, run the detectors
// registered by name (replay-attack, anomaly models from package models, and
// rules such as a destination never seen for the device's cohort, a port
// scan, a burst of auth failures), and apply the tenant's policy to decide:
// alert.raised and alert.updated events, and intervention.applied when the
// policy says block or quarantine. Everything it decides is an event in the
// log, and the same handlers run live and in replay (package replay), so a
// replay of the same events gives the same alerts bit for bit.
//
// Nothing is implemented yet; this paragraph is the package's contract.
package pipeline
