package klavi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// switchable answers every API call (not the token calls) with the current status; 200 sends the golden
// consent. It counts the calls it sees.
type switchable struct {
	status atomic.Int32
	hits   atomic.Int32
	body   []byte
}

func newSwitchable(t *testing.T, status int) *switchable {
	s := &switchable{body: golden(t, "consent.json")}
	s.status.Store(int32(status))
	return s
}

func (s *switchable) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	switch st := int(s.status.Load()); st {
	case http.StatusOK:
		writeJSON(w, http.StatusOK, s.body)
	case http.StatusRequestedRangeNotSatisfiable:
		writeJSON(w, st, []byte(`{"statusCode":4001,"error":"Range Not Satisfiable","message":"invalid authorisation info"}`))
	default:
		writeJSON(w, st, []byte(`{"statusCode":503,"error":"Service Unavailable","message":"try later"}`))
	}
}

// wantOpen checks that err is the breaker's fast failure.
func wantOpen(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("got %v, want ErrUnavailable and ErrCircuitOpen", err)
	}
	var ae *APIError
	if errors.As(err, &ae) {
		t.Errorf("got an APIError %v, want a failure without any HTTP exchange", err)
	}
	if err != nil && (!strings.HasPrefix(err.Error(), "klavi: ") || !strings.Contains(err.Error(), "Klavi is temporarily unavailable")) {
		t.Errorf("got message %q, want it to start with \"klavi: \" and say Klavi is temporarily unavailable", err)
	}
}

func TestFiveFailedCallsOpenTheBreakerUntilAProbeSucceeds(t *testing.T) {
	t.Parallel()
	clock := newClock()
	srv := newSwitchable(t, http.StatusServiceUnavailable)
	f := newFake(t, srv.serve)
	c := f.client(t, WithNow(clock.Now))
	recordSleeps(c)
	ctx := context.Background()

	// Each call is 3 attempts (the client's own retries) but counts as one failure.
	for i := 1; i <= 5; i++ {
		_, err := c.Consent(ctx, "c-1")
		if !errors.Is(err, ErrServer) || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d: got %v, want the server's 503", i, err)
		}
		if got, want := srv.hits.Load(), int32(3*i); got != want {
			t.Fatalf("call %d: got %d requests, want %d", i, got, want)
		}
	}
	before := len(f.all())

	start := time.Now()
	_, err := c.Consent(ctx, "c-1")
	el := time.Since(start)
	wantOpen(t, err)
	if el > time.Second {
		t.Errorf("took %v, want an immediate failure", el)
	}
	if got := len(f.all()); got != before {
		t.Errorf("got %d requests, want %d (no network I/O while open)", got, before)
	}

	clock.Advance(DefaultBreakerCooldown - time.Nanosecond)
	_, err = c.Consent(ctx, "c-1")
	wantOpen(t, err)
	if got := len(f.all()); got != before {
		t.Errorf("got %d requests just before the cooldown ends, want %d", got, before)
	}

	// Half-open: one probe reaches the server; it fails, so the breaker re-opens for another cooldown.
	clock.Advance(time.Nanosecond)
	if _, err := c.Consent(ctx, "c-1"); !errors.Is(err, ErrServer) {
		t.Fatalf("probe: got %v, want the server's 503", err)
	}
	if got, want := srv.hits.Load(), int32(18); got != want {
		t.Errorf("got %d requests after the probe, want %d", got, want)
	}
	_, err = c.Consent(ctx, "c-1")
	wantOpen(t, err)
	clock.Advance(DefaultBreakerCooldown / 2)
	_, err = c.Consent(ctx, "c-1")
	wantOpen(t, err)
	if got, want := srv.hits.Load(), int32(18); got != want {
		t.Errorf("got %d requests after the failed probe, want %d (re-opened)", got, want)
	}

	// The next probe succeeds and closes the breaker.
	clock.Advance(DefaultBreakerCooldown / 2)
	srv.status.Store(http.StatusOK)
	if _, err := c.Consent(ctx, "c-1"); err != nil {
		t.Fatalf("probe: got %v, want success", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Consent(ctx, "c-1"); err != nil {
			t.Errorf("after the successful probe: got %v, want success", err)
		}
	}
	if got, want := srv.hits.Load(), int32(22); got != want {
		t.Errorf("got %d requests, want %d (closed again)", got, want)
	}

	// Closed means counting from zero again: four failures do not open it.
	srv.status.Store(http.StatusServiceUnavailable)
	for i := 0; i < 4; i++ {
		_, _ = c.Consent(ctx, "c-1")
	}
	if _, err := c.Consent(ctx, "c-1"); errors.Is(err, ErrCircuitOpen) {
		t.Errorf("fifth failure after closing: got %v, want it to reach the server", err)
	}
}

