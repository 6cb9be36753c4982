package handlers

import (
	"errors"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/klavi/taxid"
)

// Body limits (reliability.md §4): forms are tiny; event webhooks are small JSON arrays; reports can hold
// 10,000+ transactions.
const (
	formLimit   = 64 << 10
	eventLimit  = 1 << 20
	reportLimit = 64 << 20
)

// csp is the Content-Security-Policy on every response. There is deliberately no form-action directive: a
// bare form-action 'self' makes Chrome block the 303 from POST /consents to the bank (w3c/webappsec-csp#8).
// Images may come from the sandbox or Klavi's logo bucket, whose origins vary, hence https:/http:/data:.
const csp = "default-src 'self'; img-src 'self' https: http: data:; object-src 'none'; base-uri 'none'; " +
	"frame-ancestors 'none'"

// securityHeaders sets the headers every response carries, errors and 404s included.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// requestLogger logs one line per request: method, route pattern (never the raw path or query, which may hold
// ids and tax ids), status, duration and request id.
func (s *Server) requestLogger(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		pattern := ""
		if rc := chi.RouteContext(r.Context()); rc != nil {
			pattern = rc.RoutePattern()
		}
		if pattern == "" {
			pattern = "(unmatched)"
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		s.log.InfoContext(r.Context(), "http request",
			"method", r.Method,
			"route", pattern,
			"status", status,
			"duration_ms", time.Since(start).Milliseconds(),
			"request_id", middleware.GetReqID(r.Context()))
	})
}

// recoverer turns a handler panic into the friendly 500 page and one log line (no stack trace to the user,
// and no request data in the log: the panic value is masked).
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as the stdlib does
				panic(rec)
			}
			s.log.ErrorContext(r.Context(), "panic in handler",
				"request_id", middleware.GetReqID(r.Context()),
				"panic", taxid.MaskText(panicText(rec)),
				"stack", taxid.MaskText(string(debug.Stack())))
			s.errorPage(w, r, http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

func panicText(v any) string {
	switch x := v.(type) {
	case error:
		return x.Error()
	case string:
		return x
	default:
		return "non-error panic"
	}
}

// limitBody caps the request body; reading past it yields *http.MaxBytesError (→ 413 in the error sink).
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				// Refuse early: no need to read a body we already know is too big.
				r.Body = http.MaxBytesReader(w, r.Body, 0)
			} else {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// parseForm parses a urlencoded form under the form limit; an oversized body is reported as 413.
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{status: http.StatusRequestEntityTooLarge, cause: err}
		}
		return &httpError{status: http.StatusBadRequest, cause: err}
	}
	return nil
}

func maskText(s string) string { return taxid.MaskText(s) }
