// Package flowwalk walks the consent flow of a running portal over plain HTTP, the way a browser without
// JavaScript would: start with a CPF, choose the first selectable institution, confirm, log in at the embedded
// sandbox's bank, authorise, accept its LGPD step, and come back to the consent page. The load scenario and the
// benchmark harness use it to create real consents with real sessions (docs/benchmarks.md); the browser tests
// walk the same pages in chromium instead.
package flowwalk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// Walker is one browser: its own cookie jar against one portal.
type Walker struct {
	Base   *url.URL
	Client *http.Client
}

// New returns a walker with a fresh cookie jar. The client follows redirects (the bank is on another origin).
func New(base string, timeout time.Duration) (*Walker, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &Walker{Base: u, Client: &http.Client{Jar: jar, Timeout: timeout}}, nil
}

// Page is a fetched, parsed page and the URL it ended at.
type Page struct {
	URL    *url.URL
	Status int
	Doc    *goquery.Document
}

// Get fetches path (relative to the portal, or absolute) and parses it.
func (w *Walker) Get(ctx context.Context, path string) (Page, error) {
	u, err := w.Base.Parse(path)
	if err != nil {
		return Page{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Page{}, err
	}
	return w.send(req)
}

func (w *Walker) post(ctx context.Context, u string, v url.Values) (Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		return Page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return w.send(req)
}

func (w *Walker) send(req *http.Request) (Page, error) {
	res, err := w.Client.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Page{}, err
	}
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(b))
	if err != nil {
		return Page{}, err
	}
	return Page{URL: res.Request.URL, Status: res.StatusCode, Doc: d}, nil
}

// Submit posts the form holding the element with data-testid testid, as a click on that button would.
func (w *Walker) Submit(ctx context.Context, p Page, testid string) (Page, error) {
	btn := p.Doc.Find(`[data-testid="` + testid + `"]`)
	if btn.Length() == 0 {
		return Page{}, fmt.Errorf("flowwalk: no %q on %s (status %d)", testid, p.URL.Path, p.Status)
	}
	form := btn.Closest("form")
	v := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		n, _ := in.Attr("name")
		val, _ := in.Attr("value")
		typ, _ := in.Attr("type")
		if n != "" && (typ != "radio" && typ != "checkbox" || in.Is("[checked]")) {
			v.Set(n, val)
		}
	})
	if n, ok := btn.Attr("name"); ok {
		val, _ := btn.Attr("value")
		v.Set(n, val)
	}
	action, _ := form.Attr("action")
	u, err := p.URL.Parse(action)
	if err != nil {
		return Page{}, err
	}
	return w.post(ctx, u.String(), v)
}

// Consent walks the whole flow for a personal CPF at the first selectable institution, authorising at the bank,
// and returns the consent page's path (/consents/{id}).
func (w *Walker) Consent(ctx context.Context, cpf string) (string, error) {
	p, err := w.post(ctx, w.Base.JoinPath("/start").String(), url.Values{"person_type": {"personal"}, "tax_id": {cpf}})
	if err != nil {
		return "", err
	}
	if p.Status != http.StatusOK || p.URL.Path != "/institutions" {
		return "", fmt.Errorf("flowwalk: start ended at %s with %d", p.URL.Path, p.Status)
	}
	code := ""
	p.Doc.Find(`[data-testid^="choose-"]`).EachWithBreak(func(_ int, s *goquery.Selection) bool {
		id, _ := s.Attr("data-testid")
		code = strings.TrimPrefix(id, "choose-")
		return false
	})
	if code == "" {
		return "", errors.New("flowwalk: no selectable institution")
	}
	if p, err = w.Get(ctx, "/consents/new?institution="+url.QueryEscape(code)); err != nil {
		return "", err
	}
	steps := []string{"consent-submit", "bank-login", "bank-authorise"}
	for _, id := range steps {
		if p, err = w.Submit(ctx, p, id); err != nil {
			return "", err
		}
	}
	if p.Doc.Find(`[data-testid="lgpd-page"]`).Length() > 0 {
		if p, err = w.Submit(ctx, p, "lgpd-accept"); err != nil {
			return "", err
		}
	}
	if !strings.HasPrefix(p.URL.Path, "/consents/") || p.Status != http.StatusOK {
		return "", fmt.Errorf("flowwalk: the bank returned to %s with %d", p.URL.Path, p.Status)
	}
	return p.URL.Path, nil
}

// Reports waits until the consent page lists at least n reports and returns their paths (/reports/{id}).
func (w *Walker) Reports(ctx context.Context, consentPath string, n int, every time.Duration) ([]string, error) {
	for {
		p, err := w.Get(ctx, consentPath)
		if err != nil {
			return nil, err
		}
		var paths []string
		p.Doc.Find(`[data-testid="report-item"]`).Each(func(_ int, s *goquery.Selection) {
			if href, ok := s.Attr("href"); ok {
				paths = append(paths, href)
			}
		})
		if len(paths) >= n {
			return paths, nil
		}
		select {
		case <-ctx.Done():
			return paths, fmt.Errorf("flowwalk: %d of %d reports: %w", len(paths), n, ctx.Err())
		case <-time.After(every):
		}
	}
}
