// The portal against the real embedded sandbox (package sandbox) over HTTP, as in `make run`: the personal and
// business happy paths, a refusal followed by a new try, and the sandbox's scenarios by test CPF.

package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/internal/logbuf"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/store"
)

// sandboxEnv runs the portal against the real sandbox over HTTP (both on loopback, distinct ports).
type sandboxEnv struct {
	t       *testing.T
	portal  *httptest.Server
	sbx     *httptest.Server
	sb      *sandbox.Sandbox // to inject faults
	st      *store.Store
	logs    *logbuf.Buffer
	browser *http.Client
}

// sandboxSetup is what a test may change before newSandboxEnv starts the portal: the Klavi client's options (applied
// after the right keys, so a WithCredentials here wins) and the server's options, given the client.
type sandboxSetup struct {
	klavi  []klavi.Option
	server func(o *envOptions, kc *klavi.Client)
}

func newSandboxEnv(t *testing.T, mods ...func(*sandboxSetup)) *sandboxEnv {
	t.Helper()
	// Reserve both listeners first so each side knows the other's URL.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	portalURL, sbxURL := "http://"+pl.Addr().String(), "http://"+sl.Addr().String()
	sb := sandbox.New(sandbox.Options{
		AccessKey: "demo-access-key", SecretKey: testSecret, PublicURL: sbxURL,
		EventsURL: portalURL + "/webhooks/klavi/events", ReportsURL: portalURL + "/webhooks/klavi/reports",
		RetryBase: 20 * time.Millisecond, ReportDelay: 10 * time.Millisecond,
	})
	sbx := &httptest.Server{Listener: sl, Config: &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}}
	sbx.Start()
	t.Cleanup(func() { sb.Close(); sbx.Close() })

	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	setup := sandboxSetup{klavi: []klavi.Option{klavi.WithCredentials("demo-access-key", testSecret)}}
	for _, m := range mods {
		m(&setup)
	}
	kc, err := klavi.New(sbxURL+"/data/v1", setup.klavi...)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	o := envOptions{Options: Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Store: st, Klavi: kc,
		WebhookSecret: testSecret, PublicURL: portalURL, SessionKey: bytes.Repeat([]byte("s"), 64),
		SandboxHints: true}, PollInterval: 50 * time.Millisecond}
	if setup.server != nil {
		setup.server(&o, kc)
	}
	o.Flow = newFlow(t, o, kc)
	s, err := NewServer(o.Options)
	if err != nil {
		t.Fatal(err)
	}
	portal := &httptest.Server{Listener: pl, Config: &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}}
	portal.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Flow.Run(ctx); close(done) }()
	// Scanned last, after the worker and the servers stopped (docs/reliability.md#log-scan).
	t.Cleanup(func() { assertCleanLogs(t, logs.String(), testSecret, "demo-access-key") })
	t.Cleanup(func() { cancel(); <-done; portal.Close() })
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	return &sandboxEnv{t: t, portal: portal, sbx: sbx, sb: sb, st: st, logs: logs, browser: b}
}

// page fetches (following redirects) and parses.
func (e *sandboxEnv) send(req *http.Request) (*http.Response, *goquery.Document) {
	e.t.Helper()
	res, err := e.browser.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	return res, d
}

func (e *sandboxEnv) postForm(u string, v url.Values) (*http.Response, *goquery.Document) {
	req, _ := http.NewRequest("POST", u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.send(req)
}

// submit posts the form containing the button with testid, like a browser click.
func (e *sandboxEnv) submit(base *url.URL, d *goquery.Document, testid string) (*http.Response, *goquery.Document) {
	e.t.Helper()
	btn := d.Find(`[data-testid="` + testid + `"]`)
	if btn.Length() == 0 {
		html, _ := d.Html()
		e.t.Fatalf("no %s in page: %.800s", testid, html)
	}
	form := btn.Closest("form")
	v := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		n, _ := in.Attr("name")
		val, _ := in.Attr("value")
		typ, _ := in.Attr("type")
		if n != "" && (typ != "radio" || in.Is("[checked]")) {
			v.Set(n, val)
		}
	})
	if n, ok := btn.Attr("name"); ok {
		val, _ := btn.Attr("value")
		v.Set(n, val)
	}
	action, _ := form.Attr("action")
	u, _ := base.Parse(action)
	return e.postForm(u.String(), v)
}

func (e *sandboxEnv) walk(taxID, personType string, approve bool) (*http.Response, *goquery.Document) {
	e.t.Helper()
	return e.walkForm(url.Values{"person_type": {personType}, "tax_id": {taxID}}, approve)
}

// walkForm is walk with the whole start form (email and phone included).
func (e *sandboxEnv) walkForm(start url.Values, approve bool) (*http.Response, *goquery.Document) {
	e.t.Helper()
	res, d := e.postForm(e.portal.URL+"/start", start)
	if res.StatusCode != 200 || res.Request.URL.Path != "/institutions" {
		e.t.Fatalf("after start: %d %s", res.StatusCode, res.Request.URL)
	}
	var code string
	d.Find(`[data-testid^="choose-"]`).EachWithBreak(func(_ int, s *goquery.Selection) bool {
		id, _ := s.Attr("data-testid")
		code = strings.TrimPrefix(id, "choose-")
		return false
	})
	if code == "" {
		e.t.Fatal("no choosable institution")
	}
	req, _ := http.NewRequest("GET", e.portal.URL+"/consents/new?institution="+code, nil)
	res, d = e.send(req)
	if res.StatusCode != 200 {
		e.t.Fatalf("consents/new: %d", res.StatusCode)
	}
	res, d = e.submit(res.Request.URL, d, "consent-submit")
	if d.Find(`[data-testid="bank-page"]`).Length() == 0 {
		html, _ := d.Html()
		e.t.Fatalf("not at the bank: %d %s %.500s", res.StatusCode, res.Request.URL, html)
	}
	res, d = e.submit(res.Request.URL, d, "bank-login")
	if !approve {
		return e.submit(res.Request.URL, d, "bank-deny")
	}
	res, d = e.submit(res.Request.URL, d, "bank-authorise")
	if d.Find(`[data-testid="lgpd-page"]`).Length() == 0 {
		return res, d
	}
	return e.submit(res.Request.URL, d, "lgpd-accept")
}

