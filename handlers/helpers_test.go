package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/internal/logbuf"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

const testSecret = "demo-secret-key"

// fakeKlavi is an in-memory stand-in for *klavi.Client with switchable failures.
type fakeKlavi struct {
	mu            sync.Mutex
	links         int
	consentReqs   []klavi.ConsentRequest
	linkReqs      []klavi.LinkRequest
	tokensUsed    []string
	consents      map[string]*klavi.Consent
	institutions  []klavi.Institution
	reportReqs    []klavi.ReportRequest
	reportCalls   atomic.Int32
	linkErr       error
	consentErr    error // CreateConsent
	consentErrN   int   // fail only the first N CreateConsent calls (0 = always while consentErr set)
	getErr        error // Consent
	statusErr     error // InstitutionStatuses
	reportErr     error
	revokeErr     error
	reportDelay   time.Duration
	institutionsN atomic.Int32
}

func newFakeKlavi() *fakeKlavi {
	return &fakeKlavi{
		consents: map[string]*klavi.Consent{},
		institutions: []klavi.Institution{
			{InstitutionCode: "341", Name: "Itaú", Avatar: "http://localhost:1/logos/341.svg", InstitutionType: 1, BusinessType: "BOTH", AvailableResources: []string{"ACCOUNTS", "CREDIT_CARDS"}},
			{InstitutionCode: "999", Name: "Banco São Paulo", InstitutionType: 1, BusinessType: "NATURAL", AvailableResources: []string{"ACCOUNTS"}},
			{InstitutionCode: "777", Name: "Banco Fora do Ar", InstitutionType: 1, BusinessType: "BOTH", IsOutage: true},
			{InstitutionCode: "od1", Name: "Dados Abertos", InstitutionType: 2, IsBeta: true},
		},
	}
}

func (f *fakeKlavi) CreateLink(_ context.Context, req klavi.LinkRequest) (*klavi.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.linkErr != nil {
		return nil, f.linkErr
	}
	f.links++
	f.linkReqs = append(f.linkReqs, req)
	return &klavi.Link{LinkID: fmt.Sprintf("link-%d", f.links), LinkToken: fmt.Sprintf("token-%d", f.links),
		ExpireIn: 1800, ExpiresAt: time.Now().Add(30 * time.Minute)}, nil
}

func (f *fakeKlavi) Institutions(context.Context, string) ([]klavi.Institution, error) {
	f.institutionsN.Add(1)
	return f.institutions, nil
}

// InstitutionStatuses answers like Klavi's GET /links/institutions/status from the fake's consents (statusErr set:
// fails), one entry per institution with its latest consent's status.
func (f *fakeKlavi) InstitutionStatuses(context.Context, string) ([]klavi.InstitutionStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return nil, f.statusErr
	}
	var out []klavi.InstitutionStatus
	for i := 1; i <= len(f.consentReqs); i++ {
		c := f.consents[fmt.Sprintf("consent-%d", i)]
		if c == nil {
			continue
		}
		e := klavi.InstitutionStatus{InstitutionCode: c.InstitutionCode, Name: c.InstitutionCode, Status: string(c.Status)}
		if j := slices.IndexFunc(out, func(s klavi.InstitutionStatus) bool { return s.InstitutionCode == c.InstitutionCode }); j >= 0 {
			out[j] = e
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeKlavi) CreateConsent(_ context.Context, token string, req klavi.ConsentRequest) (*klavi.CreatedConsent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokensUsed = append(f.tokensUsed, token)
	if f.consentErr != nil {
		if f.consentErrN == 0 {
			return nil, f.consentErr
		}
		f.consentErrN--
		if f.consentErrN == 0 {
			defer func() { f.consentErr = nil }()
		}
		return nil, f.consentErr
	}
	f.consentReqs = append(f.consentReqs, req)
	id := fmt.Sprintf("consent-%d", len(f.consentReqs))
	f.consents[id] = &klavi.Consent{ConsentID: id, ExternalTrackID: req.ExternalTrackID, Status: klavi.StatusAwaitingAuthorisation,
		InstitutionCode: req.InstitutionCode}
	return &klavi.CreatedConsent{ConsentID: id, ConsentRedirectURL: "http://localhost:1/bank/" + id + "?one-time=secret", ExpireAt: "2030-01-01T00:00:00Z"}, nil
}

func (f *fakeKlavi) Consent(_ context.Context, id string) (*klavi.Consent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return nil, f.getErr
	}
	c, ok := f.consents[id]
	if !ok {
		return nil, &klavi.APIError{HTTPStatus: 404}
	}
	cp := *c
	return &cp, nil
}

