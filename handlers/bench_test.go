package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
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
	b.Helper()
	return benchServerWith(b, newFakeKlavi())
}

// benchServerWith is benchServer calling the given fake Klavi.
func benchServerWith(b *testing.B, kc *fakeKlavi) (*Server, *store.Store) {
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
	return s, st
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

// BenchmarkReportPageLarge renders the first page of a 10,000-transaction checking report.
func BenchmarkReportPageLarge(b *testing.B) {
	s, _ := benchServer(b)
	rep, err := sandbox.GenerateReportSized("pf_checking_account", "52998224725", time.Now(), sandbox.LargeReportTransactions)
	if err != nil {
		b.Fatal(err)
	}
	rep.ProductReportID = "bench-large"
	rep.RequestID = "req"
	rep.ProductReportTime = "2026-11-25T10:00:00"
	body, err := json.Marshal(rep)
	if err != nil {
		b.Fatal(err)
	}
	postSigned(b, s, "/webhooks/klavi/reports", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/reports/bench-large", nil))
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
	s, _ := benchServerWith(b, kc)
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
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
