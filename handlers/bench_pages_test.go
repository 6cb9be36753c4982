package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkStartPage renders GET / for a browser with a session (the load kit's case: docs/benchmarks.md#pages):
// the whole middleware chain, the session read and the layout.
func BenchmarkStartPage(b *testing.B) {
	s, _ := benchServer(b)
	form := url.Values{"person_type": {"personal"}, "tax_id": {"529.982.247-25"}}
	req := httptest.NewRequest(http.MethodPost, "/start", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("POST /start = %d", rec.Code)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) == 0 {
		b.Fatal("POST /start set no cookie")
	}
	for _, mode := range cacheModes {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dropPages(b, s, mode)
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET / = %d", rec.Code)
				}
			}
		})
	}
}
