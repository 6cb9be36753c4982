package handlers

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func checkSecurityHeaders(t *testing.T, r resp) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "form-action 'self'") && !strings.Contains(csp, "form-action 'self' https:") {
		t.Errorf("CSP has a bare form-action 'self' (blocks the 303 to the bank): %q", csp)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	if r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("no Referrer-Policy")
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	id, _ := e.startFlow(c, "52998224725")
	e.signIn(c) // the operators' pages are listed too (TestAccess covers visitors)
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 200},
		{"GET", "/healthz", 200},
		{"GET", "/static/css/app.css", 200},
		{"GET", "/static/js/app.js", 200},
		{"GET", "/static/img/favicon.svg", 200},
		{"GET", "/static/", 404},
		{"GET", "/static/nope.css", 404},
		{"GET", "/institutions", 200},
		{"GET", "/consents/new?institution=341", 200},
		{"GET", "/consents", 200},
		{"GET", "/consents/" + id, 200},
		{"GET", "/consents/" + id + "/live", 200},
		{"GET", "/consents/" + id + "/reports", 200},
		{"GET", "/consents/does-not-exist", 404},
		{"GET", "/consents/bad%20id", 404},
		{"GET", "/reports/nope", 404},
		{"GET", "/reports/nope/report.json", 404},
		{"GET", "/reports/nope/transactions.csv", 404},
		{"GET", "/reports/nope/transactions-br.csv", 404},
		{"GET", "/reports/nope/transactions.xlsx", 404},
		{"GET", "/webhooks", 200},
		{"GET", "/webhooks/1", 404},
		{"GET", "/lang/en?next=/consents", 303},
		{"GET", "/callback", 400},
		{"GET", "/no/such/page", 404},
		// e.do posts a form Content-Type: the receivers want JSON (415); a JSON post without a valid signature
		// gets 401 (TestCrossOriginProtection, TestEventWebhook).
		{"POST", "/webhooks/klavi/events", 415},
		{"POST", "/webhooks/klavi/reports", 415},
		{"GET", "/webhooks/klavi/events", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.do(c, tt.method, tt.path, nil, nil)
			wantStatus(t, r, tt.want)
			checkSecurityHeaders(t, r)
			if tt.want == 404 && strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				if r.doc(t).Find(`[data-testid="error-page"]`).Length() != 1 {
					t.Error("404 without error-page")
				}
			}
		})
	}
	t.Run("static assets are cache-busted", func(t *testing.T) {
		r := e.get(c, "/")
		d := r.doc(t)
		href, _ := d.Find(`link[rel="stylesheet"]`).Attr("href")
		if !strings.Contains(href, "?v=") {
			t.Errorf("stylesheet href = %q", href)
		}
		r = e.get(c, href)
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
	})
	t.Run("form over 64 KiB: 413 with headers", func(t *testing.T) {
		big := url.Values{"tax_id": {strings.Repeat("1", 70<<10)}}
		r := e.post(c, "/start", big)
		wantStatus(t, r, http.StatusRequestEntityTooLarge)
		checkSecurityHeaders(t, r)
	})
}

func TestPanicGives500Page(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.s.securityHeaders(e.s.recoverer(e.s.withSession(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom 529.982.247-25")
	}))))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	r := resp{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	wantStatus(t, r, http.StatusInternalServerError)
	checkSecurityHeaders(t, r)
	if r.doc(t).Find(`[data-testid="error-page"]`).Length() != 1 || strings.Contains(r.body, "boom") || strings.Contains(r.body, "goroutine") {
		t.Error("500 page missing or leaking the panic")
	}
	if strings.Contains(e.logs.String(), "529.982.247-25") {
		t.Error("CPF from the panic value logged")
	}
}

func TestHSTSAndSecureCookieOnHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PublicURL = "https://portal.example" })
	r := e.post(e.browser(), "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}})
	wantStatus(t, r, http.StatusSeeOther)
	if !strings.Contains(r.header.Get("Strict-Transport-Security"), "max-age=31536000") {
		t.Errorf("HSTS = %q", r.header.Get("Strict-Transport-Security"))
	}
	sc := r.header.Get("Set-Cookie")
	for _, want := range []string{"__Host-sid=", "Path=/", "Max-Age=43200", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if strings.Contains(sc, "Domain=") || len(sc) > 4096 {
		t.Errorf("Set-Cookie has Domain or is too long: %q", sc)
	}
}

func TestSessionCookieHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post(e.browser(), "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}})
	wantStatus(t, r, http.StatusSeeOther)
	sc := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "sid=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Errorf("Set-Cookie = %q", sc)
	}
	if strings.Contains(sc, "52998224725") {
		t.Error("CPF in cookie")
	}
	if r.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on plain http")
	}
}

func TestTamperedCookieGivesFreshSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(e.browser(), "GET", "/institutions", nil, map[string]string{"Cookie": "sid=tampered-value"})
	wantStatus(t, r, http.StatusSeeOther) // fresh session → no link → back to the start
}

