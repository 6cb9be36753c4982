// Security headers and failure paths of the router: the headers (HSTS included) on every kind of answer over
// HTTPS, a handler panic (masked log line, 500 page, no lock left held), a panic after the status line went out
// (connection aborted), a client-sent X-Request-Id never reaching the logs, and FuzzCallbackQuery.

package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// panicOnceKlavi panics on the first institution list fetch (with a CPF in the panic value, to prove the log
// masks it), then behaves.
type panicOnceKlavi struct {
	*fakeKlavi
	panicked atomic.Bool
}

func (p *panicOnceKlavi) Institutions(ctx context.Context, token string) ([]klavi.Institution, error) {
	if p.panicked.CompareAndSwap(false, true) {
		panic("nil map in institutions for 529.982.247-25")
	}
	return p.fakeKlavi.Institutions(ctx, token)
}

func checkHSTS(t *testing.T, r resp) {
	t.Helper()
	h := r.header.Get("Strict-Transport-Security")
	var maxAge int
	for _, part := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "max-age="); ok {
			maxAge, _ = strconv.Atoi(v)
		}
	}
	if maxAge < 31536000 || !strings.Contains(h, "includeSubDomains") {
		t.Errorf("HSTS = %q, want max-age ≥ 31536000 and includeSubDomains", h)
	}
}

// With an https PUBLIC_URL, every kind of answer (pages, static files, redirects, JSON receivers,
// 400/401/403/404/405/413/415/429/500/503) carries the security headers and HSTS; HTML is never cached
// (docs/reliability.md#security-headers).
func TestSecurityHeadersOnEveryAnswerHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) {
		o.PublicURL = "https://portal.example"
		o.RateLimit = 3
		o.PollInterval = time.Hour
	})
	pk := &panicOnceKlavi{fakeKlavi: e.kc}
	e.useKlavi(pk)
	c := newCookieClient(e)
	e.addOperator("op@example.com")
	signIn := url.Values{"email": {"op@example.com"}, "password": {testOperatorPassword}}.Encode()
	form := url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}.Encode()
	big := url.Values{"tax_id": {strings.Repeat("1", 70<<10)}}.Encode()
	ev := consentEvent("ev-h", "consent_authorised", "consent-x", "link-x")
	json := map[string]string{"Content-Type": "application/json"}
	signed := map[string]string{"Content-Type": "application/json", klavi.SignatureHeader: klavi.Sign(testSecret, ev)}
	steps := []struct {
		name, method, path, body string
		hdr                      map[string]string
		want                     int
	}{
		{"start page", "GET", "/", "", nil, 200},
		{"operators' page without signing in", "GET", "/consents", "", nil, 303},
		{"sign in", "POST", "/login", signIn, nil, 303},
		{"health", "GET", "/healthz", "", nil, 200},
		{"static css", "GET", "/static/css/app.css", "", nil, 200},
		{"static 404", "GET", "/static/nope.css", "", nil, 404},
		{"institutions without a session", "GET", "/institutions", "", nil, 303},
		{"start", "POST", "/start", form, nil, 303},
		{"institutions: handler panic", "GET", "/institutions", "", nil, 500},
		{"institutions after the panic", "GET", "/institutions", "", nil, 200},
		{"consents", "GET", "/consents", "", nil, 200},
		{"consent 404", "GET", "/consents/nope", "", nil, 404},
		{"webhook inbox", "GET", "/webhooks", "", nil, 200},
		{"callback 400", "GET", "/callback", "", nil, 400},
		{"lang redirect", "GET", "/lang/en?next=/", "", nil, 303},
		{"unknown page", "GET", "/no/such/page", "", nil, 404},
		{"405 on a page", "DELETE", "/", "", nil, 405},
		{"405 on a form", "PUT", "/consents", "", nil, 405},
		{"cross-origin 403", "POST", "/start", form, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"form 413", "POST", "/start", big, nil, 413},
		{"start again", "POST", "/start", form, nil, 303},
		{"rate limited 429", "POST", "/start", form, nil, 429},
		{"webhook 401", "POST", eventsPath, string(ev), json, 401},
		{"webhook 405", "GET", eventsPath, "", nil, 405},
		{"webhook 415", "POST", eventsPath, string(ev), map[string]string{"Content-Type": "text/plain"}, 415},
		{"webhook 200", "POST", eventsPath, string(ev), signed, 200},
		{"report webhook 400", "POST", "/webhooks/klavi/reports", "{}", map[string]string{"Content-Type": "application/json", klavi.SignatureHeader: klavi.Sign(testSecret, []byte("{}"))}, 400},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := c.do(s.method, s.path, s.body, s.hdr)
			wantStatus(t, r, s.want)
			checkSecurityHeaders(t, r)
			checkHSTS(t, r)
			if xf := r.header.Get("X-Frame-Options"); xf != "DENY" {
				t.Errorf("X-Frame-Options = %q", xf)
			}
			ct := r.header.Get("Content-Type")
			if (strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/json")) && r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s answer without Cache-Control: no-store (%q)", ct, r.header.Get("Cache-Control"))
			}
			if s.want == 413 && !r.closed {
				t.Error("413 keeps the connection open")
			}
			if s.want >= 500 {
				for _, leak := range []string{"goroutine", "panic", "nil map", "529.982.247", ".go:"} {
					if strings.Contains(r.body, leak) {
						t.Errorf("%d page leaks %q", s.want, leak)
					}
				}
				if strings.HasPrefix(ct, "text/html") && r.doc(t).Find(`[data-testid="error-page"]`).Length() != 1 {
					t.Error("no friendly error page")
				}
			}
		})
	}
	if !pk.panicked.Load() {
		t.Fatal("the handler never panicked")
	}
	t.Run("health 503 when the database is gone", func(t *testing.T) {
		h := newEnv(t, func(o *envOptions) { o.PublicURL = "https://portal.example" })
		_ = h.st.Close()
		r := h.get(h.browser(), "/healthz")
		wantStatus(t, r, http.StatusServiceUnavailable)
		checkSecurityHeaders(t, r)
		checkHSTS(t, r)
	})
}

