// Package agent is `halo agent`: the small program that runs on a device
// whose apps can only use a plain local HTTP proxy (Android's global proxy
// setting). It listens on loopback, and carries each local client
// connection byte for byte over its own mTLS connection to the Halo edge,
// which already speaks the proxy protocol (CONNECT host:port and
// absolute-form requests, with keep-alive); the agent does not re-parse
// HTTP, so what the edge records is exactly what the app sent. It keeps a
// few handshaken connections warm so a new request does not wait for a
// handshake, resumes TLS sessions, reconnects with capped, jittered
// backoff, picks up renewed certificate files without dropping open
// connections, and answers the app itself — 502 edge_unreachable, the
// edge's own 403 when the edge refuses the certificate, 503 over MaxConns —
// instead of letting it hang or hammering the edge.
package agent
