package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/store"
)

// benchServer is the portal with a real SQLite file and a fake Klavi, served in-process (no network), so the
// figures are the handler's own: signature check, parsing, durable write, rendering.
func benchServer(b *testing.B) (*Server, *store.Store) {
	s, st, _ := benchServerKlavi(b)
	return s, st
}

// benchServerKlavi is benchServer with its fake Klavi.
func benchServerKlavi(b *testing.B) (*Server, *store.Store, *fakeKlavi) {
	b.Helper()
	return benchServerWith(b, newFakeKlavi())
}

// benchServerWith is benchServer calling the given fake Klavi.
func benchServerWith(b *testing.B, kc *fakeKlavi) (*Server, *store.Store, *fakeKlavi) {
	b.Helper()
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	o := envOptions{Options: Options{
		Logger:        slog.New(slog.DiscardHandler),
		Store:         st,
		WebhookSecret: testSecret,
		PublicURL:     "http://127.0.0.1:8080",
		SessionKey:    bytes.Repeat([]byte("k"), 64),
		RateLimit:     -1,
	}}
	o.Flow = newFlow(b, o, kc)
	s, err := newServer(o.Options, kc)
	if err != nil {
		b.Fatal(err)
	}
	return s, st, kc
}

// benchBrowser is one browser talking to the server in-process: it keeps the cookies the server sets and sends
// them back, so pages that belong to the browser's consents really render (docs/reliability.md#access-model).
type benchBrowser struct {
	s       *Server
	cookies map[string]string
}

func (c *benchBrowser) request(method, path string, form url.Values) *http.Request {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for name, value := range c.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	return req
}

func (c *benchBrowser) do(b *testing.B, method, path string, form url.Values, want int) *httptest.ResponseRecorder {
	b.Helper()
	rec := httptest.NewRecorder()
	c.s.ServeHTTP(rec, c.request(method, path, form))
	if rec.Code != want {
		b.Fatalf("%s %s = %d, want %d", method, path, rec.Code, want)
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return rec
}

// benchConsent walks a browser through start, picker and the bank's return (the fake Klavi authorises), so the
// browser owns an AUTHORISED consent; it returns the browser, the consent and its link.
func benchConsent(b *testing.B, s *Server, st *store.Store, kc *fakeKlavi) (c *benchBrowser, consentID, linkID string) {
	b.Helper()
	c = &benchBrowser{s: s, cookies: map[string]string{}}
	c.do(b, http.MethodPost, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}, http.StatusSeeOther)
	rec := c.do(b, http.MethodPost, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}},
		http.StatusSeeOther)
	consentID = strings.TrimPrefix(strings.SplitN(rec.Header().Get("Location"), "?", 2)[0], "http://localhost:1/bank/")
	cs, err := st.Consent(context.Background(), consentID)
	if err != nil {
		b.Fatal(err)
	}
	kc.setStatus(consentID, klavi.StatusAuthorised)
	c.do(b, http.MethodGet, callbackQuery(consentID, cs.LinkID, kc.lastTrack()), nil, http.StatusSeeOther)
	return c, consentID, cs.LinkID
}

// benchReport is a signed-able report body of product for the consent, as the sandbox generates it (transactions
// 0: the natural amount).
func benchReport(b *testing.B, product, reportID, consentID, linkID string, transactions int) []byte {
	b.Helper()
	rep, err := sandbox.GenerateReportSized(product, "52998224725", time.Now(), transactions)
	if err != nil {
		b.Fatal(err)
	}
	rep.ProductReportID = reportID
	rep.RequestID = "req-1"
	rep.ProductReportTime = "2026-11-25T10:00:00"
	rep.Links = []sandbox.ReportLinkWire{{LinkID: linkID, InstitutionCode: "341",
		Consents: []sandbox.ReportConsentWire{{ConsentID: consentID}}}}
	body, err := json.Marshal(rep)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func postSigned(b *testing.B, s *Server, path string, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(klavi.SignatureHeader, klavi.Sign(testSecret, body))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("POST %s = %d", path, rec.Code)
	}
}

