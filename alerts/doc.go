// Package alerts is the fold of the alert events (alert.raised, alert.updated,
// alert.acknowledged, alert.resolved) into the alerts a service provider
// sees, and the operations that act on them: Ack records
// alert.acknowledged; Resolve records alert.resolved and a label.recorded
// (source verdict), so an analyst's verdict becomes a label for training,
// export and backtests.
//
// A Set is tenant-scoped by construction: every read names a tenant, and an
// alert of another tenant is simply not found. Lists are ordered newest
// first by (raise time, id) and paged with an opaque cursor that encodes a
// position only, so a cursor crafted by hand can never reach another
// tenant's alerts.
package alerts
