package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/static"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// render writes component c with status inside a buffer first, so a failing component never sends half a page
// (docs/architecture.md#rendering). Every HTML page gets Cache-Control: no-store: most of them carry personal or
// financial data, and the rest are cheap to render.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := c.Render(r.Context(), buf); err != nil {
		s.log.ErrorContext(r.Context(), "render failed", "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		if err := s.errorComponent(r, status).Render(r.Context(), buf); err != nil {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
	}
	s.keepRendered(r, status, buf.Bytes())
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// With the length known the page goes out in one piece instead of HTTP chunks (docs/benchmarks.md#pages).
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// buffers recycles the page buffers: a page is rendered whole before it is sent, and growing a fresh buffer to
// 10–150 KB on every request was a visible share of the allocations in profiles (docs/benchmarks.md#pages).
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps an occasional huge page (a report with 10,000 transactions) from pinning its memory.
const maxPooledBuffer = 1 << 20

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// page wraps body in the layout with the given title key and flow step.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, titleKey string, step views.Step, nav string,
	body templ.Component) {
	s.pageMeta(w, r, status, s.meta(w, r, titleKey, step, nav), body)
}

func (s *Server) pageMeta(w http.ResponseWriter, r *http.Request, status int, m views.Meta, body templ.Component) {
	s.render(w, r, status, views.Page(m, body))
}

// meta builds the layout data; it pops the flash message (and saves the session) so call it before writing.
func (s *Server) meta(w http.ResponseWriter, r *http.Request, titleKey string, step views.Step, nav string) views.Meta {
	m := views.Meta{
		Title: views.T(r.Context(), titleKey),
		Path:  langNextPath(r),
		Step:  step,
		Nav:   nav,
		CSS:   static.URL("css/app.css"),
		// The report styles are scoped under .report: linking them everywhere costs one cached request.
		ReportCSS: static.URL("css/report.css"),
		JS:        static.URL("js/app.js"),
		DarkCSS:   static.URL("css/dark.css"),
	}
	s.brand.setMeta(&m, r)
	if o := s.operator(r); o != nil {
		m.Operator = o.Email
	}
	if s.diag != nil {
		m.Env = string(s.diag.Environment())
	}
	if ss := sessionFrom(r.Context()); ss.gs.Values[keyFlash] != nil {
		m.Flash = ss.popFlash()
		_ = s.saveSession(w, r, ss)
	}
	return m
}

// langNextPath is where the language links return to: the current page for GETs; for a page rendered in
// answer to a POST (a form with errors) the GET page that shows the same form, since the POST route itself
// cannot be reloaded.
func langNextPath(r *http.Request) string {
	if r.URL.Path == OIDCCallbackPath {
		return "/login" // a refused sign-on: never echo the provider's code and state into a link
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if r.URL.RawQuery != "" && r.URL.Path != "/callback" {
			// Keep the search, filters or page the user was looking at. Never the callback's query (its ids
			// are not echoed into any page) nor a legacy tax id filter (a CPF is not copied into more URLs;
			// the holder filter, a pseudonym, stays).
			q := r.URL.Query()
			q.Del("tax_id")
			if len(q) == 0 {
				return safeNext(r.URL.Path)
			}
			return safeNext(r.URL.Path + "?" + q.Encode())
		}
		return safeNext(r.URL.Path)
	}
	switch r.URL.Path {
	case "/consents":
		return "/institutions"
	case "/consents/search":
		return "/consents"
	default:
		if strings.HasPrefix(r.URL.Path, "/consents/") {
			return safeNext(strings.TrimSuffix(strings.TrimSuffix(r.URL.Path, "/revoke"), "/retry"))
		}
		return "/"
	}
}

// appHandler is a handler that may fail; errors are turned into pages in one place (docs/architecture.md#error-sink).
type appHandler func(w http.ResponseWriter, r *http.Request) error

// h adapts an appHandler to http.Handler through the error sink.
func (s *Server) h(fn appHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// httpError is an error with the status and page the user should see; its cause is only logged.
type httpError struct {
	status int
	cause  error
}

func (e *httpError) Error() string {
	if e.cause != nil {
		return http.StatusText(e.status) + ": " + e.cause.Error()
	}
	return http.StatusText(e.status)
}

func (e *httpError) Unwrap() error { return e.cause }

func statusError(status int) error { return &httpError{status: status} }

// fail is the error sink: store.ErrNotFound → 404, Klavi errors → 502 with a next step, request-size errors →
// 413, anything else → 500. Only 5xx are logged, with the request id and never the request data.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var he *httpError
	var ae *klavi.APIError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status = he.status
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	case errors.As(err, &ae), errors.Is(err, klavi.ErrUnavailable):
		status = http.StatusBadGateway
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed",
			"status", status, "err", taxid.MaskErr(err))
	}
	s.errorPage(w, r, status)
}

// errorPage renders the friendly page for status.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int) {
	vm := errorVM(r, status)
	// The tab title names the problem ("Página não encontrada"), not just "Erro".
	s.pageMeta(w, r, status, s.meta(w, r, vm.TitleKey, views.StepNone, ""), views.ErrorPage(vm))
}

func (s *Server) errorComponent(r *http.Request, status int) templ.Component {
	return views.ErrorPage(errorVM(r, status))
}

// errorVM chooses the title, message and next step of the error page for status.
func errorVM(r *http.Request, status int) views.ErrorVM {
	vm := views.ErrorVM{Status: status, NextHref: "/", NextKey: "error.next.home"}
	switch status {
	case http.StatusNotFound:
		vm.TitleKey, vm.MsgKey = "error.404.title", "error.404.msg"
	case http.StatusBadRequest:
		vm.TitleKey, vm.MsgKey = "error.400.title", "error.400.msg"
	case http.StatusForbidden:
		vm.TitleKey, vm.MsgKey = "error.403.title", "error.403.msg"
	case http.StatusMethodNotAllowed:
		vm.TitleKey, vm.MsgKey = "error.405.title", "error.405.msg"
	case http.StatusRequestEntityTooLarge:
		vm.TitleKey, vm.MsgKey = "error.413.title", "error.413.msg"
	case http.StatusTooManyRequests:
		vm.TitleKey, vm.MsgKey = "error.429.title", "error.429.msg"
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		vm.TitleKey, vm.MsgKey = "error.502.title", "error.502.msg"
		if r.Method == http.MethodGet {
			vm.NextHref, vm.NextKey = safeNext(r.URL.Path), "error.next.retry"
		}
	default:
		vm.TitleKey, vm.MsgKey = "error.500.title", "error.500.msg"
	}
	return vm
}

// nextRE is the one shape accepted for "return to" parameters: a local path (docs/reliability.md#return-paths).
var nextRE = regexp.MustCompile(`^/[a-zA-Z0-9/_-]*$`)

// safeNext returns next when it is a plain local path, else "/". "//host" (protocol-relative), backslashes,
// schemes, encoded characters and control characters are all refused by the pattern or the "//" check.
//
// A query string may follow the path; it is decoded and re-encoded, so it can only ever be a query.
func safeNext(next string) string {
	path, rawQuery, hasQuery := strings.Cut(next, "?")
	if !nextRE.MatchString(path) || strings.Contains(path, "//") {
		return "/"
	}
	if !hasQuery {
		return path
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil || len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
