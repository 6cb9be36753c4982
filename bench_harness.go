//go:build benchharness

// The load kit that compares the portal with a bare server (make bench-compare, docs/benchmarks.md#pages) sends
// no cookies, and every page past the start page belongs to one browser: without its cookies they answer 404 or
// 303. A build with the benchharness tag (never the released binary) therefore walks the flow once at start, over
// real HTTP against itself and the embedded sandbox. Short aliases (/bench/...) name that browser's pages, whose ids
// are only known after the walk, and requests for them that come without cookies get the browser's. /healthz answers 503
// until the walk is done, so the kit's wait for the portal covers it.

package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klavi-demo/portal/internal/flowwalk"
)

// benchCPF is a valid test CPF (the sandbox's default scenario: authorised, four reports).
const benchCPF = "529.982.247-25"

type benchState struct {
	cookie  string            // the walked browser's Cookie header
	aliases map[string]string // /bench/... -> the real path
}

func init() {
	benchWrap = func(next http.Handler, publicURL string, log *slog.Logger) http.Handler {
		var state atomic.Pointer[benchState]
		go func() {
			st, err := benchWalk(publicURL)
			if err != nil {
				log.Error("bench harness: walking the flow failed", "err", err)
				return
			}
			state.Store(st)
			log.Info("bench harness ready", "pages", "/bench/start /bench/institutions /bench/consent /bench/report /bench/reports")
		}()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := state.Load()
			if st == nil {
				if r.URL.Path == "/healthz" {
					http.Error(w, "bench harness: walking the flow", http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			// Only the aliases get the walked browser's cookies: "/" stays a first visit (no session), and
			// /bench/start is the same page for a browser with a session.
			if to, ok := st.aliases[r.URL.Path]; ok {
				r.URL.Path, r.URL.RawPath = to, ""
				if r.Header.Get("Cookie") == "" {
					r.Header.Set("Cookie", st.cookie)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// benchWalk creates a consent with its reports as a browser would and returns that browser's cookies and the pages.
func benchWalk(publicURL string) (*benchState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := flowwalk.New(publicURL, 30*time.Second)
	if err != nil {
		return nil, err
	}
	for { // the listener is up before this runs, but the first request may still race the server's start
		if _, err = w.Get(ctx, "/"); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	consent, err := w.Consent(ctx, benchCPF)
	if err != nil {
		return nil, err
	}
	reports, err := w.Reports(ctx, consent, 4, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	// The checking account report is the one with transactions and charts: the heaviest of the four.
	report := reports[0]
	p, err := w.Get(ctx, consent)
	if err != nil {
		return nil, err
	}
	if href, ok := p.Doc.Find(`[data-testid="report-item"][data-product$="checking_account"]`).Attr("href"); ok {
		report = href
	}
	var cookies []string
	for _, c := range w.Client.Jar.Cookies(w.Base) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	return &benchState{cookie: strings.Join(cookies, "; "), aliases: map[string]string{
		"/bench/start":        "/",
		"/bench/institutions": "/institutions",
		"/bench/consent":      consent,
		"/bench/report":       report,
		"/bench/reports":      consent + "/reports",
	}}, nil
}
