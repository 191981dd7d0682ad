// Package health tracks whether each role of a Halo process (the event log,
// later the edge, the pipeline and the API) is ready, and serves that as the
// GET /healthz endpoint: 200 with {"status":"ok",...} once every registered
// role is ready, 503 with the roles' states before that, while a role is
// unavailable, and while the process is stopping.
package health