func (f *fakeKlavi) setStatus(id string, st klavi.ConsentStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consents[id].Status = st
	if st == klavi.StatusAuthorised {
		f.consents[id].PermissionsGranted = []string{"ACCOUNTS_ALL", "CREDIT_CARDS_ALL"}
	}
}

func (f *fakeKlavi) RevokeConsent(_ context.Context, id string) error {
	if f.revokeErr != nil {
		return f.revokeErr
	}
	// Like Klavi: REVOKED after AUTHORISED; a consent still in progress is REJECTED.
	f.mu.Lock()
	authorised := f.consents[id].Status == klavi.StatusAuthorised
	f.mu.Unlock()
	if authorised {
		f.setStatus(id, klavi.StatusRevoked)
	} else {
		f.setStatus(id, klavi.StatusRejected)
	}
	return nil
}

func (f *fakeKlavi) RequestReports(_ context.Context, req klavi.ReportRequest) (*klavi.ReportRequestResult, error) {
	f.reportCalls.Add(1)
	if f.reportDelay > 0 {
		time.Sleep(f.reportDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reportErr != nil {
		return nil, f.reportErr
	}
	f.reportReqs = append(f.reportReqs, req)
	return &klavi.ReportRequestResult{RequestID: "req-1", Message: "ok"}, nil
}

// secrets lists the values this fake handed out or received that must never reach a log line: link tokens,
// externalTrackIds and the one-time bank URLs' secret part.
func (f *fakeKlavi) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{"one-time=secret", testSecret}
	for i := 1; i <= f.links; i++ {
		out = append(out, fmt.Sprintf("token-%d", i))
	}
	for _, r := range f.consentReqs {
		out = append(out, r.ExternalTrackID)
	}
	return out
}

func (f *fakeKlavi) lastTrack() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.consentReqs[len(f.consentReqs)-1].ExternalTrackID
}

// env is one portal under test with its store, fake Klavi, log buffer and HTTP server.
type env struct {
	t    *testing.T
	s    *Server
	flow *flow.Service
	sw   *swapKlavi // what s and flow call; kc unless a test swapped in another fake
	st   *store.Store
	kc   *fakeKlavi
	srv  *httptest.Server
	logs *logbuf.Buffer
	opN  int // operators made by operator()
	// dbPath is the SQLite file behind st (tests open it directly to inspect or break it).
	dbPath string
}

// envOptions are the server's options plus the lifecycle settings a test may change.
type envOptions struct {
	Options
	PollInterval time.Duration // flow.Options.PollInterval
	Retention    time.Duration // flow.Options.Retention
	// StoreNow is the store's clock (nil: real time). Tests of expiries the database decides (sessions) pass the
	// server's clock here too.
	StoreNow func() time.Time
}

// newFlow builds the lifecycle service a test server runs on.
func newFlow(t testing.TB, o envOptions, kc flow.Klavi) *flow.Service {
	t.Helper()
	fs, err := flow.New(flow.Options{Logger: o.Logger, Store: o.Store, Klavi: kc, PublicURL: o.PublicURL,
		HolderKey: o.SessionKey, Now: o.Now, PollInterval: o.PollInterval, Retention: o.Retention})
	if err != nil {
		t.Fatalf("flow.New: %v", err)
	}
	return fs
}