// BenchmarkEventWebhookNew measures time-to-2xx for a new event: verify, parse, one durable transaction.
func BenchmarkEventWebhookNew(b *testing.B) {
	s, _ := benchServer(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		postSigned(b, s, "/webhooks/klavi/events", consentEvent(fmt.Sprintf("ev-%d", i), "consent_authorised", "c", "l"))
	}
}

// BenchmarkEventWebhookDuplicate measures the same delivery again: still audited, no new inbox row.
func BenchmarkEventWebhookDuplicate(b *testing.B) {
	s, _ := benchServer(b)
	body := consentEvent("ev-dup", "consent_authorised", "c", "l")
	b.ReportAllocs()
	for b.Loop() {
		postSigned(b, s, "/webhooks/klavi/events", body)
	}
}

// BenchmarkReportPageLarge renders the first page of a 10,000-transaction checking report, for the browser that
// started its consent, after a first view (docs/benchmarks.md#report-path).
func BenchmarkReportPageLarge(b *testing.B) {
	s, st, kc := benchServerKlavi(b)
	c, consentID, linkID := benchConsent(b, s, st, kc)
	body := benchReport(b, "pf_checking_account", "bench-large", consentID, linkID, sandbox.LargeReportTransactions)
	postSigned(b, s, "/webhooks/klavi/reports", body)
	c.do(b, http.MethodGet, "/reports/bench-large", nil, http.StatusOK) // the first view may fill caches
	for _, mode := range cacheModes {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				dropPages(b, s, mode)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, c.request(http.MethodGet, "/reports/bench-large", nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET report = %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkReportWebhookLarge measures time to 2xx for a new 10,000-transaction report webhook: verify, parse,
// store the delivery and the report durably, the timeline line. Every iteration posts a new productReportId (the
// body is re-signed outside the timer), so it is the store path, not the duplicate one. Besides ns/op it reports
// the 99th percentile as p99-ms (docs/benchmarks.md#report-path).
func BenchmarkReportWebhookLarge(b *testing.B) {
	s, st, kc := benchServerKlavi(b)
	_, consentID, linkID := benchConsent(b, s, st, kc)
	const placeholder = "bench-report-000000000"
	tmpl := benchReport(b, "pf_checking_account", placeholder, consentID, linkID, sandbox.LargeReportTransactions)
	if bytes.Count(tmpl, []byte(placeholder)) != 1 {
		b.Fatal("the placeholder id is not in the body exactly once")
	}
	b.SetBytes(int64(len(tmpl)))
	b.ReportAllocs()
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		body := bytes.Replace(tmpl, []byte(placeholder), fmt.Appendf(nil, "bench-report-%09d", i), 1)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/klavi/reports", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(klavi.SignatureHeader, klavi.Sign(testSecret, body))
		rec := httptest.NewRecorder()
		b.StartTimer()
		start := time.Now()
		s.ServeHTTP(rec, req)
		took = append(took, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("POST report = %d", rec.Code)
		}
	}
	b.StopTimer()
	if n, err := st.Reports(context.Background(), 1000); err != nil || len(n) != len(took) {
		b.Fatalf("%d reports stored for %d posts (%v)", len(n), len(took), err)
	}
	b.ReportMetric(percentileMS(took, 99), "p99-ms")
}

// percentileMS is the p-th percentile of d in milliseconds (nearest rank).
func percentileMS(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := max((p*len(s)+99)/100, 1)
	return float64(s[rank-1]) / float64(time.Millisecond)
}

// BenchmarkConsentPage renders GET /consents/{id} of an AUTHORISED consent with its four reports, for the browser
// that started it: the reports at their natural size, and with a 10,000-transaction checking account.
func BenchmarkConsentPage(b *testing.B) {
	for _, bc := range []struct {
		name     string
		checking int // transactions of the checking account report; 0: the natural amount
	}{{"natural", 0}, {"checking10k", sandbox.LargeReportTransactions}} {
		b.Run(bc.name, func(b *testing.B) {
			s, st, kc := benchServerKlavi(b)
			c, consentID, linkID := benchConsent(b, s, st, kc)
			for i, product := range []string{"pf_checking_account", "pf_savings_account", "pf_credit_card", "pf_categorized_checking_l3"} {
				n := 0
				if product == "pf_checking_account" {
					n = bc.checking
				}
				postSigned(b, s, "/webhooks/klavi/reports", benchReport(b, product, fmt.Sprintf("bench-report-%d", i), consentID, linkID, n))
			}
			rec := c.do(b, http.MethodGet, "/consents/"+consentID, nil, http.StatusOK) // the first view may fill caches
			if n := strings.Count(rec.Body.String(), `data-testid="report-item"`); n != 4 {
				b.Fatalf("the consent page lists %d reports, want 4", n)
			}
			for _, mode := range cacheModes {
				b.Run(mode, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						dropPages(b, s, mode)
						rec := httptest.NewRecorder()
						s.ServeHTTP(rec, c.request(http.MethodGet, "/consents/"+consentID, nil))
						if rec.Code != http.StatusOK {
							b.Fatalf("GET consent = %d", rec.Code)
						}
					}
				})
			}
		})
	}
}

