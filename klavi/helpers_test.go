package klavi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/testclock"
)

// Tokens from the golden samples testdata/auth.json and testdata/link.json (docs/klavi.md#tokens).
const (
	goldenAccessToken = "JhbGciOiJFUzI1NiIs.QtYj..."
	goldenLinkToken   = "AhbGciOiJFUzI1NiIs.CtYjAyOC1hN2ZhMWFjZGRjZjkiLCJ0.UlTqpAZHeq4P2xFD"
	testAccessKey     = "demo-access-key"
	testSecretKey     = "demo-secret-key"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading golden file: %v", err)
	}
	return b
}

// recorded is what the fake server saw for one request.
type recorded struct {
	Method, Path, EscapedPath, RawQuery, Auth, Accept, ContentType string
	Body                                                           []byte
}

// fakeKlavi is an httptest server speaking just enough of Klavi: POST /auth and GET /refresh issue tokens
// (counted), everything else goes to handler. Every request is recorded.
type fakeKlavi struct {
	srv          *httptest.Server
	mu           sync.Mutex
	reqs         []recorded
	authCalls    atomic.Int32
	refreshCalls atomic.Int32
	// authBody, when set, returns the body for the n-th (1-based) /auth call; default: golden auth.json.
	authBody    func(n int32) []byte
	authDelay   time.Duration
	authDefault []byte
	authStatus  int // when set, /auth fails with this status and the golden 401 body
	authError   []byte
	refresh     http.HandlerFunc // GET /refresh; default: a new token "refreshed-token"
	handler     http.HandlerFunc
}

func newFake(t *testing.T, handler http.HandlerFunc) *fakeKlavi {
	t.Helper()
	f := &fakeKlavi{handler: handler, authDefault: golden(t, "auth.json"), authError: golden(t, "error_401.json")}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKlavi) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		Accept: r.Header.Get("Accept"), ContentType: r.Header.Get("Content-Type"), Body: body}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	authStatus, authBody, authDelay, refresh := f.authStatus, f.authBody, f.authDelay, f.refresh
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/data/v1/auth":
		n := f.authCalls.Add(1)
		if authDelay > 0 {
			time.Sleep(authDelay)
		}
		if authStatus != 0 {
			writeJSON(w, authStatus, f.authError)
			return
		}
		if authBody != nil {
			writeJSON(w, http.StatusOK, authBody(n))
			return
		}
		writeJSON(w, http.StatusOK, f.authDefault)
	case r.Method == http.MethodGet && r.URL.Path == "/data/v1/refresh":
		f.refreshCalls.Add(1)
		if refresh != nil {
			refresh(w, r)
			return
		}
		writeJSON(w, http.StatusOK, []byte(`{"accessToken":"refreshed-token","expireIn":1800}`))
	default:
		if f.handler == nil {
			http.NotFound(w, r)
			return
		}
		f.handler(w, r)
	}
}

// set changes the fake's behaviour while it may be serving.
func (f *fakeKlavi) set(change func(f *fakeKlavi)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// calls returns the recorded requests except token calls.
func (f *fakeKlavi) calls() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if r.Path != "/data/v1/auth" && r.Path != "/data/v1/refresh" {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeKlavi) all() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeKlavi) client(t *testing.T, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithCredentials(testAccessKey, testSecretKey), WithRetry(3, time.Millisecond, 4*time.Millisecond)}
	c, err := New(f.srv.URL+"/data/v1", append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// fakeClock is a settable clock for WithNow.
type fakeClock = testclock.Clock

func newClock() *fakeClock { return testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// recordSleeps replaces the client's sleep with one that records the delays and returns at once.
func recordSleeps(c *Client) *[]time.Duration {
	var mu sync.Mutex
	delays := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*delays = append(*delays, d)
		mu.Unlock()
		return ctx.Err()
	}
	return delays
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("request body is not a JSON object: %v", err)
	}
	return m
}
