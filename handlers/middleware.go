package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/klavi/taxid"
)

// Body limits (docs/reliability.md#body-limits): forms are tiny; event webhooks are small JSON arrays; reports can hold
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
		// Nothing is cacheable unless a handler says so (static assets do): pages, redirects, JSON and
		// downloads may all carry personal or financial data (ASVS 14.3.2).
		h.Set("Cache-Control", "no-store")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// ownRequestID drops a client-sent X-Request-Id before middleware.RequestID, which would otherwise adopt it
// as the id printed on every log line of the request: anyone could then write arbitrary text (a CPF, 60 KB,
// another request's id) into our logs. The id is always our own counter.
func ownRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[middleware.RequestIDHeader]; ok {
			r = r.Clone(r.Context())
			r.Header.Del(middleware.RequestIDHeader)
		}
		next.ServeHTTP(w, r)
	})
}

// LogRequestID wraps h so that every record logged with a request's context (InfoContext(r.Context(), ...) and
// the other *Context methods) carries the id middleware.RequestID gave the request, as request_id. Records
// logged without such a context get no request_id at all, and a record that already has one keeps its own.
// Wrapping an already wrapped handler returns it unchanged. Attributes added by the wrapper land inside any
// group opened with WithGroup.
func LogRequestID(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := middleware.GetReqID(ctx); id != "" && !hasAttr(r, "request_id") {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
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
			"duration_ms", time.Since(start).Milliseconds())
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
				"panic", taxid.MaskPanic(rec),
				"stack", taxid.MaskText(string(debug.Stack())))
			if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
				// The status line already went out (a streamed download): appending an error page would hand the
				// client a corrupt "success". Abort the connection so it sees a failed transfer instead.
				panic(http.ErrAbortHandler)
			}
			s.errorPage(w, r, http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps the request body; reading past it yields *http.MaxBytesError (→ 413 in the error sink) and
// the connection is closed after the answer, so the rest of an oversized body is never read.
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limit := n
			if r.ContentLength > n {
				// Refuse early: no need to read a body we already know is too big.
				limit = 0
			}
			r.Body = &closeOnLimit{ReadCloser: http.MaxBytesReader(w, r.Body, limit), w: w}
			next.ServeHTTP(w, r)
		})
	}
}

// closeOnLimit asks for the connection to be closed once the body limit is hit. http.MaxBytesReader tells the
// server itself only when it is given the server's own ResponseWriter; behind a wrapping middleware (the
// request logger's) that signal is lost and the server would keep reading the rest of the body to reuse the
// connection. "Connection: close" on the response works through any wrapper.
type closeOnLimit struct {
	io.ReadCloser
	w   http.ResponseWriter
	hit bool
}

func (b *closeOnLimit) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && !b.hit && errors.As(err, &mbe) {
		b.hit = true
		b.w.Header().Set("Connection", "close")
	}
	return n, err
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

// Metrics is what the HTTP layer reports (*metrics.Metrics implements it; handlers does not import Prometheus).
type Metrics interface {
	// HTTPRoute returns the recorder of one route pattern (or "unmatched"); called once per pattern when the
	// server is built, the recorder then once per request.
	HTTPRoute(route string) func(code int, d time.Duration)
	// WebhookDelivery counts one delivery: kind "event" or "report", result one of the webhook* words (webhooks.go).
	WebhookDelivery(kind, result string)
}

// unmatchedRoute is the route label of requests no route matched (metrics.UnmatchedRoute).
const unmatchedRoute = "unmatched"

// bindRouteMetrics gives every route pattern of the router its recorder, once: the request path then costs one
// map lookup by the pattern chi already computed, and labels can only be patterns (never a raw path, an id or a
// CPF). A pattern chi reports that the walk did not list counts as unmatched.
func (s *Server) bindRouteMetrics() {
	if s.metrics == nil {
		return
	}
	s.routeMetrics = map[string]func(int, time.Duration){}
	s.unmatched = s.metrics.HTTPRoute(unmatchedRoute)
	if routes, ok := s.router.(chi.Routes); ok {
		_ = chi.Walk(routes, func(_, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			if _, seen := s.routeMetrics[route]; !seen {
				s.routeMetrics[route] = s.metrics.HTTPRoute(route)
			}
			return nil
		})
	}
}

// countRequests records each answered request's route pattern, status and duration in Options.Metrics. It sits
// inside requestLogger and reuses its response wrapper, so it adds no allocation; the recoverer sits inside it, so
// a panic counts as the 500 it becomes.
func (s *Server) countRequests(next http.Handler) http.Handler {
	if s.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww, ok := w.(middleware.WrapResponseWriter)
		if !ok {
			ww = middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		}
		next.ServeHTTP(ww, r)
		record := s.unmatched
		if rc := chi.RouteContext(r.Context()); rc != nil {
			if rec, found := s.routeMetrics[rc.RoutePattern()]; found {
				record = rec
			}
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		record(status, time.Since(start))
	})
}
