// Package policy is a tenant's policy document: what Halo does when a
// detector fires (notify, block the destination or the transaction
// fingerprint, quarantine the device, with an expiry and a dry-run mode),
// which destinations a quarantined device may still reach, and how the
// edge's replay shield behaves. Documents are YAML, validated with every
// problem reported at once, and recorded in the log as policy.changed, so the
// policy in force at any moment is a fold over the log, live or replayed.
package policy