// cacheModes are the two ways a page benchmark runs (docs/architecture.md#page-cache): "rendered" empties the page
// cache before each request, outside the timer, so the page is read and rendered; "cached" asks for the page kept
// from the request before, as a reload within the second does.
var cacheModes = []string{"rendered", "cached"}

// dropPages empties s's page cache, outside the timer, when mode is "rendered".
func dropPages(b *testing.B, s *Server, mode string) {
	if mode == "rendered" {
		b.StopTimer()
		s.pages.Purge()
		b.StartTimer()
	}
}

// BenchmarkReportPageLargeFirstView renders the first page of a 10,000-transaction checking report that nobody has
// viewed yet: each iteration posts a new one (outside the timer), so nothing of it is cached.
func BenchmarkReportPageLargeFirstView(b *testing.B) {
	s, st, kc := benchServerKlavi(b)
	c, consentID, linkID := benchConsent(b, s, st, kc)
	const placeholder = "bench-report-000000000"
	tmpl := benchReport(b, "pf_checking_account", placeholder, consentID, linkID, sandbox.LargeReportTransactions)
	b.SetBytes(int64(len(tmpl)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		id := fmt.Sprintf("bench-report-%09d", i)
		postSigned(b, s, "/webhooks/klavi/reports", bytes.Replace(tmpl, []byte(placeholder), []byte(id), 1))
		req := c.request(http.MethodGet, "/reports/"+id, nil)
		rec := httptest.NewRecorder()
		b.StartTimer()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET report = %d", rec.Code)
		}
	}
}

// BenchmarkInstitutionsPage is one browser reloading the institution picker of its flow: the sandbox's participant
// list (the list itself is cached in memory), the link's consents, and the "continue on your phone" block with its
// QR code (docs/reliability.md#hand-off).
func BenchmarkInstitutionsPage(b *testing.B) {
	kc := newFakeKlavi()
	raw, err := json.Marshal(sandbox.Institutions("http://localhost:1"))
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(raw, &kc.institutions); err != nil {
		b.Fatal(err)
	}
	s, _, _ := benchServerWith(b, kc)
	req := httptest.NewRequest(http.MethodPost, "/start", strings.NewReader(url.Values{"person_type": {"personal"},
		"tax_id": {"52998224725"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/institutions" {
		b.Fatalf("POST /start = %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	jar := map[string]string{} // the browser's cookies, by name
	keep := func(rec *httptest.ResponseRecorder) {
		for _, c := range rec.Result().Cookies() {
			jar[c.Name] = c.Value
		}
	}
	keep(rec)
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/institutions", nil)
		for name, value := range jar {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="handoff-qr"`) {
			b.Fatalf("GET /institutions = %d, or no hand-off QR code", rec.Code)
		}
		keep(rec)
		return rec
	}
	b.SetBytes(int64(get().Body.Len()))
	for _, mode := range cacheModes {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dropPages(b, s, mode)
				get()
			}
		})
	}
}