func TestSessionFixation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	wantStatus(t, e.get(c, "/lang/en?next=/"), http.StatusSeeOther)
	u, _ := url.Parse(e.srv.URL)
	before := c.Jar.Cookies(u)
	wantStatus(t, e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	after := c.Jar.Cookies(u)
	if len(before) != 1 || len(after) != 1 || before[0].Value == after[0].Value {
		t.Fatal("session cookie not reissued at flow start")
	}
	// Language survives the rotation.
	r := e.get(c, "/institutions")
	wantStatus(t, r, http.StatusOK)
	if lang, _ := r.doc(t).Find("html").Attr("lang"); lang != "en" {
		t.Errorf("lang after rotation = %q", lang)
	}
}

func TestCrossOriginProtection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	form := url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}.Encode()
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"cross-site Origin", map[string]string{"Origin": "https://attacker.example"}, 403},
		{"null Origin", map[string]string{"Origin": "null"}, 403},
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"Sec-Fetch-Site same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 303},
		{"same Origin", map[string]string{"Origin": e.srv.URL}, 303},
		{"no headers", nil, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(e.browser(), "POST", "/start", strings.NewReader(form), tt.hdr)
			wantStatus(t, r, tt.want)
			checkSecurityHeaders(t, r)
			if tt.want == 403 && r.doc(t).Find(`[data-testid="error-page"]`).Length() != 1 {
				t.Error("403 without the error page")
			}
		})
	}
	t.Run("webhook without Origin reaches the signature check", func(t *testing.T) {
		r := e.do(http.DefaultClient, "POST", "/webhooks/klavi/events", bytes.NewReader([]byte("[]")),
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"})
		wantStatus(t, r, http.StatusUnauthorized)
	})
}

func TestLangNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct{ next, want string }{
		{"/consents", "/consents"},
		{"/consents/abc-123", "/consents/abc-123"},
		{"", "/"},
		{"//evil.com", "/"},
		{`/\evil.com`, "/"},
		{`\\evil.com`, "/"},
		{"https:evil.com", "/"},
		{"%2F%2Fevil.com", "/"},
		{"/%09/evil.com", "/"},
		{"/\t/evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"http://localhost@evil.com", "/"},
		{"https://evil.com", "/"},
		{"/a//b", "/"},
		{"/a?b=c", "/a?b=c"},
		{"/consents?status=AUTHORISED&holder=0123456789abcdef0123456789abcdef", "/consents?holder=0123456789abcdef0123456789abcdef&status=AUTHORISED"},
		{"/institutions?q=s%C3%A3o+paulo", "/institutions?q=s%C3%A3o+paulo"},
		{"/?next=//evil.com", "/?next=%2F%2Fevil.com"},
		{"//evil.com?x=1", "/"},
		{"/a?%zz", "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			r := e.get(e.browser(), "/lang/en?next="+url.QueryEscape(tt.next))
			wantStatus(t, r, http.StatusSeeOther)
			if got := r.header.Get("Location"); got != tt.want {
				t.Errorf("Location = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("language is remembered", func(t *testing.T) {
		c := e.browser()
		wantStatus(t, e.get(c, "/lang/en?next=/"), http.StatusSeeOther)
		r := e.get(c, "/")
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		if lang, _ := d.Find("html").Attr("lang"); lang != "en" {
			t.Errorf("lang = %q", lang)
		}
		if !strings.Contains(d.Find(`[data-testid="start-submit"]`).Text(), "Continue") {
			t.Error("start page not in English")
		}
		wantStatus(t, e.get(c, "/lang/pt?next=/"), http.StatusSeeOther)
		r = e.get(c, "/")
		if lang, _ := r.doc(t).Find("html").Attr("lang"); lang != "pt-BR" {
			t.Errorf("lang = %q", lang)
		}
	})
}

func TestErrorPagesNameTheProblemInTheTitle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.get(e.browser(), "/no-such-page")
	wantStatus(t, r, http.StatusNotFound)
	title := r.doc(t).Find("title").Text()
	if !strings.Contains(title, "não encontrada") {
		t.Errorf("404 title = %q, want it to say the page was not found", title)
	}
}

// The language links keep a page's filters but never copy a CPF/CNPJ into another URL: a legacy tax_id link is
// redirected to its holder URL first, and the holder ref (a pseudonym) is what the language link keeps.
func TestLanguageLinksDropTheTaxIDFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.operator()
	r := e.get(b, "/consents?status=AUTHORISED&tax_id=529.982.247-25")
	wantStatus(t, r, http.StatusSeeOther)
	loc := r.header.Get("Location")
	r = e.get(b, loc)
	wantStatus(t, r, http.StatusOK)
	href, _ := r.doc(t).Find(`[data-testid="lang-en"]`).Attr("href")
	next, _ := url.Parse(href)
	got := next.Query().Get("next")
	if strings.Contains(got, "tax_id") || strings.Contains(got, "982") {
		t.Errorf("language link next = %q, carries the tax id", got)
	}
	if want := "/consents?holder=" + e.flow.HolderRef("52998224725") + "&status=AUTHORISED"; got != want || loc != want {
		t.Errorf("language link next = %q (redirect %q), want %q: the holder and status filters kept", got, loc, want)
	}
}
