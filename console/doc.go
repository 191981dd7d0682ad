// Package console is Halo's web console: a single page, in plain HTML, CSS
// and JavaScript modules embedded in the binary, that talks to the /v1/ API
// with the operator's bearer token. It shows the tenant's alerts live (from
// GET /v1/alerts/stream, or by polling GET /v1/alerts every 2 s while the
// stream is unavailable), an alert's explanation with acknowledge and resolve
// buttons, a device's status with quarantine and release buttons and a chart
// of its alerts, and a fleet view of open-alert rates per model and firmware
// cohort.
//
// Handler serves the page at "/" and its assets under /assets/HASH/, where
// HASH is a digest of every embedded asset: the assets are cached for a year
// (immutable), index.html never is, so a new binary is picked up on the next
// load. Nothing is fetched from any other origin; the Content-Security-Policy
// forbids it, and forbids inline scripts and styles.
package console
