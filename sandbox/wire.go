package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// errorWire is Klavi's error body (docs/klavi.md#errors): statusCode is the
// HTTP status, or the business code for 416.
type errorWire struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// Business codes (docs/klavi.md#errors), sent with HTTP 416.
const (
	codeInvalidAuthorisation = 4001
	codeInvalidProduct       = 4002
	codeInvalidInstitution   = 4004
	codeEmptyProducts        = 4005
	codeInvalidCallbackURL   = 4006
)

var businessErrorText = map[int]string{
	codeInvalidAuthorisation: "Invalid authorisation info",
	codeInvalidProduct:       "Invalid product info",
	codeInvalidInstitution:   "Invalid institution",
	codeEmptyProducts:        "Invalid products",
	codeInvalidCallbackURL:   "Invalid productsCallbackURL",
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"statusCode":500,"error":"Internal Server Error","message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, httpStatus, code int, errText, msg string) {
	writeJSON(w, httpStatus, errorWire{StatusCode: code, Error: errText, Message: msg})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, http.StatusBadRequest, "Bad Request", msg)
}

func businessError(w http.ResponseWriter, code int, msg string) {
	writeError(w, http.StatusRequestedRangeNotSatisfiable, code, businessErrorText[code], msg)
}

func notFound(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusNotFound, http.StatusNotFound, "Not Found", msg)
}

func unauthorized(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusUnauthorized, http.StatusUnauthorized, "Unauthorized", msg)
}

// decodeBody decodes one JSON value from the (size-limited) body. Unknown
// fields are ignored, as real servers do; malformed JSON, trailing data or an
// over-limit body are reported with the right status and false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "Payload Too Large", "request body too large")
			return false
		}
		badRequest(w, "could not read request body")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		badRequest(w, "request body is required")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		badRequest(w, "malformed JSON body")
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		badRequest(w, "malformed JSON body")
		return false
	}
	return true
}

// validRedirect reports whether u is an absolute http(s) URL with a host.
func validAbsoluteURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	return p.Scheme == "http" || p.Scheme == "https"
}

// checkCallbackMap validates a productsCallbackURL object
// (docs/klavi.md#links): every URL absolute http(s), and `all` never combined
// with other keys. It returns a message, or "" when the map is fine.
func checkCallbackMap(m map[string]string) string {
	if _, ok := m["all"]; ok && len(m) > 1 {
		return "productsCallbackURL: 'all' cannot be combined with other keys"
	}
	for k, v := range m {
		if k == "" {
			return "productsCallbackURL: empty key"
		}
		if !validAbsoluteURL(v) {
			return "productsCallbackURL: every URL must be an absolute http(s) URL"
		}
	}
	return ""
}
