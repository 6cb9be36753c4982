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

// Hop is one HTTP exchange of a walk. A redirect the client follows is a hop of its own, so the bank's pages and
// /callback are timed apart from the pages they lead to.
type Hop struct {
	Method  string
	URL     *url.URL
	Status  int           // 0 when Err is set
	Elapsed time.Duration // from sending the request to the end of its body
	Err     error
}

// hopTransport times every exchange for Observe and sends ForwardedFor's address to the portal's origin only.
type hopTransport struct {
	next      http.RoundTripper
	portal    string // the portal's host:port
	forwarded string // X-Forwarded-For sent to the portal; empty: none
	observe   func(Hop)
}

func (t *hopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.forwarded != "" && req.URL.Host == t.portal {
		req = req.Clone(req.Context()) // a RoundTripper must not change the caller's request
		req.Header.Set("X-Forwarded-For", t.forwarded)
	}
	start := time.Now()
	res, err := t.next.RoundTrip(req)
	if err != nil {
		if t.observe != nil {
			t.observe(Hop{Method: req.Method, URL: req.URL, Elapsed: time.Since(start), Err: err})
		}
		return nil, err
	}
	if t.observe != nil {
		res.Body = &timedBody{ReadCloser: res.Body, done: func(err error) {
			t.observe(Hop{Method: req.Method, URL: req.URL, Status: res.StatusCode, Elapsed: time.Since(start), Err: err})
		}}
	}
	return res, nil
}

// timedBody reports a hop once: when its body has been read to the end or closed, whichever comes first.
type timedBody struct {
	io.ReadCloser
	done     func(error)
	reported bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.reported {
		b.reported = true
		if errors.Is(err, io.EOF) {
			err = nil
		}
		b.done(err)
	}
	return n, err
}

func (b *timedBody) Close() error {
	if !b.reported {
		b.reported = true
		b.done(nil)
	}
	return b.ReadCloser.Close()
}

// Transport makes the walker send its requests through rt (nil: Go's default transport), report every hop to
// observe (nil: none) and, when forwarded is not empty, send it as X-Forwarded-For to the portal's origin (not to
// the bank's): behind TRUSTED_PROXIES each simulated user is then a client address of its own, as people are.
func (w *Walker) Transport(rt http.RoundTripper, observe func(Hop), forwarded string) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	w.Client.Transport = &hopTransport{next: rt, portal: w.Base.Host, forwarded: forwarded, observe: observe}
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

// Start opens the start page and submits it for a personal CPF, as a person choosing "personal" and typing the CPF
// would; it returns the institution picker.
func (w *Walker) Start(ctx context.Context, cpf string) (Page, error) {
	p, err := w.Get(ctx, "/")
	if err != nil {
		return Page{}, err
	}
	if p.Status != http.StatusOK || p.Doc.Find(`form[action="/start"]`).Length() == 0 {
		return Page{}, fmt.Errorf("flowwalk: the start page answered %d without its form", p.Status)
	}
	return w.start(ctx, cpf)
}

func (w *Walker) start(ctx context.Context, cpf string) (Page, error) {
	p, err := w.post(ctx, w.Base.JoinPath("/start").String(), url.Values{"person_type": {"personal"}, "tax_id": {cpf}})
	if err != nil {
		return Page{}, err
	}
	if p.Status != http.StatusOK || p.URL.Path != "/institutions" {
		return Page{}, fmt.Errorf("flowwalk: start ended at %s with %d", p.URL.Path, p.Status)
	}
	return p, nil
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
	p, err := w.start(ctx, cpf)
	if err != nil {
		return "", err
	}
	if p, err = w.ConsentFrom(ctx, p); err != nil {
		return "", err
	}
	return p.URL.Path, nil
}

// ConsentFrom walks on from the institution picker p (what Start returns): the first selectable institution, the
// confirmation, the bank's login, authorisation and LGPD pages, /callback, and returns the consent page it ends at.
func (w *Walker) ConsentFrom(ctx context.Context, p Page) (Page, error) {
	var err error
	code := ""
	p.Doc.Find(`[data-testid^="choose-"]`).EachWithBreak(func(_ int, s *goquery.Selection) bool {
		id, _ := s.Attr("data-testid")
		code = strings.TrimPrefix(id, "choose-")
		return false
	})
	if code == "" {
		return Page{}, errors.New("flowwalk: no selectable institution")
	}
	if p, err = w.Get(ctx, "/consents/new?institution="+url.QueryEscape(code)); err != nil {
		return Page{}, err
	}
	steps := []string{"consent-submit", "bank-login", "bank-authorise"}
	for _, id := range steps {
		if p, err = w.Submit(ctx, p, id); err != nil {
			return Page{}, err
		}
	}
	if p.Doc.Find(`[data-testid="lgpd-page"]`).Length() > 0 {
		if p, err = w.Submit(ctx, p, "lgpd-accept"); err != nil {
			return Page{}, err
		}
	}
	if !strings.HasPrefix(p.URL.Path, "/consents/") || p.Status != http.StatusOK {
		return Page{}, fmt.Errorf("flowwalk: the bank returned to %s with %d", p.URL.Path, p.Status)
	}
	return p, nil
}

// LiveReports waits until the consent page lists at least n reports the way the page's script does
// (static/js/app.js, docs/architecture.md#live-pages): it long-polls the page's live fragment
// with the fragment's ETag until the fragment lists n reports. p is the consent page (what ConsentFrom returns).
// It returns the reports in the page's order.
func (w *Walker) LiveReports(ctx context.Context, p Page, n int) ([]ReportLink, error) {
	box := p.Doc.Find("#live")
	liveURL, ok := box.Attr("data-live-url")
	if p.Status != http.StatusOK || !ok {
		return nil, fmt.Errorf("flowwalk: consent page %d without its live region", p.Status)
	}
	etag, _ := box.Attr("data-live-etag")
	live, _ := box.Attr("data-live")
	doc := p.Doc
	for {
		if links := reportLinks(doc); len(links) >= n {
			return links, nil
		}
		if live != "on" {
			return nil, fmt.Errorf("flowwalk: the consent page stopped refreshing with %d of %d reports", len(reportLinks(doc)), n)
		}
		u, err := w.Base.Parse(liveURL + "?wait=1")
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := w.Client.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		live = res.Header.Get("X-Live")
		switch res.StatusCode {
		case http.StatusNotModified:
			continue
		case http.StatusOK:
		default:
			return nil, fmt.Errorf("flowwalk: live fragment answered %d", res.StatusCode)
		}
		etag = res.Header.Get("ETag")
		if doc, err = goquery.NewDocumentFromReader(bytes.NewReader(b)); err != nil {
			return nil, err
		}
	}
}

// ReportLink is a report card of the consent page: the report page's path (/reports/{id}) and the product.
type ReportLink struct {
	Path, Product string
}

func reportLinks(doc *goquery.Document) []ReportLink {
	var links []ReportLink
	doc.Find(`[data-testid="report-item"]`).Each(func(_ int, s *goquery.Selection) {
		if href, ok := s.Attr("href"); ok {
			product, _ := s.Attr("data-product")
			links = append(links, ReportLink{Path: href, Product: product})
		}
	})
	return links
}

// Reports waits until the consent page lists at least n reports and returns their paths (/reports/{id}).
func (w *Walker) Reports(ctx context.Context, consentPath string, n int, every time.Duration) ([]string, error) {
	for {
		p, err := w.Get(ctx, consentPath)
		if err != nil {
			return nil, err
		}
		var paths []string
		for _, l := range reportLinks(p.Doc) {
			paths = append(paths, l.Path)
		}
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