// A handler panic through the real router → the generic 500 page, one masked log line, and the next request
// (same handler, same lock) is served normally (docs/reliability.md#failure-behaviour).
func TestHandlerPanicThroughRouter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pk := &panicOnceKlavi{fakeKlavi: e.kc}
	e.useKlavi(pk)
	b := e.browser()
	wantStatus(t, e.post(b, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	mark := logMark(e)
	r := e.get(b, "/institutions")
	wantStatus(t, r, http.StatusInternalServerError)
	checkSecurityHeaders(t, r)
	if st, _ := r.doc(t).Find(`[data-testid="error-page"]`).Attr("data-status"); st != "500" {
		t.Errorf("error-page status = %q", st)
	}
	for _, leak := range []string{"goroutine", "nil map", "529.982.247", "runtime/debug"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("500 page leaks %q", leak)
		}
	}
	panics := 0
	for _, l := range newLogLines(e, mark) {
		if strings.Contains(l, "panic in handler") {
			panics++
		}
	}
	if panics != 1 {
		t.Errorf("panic log lines = %d, want 1", panics)
	}
	done := make(chan resp, 1)
	go func() { done <- e.get(b, "/institutions") }()
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the request after the panic hangs (a lock left held?)")
	}
	wantStatus(t, r, http.StatusOK)
	wantStatus(t, e.post(b, "/consents", url.Values{"institution_code": {"341"}}), http.StatusSeeOther)
}