func newEnv(t *testing.T, mods ...func(*envOptions)) *env {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	var o envOptions
	// Read at each call, so that a mod below can set StoreNow.
	storeNow := func() time.Time {
		if o.StoreNow != nil {
			return o.StoreNow()
		}
		return time.Now()
	}
	st, err := store.Open(ctx, dbPath, storeNow)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logs := &logbuf.Buffer{}
	o = envOptions{Options: Options{
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Store:         st,
		WebhookSecret: testSecret,
		PublicURL:     "http://127.0.0.1:8080",
		SessionKey:    bytes.Repeat([]byte("k"), 64),
		// argon2's cheapest costs: hashing is tested in auth, and under -race the real costs take seconds.
		PasswordParams: cheapHash,
	}, PollInterval: 20 * time.Millisecond}
	for _, m := range mods {
		m(&o)
	}
	kc := newFakeKlavi()
	sw := &swapKlavi{k: kc}
	o.Flow = newFlow(t, o, sw)
	s, err := newServer(o.Options, sw)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e := &env{t: t, s: s, flow: o.Flow, sw: sw, st: st, kc: kc, srv: srv, logs: logs, dbPath: dbPath}
	// Every test's log output is scanned for personal data, tokens, state values and bodies
	// (docs/reliability.md#log-scan). Registered after the server so it runs before it closes, and after anything the
	// test adds later.
	t.Cleanup(func() { assertCleanLogs(t, logs.String(), kc.secrets()...) })
	return e
}

// browser is a cookie-keeping client that does not follow redirects.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout: 20 * time.Second}
}

type resp struct {
	status int
	header http.Header
	body   string
	closed bool // the server asked to close the connection (Connection: close)
}

func (r resp) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse html: %v", err)
	}
	return d
}

func (e *env) do(c *http.Client, method, path string, body io.Reader, hdr map[string]string) resp {
	e.t.Helper()
	var sent []byte
	if body != nil {
		sent, _ = io.ReadAll(body)
		body = bytes.NewReader(sent)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if method == http.MethodPost && hdr["Content-Type"] == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	assertNoTaxIDInResponse(e.t, method, path, sent, res.StatusCode, res.Header, b)
	return resp{status: res.StatusCode, header: res.Header, body: string(b), closed: res.Close}
}

func (e *env) get(c *http.Client, path string) resp { return e.do(c, http.MethodGet, path, nil, nil) }

func (e *env) post(c *http.Client, path string, form url.Values) resp {
	return e.do(c, http.MethodPost, path, strings.NewReader(form.Encode()), nil)
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.status != want {
		body := r.body
		if len(body) > 600 {
			body = body[:600]
		}
		t.Fatalf("status = %d, want %d; body: %s", r.status, want, body)
	}
}

// startFlow walks start → picker → POST /consents and returns the consent id and the track id.
func (e *env) startFlow(c *http.Client, cpf string) (consentID, track string) {
	e.t.Helper()
	r := e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {cpf}})
	wantStatus(e.t, r, http.StatusSeeOther)
	r = e.post(c, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}})
	wantStatus(e.t, r, http.StatusSeeOther)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "http://localhost:1/bank/") {
		e.t.Fatalf("Location = %q, want the bank", loc)
	}
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "http://localhost:1/bank/")
	return id, e.kc.lastTrack()
}

func (e *env) linkOf(consentID string) string {
	c, err := e.st.Consent(context.Background(), consentID)
	if err != nil {
		e.t.Fatalf("consent: %v", err)
	}
	return c.LinkID
}

