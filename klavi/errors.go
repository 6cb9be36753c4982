package klavi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Every error returned by this package that comes from an HTTP response is an *APIError, and
// errors.Is(err, X) reports whether it falls into category X (see APIError.Is). Sentinels carry no request data.
var (
	// HTTP status classes (docs/klavi.md#errors).
	ErrBadRequest   = errors.New("klavi: bad request")             // 400, 422
	ErrUnauthorized = errors.New("klavi: unauthorized")            // 401 (bad keys, expired or wrong token kind)
	ErrForbidden    = errors.New("klavi: forbidden")               // 403
	ErrNotFound     = errors.New("klavi: not found")               // 404
	ErrConflict     = errors.New("klavi: conflict")                // 409
	ErrBusiness     = errors.New("klavi: business error")          // 416, any business code
	ErrRateLimited  = errors.New("klavi: rate limited")            // 429
	ErrServer       = errors.New("klavi: server error")            // 5xx
	ErrUnavailable  = errors.New("klavi: unavailable")             // timeouts, connection errors, 5xx after retries
	ErrCircuitOpen  = errors.New("klavi: circuit breaker open")    // refused without I/O (also ErrUnavailable)
	ErrBadResponse  = errors.New("klavi: malformed response")      // 2xx whose body is not the documented JSON
	ErrTooLarge     = errors.New("klavi: response body too large") // body over the read limit (also ErrBadResponse)

	// Business codes sent with HTTP 416 in the body's statusCode (docs/klavi.md#errors).
	ErrConsentNotAuthorised      = errors.New("klavi: invalid authorisation info (4001)")
	ErrInvalidProduct            = errors.New("klavi: invalid product info (4002)")
	ErrConsentLimit              = errors.New("klavi: invalid consent request (4003)")
	ErrInstitutionUnavailable    = errors.New("klavi: invalid institution (4004)")
	ErrEmptyProducts             = errors.New("klavi: invalid products (4005)")
	ErrInvalidCallbackURL        = errors.New("klavi: invalid productsCallbackURL (4006)")
	ErrProductRequestFailed      = errors.New("klavi: product request failed (4007)")
	ErrInsufficientAuthorization = errors.New("klavi: insufficient authorization info (4008/4009)")

	// Client-side errors: returned before anything is sent.
	ErrInvalidArgument = errors.New("klavi: invalid argument")
	ErrNoCredentials   = errors.New("klavi: no credentials configured")

	// Webhook parsing.
	ErrMalformedWebhook = errors.New("klavi: malformed webhook body")
	ErrLegacyReport     = errors.New("klavi: legacy (pre-Open-Finance) report format")
)

// businessCodes maps Klavi's business codes (docs/klavi.md#errors) to sentinels.
var businessCodes = map[int]error{
	4001: ErrConsentNotAuthorised,
	4002: ErrInvalidProduct,
	4003: ErrConsentLimit,
	4004: ErrInstitutionUnavailable,
	4005: ErrEmptyProducts,
	4006: ErrInvalidCallbackURL,
	4007: ErrProductRequestFailed,
	4008: ErrInsufficientAuthorization,
	4009: ErrInsufficientAuthorization,
}

// businessNames are the documented names (docs/klavi.md#errors), used in Error().
var businessNames = map[int]string{
	4001: "invalid authorisation info",
	4002: "invalid product info",
	4003: "invalid consent request",
	4004: "invalid institution",
	4005: "invalid products",
	4006: "invalid productsCallbackURL",
	4007: "product request failed",
	4008: "insufficient authorization info",
	4009: "insufficient authorization info",
}

// APIError is a non-2xx answer from Klavi. HTTPStatus is the HTTP status; Code is the body's `statusCode`
// (the business code 4001–4009 for HTTP 416, usually the HTTP status otherwise, 0 when the body had none);
// ErrorText and Message are the body's `error` and `message`, already sanitised: CPF/CNPJ-like numbers,
// tokens, configured keys and URL query strings are replaced, and each is cut to 200 bytes. Use errors.Is with
// the package sentinels rather than comparing fields.
type APIError struct {
	HTTPStatus int
	Code       int
	ErrorText  string
	Message    string

	op string // "METHOD /path/template", never the concrete URL
}

