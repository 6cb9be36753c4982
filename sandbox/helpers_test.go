package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/testclock"
)

const (
	testAccessKey = "demo-access-key"
	testSecretKey = "demo-secret-key"
	returnURL     = "https://portal.example/callback?keep=1"
	cpfApprove    = "529.982.247-25"
)

// fakeClock is an injectable clock.
type fakeClock = testclock.Clock

// received is one webhook POST seen by the receiver.
type received struct {
	path     string
	body     []byte
	sig, ts  string
	ctype    string
	validSig bool
	code     int // the receiver's answer; 0: it hung until the sender gave up
	at       time.Time
}

// receiver is a webhook endpoint recording every attempt. status decides the
// answer per attempt (nil: 200 unless the signature is wrong → 401). hang,
// when it returns true for an attempt, makes the receiver never answer it:
// the handler waits until the sender cancels the request (its attempt
// timeout, or Close) and records it with code 0.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int, r received) int
	hang   func(r received) bool
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{path: r.URL.Path, body: body, sig: r.Header.Get("X-Klavi-Signature"),
			ts: r.Header.Get("X-Klavi-Timestamp"), ctype: r.Header.Get("Content-Type"), at: time.Now()}
		rec.validSig = rec.sig == sign(testSecretKey, body)
		rc.mu.Lock()
		n := len(rc.got)
		f, hang := rc.status, rc.hang
		rc.mu.Unlock()
		if hang != nil && hang(rec) {
			<-r.Context().Done()
			rc.mu.Lock()
			rc.got = append(rc.got, rec)
			rc.mu.Unlock()
			return
		}
		code := http.StatusOK
		if !rec.validSig {
			code = http.StatusUnauthorized
		}
		if f != nil {
			code = f(n, rec)
		}
		rec.code = code
		rc.mu.Lock()
		rc.got = append(rc.got, rec)
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// events returns the decoded event envelopes of valid-signature deliveries.
func (rc *receiver) events(t *testing.T) []eventWire {
	t.Helper()
	var out []eventWire
	for _, r := range rc.all() {
		if r.path != "/events" || !r.validSig {
			continue
		}
		var evs []eventWire
		if err := json.Unmarshal(r.body, &evs); err != nil {
			t.Fatalf("event body is not a JSON array: %v", err)
		}
		if len(evs) != 1 {
			t.Fatalf("got %d events in one delivery, want 1", len(evs))
		}
		out = append(out, evs...)
	}
	return out
}

func (rc *receiver) eventNames(t *testing.T) []string {
	var names []string
	for _, e := range rc.events(t) {
		names = append(names, e.EventName)
	}
	return names
}

// reports returns the valid-signature deliveries whose path is not /events.
func (rc *receiver) reports() []received {
	var out []received
	for _, r := range rc.all() {
		if r.path != "/events" && r.validSig {
			out = append(out, r)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type env struct {
	t     *testing.T
	sb    *Sandbox
	srv   *httptest.Server
	clock *fakeClock
	rc    *receiver
}

// newEnv starts a sandbox on an httptest server with a fake clock, fast
// retries and reports, and a receiver for events (/events) and reports
// (/reports).
func newEnv(t *testing.T, mods ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, clock: testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)), rc: newReceiver(t)}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	o := Options{
		AccessKey: testAccessKey, SecretKey: testSecretKey,
		PublicURL:   e.srv.URL,
		EventsURL:   e.rc.srv.URL + "/events",
		ReportsURL:  e.rc.srv.URL + "/reports",
		Now:         e.clock.Now,
		RetryBase:   2 * time.Millisecond,
		ReportDelay: 5 * time.Millisecond,
	}
	for _, m := range mods {
		m(&o)
	}
	e.sb = New(o)
	h = e.sb
	t.Cleanup(func() {
		e.sb.Close()
		e.srv.Close()
	})
	return e
}

// do sends a JSON request and returns status and body.
func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+"/data/v1"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (e *env) mustDo(want int, method, path, token string, body, into any) []byte {
	e.t.Helper()
	code, out := e.do(method, path, token, body)
	if code != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, code, want, out)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			e.t.Fatalf("decode %s: %v", out, err)
		}
	}
	return out
}

