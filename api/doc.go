// Package api is Halo's HTTP API for service providers and device makers:
// the /v1/ routes over the alert, device and intervention folds, with
// bearer-token authentication, tenant isolation, JSON errors, Prometheus
// metrics and an OpenAPI 3 document at /v1/openapi.json.
//
// Reads come from the folds (alerts.Set, identity.Registry,
// intervention.Set), which follow the log; writes are events appended to
// the log (alerts.Ack/Resolve, intervention.Apply/Lift/Release), and each
// write handler waits briefly until the fold has applied its event, so a
// client that POSTs and then GETs sees its change.
//
// Every /v1/ request except GET /v1/openapi.json carries
// "Authorization: Bearer TOKEN". Everything is scoped to the token's tenant:
// another tenant's alert, device or intervention is 404, exactly as an id
// that does not exist, so ids never leak. Viewer tokens read; operator
// tokens read and act.
package api
