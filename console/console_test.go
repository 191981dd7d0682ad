package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var assetRef = regexp.MustCompile(`(?:src|href)="(/assets/[0-9a-f]{16}/[^"]+)"`)

func TestHandler(t *testing.T) {
	h := Handler()

	res := get(t, h, "GET", "/")
	idx := body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("GET / = %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": CSP,
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("GET / %s = %q, want %q", k, got, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %q: %s", bad, CSP)
		}
	}
	if strings.Contains(idx, assetsPlaceholder) {
		t.Error("index.html still holds the assets placeholder")
	}
	// No inline script or style, and nothing from another origin.
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(idx) || strings.Contains(idx, "<style") || strings.Contains(idx, " style=") {
		t.Error("index.html has inline script or style")
	}
	if strings.Contains(idx, "//") && regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).MatchString(idx) {
		t.Error("index.html refers to another origin")
	}

	if res := get(t, h, "GET", "/index.html"); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /index.html = %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}

	refs := assetRef.FindAllStringSubmatch(idx, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html refers to %d versioned assets, want the icon, the CSS and the JS: %v", len(refs), refs)
	}
	prefix := refs[0][1][:len("/assets/0123456789abcdef/")]
	want := map[string]string{
		"app.js":      "text/javascript; charset=utf-8",
		"api.js":      "text/javascript; charset=utf-8",
		"chart.js":    "text/javascript; charset=utf-8",
		"app.css":     "text/css; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	}
	for name, ctype := range want {
		res := get(t, h, "GET", prefix+name)
		b := body(t, res)
		if res.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET %s = %d (%d bytes)", name, res.StatusCode, len(b))
			continue
		}
		if got := res.Header.Get("Content-Type"); got != ctype {
			t.Errorf("GET %s Content-Type = %q, want %q", name, got, ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control = %q", name, got)
		}
		if res.Header.Get("Content-Security-Policy") != CSP {
			t.Errorf("GET %s has no CSP", name)
		}
		if strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			if name != "chart.js" && name != "favicon.svg" { // SVG namespace URIs are names, not fetches
				t.Errorf("%s mentions a URL: nothing may be fetched from the network", name)
			}
		}
		etag := res.Header.Get("ETag")
		if res := get(t, h, "GET", prefix+name, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match %s = %d, want 304", name, etag, res.StatusCode)
		}
	}

	for _, p := range []string{"/nope.js", "/app.js", "/assets/0000000000000000/app.js", prefix + "missing.js", prefix + "index.html", "/static/app.js", prefix} {
		if res := get(t, h, "GET", p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
	}
	if res := get(t, h, "HEAD", "/"); res.StatusCode != 200 {
		t.Errorf("HEAD / = %d", res.StatusCode)
	}
	if res := get(t, h, "POST", "/"); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d Allow %q, want 405", res.StatusCode, res.Header.Get("Allow"))
	}
}