func callbackQuery(consentID, linkID, track string, extra ...string) string {
	v := url.Values{"consent_id": {consentID}, "link_id": {linkID}, "external_track_id": {track}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/callback?" + v.Encode()
}

// postWebhook sends a signed (or not) webhook body.
func (e *env) postWebhook(path string, body []byte, sig string) resp {
	e.t.Helper()
	return e.do(http.DefaultClient, http.MethodPost, path, bytes.NewReader(body),
		map[string]string{"Content-Type": "application/json", klavi.SignatureHeader: sig})
}

func consentEvent(eventID, name, consentID, linkID string) []byte {
	return []byte(fmt.Sprintf(`[{"partnerAppId":"1","eventId":%q,"eventType":"api","eventName":%q,"eventTime":"2026-01-01T00:00:00.000Z",`+
		`"payload":{"personalTaxId":"52998224725","businessTaxId":"","linkId":%q,"consents":{"consentId":%q,"externalTrackId":"x","institutionCode":"341"}}}]`,
		eventID, name, linkID, consentID))
}

// eventually polls cond until it is true or the deadline passes. The deadline is a ceiling for a loaded machine running
// the race detector; a healthy run returns within a few hundred ms.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// runBackground starts Run until the test ends.
func (e *env) runBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.flow.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

type goqSel = goquery.Selection
type goqDoc = goquery.Document

func storeFilterAll() store.ConsentFilter { return store.ConsentFilter{Limit: 100} }

// wrapUnauthorized returns an error that errors.Is(klavi.ErrUnauthorized).
func wrapUnauthorized() error { return &klavi.APIError{HTTPStatus: 401} }

// pollNow runs the reconciler's poll of one consent at once, as the background loop would when it is due.
func (e *env) pollNow(consentID string) {
	e.t.Helper()
	c, err := e.st.Consent(context.Background(), consentID)
	if err != nil {
		e.t.Fatal(err)
	}
	e.flow.Poll(context.Background(), c)
}

// enText is a timeline title or detail as an English reader sees it.
func enText(m consent.Msg) string {
	return views.TimelineText(views.WithLang(context.Background(), views.EN), m)
}

// fullKlavi is every Klavi call the server and the lifecycle make.
type fullKlavi interface {
	klaviAPI
	flow.Klavi
}

// swapKlavi lets a test replace the fake behind a running server and its lifecycle (with one that panics, say).
type swapKlavi struct {
	mu sync.RWMutex
	k  fullKlavi
}

func (s *swapKlavi) get() fullKlavi { s.mu.RLock(); defer s.mu.RUnlock(); return s.k }

// useKlavi makes the server and the lifecycle call k from now on.
func (e *env) useKlavi(k fullKlavi) { e.sw.mu.Lock(); e.sw.k = k; e.sw.mu.Unlock() }

func (s *swapKlavi) CreateLink(ctx context.Context, req klavi.LinkRequest) (*klavi.Link, error) {
	return s.get().CreateLink(ctx, req)
}
func (s *swapKlavi) Institutions(ctx context.Context, token string) ([]klavi.Institution, error) {
	return s.get().Institutions(ctx, token)
}
func (s *swapKlavi) InstitutionStatuses(ctx context.Context, token string) ([]klavi.InstitutionStatus, error) {
	return s.get().InstitutionStatuses(ctx, token)
}
func (s *swapKlavi) CreateConsent(ctx context.Context, token string, req klavi.ConsentRequest) (*klavi.CreatedConsent, error) {
	return s.get().CreateConsent(ctx, token, req)
}
func (s *swapKlavi) Consent(ctx context.Context, id string) (*klavi.Consent, error) {
	return s.get().Consent(ctx, id)
}
func (s *swapKlavi) RevokeConsent(ctx context.Context, id string) error {
	return s.get().RevokeConsent(ctx, id)
}
func (s *swapKlavi) RequestReports(ctx context.Context, req klavi.ReportRequest) (*klavi.ReportRequestResult, error) {
	return s.get().RequestReports(ctx, req)
}

// cheapHash are argon2's cheapest parameters (the hash carries them, so checking is as cheap).
var cheapHash = auth.Params{Time: 1, Memory: 64, Threads: 1}

// testOperatorPassword signs in every test operator. Their hashes use argon2's cheapest parameters, which the
// hash carries, so that signing in costs nothing under -race.
const testOperatorPassword = "operator password 1"

// addOperator creates an operator with testOperatorPassword.
func (e *env) addOperator(email string) store.Operator {
	e.t.Helper()
	h, err := auth.HashPassword(testOperatorPassword, cheapHash)
	if err != nil {
		e.t.Fatal(err)
	}
	o, err := e.st.AddOperator(context.Background(), email, h)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// operator returns a browser signed in as a (new) operator.
func (e *env) operator() *http.Client {
	e.t.Helper()
	b := e.browser()
	e.signIn(b)
	return b
}

// signIn signs browser b in as a new operator (what it already holds in its session, a flow say, stays).
func (e *env) signIn(b *http.Client) {
	e.t.Helper()
	e.opN++
	email := fmt.Sprintf("op%d@example.com", e.opN)
	e.addOperator(email)
	r := e.post(b, "/login", url.Values{"email": {email}, "password": {testOperatorPassword}})
	wantStatus(e.t, r, http.StatusSeeOther)
}
