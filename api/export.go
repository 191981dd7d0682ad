package api

import (
	"encoding/json"

	"github.com/halo-sec/halo/alerts"
)

// MarshalAlert renders an alert as the API does (GET /v1/alerts/{id}), for
// tools that write alerts elsewhere (halo replay's alerts.jsonl).
func MarshalAlert(a alerts.Alert) ([]byte, error) { return json.Marshal(alertView(a)) }
