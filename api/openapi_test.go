package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/halo-sec/halo/events"
)

type openAPIDocument struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Required   []string                   `json:"required"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T, raw []byte) openAPIDocument {
	t.Helper()
	var doc openAPIDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPICoverage checks that every documented operation is served and
// every served route is documented, and that every $ref resolves.
func TestOpenAPICoverage(t *testing.T) {
	e := newEnv(t)
	served := e.expect(200, "GET", "/v1/openapi.json", "", "")
	doc := loadOpenAPI(t, served.raw)

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			m := strings.ToUpper(method)
			documented[m+" "+path] = true
			var o struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			json.Unmarshal(op, &o)
			if !slices.ContainsFunc([]string{"200", "201"}, func(c string) bool { _, ok := o.Responses[c]; return ok }) {
				t.Errorf("%s %s documents no success response", m, path)
			}
			body := ""
			if m == "POST" {
				body = "{}"
			}
			if strings.Contains(string(op), `"text/event-stream"`) {
				continue // endless; served and tested in stream_test.go
			}
			r := e.do(m, strings.ReplaceAll(path, "{id}", "x-1"), e.acme, body)
			msg := r.msg
			if r.status == http.StatusMethodNotAllowed || (r.status == http.StatusNotFound && strings.HasPrefix(msg, "no route")) {
				t.Errorf("documented %s %s is not served: %d %s", m, path, r.status, r.raw)
			}
		}
	}
	for _, rt := range e.srv.Routes() {
		if !documented[rt] {
			t.Errorf("served route %s is not documented", rt)
		}
	}
	if len(documented) != len(e.srv.Routes()) {
		t.Errorf("%d documented operations, %d routes", len(documented), len(e.srv.Routes()))
	}

	// Every $ref points at a component.
	var tree any
	json.Unmarshal(served.raw, &tree)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
				var cur any = tree
				for _, p := range parts {
					m, _ := cur.(map[string]any)
					cur = m[p]
				}
				if cur == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
}

// TestOpenAPIDocumentsResponses checks real responses against the
// documented schemas: every field is documented, every required one is
// there.
func TestOpenAPIDocumentsResponses(t *testing.T) {
	e := newEnv(t)
	doc := loadOpenAPI(t, OpenAPI())
	e.raise(alertEvent("acme", "pos-1", "al-1", "replay-attack", events.Severity_SEVERITY_HIGH, t0))
	e.expect(200, "POST", "/v1/alerts/al-1/ack", e.acme, `{"note":"n"}`)
	e.expect(201, "POST", "/v1/devices/pos-1/quarantine", e.acme, `{"expiry":"1h"}`)
	e.expect(201, "POST", "/v1/interventions", e.acme, `{"device":"pos-1","host":"a.example","cidr":"10.0.0.0/8","port":1,"fingerprint":"01","expiry":"1h"}`)
	check := func(schema string, obj map[string]any) {
		t.Helper()
		s, ok := doc.Components.Schemas[schema]
		if !ok {
			t.Fatalf("no schema %s", schema)
		}
		for k := range obj {
			if _, ok := s.Properties[k]; !ok {
				t.Errorf("%s field %q is not documented", schema, k)
			}
		}
		for _, k := range s.Required {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s lacks required field %q", schema, k)
			}
		}
	}
	check("Alert", e.expect(200, "GET", "/v1/alerts/al-1", e.acme, "").body)
	check("Alert", e.expect(200, "POST", "/v1/alerts/al-1/resolve", e.acme, `{"verdict":"benign","note":"ok"}`).body)
	check("AlertList", e.expect(200, "GET", "/v1/alerts", e.acme, "").body)
	dev := e.expect(200, "GET", "/v1/devices/pos-1", e.acme, "").body
	check("Device", dev)
	check("Intervention", dev["quarantine"].(map[string]any))
	check("DeviceList", e.expect(200, "GET", "/v1/devices", e.acme, "").body)
	ivs := e.expect(200, "GET", "/v1/interventions", e.acme, "")
	check("InterventionList", ivs.body)
	for _, iv := range ivs.body["interventions"].([]any) {
		check("Intervention", iv.(map[string]any))
		if m, ok := iv.(map[string]any)["match"].(map[string]any); ok {
			check("Match", m)
		}
	}
	check("Released", e.expect(200, "DELETE", "/v1/devices/pos-1/quarantine", e.acme, "").body)
	check("Error", e.expect(404, "GET", "/v1/alerts/nope", e.acme, "").body)
}
