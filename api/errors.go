package api

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error codes of the JSON error body {"error": {"code": CODE, "message": TEXT}}.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeTooLarge         = "payload_too_large"
	CodeInternal         = "internal"
	CodeUnavailable      = "unavailable"
)

// Error is an API error: an HTTP status, a code and a message a person can
// act on. Handlers return it; the server writes it as JSON.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	allow   string // the Allow header of a 405
}

// errorBody is the JSON shape of every error: {"error": {"code", "message"}}.
type errorBody struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func notFound(what, id string) *Error {
	return errorf(http.StatusNotFound, CodeNotFound, "no %s %q", what, id)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="halo"`)
	}
	writeJSON(w, e.Status, errorBody{e})
}