func (e *env) accessToken() string {
	var tr tokenResponse
	e.mustDo(200, "POST", "/auth", "", authRequest{AccessKey: testAccessKey, SecretKey: testSecretKey}, &tr)
	return tr.AccessToken
}

func (e *env) link(access string, req map[string]any) linkResponse {
	var lr linkResponse
	e.mustDo(200, "POST", "/links", access, req, &lr)
	return lr
}

func nextTrackID() string { return "track-" + randomHex(8) }

// consentBody returns a valid POST /consents body for a CPF (or CNPJ when business is set).
func consentBody(cpf, cnpj, inst string) map[string]any {
	b := map[string]any{"externalTrackId": nextTrackID(), "personalTaxId": cpf, "institutionCode": inst,
		"redirectURL": returnURL, "validityPeriod": 12}
	if cnpj != "" {
		b["businessTaxId"] = cnpj
	}
	return b
}

// flow is one end-to-end setup: token, link and consent.
type flow struct {
	access, linkToken, linkID string
	created                   createdConsentWire
}

func (e *env) startFlow(cpf, cnpj string, linkExtra map[string]any) flow {
	e.t.Helper()
	f := flow{access: e.accessToken()}
	lreq := map[string]any{"personalTaxId": cpf, "externalInfo": map[string]any{"myTraceId": "yourTraceId-1", "myUUID": "yourUUID-1"}}
	if cnpj != "" {
		lreq["businessTaxId"] = cnpj
	}
	for k, v := range linkExtra {
		lreq[k] = v
	}
	lr := e.link(f.access, lreq)
	f.linkToken, f.linkID = lr.LinkToken, lr.LinkID
	e.mustDo(200, "POST", "/consents", f.linkToken, consentBody(cpf, cnpj, "341"), &f.created)
	return f
}

func (e *env) consent(access, id string) consentWire {
	e.t.Helper()
	var c consentWire
	e.mustDo(200, "GET", "/consents/"+id, access, nil, &c)
	return c
}

// browser drives the bank pages like a user agent with a cookie jar,
// stopping at redirects so the test can read Location.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type htmlPage struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (p htmlPage) has(testID string) bool {
	return strings.Contains(p.body, `data-testid="`+testID+`"`)
}

var stepRE = regexp.MustCompile(`name="step" value="([0-9a-f]+)"`)

func (p htmlPage) step() string {
	m := stepRE.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return m[1]
}

func (b *browser) get(u string) htmlPage {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(resp)
}

func (b *browser) post(u string, form url.Values) htmlPage {
	b.t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(resp)
}

func readPage(resp *http.Response) htmlPage {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return htmlPage{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), header: resp.Header}
}

// walk drives the bank pages. authorise/lgpd are the button values; an
// empty lgpd stops after the permissions step. It returns the last page.
func (e *env) walk(b *browser, redirectURL, authorise, lgpd string) htmlPage {
	e.t.Helper()
	p := b.get(redirectURL)
	if p.status != 200 || !p.has("bank-login") {
		e.t.Fatalf("open: status %d, want the login page", p.status)
	}
	p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}})
	if p.status != 200 || !p.has("bank-authorise") || !p.has("bank-deny") {
		e.t.Fatalf("login: status %d, want the permissions page", p.status)
	}
	p = b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {p.step()}, "action": {authorise}})
	if lgpd == "" || p.status != 200 {
		return p
	}
	if !p.has("lgpd-page") {
		e.t.Fatalf("authorise: want the LGPD page, got status %d", p.status)
	}
	return b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {p.step()}, "action": {lgpd}})
}

// keyPaths flattens the object keys of a JSON document: "a", "a.b",
// "list[].c". Arrays contribute the keys of all their elements.
func keyPaths(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				set[p] = true
				walk(p, c)
			}
		case []any:
			for _, c := range x {
				walk(prefix+"[]", c)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameKeys fails unless got and the sample have the same key paths.
func sameKeys(t *testing.T, sampleName string, got []byte) {
	t.Helper()
	want := keyPaths(t, sample(t, sampleName))
	have := keyPaths(t, got)
	if !slices.Equal(want, have) {
		t.Errorf("%s: key paths differ\n got: %v\nwant: %v", sampleName, have, want)
	}
}
