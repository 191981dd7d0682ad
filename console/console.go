package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every response: scripts, styles,
// images and API calls from this origin only; no inline scripts or styles,
// no plugins, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// assetsPlaceholder is replaced in index.html by the versioned asset prefix.
const assetsPlaceholder = "__ASSETS__"

// contentTypes maps the embedded files' extensions to their media types;
// a file with another extension is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

type handler struct {
	index  asset
	prefix string // "/assets/HASH/"
	assets map[string]asset
}

var build = sync.OnceValues(func() (*handler, error) { return newHandler(static) })

// Handler returns the console's handler, to mount at "/": it serves
// index.html at "/" (and "/index.html") with Cache-Control: no-store, and
// the embedded assets under /assets/HASH/ with a one-year immutable cache.
// Every other path is a 404. Only GET and HEAD are allowed. It panics only if
// the embedded assets are malformed, which the package's tests rule out.
func Handler() http.Handler {
	h, err := build()
	if err != nil {
		panic("console: " + err.Error())
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := contentTypes[path.Ext(p)]; !ok {
			return nil
		}
		b, err := fs.ReadFile(sub, p)
		files[p] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	idx, ok := files["index.html"]
	if !ok {
		return nil, fs.ErrNotExist
	}
	delete(files, "index.html")

	// The version is a digest of every asset, so any change moves them all.
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	sum := sha256.New()
	for _, n := range names {
		sum.Write([]byte(n))
		sum.Write([]byte{0})
		sum.Write(files[n])
		sum.Write([]byte{0})
	}
	version := hex.EncodeToString(sum.Sum(nil))[:16]
	h := &handler{prefix: "/assets/" + version + "/", assets: make(map[string]asset, len(files))}
	for _, n := range names {
		h.assets[n] = newAsset(n, files[n])
	}
	h.index = newAsset("index.html", bytes.ReplaceAll(idx, []byte(assetsPlaceholder), []byte(strings.TrimSuffix(h.prefix, "/"))))
	return h, nil
}

func newAsset(name string, b []byte) asset {
	s := sha256.Sum256(b)
	return asset{body: b, ctype: contentTypes[path.Ext(name)], etag: `"` + hex.EncodeToString(s[:8]) + `"`}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var (
		a     asset
		cache string
	)
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		a, cache = h.index, "no-store"
	case strings.HasPrefix(p, h.prefix):
		var ok bool
		if a, ok = h.assets[strings.TrimPrefix(p, h.prefix)]; !ok {
			http.NotFound(w, r)
			return
		}
		cache = "public, max-age=31536000, immutable"
	default:
		hd.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
