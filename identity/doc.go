// Package identity owns who is who in Halo: tenants and their API tokens,
// devices and their client certificates, and the certificate authority that
// issues them.
//
// The CA (ECDSA P-256, created on first use under DATA/pki, key files mode
// 0600) signs device client certificates, which carry the tenant and device
// in a URI SAN (spiffe://halo/tenant/<tenant>/device/<device>), and the edge's
// own server certificate, so a device verifies the edge with the same ca.crt.
// Enrolment state is not stored anywhere but the event log: a Registry is a
// fold over tenant.created, token.added, device.enrolled and device.revoked,
// so every process that reads the log (a restarted edge, the API, a CLI
// command) knows every device and revocation. Tokens are stored only as
// SHA-256 hashes and compared in constant time.
package identity
