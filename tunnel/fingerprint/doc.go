// Package fingerprint computes the fingerprints the edge records for every
// connection and transaction: pure functions, safe for concurrent use,
// cheap enough to run on every request, and fuzzed.
//
// For a plain HTTP request (absolute-form through the edge) it puts the body
// in a canonical form ([Canonical]: JSON with sorted keys and normalized
// numbers and strings, forms with sorted pairs, anything else as is) and
// derives two keyed fingerprints with a [Keyer]: the strict fingerprint
// (method, host, path with query, canonical body) identifies one
// transaction exactly, so a replay has the same one; the loose fingerprint
// (host, path, and the amount, currency, merchant and terminal found by
// [Fields]) groups likely duplicates of one payment, so a resend with a
// fresh nonce or timestamp shares it. Both are HMAC-SHA256 with a per-tenant
// secret, truncated to 16 bytes: a card number in a body can never be
// recovered from an event, not even by hashing guesses, because the secret
// never leaves the edge's data directory, and bodies themselves are never
// stored. These fill tx.observed (strict_fp, loose_fp).
//
// For a CONNECT tunnel it reads the TLS ClientHello the device sends
// ([ParseClientHello]) and gives its SNI and its JA3 and JA4 client
// fingerprints ([ClientHello.JA3], [ClientHello.JA4]; conn.opened sni and
// tls_fp): a device whose TLS stack suddenly changes is a strong signal.
// What it cannot see: a payment sent inside TLS (every https:// request
// through CONNECT) stays opaque to the edge, which sees only the SNI, the
// ClientHello fingerprint, sizes and timing, and cannot compute transaction
// fingerprints for it. Opt-in TLS inspection per destination host is later
// work.
package fingerprint
