package diag

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/store"
)

const (
	accessKey = "demo-access-key"
	secretKey = "demo-secret-key"
)

// openStore opens a fresh SQLite store for one test (the store's own tests cover PostgreSQL).
func openStore(t *testing.T, now func() time.Time) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// startSandbox serves the real embedded sandbox on an httptest server and returns its API base URL.
func startSandbox(t *testing.T) string {
	t.Helper()
	sb := sandbox.New(sandbox.Options{AccessKey: accessKey, SecretKey: secretKey, PublicURL: "http://localhost:1"})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	return srv.URL + "/data/v1"
}

// fakeKlavi answers the checks' questions without a network.
type fakeKlavi struct {
	mu      sync.Mutex
	expiry  time.Time
	err     error
	breaker string
}

func (f *fakeKlavi) CheckCredentials(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expiry, f.err
}
func (f *fakeKlavi) TokenExpiry() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.expiry }
func (f *fakeKlavi) BreakerState() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.breaker == "" {
		return "closed"
	}
	return f.breaker
}

// newService builds a service over kc and a fresh store; mods change the options.
func newService(t *testing.T, kc Klavi, mods ...func(*Options)) (*Service, *store.Store) {
	t.Helper()
	o := Options{Klavi: kc, Recorder: NewRecorder(nil)}
	for _, m := range mods {
		m(&o)
	}
	if o.Store == nil {
		o.Store = openStore(t, o.Now)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, o.Store
}

// runCheck runs the check id alone.
func runCheck(t *testing.T, s *Service, id string) Result {
	t.Helper()
	for _, c := range s.checks() {
		if c.id == id {
			return s.runOne(context.Background(), c)
		}
	}
	t.Fatalf("no check %q", id)
	return Result{}
}

func factOf(r Result, key string) (any, bool) {
	for _, f := range r.Facts {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

func want(t *testing.T, r Result, st Status, reason string) {
	t.Helper()
	if r.Status != st || r.Reason != reason {
		t.Errorf("%s: %s/%q, want %s/%q (facts %v, detail %q)", r.ID, r.Status, r.Reason, st, reason, r.Facts, r.Detail)
	}
}

// TestCredentialsAgainstTheEmbeddedSandbox: the right keys pass with the time taken and the token's remaining life;
// wrong keys are "bad_keys", no keys "no_keys", a closed port "unreachable"; and a Klavi answering 5xx opens the
// breaker, after which the check fails as "breaker_open" without a request.
func TestCredentialsAgainstTheEmbeddedSandbox(t *testing.T) {
	t.Parallel()
	base := startSandbox(t)
	client := func(opts ...klavi.Option) *klavi.Client {
		c, err := klavi.New(base, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	s, _ := newService(t, client(klavi.WithCredentials(accessKey, secretKey)))
	r := runCheck(t, s, "credentials")
	want(t, r, OK, "")
	if left, ok := factOf(r, "token_expires_in"); !ok || left.(time.Duration) <= 0 {
		t.Errorf("token_expires_in = %v, want a positive duration", left)
	}
	if _, ok := factOf(r, "took"); !ok {
		t.Error("no time taken")
	}

	s, _ = newService(t, client(klavi.WithCredentials(accessKey, "wrong-secret")))
	r = runCheck(t, s, "credentials")
	want(t, r, Failing, "bad_keys")
	if r.Detail == "" {
		t.Error("a failure should keep Klavi's error text")
	}

	s, _ = newService(t, client())
	want(t, runCheck(t, s, "credentials"), Failing, "no_keys")

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	down, err := klavi.New(closed.URL+"/data/v1", klavi.WithCredentials(accessKey, secretKey))
	if err != nil {
		t.Fatal(err)
	}
	s, _ = newService(t, down)
	want(t, runCheck(t, s, "credentials"), Failing, "unreachable")

	var hits sync.Map
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore("n", new(int))
		*(n.(*int))++
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	brk, err := klavi.New(failing.URL+"/data/v1", klavi.WithCredentials(accessKey, secretKey),
		klavi.WithBreaker(1, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s, _ = newService(t, brk)
	want(t, runCheck(t, s, "credentials"), Failing, "server_error")
	want(t, runCheck(t, s, "credentials"), Failing, "breaker_open")
	want(t, runCheck(t, s, "breaker"), Failing, "breaker_open")
	if n, _ := hits.Load("n"); *(n.(*int)) != 1 {
		t.Errorf("the open breaker let %d requests through, want only the first", *(n.(*int)))
	}
}

// TestCredentialsReasons: each error of the client gets its words, in the right order of precedence.
func TestCredentialsReasons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{klavi.ErrNoCredentials, "no_keys"},
		{&klavi.APIError{HTTPStatus: 401}, "bad_keys"},
		{&klavi.APIError{HTTPStatus: 403}, "bad_keys"},
		{fmt.Errorf("x: %w", errors.Join(klavi.ErrUnavailable, klavi.ErrCircuitOpen)), "breaker_open"},
		{&klavi.APIError{HTTPStatus: 429}, "rate_limited"},
		{errors.Join(klavi.ErrUnavailable, context.DeadlineExceeded), "timeout"},
		{&klavi.APIError{HTTPStatus: 502}, "server_error"},
		{klavi.ErrUnavailable, "unreachable"},
		{klavi.ErrBadResponse, "bad_response"},
		{&klavi.APIError{HTTPStatus: 404}, "refused"},
		{errors.New("boom"), "error"},
	} {
		if got := credentialsReason(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRoundTripIsNeverGreenUnlessChecked: without a round-trip function the check is "not configured" (not ok);
// with one it reports the time, warns when slow and fails with the error.
func TestRoundTripIsNeverGreenUnlessChecked(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, &fakeKlavi{})
	want(t, runCheck(t, s, "roundtrip"), Unknown, "not_configured")

	for _, tc := range []struct {
		res    RoundTripResult
		err    error
		st     Status
		reason string
	}{
		{RoundTripResult{Took: 300 * time.Millisecond, Detail: "probe-1"}, nil, OK, ""},
		{RoundTripResult{Took: 12 * time.Second}, nil, Warning, "slow"},
		{RoundTripResult{}, errors.New("the receiver answered 401: bad signature"), Failing, "roundtrip_failed"},
		{RoundTripResult{}, fmt.Errorf("waiting: %w", context.DeadlineExceeded), Failing, "timeout"},
	} {
		s, _ := newService(t, &fakeKlavi{}, func(o *Options) {
			o.RoundTrip = func(context.Context) (RoundTripResult, error) { return tc.res, tc.err }
		})
		r := runCheck(t, s, "roundtrip")
		want(t, r, tc.st, tc.reason)
		if tc.err != nil && r.Detail == "" {
			t.Errorf("%v: no detail", tc.err)
		}
	}
}

// call is an observed attempt for the recorder tests.
func call(start time.Time, took time.Duration, status int) klavi.Call {
	return klavi.Call{Method: http.MethodGet, Endpoint: "/consents/{consentId}", Status: status, Attempt: 1,
		Start: start, Duration: took, RequestID: "r"}
}

// TestClockSkewFromTheDateHeader: no answer yet is "no data"; Klavi's Date within 2 s of ours is ok, 5 s a warning,
// 40 s behind failing; the last observation wins.
func TestClockSkewFromTheDateHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := NewRecorder(func() time.Time { return now })
	s, _ := newService(t, &fakeKlavi{}, func(o *Options) { o.Recorder = rec; o.Now = func() time.Time { return now } })
	want(t, runCheck(t, s, "clock"), Unknown, "no_data")

	for _, tc := range []struct {
		theirs time.Duration // Klavi's Date minus our time
		st     Status
	}{
		{0, OK}, {5 * time.Second, Warning}, {-40 * time.Second, Failing}, {time.Second, OK},
	} {
		c := call(now.Add(-time.Second), 200*time.Millisecond, 200)
		c.Date = c.Start.Add(100 * time.Millisecond).Add(tc.theirs).Truncate(time.Second)
		rec.Observe(context.Background(), c)
		r := runCheck(t, s, "clock")
		reason := "skew"
		if tc.st == OK {
			reason = ""
		}
		want(t, r, tc.st, reason)
		skew, _ := factOf(r, "skew")
		if d := skew.(time.Duration) - tc.theirs; d < -time.Second || d > time.Second {
			t.Errorf("skew %v for a Date %v off, want within a second", skew, tc.theirs)
		}
	}
	// A slow answer widens the margin: 3 s off with an 8-second attempt is within what it can tell.
	slow := call(now.Add(-9*time.Second), 8*time.Second, 200)
	slow.Date = slow.Start.Add(4 * time.Second).Add(3 * time.Second).Truncate(time.Second)
	rec.Observe(context.Background(), slow)
	want(t, runCheck(t, s, "clock"), OK, "")
	// An answer without a Date header leaves the last skew in place.
	rec.Observe(context.Background(), call(now, time.Millisecond, 200))
	if _, _, _, ok := rec.Skew(); !ok {
		t.Error("an answer without Date erased the skew")
	}
}

// TestBreakerStates: closed ok, half-open warning, open failing.
func TestBreakerStates(t *testing.T) {
	t.Parallel()
	for state, st := range map[string]Status{"closed": OK, "half-open": Warning, "open": Failing} {
		s, _ := newService(t, &fakeKlavi{breaker: state})
		r := runCheck(t, s, "breaker")
		if r.Status != st {
			t.Errorf("breaker %s: %s, want %s", state, r.Status, st)
		}
		if v, _ := factOf(r, "state"); v != state {
			t.Errorf("state fact %v, want %s", v, state)
		}
	}
}

// TestCallsWindow: per endpoint counts, failures and p95 over the last 15 minutes only; the failure rate grades the
// check; a full ring says its figures cover the newest attempts only.
func TestCallsWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := NewRecorder(func() time.Time { return now })
	s, _ := newService(t, &fakeKlavi{}, func(o *Options) { o.Recorder = rec; o.Now = func() time.Time { return now } })
	r := runCheck(t, s, "calls")
	want(t, r, OK, "")
	if v, _ := factOf(r, "calls"); v != 0 {
		t.Errorf("no calls: calls = %v", v)
	}

	// 20 GETs of 1..20 ms (one a 503), an old failing one outside the window, and 2 POSTs.
	for i := 1; i <= 20; i++ {
		status := 200
		if i == 7 {
			status = 503
		}
		rec.Observe(context.Background(), call(now.Add(-time.Duration(i)*time.Second), time.Duration(i)*time.Millisecond, status))
	}
	rec.Observe(context.Background(), call(now.Add(-Window-time.Second), time.Second, 0))
	for range 2 {
		rec.Observe(context.Background(), klavi.Call{Method: http.MethodPost, Endpoint: "/links", Status: 200,
			Start: now.Add(-time.Minute), Duration: 50 * time.Millisecond})
	}
	stats, truncated := rec.Stats(now)
	if truncated || len(stats) != 2 {
		t.Fatalf("stats = %+v (truncated %v), want two endpoints", stats, truncated)
	}
	get := stats[0]
	if get.Method != "GET" || get.Calls != 20 || get.Failures != 1 || get.P95 != 19*time.Millisecond {
		t.Errorf("GET stats = %+v, want 20 calls, 1 failure, p95 19ms", get)
	}
	if stats[1].Endpoint != "/links" || stats[1].Calls != 2 || stats[1].P95 != 50*time.Millisecond {
		t.Errorf("POST stats = %+v", stats[1])
	}
	want(t, runCheck(t, s, "calls"), OK, "") // 1 failure in 22 calls: under 5%
	fail := func(n int) {
		for range n {
			rec.Observe(context.Background(), call(now.Add(-time.Second), time.Millisecond, 0))
		}
	}
	fail(2)
	want(t, runCheck(t, s, "calls"), Warning, "failures") // 3 of 24
	fail(6)
	want(t, runCheck(t, s, "calls"), Failing, "failures") // 9 of 30

	full := NewRecorder(func() time.Time { return now })
	for i := range RingSize + 10 {
		full.Observe(context.Background(), call(now.Add(-time.Duration(RingSize+10-i)*time.Millisecond), time.Millisecond, 200))
	}
	if stats, truncated := full.Stats(now); !truncated || stats[0].Calls != RingSize {
		t.Errorf("full ring: %d calls, truncated %v; want %d and true", stats[0].Calls, truncated, RingSize)
	}
}

// TestInboxBacklog: an empty inbox is ok; events waiting for seconds are ok, for a minute a warning, for ten
// minutes failing.
func TestInboxBacklog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		age    time.Duration
		st     Status
		reason string
	}{
		{-1, OK, ""}, {5 * time.Second, OK, ""}, {time.Minute, Warning, "backlog"}, {10 * time.Minute, Failing, "backlog"},
	} {
		s, st := newService(t, &fakeKlavi{}, func(o *Options) { o.Now = clock })
		if tc.age >= 0 {
			for i, key := range []string{"ev-old", "ev-new"} {
				d := store.Delivery{Kind: "event", SignatureValid: true, ReceivedAt: now.Add(-tc.age / time.Duration(i+1)),
					Keys: []string{key}}
				if _, err := st.RecordEventDelivery(context.Background(), d, []store.InboxItem{{Key: key, Body: []byte(`{}`)}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		r := runCheck(t, s, "inbox")
		want(t, r, tc.st, tc.reason)
		if tc.age >= 0 {
			if v, _ := factOf(r, "pending"); v != 2 {
				t.Errorf("pending = %v, want 2", v)
			}
			if v, _ := factOf(r, "oldest_age"); v != tc.age {
				t.Errorf("oldest_age = %v, want %v", v, tc.age)
			}
		}
	}
}

// TestReconcilerLag: nothing due is ok; a poll overdue by 10 minutes is failing, by a minute a warning.
func TestReconcilerLag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		overdue time.Duration
		st      Status
	}{
		{-time.Minute, OK}, {time.Second, OK}, {time.Minute, Warning}, {10 * time.Minute, Failing},
	} {
		s, st := newService(t, &fakeKlavi{}, func(o *Options) { o.Now = clock })
		ctx := context.Background()
		if err := st.CreateConsent(ctx, store.Consent{ID: "c1", Status: consent.AwaitingAuthorisation,
			CreatedAt: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := st.SchedulePoll(ctx, "c1", now.Add(-tc.overdue), 3); err != nil {
			t.Fatal(err)
		}
		r := runCheck(t, s, "reconciler")
		if r.Status != tc.st {
			t.Errorf("overdue %v: %s/%s, want %s (facts %v)", tc.overdue, r.Status, r.Reason, tc.st, r.Facts)
		}
		if tc.overdue > 0 {
			if v, _ := factOf(r, "lag"); v != tc.overdue {
				t.Errorf("lag = %v, want %v", v, tc.overdue)
			}
		}
	}
}

// TestDatabase: an open SQLite store is ok with its size and WAL; a closed one fails.
func TestDatabase(t *testing.T) {
	t.Parallel()
	s, st := newService(t, &fakeKlavi{})
	r := runCheck(t, s, "database")
	want(t, r, OK, "")
	if v, _ := factOf(r, "backend"); v != "sqlite" {
		t.Errorf("backend = %v", v)
	}
	if v, ok := factOf(r, "size"); !ok || v.(Bytes) <= 0 {
		t.Errorf("size = %v", v)
	}
	if _, ok := factOf(r, "wal"); !ok {
		t.Error("no WAL size on SQLite")
	}
	_ = st.Close()
	want(t, runCheck(t, s, "database"), Failing, "database")
	want(t, runCheck(t, s, "inbox"), Failing, "database")
	want(t, runCheck(t, s, "reconciler"), Failing, "database")
}

// TestRunReportsEveryCheckInOrder: Run returns one result per check in the page's order, the environment, the
// build and the uptime; a check that panics fails without taking the others down.
func TestRunReportsEveryCheckInOrder(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	now := started.Add(time.Hour)
	s, _ := newService(t, &fakeKlavi{expiry: now.Add(30 * time.Minute)}, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.Started = started
		o.BaseURL = "https://api-sandbox.klavi.ai/data/v1"
		o.Version, o.Commit, o.BuildTime = "v1.2.3", "0123456789abcdef", "2026-03-01T10:30:00Z"
		o.RoundTrip = func(context.Context) (RoundTripResult, error) { panic("probe exploded") }
	})
	rep := s.Run(context.Background())
	var ids []string
	for _, r := range rep.Checks {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, IDs()) || len(ids) != 8 {
		t.Errorf("checks %v, want %v", ids, IDs())
	}
	if rep.Environment != EnvSandbox || rep.KlaviHost != "api-sandbox.klavi.ai" || rep.Uptime != time.Hour {
		t.Errorf("report = env %s at %q, uptime %v", rep.Environment, rep.KlaviHost, rep.Uptime)
	}
	if b := rep.Build; b.Version != "v1.2.3" || b.Commit != "0123456789abcdef" ||
		!b.BuiltAt.Equal(time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)) || b.GoVersion == "" {
		t.Errorf("build = %+v, want the stamped version, commit and build time", b)
	}
	rt := rep.Checks[slices.Index(ids, "roundtrip")]
	want(t, rt, Failing, "internal")
	if rep.Worst() != Failing {
		t.Errorf("Worst = %s, want failing", rep.Worst())
	}
	if cred := rep.Checks[0]; cred.Status != OK {
		t.Errorf("credentials next to a panicking check: %+v", cred)
	}
	if (Report{Checks: []Result{{Status: OK}, {Status: Unknown}}}).Worst() != OK {
		t.Error("an unconfigured check must not make the report worse than ok")
	}
}

// TestEnvironmentOf: empty or loopback is the embedded sandbox, a host naming "sandbox" Klavi's sandbox, anything
// else production.
func TestEnvironmentOf(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]Environment{
		"":                                     EnvEmbedded,
		"http://127.0.0.1:8090/data/v1":        EnvEmbedded,
		"http://localhost:8090/data/v1":        EnvEmbedded,
		"http://[::1]:8090/data/v1":            EnvEmbedded,
		"https://api-sandbox.klavi.ai/data/v1": EnvSandbox,
		"https://API-SANDBOX.klavi.ai/data/v1": EnvSandbox,
		"https://api.klavi.ai/data/v1":         EnvProduction,
		"https://example.com/sandbox/data/v1":  EnvProduction, // the path does not make a sandbox
		"://bad":                               EnvProduction,
	} {
		if got := EnvironmentOf(url); got != want {
			t.Errorf("EnvironmentOf(%q) = %s, want %s", url, got, want)
		}
	}
}

// TestCallLogWritesWhatWasMadeForAConsent: attempts made for a consent or a link reach the store with their request
// ids; untagged ones do not; what is queued when the writer stops is still written.
func TestCallLogWritesWhatWasMadeForAConsent(t *testing.T) {
	t.Parallel()
	st := openStore(t, nil)
	rec := NewRecorder(nil)
	start := time.Now()
	tagged := klavi.WithSubject(context.Background(), klavi.Subject{LinkID: "link-1", ConsentID: "consent-1"})
	c := call(start, 30*time.Millisecond, 200)
	c.RequestID = "req-consent"
	rec.Observe(tagged, c)
	c.RequestID = "req-untagged"
	rec.Observe(context.Background(), c)
	pctx, pending := klavi.WithPendingSubject(context.Background())
	c.Endpoint, c.Method, c.RequestID = "/links", http.MethodPost, "req-link"
	rec.Observe(pctx, c)
	pending.Resolve(klavi.Subject{LinkID: "link-1"})

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the writer drains what is queued and returns
	rec.WriteCallLog(ctx, st, nil)

	got, err := st.KlaviCallsFor(context.Background(), "consent-1", "link-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, g.RequestID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"req-consent", "req-link"}) {
		t.Errorf("call log %v, want the consent's and the link's calls only", ids)
	}
	if rec.Dropped() != 0 {
		t.Errorf("dropped %d", rec.Dropped())
	}
	for range callLogQueue + 3 {
		rec.Observe(tagged, c)
	}
	if rec.Dropped() != 3 {
		t.Errorf("a full queue dropped %d rows, want 3", rec.Dropped())
	}
}