// FuzzCallbackQuery: any query string on /callback, with and without a session that has a pending consent,
// answers without a 5xx and with the security headers (docs/reliability.md#callback).
func FuzzCallbackQuery(f *testing.F) {
	for _, seed := range []string{
		"", "consent_id=consent-1&link_id=link-1&external_track_id=AAAAAAAAAAAAAAAAAAAAAA",
		"consent_id=%00&external_track_id=%0d%0a", "error=access_denied&error_description=%3Cscript%3E",
		"consent_id=consent-1&consent_id=other&external_track_id=x", "%zz=1&;;&&=", "error=" + strings.Repeat("e", 300),
		"consent_id=" + strings.Repeat("a", 64) + "&external_track_id=" + strings.Repeat("b", 64),
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	s, cookie := fuzzServer(f)
	f.Fuzz(func(t *testing.T, rawQuery string, withSession bool) {
		req := httptest.NewRequest(http.MethodGet, "/callback", nil)
		req.URL.RawQuery = rawQuery
		req.RequestURI = "/callback?" + rawQuery
		if withSession {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("query %q: status %d", rawQuery, rec.Code)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("query %q: security headers missing", rawQuery)
		}
	})
}

// fuzzServer builds a portal with a session that has one pending consent and returns the session cookie.
func fuzzServer(f *testing.F) (*Server, string) {
	f.Helper()
	e := newEnvTB(f)
	send := func(method, path, form, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		e.s.ServeHTTP(rec, req)
		return rec
	}
	rec := send("POST", "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}.Encode(), "")
	if rec.Code != http.StatusSeeOther {
		f.Fatalf("POST /start = %d", rec.Code)
	}
	res := rec.Result()
	var cookie string
	for _, ck := range res.Cookies() {
		cookie = ck.Name + "=" + ck.Value
	}
	if rec := send("POST", "/consents", url.Values{"institution_code": {"341"}}.Encode(), cookie); rec.Code != http.StatusSeeOther {
		f.Fatalf("POST /consents = %d", rec.Code)
	}
	return e.s, cookie
}

func storeOpenTB(tb testing.TB) (*store.Store, error) {
	st, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "fuzz.db"), time.Now)
	if err == nil {
		tb.Cleanup(func() { _ = st.Close() })
	}
	return st, err
}

// tbEnv is the part of env a fuzz target needs (newEnv takes a *testing.T).
type tbEnv struct{ s *Server }

func newEnvTB(tb testing.TB) tbEnv {
	tb.Helper()
	st, err := storeOpenTB(tb)
	if err != nil {
		tb.Fatal(err)
	}
	o := envOptions{Options: Options{Store: st, WebhookSecret: testSecret, PublicURL: "http://127.0.0.1:8080",
		SessionKey: bytes.Repeat([]byte("k"), 64), RateLimit: -1}, PollInterval: time.Hour}
	kc := newFakeKlavi()
	o.Flow = newFlow(tb, o, kc)
	s, err := newServer(o.Options, kc)
	if err != nil {
		tb.Fatal(err)
	}
	return tbEnv{s: s}
}

// The request id on every log line is ours: a client-sent X-Request-Id (which chi's RequestID would adopt) can
// neither write text into the logs nor impersonate another request.
func TestClientRequestIDIsNotLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{"529.982.247-25", strings.Repeat("x", 8000), "victim-request-000001"} {
		mark := logMark(e)
		r := e.do(e.browser(), http.MethodGet, "/no/such/page", nil, map[string]string{"X-Request-Id": id})
		wantStatus(t, r, http.StatusNotFound)
		for _, l := range newLogLines(e, mark) {
			if strings.Contains(l, id) {
				t.Errorf("client request id logged: %.120s", l)
			}
			if !strings.Contains(l, "request_id=") {
				t.Errorf("log line without our request id: %.120s", l)
			}
		}
	}
}

// A panic after the status line went out (a streamed download) cannot become a 500 page: the connection is
// aborted, so the client sees a failed transfer rather than a "200" with an error page glued on.
func TestPanicAfterWriteAbortsTheResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.s.securityHeaders(ownRequestID(middleware.RequestID(e.s.requestLogger(e.s.recoverer(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/csv")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("date,amount\n"))
			w.(http.Flusher).Flush()
			panic("broken row for 529.982.247-25")
		}))))))
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/reports/x/transactions.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d (the status line was already sent)", res.StatusCode)
	}
	body, err := io.ReadAll(res.Body)
	if err == nil {
		t.Errorf("transfer completed normally: %q", body)
	}
	if strings.Contains(string(body), "error-page") || strings.Contains(string(body), "<html") {
		t.Errorf("error page appended to a streamed answer: %q", body)
	}
	if !strings.Contains(e.logs.String(), "panic in handler") {
		t.Error("panic not logged")
	}
	// The server is still fine.
	r := e.get(e.browser(), "/")
	wantStatus(t, r, http.StatusOK)
}
