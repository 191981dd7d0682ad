// Package webhooks registers tenants' webhook endpoints and delivers alert
// changes to them, signed, at least once: every delivery is recorded in a
// journal under the data directory before it is attempted, retried with
// exponential backoff and jitter until the receiver answers 2xx, and put in
// the dead-letter state after MaxAttempts failures. Signing secrets are
// kept encrypted at rest (AES-256-GCM, key in a 0600 file next to the
// journal). See docs/webhooks.md for what a receiver checks.
package webhooks