func TestBusinessErrorsDoNotCountAsFailures(t *testing.T) {
	t.Parallel()
	srv := newSwitchable(t, http.StatusRequestedRangeNotSatisfiable)
	f := newFake(t, srv.serve)
	c := f.client(t, WithNow(newClock().Now))
	recordSleeps(c)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		_, err := c.Consent(ctx, "c-1")
		if !errors.Is(err, ErrBusiness) || !errors.Is(err, ErrConsentNotAuthorised) {
			t.Fatalf("call %d: got %v, want the 416 business error", i+1, err)
		}
	}
	if got, want := srv.hits.Load(), int32(10); got != want {
		t.Errorf("got %d requests, want %d (416 is not retried and never opens the breaker)", got, want)
	}

	// A business error between failures breaks the streak: 4 failures, a 416, 4 failures stay closed.
	srv.hits.Store(0)
	for _, st := range []int{503, 503, 503, 503, 416, 503, 503, 503, 503} {
		srv.status.Store(int32(st))
		if _, err := c.Consent(ctx, "c-1"); errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("got %v, want the breaker still closed", err)
		}
	}
	if got, want := srv.hits.Load(), int32(8*3+1); got != want {
		t.Errorf("got %d requests, want %d", got, want)
	}
	_, _ = c.Consent(ctx, "c-1") // the fifth consecutive failure
	_, err := c.Consent(ctx, "c-1")
	wantOpen(t, err)
}

func TestFailedTokenCallsCountToo(t *testing.T) {
	t.Parallel()
	srv := newSwitchable(t, http.StatusOK)
	f := newFake(t, srv.serve)
	f.set(func(f *fakeKlavi) { f.authStatus = http.StatusServiceUnavailable })
	c := f.client(t, WithNow(newClock().Now))
	recordSleeps(c)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		if _, err := c.Consent(ctx, "c-1"); !errors.Is(err, ErrServer) {
			t.Fatalf("call %d: got %v, want the 503 from POST /auth", i, err)
		}
	}
	if got, want := f.authCalls.Load(), int32(15); got != want {
		t.Fatalf("got %d /auth requests, want %d", got, want)
	}
	_, err := c.Consent(ctx, "c-1")
	wantOpen(t, err)
	if got, want := len(f.all()), 15; got != want {
		t.Errorf("got %d requests, want %d (neither /auth nor the call was sent)", got, want)
	}
	// linkToken calls need no accessToken but go to the same service: they fail fast too.
	_, err = c.Institutions(ctx, goldenLinkToken)
	wantOpen(t, err)
	if srv.hits.Load() != 0 {
		t.Errorf("got %d API requests, want 0", srv.hits.Load())
	}
}

func TestCallsCanceledByTheCallerDoNotCount(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var cancelCurrent context.CancelFunc
	var hits atomic.Int32
	var healthy atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if healthy.Load() {
			writeJSON(w, http.StatusOK, golden(t, "consent.json"))
			return
		}
		// The caller gives up while its request is at the server.
		mu.Lock()
		cancelCurrent()
		mu.Unlock()
		<-r.Context().Done()
	})
	c := f.client(t, WithNow(newClock().Now))
	recordSleeps(c)
	for i := 1; i <= 8; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		mu.Lock()
		cancelCurrent = cancel
		mu.Unlock()
		_, err := c.Consent(ctx, "c-1")
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("call %d: got %v, want context.Canceled", i, err)
		}
	}
	if got, want := hits.Load(), int32(8); got != want {
		t.Fatalf("got %d requests, want %d (canceled calls are not retried)", got, want)
	}
	healthy.Store(true)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Errorf("got %v, want success (cancellations never open the breaker)", err)
	}
}

