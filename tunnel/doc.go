// Package tunnel is the edge: the HTTPS proxy every device sends all its
// traffic through. It requires a client certificate issued by the
// installation's CA (package identity) and refuses revoked or unknown ones
// (auth.failed). Over that mTLS connection a device uses the standard proxy
// protocol: `CONNECT host:port` for any TCP stream, whose TLS stays opaque
// (the edge records its SNI and ClientHello fingerprint, sizes and timing),
// and absolute-form HTTP requests, which the edge parses to fingerprint the
// transaction (package tunnel/fingerprint) before forwarding it. Any standard
// client works, e.g. curl --proxy https://edge:8443 with --proxy-cert.
//
// Every connection, transaction and refusal becomes an event (conn.opened,
// conn.closed, conn.blocked, tx.observed, auth.failed) handed to an Emitter
// that never blocks on the network (events/publish, which spools while the
// log is unreachable). The edge enforces the interventions in force (package
// intervention: a blocked destination or fingerprint gets a 403 naming the
// intervention, a quarantined device reaches only its tenant's allow-list)
// and refuses a replayed payment in line: its replay shield remembers which
// strict fingerprints got a 2xx response and holds an identical request
// while the first is in flight. Limits and timeouts bound what a slow or
// malicious client can hold; Run and Shutdown give a graceful stop that emits
// every event of the connections it closes. internal/roles assembles the
// edge with its folds and publisher for `halo up`.
package tunnel
