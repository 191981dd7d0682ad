// Package intervention is the fold of intervention.applied and
// intervention.lifted: which blocks and quarantines are in force, for whom,
// until when. The edge consults it on every connection and request, the API
// lists it, the pipeline and operators add to it through the log.
//
// A block names a scope (a tenant, or one device of it) and a match: a host
// glob, an IP or CIDR, a port, a strict transaction fingerprint; every field
// given must match. A quarantine confines one device to its tenant's
// allow-list (policy.Document.Quarantine). Interventions with an expiry end
// by themselves; dry-run interventions are listed and reported but never
// enforced.
package intervention