func TestWhileTheProbeIsInFlightOtherCallsFailFast(t *testing.T) {
	t.Parallel()
	clock := newClock()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	var hits atomic.Int32
	var probing atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !probing.Load() {
			writeJSON(w, http.StatusServiceUnavailable, nil)
			return
		}
		arrived <- struct{}{}
		<-release
		writeJSON(w, http.StatusOK, golden(t, "consent.json"))
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close, which waits for the handler
	c := f.client(t, WithNow(clock.Now), WithBreaker(2, time.Minute), WithRetry(1, 0, 0))
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		_, _ = c.Consent(ctx, "c-1")
	}
	_, err := c.Consent(ctx, "c-1")
	wantOpen(t, err)

	clock.Advance(time.Minute)
	probing.Store(true)
	probeErr := make(chan error, 1)
	go func() { _, err := c.Consent(ctx, "c-1"); probeErr <- err }()
	select {
	case <-arrived:
	case err := <-probeErr:
		t.Fatalf("probe: got %v before it reached the server, want it let through", err)
	}
	_, err = c.Consent(ctx, "c-1")
	wantOpen(t, err)
	if got, want := hits.Load(), int32(3); got != want {
		t.Errorf("got %d requests, want %d (only the probe)", got, want)
	}
	unblock()
	if err := <-probeErr; err != nil {
		t.Fatalf("probe: got %v, want success", err)
	}
	if _, err := c.Consent(ctx, "c-1"); err != nil {
		t.Errorf("after the probe: got %v, want success", err)
	}
}

func TestWithBreakerZeroDisablesIt(t *testing.T) {
	t.Parallel()
	srv := newSwitchable(t, http.StatusServiceUnavailable)
	f := newFake(t, srv.serve)
	c := f.client(t, WithBreaker(0, 0), WithRetry(1, 0, 0))
	for i := 0; i < 20; i++ {
		if _, err := c.Consent(context.Background(), "c-1"); errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d: got %v, want the breaker disabled", i+1, err)
		}
	}
	if got, want := srv.hits.Load(), int32(20); got != want {
		t.Errorf("got %d requests, want %d", got, want)
	}
}

func TestTheBreakerDefaultsFollowTheReliabilityPolicy(t *testing.T) {
	t.Parallel()
	c, err := New("https://api-sandbox.klavi.ai/data/v1")
	if err != nil {
		t.Fatal(err)
	}
	if c.brk.threshold != 5 || c.brk.cooldown != 30*time.Second {
		t.Errorf("got %d failures %v cooldown, want 5 and 30s", c.brk.threshold, c.brk.cooldown)
	}
	c, _ = New("https://api-sandbox.klavi.ai/data/v1", WithBreaker(3, -time.Second))
	if c.brk.threshold != 0 {
		t.Errorf("got threshold %d for a negative cooldown, want 0 (disabled)", c.brk.threshold)
	}
}

func TestAProbeThatNeverReturnsDoesNotBlockForever(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := breaker{threshold: 1, cooldown: 30 * time.Second}
	b.record(now, false, outcomeFailure)
	if ok, _ := b.allow(now); ok {
		t.Fatalf("got allowed right after opening, want refused")
	}
	now = now.Add(30 * time.Second)
	if ok, probe := b.allow(now); !ok || !probe {
		t.Fatalf("got ok=%v probe=%v after the cooldown, want a probe", ok, probe)
	}
	if ok, _ := b.allow(now.Add(29 * time.Second)); ok {
		t.Errorf("got a second call allowed while the probe runs, want refused")
	}
	if ok, probe := b.allow(now.Add(30 * time.Second)); !ok || !probe {
		t.Errorf("got ok=%v probe=%v a cooldown after a lost probe, want a new probe", ok, probe)
	}
	b.record(now.Add(31*time.Second), true, outcomeIgnored)
	if ok, probe := b.allow(now.Add(31 * time.Second)); !ok || !probe {
		t.Errorf("got ok=%v probe=%v after a canceled probe, want the next call to probe", ok, probe)
	}
	b.record(now.Add(32*time.Second), true, outcomeSuccess)
	if ok, probe := b.allow(now.Add(32 * time.Second)); !ok || probe {
		t.Errorf("got ok=%v probe=%v after a successful probe, want closed", ok, probe)
	}
}
