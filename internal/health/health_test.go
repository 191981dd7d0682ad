package health_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/halo-sec/halo/internal/health"
)

func get(t *testing.T, h http.Handler, method string) (int, health.Report, *httptest.ResponseRecorder) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/healthz", nil))
	var rep health.Report
	if method == http.MethodGet && rec.Code != http.StatusMethodNotAllowed {
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
		}
	}
	return rec.Code, rep, rec
}

func TestHealthzLifecycle(t *testing.T) {
	r := health.NewRegistry("eventlog", "edge")

	code, rep, rec := get(t, r, http.MethodGet)
	if code != http.StatusServiceUnavailable || rep.Status != "starting" {
		t.Fatalf("new registry: got %d %+v, want 503 starting", code, rep)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if rep.Roles["eventlog"] != health.Starting || rep.Roles["edge"] != health.Starting {
		t.Errorf("roles = %v, want both starting", rep.Roles)
	}

	r.Set("eventlog", health.Ready)
	if code, rep, _ = get(t, r, http.MethodGet); code != http.StatusServiceUnavailable || rep.Status != "starting" {
		t.Fatalf("one of two ready: got %d %+v, want 503 starting", code, rep)
	}

	r.Set("edge", health.Ready)
	code, rep, rec = get(t, r, http.MethodGet)
	if code != http.StatusOK || rep.Status != "ok" || len(rep.Roles) != 2 {
		t.Fatalf("all ready: got %d %+v, want 200 ok", code, rep)
	}
	if want := `{"status":"ok","roles":{"edge":"ready","eventlog":"ready"}}` + "\n"; rec.Body.String() != want {
		t.Errorf("body = %q, want %q", rec.Body.String(), want)
	}

	r.Set("edge", health.Unavailable)
	if code, rep, _ = get(t, r, http.MethodGet); code != http.StatusServiceUnavailable || rep.Status != "unavailable" {
		t.Fatalf("edge unavailable: got %d %+v", code, rep)
	}

	r.SetAll(health.Stopping)
	if code, rep, _ = get(t, r, http.MethodGet); code != http.StatusServiceUnavailable || rep.Status != "stopping" {
		t.Fatalf("stopping: got %d %+v", code, rep)
	}
}

func TestHealthzNoRolesIsNotReady(t *testing.T) {
	code, rep, _ := get(t, health.NewRegistry(), http.MethodGet)
	if code != http.StatusServiceUnavailable || rep.Status != "starting" || rep.Roles == nil {
		t.Fatalf("got %d %+v, want 503 starting with an empty roles object", code, rep)
	}
}

func TestHealthzUnknownStateIsNotReady(t *testing.T) {
	r := health.NewRegistry("eventlog")
	r.Set("eventlog", health.State("warming"))
	if code, _, _ := get(t, r, http.MethodGet); code != http.StatusServiceUnavailable {
		t.Fatalf("got %d, want 503", code)
	}
}

func TestHealthzMethods(t *testing.T) {
	r := health.NewRegistry("eventlog")
	r.Set("eventlog", health.Ready)
	code, _, rec := get(t, r, http.MethodHead)
	if code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: got %d with %d body bytes, want 200 and none", code, rec.Body.Len())
	}
	code, _, rec = get(t, r, http.MethodPost)
	if code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: got %d Allow=%q, want 405 with Allow", code, rec.Header().Get("Allow"))
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := health.NewRegistry("a", "b")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				if (i+j)%2 == 0 {
					r.Set("a", health.Ready)
				} else {
					r.Set("b", health.Starting)
				}
				_ = r.Report()
			}
		}()
	}
	wg.Wait()
}

func TestWhenReady(t *testing.T) {
	r := health.NewRegistry("eventlog", "edge")
	select {
	case <-r.WhenReady():
		t.Fatal("ready before any role is")
	default:
	}
	r.Set("eventlog", health.Ready)
	select {
	case <-r.WhenReady():
		t.Fatal("ready with the edge starting")
	default:
	}
	r.Set("edge", health.Ready)
	<-r.WhenReady()
	r.Set("edge", health.Unavailable) // stays closed; must not panic
	r.Set("edge", health.Ready)
	<-r.WhenReady()
}