func (e *sandboxEnv) consentPage(path string) *goquery.Document {
	req, _ := http.NewRequest("GET", e.portal.URL+path, nil)
	res, d := e.send(req)
	if res.StatusCode != 200 {
		e.t.Fatalf("%s: %d", path, res.StatusCode)
	}
	return d
}

func TestSandboxHappyPath(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t)
	res, d := e.walk("529.982.247-25", "personal", true)
	if !strings.HasPrefix(res.Request.URL.Path, "/consents/") {
		t.Fatalf("ended at %s", res.Request.URL)
	}
	path := res.Request.URL.Path
	if d.Find(`[data-testid="consent-status"]`).Length() != 1 {
		t.Fatal("no consent-status")
	}
	var reports int
	eventually(t, "AUTHORISED with 4 reports", func() bool {
		d := e.consentPage(path)
		st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status")
		reports = d.Find(`[data-testid="report-item"]`).Length()
		return st == "AUTHORISED" && reports >= 4
	})
	d = e.consentPage(path)
	href, _ := d.Find(`[data-testid="report-item"][data-product="pf_checking_account"]`).Attr("href")
	if href == "" {
		t.Fatal("no checking account report")
	}
	d = e.consentPage(href)
	if d.Find(`[data-testid="account"]`).Length() == 0 || d.Find(`[data-testid="transaction-row"]`).Length() == 0 {
		t.Error("report page without accounts/transactions")
	}
	if bal := d.Find(`[data-testid="account-balance"]`).First().Text(); !strings.HasPrefix(strings.TrimSpace(bal), "R$") {
		t.Errorf("balance = %q", bal)
	}
	e.signIn()
	d = e.consentPage("/webhooks")
	if d.Find(`[data-testid="webhook-row"]`).Length() == 0 {
		t.Error("no webhook rows")
	}
	if strings.Contains(e.logs.String(), "52998224725") {
		t.Error("CPF in portal logs")
	}
}

func TestSandboxDenyAndTryAgain(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t)
	res, d := e.walk("111.444.777-35", "personal", true)
	if !strings.HasPrefix(res.Request.URL.Path, "/consents/") {
		t.Fatalf("ended at %s", res.Request.URL)
	}
	if st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status"); st != "REJECTED" {
		t.Errorf("status = %q", st)
	}
	if d.Find(`[data-testid="consent-error"]`).Length() != 1 {
		t.Fatal("no consent-error")
	}
	res, d = e.submit(res.Request.URL, d, "try-again")
	if d.Find(`[data-testid="bank-page"]`).Length() == 0 {
		t.Errorf("try again did not reach the bank: %s", res.Request.URL)
	}
}

func TestSandboxBusiness(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t)
	res, _ := e.walk("11.222.333/0001-81", "business", true)
	path := res.Request.URL.Path
	eventually(t, "pj reports", func() bool {
		d := e.consentPage(path)
		return d.Find(`[data-testid="report-item"][data-product="pj_checking_account"]`).Length() == 1
	})
}

func TestSandboxScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cpf string
		check     func(t *testing.T, e *sandboxEnv, consentID string)
	}{
		{"consent webhooks never sent: the reconciler finishes", "666.777.888-30", nil},
		{"every webhook twice: one timeline entry", "444.555.666-19", func(t *testing.T, e *sandboxEnv, id string) {
			tl, _ := e.st.Timeline(context.Background(), id)
			n := 0
			for _, en := range tl {
				if enText(en.Title) == "webhook consent_authorised, signature ok" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("consent_authorised timeline entries = %d, want 1", n)
			}
		}},
		{"first delivery badly signed: rejected then accepted", "777.888.999-41", func(t *testing.T, e *sandboxEnv, id string) {
			eventually(t, "a rejected delivery", func() bool {
				ds, _ := e.st.Deliveries(context.Background(), 100)
				for _, d := range ds {
					if !d.SignatureValid {
						return true
					}
				}
				return false
			})
		}},
		{"webhook before the browser returns", "555.666.777-20", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSandboxEnv(t)
			res, _ := e.walk(tt.cpf, "personal", true)
			path := res.Request.URL.Path
			if !strings.HasPrefix(path, "/consents/") {
				t.Fatalf("ended at %s", res.Request.URL)
			}
			eventually(t, "AUTHORISED with reports", func() bool {
				d := e.consentPage(path)
				st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status")
				return st == "AUTHORISED" && d.Find(`[data-testid="report-item"]`).Length() >= 1
			})
			if tt.check != nil {
				tt.check(t, e, strings.TrimPrefix(path, "/consents/"))
			}
		})
	}
}

// signIn signs the sandbox env's browser in as an operator.
func (e *sandboxEnv) signIn() {
	e.t.Helper()
	h, err := auth.HashPassword(testOperatorPassword, auth.Params{Time: 1, Memory: 64, Threads: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.AddOperator(context.Background(), "op@example.com", h); err != nil {
		e.t.Fatal(err)
	}
	form := url.Values{"email": {"op@example.com"}, "password": {testOperatorPassword}}
	req, _ := http.NewRequest(http.MethodPost, e.portal.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, _ := e.send(req)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("sign in: status %d", res.StatusCode)
	}
}