// Error returns "klavi: <op>: HTTP <status> ...". It never contains tokens, keys, tax ids or query strings.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("klavi: ")
	if e.op != "" {
		b.WriteString(e.op)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	if name, ok := businessNames[e.Code]; ok {
		fmt.Fprintf(&b, " (%d %s)", e.Code, name)
	} else if e.Code != 0 && e.Code != e.HTTPStatus {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.ErrorText != "" {
		b.WriteString(" ")
		b.WriteString(e.ErrorText)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is maps the error to the sentinels: by business code first (a 4001–4009 statusCode whatever the HTTP status),
// then by HTTP status. Any 5xx is both ErrServer and ErrUnavailable.
func (e *APIError) Is(target error) bool {
	if s, ok := businessCodes[e.Code]; ok && s == target {
		return true
	}
	switch target {
	case ErrBadRequest:
		return e.HTTPStatus == 400 || e.HTTPStatus == 422
	case ErrUnauthorized:
		return e.HTTPStatus == 401
	case ErrForbidden:
		return e.HTTPStatus == 403
	case ErrNotFound:
		return e.HTTPStatus == 404
	case ErrConflict:
		return e.HTTPStatus == 409
	case ErrBusiness:
		return e.HTTPStatus == 416
	case ErrRateLimited:
		return e.HTTPStatus == 429
	case ErrServer, ErrUnavailable:
		return e.HTTPStatus >= 500 && e.HTTPStatus <= 599
	}
	return false
}

// opError is a failure that is not an HTTP answer (network, timeout, decoding). Its text names the operation
// by its path template only; the wrapped errors are sentinels and standard errors free of request data.
type opError struct {
	op    string
	msg   string
	kinds []error // sentinels and causes for errors.Is/As
}

func (e *opError) Error() string {
	return "klavi: " + e.op + ": " + e.msg
}

func (e *opError) Unwrap() []error { return e.kinds }

var (
	reJWT       = regexp.MustCompile(`[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}(\.[A-Za-z0-9_\-]+)?`)
	reBearer    = regexp.MustCompile(`(?i)bearer\s+\S+`)
	reURLQuery  = regexp.MustCompile(`(?i)(https?://[^\s?#"']*)[?#][^\s"']*`)
	reCPFFmt    = regexp.MustCompile(`\d{3}\.\d{3}\.\d{3}-\d{2}`)
	reCNPJFmt   = regexp.MustCompile(`[0-9A-Za-z]{2}\.[0-9A-Za-z]{3}\.[0-9A-Za-z]{3}/[0-9A-Za-z]{4}-\d{2}`)
	reCNPJAlnum = regexp.MustCompile(`\b[0-9A-Z]{12}\d{2}\b`)
	reDigits    = regexp.MustCompile(`\d{11,}`)
)

const maxErrText = 200

// sanitize removes anything sensitive from server-provided text before it is put in an error: the given
// secrets (keys, tokens), URL query strings (a linkURL carries the linkToken), JWT-like and bearer tokens,
// and anything shaped like a CPF or CNPJ. The result is valid UTF-8, at most maxErrText bytes.
func sanitize(s string, secrets ...string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "?")
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = reURLQuery.ReplaceAllString(s, "$1?[redacted]")
	s = reBearer.ReplaceAllString(s, "Bearer [redacted]")
	s = reJWT.ReplaceAllString(s, "[redacted]")
	s = reCPFFmt.ReplaceAllString(s, "[tax id]")
	s = reCNPJFmt.ReplaceAllString(s, "[tax id]")
	s = reCNPJAlnum.ReplaceAllString(s, "[tax id]")
	s = reDigits.ReplaceAllString(s, "[tax id]")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxErrText {
		cut := maxErrText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(s)
}
