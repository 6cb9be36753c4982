package klavi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

// TestObserversSeeEveryAttemptWithTemplateAndRequestID: one Call per HTTP attempt (retries included), with the
// path template rather than the concrete path, the X-Request-Id that was sent, the Date header and the caller's
// context.
func TestObserversSeeEveryAttemptWithTemplateAndRequestID(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sentIDs []string
	hits := 0
	date := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sentIDs = append(sentIDs, r.Header.Get("X-Request-Id"))
		hits++
		n := hits
		mu.Unlock()
		w.Header().Set("Date", date.Format(http.TimeFormat))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, golden(t, "consent.json"))
	})
	var calls []Call
	var tags []any
	c := f.client(t, WithObserver(func(ctx context.Context, c Call) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		tags = append(tags, ctx.Value(ctxKey{}))
	}))
	ctx := context.WithValue(context.Background(), ctxKey{}, "consent-tag")
	if _, err := c.Consent(ctx, "2f6a4c1e-0000-4000-8000-000000000001"); err != nil {
		t.Fatalf("Consent: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// POST /auth, then GET /consents/{consentId} twice (a 503, then the answer).
	if len(calls) != 3 {
		t.Fatalf("observed %d calls, want 3: %+v", len(calls), calls)
	}
	if calls[0].Endpoint != "/auth" || calls[0].Method != http.MethodPost || calls[0].Status != http.StatusOK {
		t.Errorf("first call = %+v, want POST /auth 200", calls[0])
	}
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusOK} {
		got := calls[i+1]
		if got.Endpoint != "/consents/{consentId}" || got.Status != want || got.Attempt != i+1 {
			t.Errorf("call %d = %+v, want GET /consents/{consentId} %d attempt %d", i+1, got, want, i+1)
		}
		if got.RequestID == "" || got.RequestID != sentIDs[i] {
			t.Errorf("call %d request id %q, want the one sent (%q)", i+1, got.RequestID, sentIDs[i])
		}
		if !got.Date.Equal(date) {
			t.Errorf("call %d Date = %v, want %v", i+1, got.Date, date)
		}
	}
	if sentIDs[0] == sentIDs[1] {
		t.Error("both attempts sent the same X-Request-Id")
	}
	if !calls[1].Failed() || calls[2].Failed() {
		t.Error("Failed: want true for the 503 and false for the 200")
	}
	for i, tag := range tags {
		if tag != "consent-tag" {
			t.Errorf("observer %d got context value %v, want the caller's", i, tag)
		}
	}
}

// TestAnsweredRequestIDIsKeptOnlyWhenPlain: Klavi's own X-Request-Id replaces ours when it is short and plain.
func TestAnsweredRequestIDIsKeptOnlyWhenPlain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ answered, want string }{
		{"klavi-req-42", "klavi-req-42"},
		{"bad id\r\nx", ""},
	} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", tc.answered)
			writeJSON(w, http.StatusOK, golden(t, "consent.json"))
		})
		var got Call
		c := f.client(t, WithObserver(func(_ context.Context, c Call) { got = c }))
		if _, err := c.Consent(context.Background(), "2f6a4c1e-0000-4000-8000-000000000001"); err != nil {
			t.Fatal(err)
		}
		if tc.want != "" && got.RequestID != tc.want {
			t.Errorf("answered %q: request id %q, want %q", tc.answered, got.RequestID, tc.want)
		}
		if tc.want == "" && (got.RequestID == tc.answered || len(got.RequestID) != 24) {
			t.Errorf("answered %q: request id %q, want ours", tc.answered, got.RequestID)
		}
	}
}

// TestBreakerStateAndCheckCredentials: BreakerState follows the breaker; CheckCredentials makes a real POST /auth
// even with a cached token and reports the new expiry; bad keys give the API error.
func TestBreakerStateAndCheckCredentials(t *testing.T) {
	t.Parallel()
	clock := newClock()
	srv := newSwitchable(t, http.StatusServiceUnavailable)
	f := newFake(t, srv.serve)
	c := f.client(t, WithNow(clock.Now), WithBreaker(1, time.Minute))
	recordSleeps(c)
	if got := c.BreakerState(); got != "closed" {
		t.Fatalf("new client: breaker %q, want closed", got)
	}
	if !c.TokenExpiry().IsZero() {
		t.Error("TokenExpiry before any call should be zero")
	}
	if _, err := c.Consent(context.Background(), "c-1"); err == nil {
		t.Fatal("want the 503")
	}
	if got := c.BreakerState(); got != "open" {
		t.Errorf("after a failure: breaker %q, want open", got)
	}
	clock.Advance(time.Minute)
	if got := c.BreakerState(); got != "half-open" {
		t.Errorf("after the cooldown: breaker %q, want half-open", got)
	}

	before := f.authCalls.Load()
	exp, err := c.CheckCredentials(context.Background())
	if err != nil {
		t.Fatalf("CheckCredentials: %v", err)
	}
	if f.authCalls.Load() != before+1 {
		t.Errorf("CheckCredentials made %d POST /auth, want 1", f.authCalls.Load()-before)
	}
	if !exp.After(clock.Now()) || !exp.Equal(c.TokenExpiry()) {
		t.Errorf("expiry %v, want the new token's (%v), after now", exp, c.TokenExpiry())
	}
	if got := c.BreakerState(); got != "closed" {
		t.Errorf("after a successful POST /auth: breaker %q, want closed", got)
	}

	f.set(func(f *fakeKlavi) { f.authStatus = http.StatusUnauthorized })
	if _, err := c.CheckCredentials(context.Background()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("bad keys: got %v, want ErrUnauthorized", err)
	}
	noKeys, _ := New(f.srv.URL + "/data/v1")
	if _, err := noKeys.CheckCredentials(context.Background()); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no keys: got %v, want ErrNoCredentials", err)
	}
}
