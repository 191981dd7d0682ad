// Package sim is Halo's fleet simulator: a fleet of point-of-sale terminals
// that talk through a real edge as real devices do, with attacks injected on
// a schedule and written down as labels.
//
// Each simulated device is enrolled like any device (identity.Enroll: its
// own ECDSA key and client certificate from Halo's CA), and connects to the
// edge over mTLS with Go's HTTP client, keeping its connections alive as a
// device agent would: payments and heartbeats are plain absolute-form HTTP
// requests the edge fingerprints (tx.observed); updates and other TLS
// destinations go through CONNECT. The destinations run in the simulator on
// loopback, under names of one domain (default sim.halo.test) that the edge
// must resolve there (halo up --edge-resolve '*.sim.halo.test=127.0.0.1';
// halo up --demo does it itself): a payment gateway answering 200, sometimes
// 5xx or too slowly; a management server for heartbeats; an update server
// (HTTPS); and the attack hosts.
//
// Benign behaviour is seeded: the same seed gives each device the same
// model, firmware, merchant, amounts and schedule. Devices retry a payment
// after a 5xx or a timeout with the same body (a legitimate retry), download
// updates, and a cohort adopts a new destination together (an app update).
// Attacks (replay, beacon, exfil, scan, flood, badcert) run at their offsets
// from the start, on a named or a seeded device; each is written as a JSON
// line {"tenant","device","label","start","end"} that halo replay --labels
// reads. The edge stamps event time; the simulator never fakes time.
package sim
