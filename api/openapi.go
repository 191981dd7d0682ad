package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

// openAPIDoc is the OpenAPI 3 document of the routes, served at
// /v1/openapi.json; TestOpenAPICoverage keeps it and the routes in step.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

func (s *Server) openAPI(r *http.Request, _ principal) (int, any, *Error) {
	return http.StatusOK, json.RawMessage(openAPIDoc), nil
}
