package diag

import (
	"context"
	"errors"
	"time"

	"github.com/klavi-demo/portal/klavi"
)

// Thresholds of the checks. They are deliberately plain: each says when an operator should look, not more.
const (
	slowAuth      = 5 * time.Second  // a POST /auth slower than this is a warning
	skewWarn      = 2 * time.Second  // beyond the estimate's own margin (the Date header has whole seconds)
	skewFail      = 30 * time.Second // tokens and event times stop making sense well before a minute
	failureWarn   = 0.05             // share of Klavi calls that failed over the window
	failureFail   = 0.25             //
	inboxAgeWarn  = 30 * time.Second // the worker drains the inbox every second
	inboxAgeFail  = 5 * time.Minute  //
	pollLagWarn   = 30 * time.Second // a due consent is claimed within one poll interval (2 s by default)
	pollLagFail   = 5 * time.Minute  //
	walWarn       = Bytes(256 << 20) // a WAL this large means checkpoints cannot keep up (long readers)
	dbPingWarn    = time.Second      //
	roundTripWarn = 10 * time.Second // a signed probe through PUBLIC_URL should take well under a second
)

// checkCredentials makes a real POST /auth with the configured keys: it proves the keys work now, and how long
// Klavi takes to say so. A failure is named in words: bad keys, no keys, unreachable, breaker open...
func (s *Service) checkCredentials(ctx context.Context, r *Result) {
	start := time.Now()
	exp, err := s.kc.CheckCredentials(ctx)
	r.fact("took", time.Since(start))
	if err != nil {
		r.mark(Failing, credentialsReason(err))
		r.detail(err)
		return
	}
	if !exp.IsZero() {
		r.fact("token_expires_in", exp.Sub(s.now()).Round(time.Second))
	}
	if took := time.Since(start); took >= slowAuth {
		r.mark(Warning, "slow")
	}
}

// credentialsReason names what went wrong with POST /auth. The order matters: an open breaker and a timeout are
// also ErrUnavailable, and a 5xx is both ErrServer and ErrUnavailable.
func credentialsReason(err error) string {
	switch {
	case errors.Is(err, klavi.ErrNoCredentials):
		return "no_keys"
	case errors.Is(err, klavi.ErrUnauthorized), errors.Is(err, klavi.ErrForbidden):
		return "bad_keys"
	case errors.Is(err, klavi.ErrCircuitOpen):
		return "breaker_open"
	case errors.Is(err, klavi.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, klavi.ErrServer):
		return "server_error"
	case errors.Is(err, klavi.ErrUnavailable):
		return "unreachable"
	case errors.Is(err, klavi.ErrBadResponse):
		return "bad_response"
	}
	var ae *klavi.APIError
	if errors.As(err, &ae) {
		return "refused"
	}
	return "error"
}

// checkRoundTrip sends a signed probe event through PUBLIC_URL and waits for it in the inbox. Without a round-trip
// function it says so: never a green dot for something that was not checked.
func (s *Service) checkRoundTrip(ctx context.Context, r *Result) {
	if s.roundTrip == nil {
		r.mark(Unknown, "not_configured")
		return
	}
	res, err := s.roundTrip(ctx)
	if err != nil {
		r.mark(Failing, "roundtrip_failed")
		if errors.Is(err, context.DeadlineExceeded) {
			r.Reason = "timeout"
		}
		r.detail(err)
		return
	}
	r.fact("took", res.Took)
	if res.Detail != "" {
		r.fact("probe", res.Detail)
	}
	if res.Took >= roundTripWarn {
		r.mark(Warning, "slow")
	}
}

// checkClock compares our clock with Klavi's Date header, as last observed on any answer (the credentials check
// makes one just before).
func (s *Service) checkClock(_ context.Context, r *Result) {
	if s.rec == nil {
		r.mark(Unknown, "no_data")
		return
	}
	skew, pm, at, ok := s.rec.Skew()
	if !ok {
		r.mark(Unknown, "no_data")
		return
	}
	r.fact("skew", skew.Round(100*time.Millisecond))
	r.fact("observed_ago", s.now().Sub(at).Round(time.Second))
	// Graded on the smallest offset the observation allows: a slow answer (under load, say) widens the estimate's
	// margin, and that alone must not make the clocks look apart.
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	r.mark(level(max(abs-pm, 0), skewWarn, skewFail), "skew")
}

// checkBreaker reports the Klavi client's circuit breaker: closed is ok, half-open (probing) a warning, open failing.
func (s *Service) checkBreaker(_ context.Context, r *Result) {
	state := s.kc.BreakerState()
	r.fact("state", state)
	switch state {
	case "closed":
	case "half-open":
		r.mark(Warning, "breaker_half_open")
	default:
		r.mark(Failing, "breaker_open")
	}
}

// checkCalls sums up this replica's Klavi calls over the window: how many, how many failed (no answer, 5xx, 429).
// The per-endpoint figures are in Report.Calls.
func (s *Service) checkCalls(_ context.Context, r *Result) {
	if s.rec == nil {
		r.mark(Unknown, "no_data")
		return
	}
	stats, truncated := s.rec.Stats(s.now())
	calls, failures := 0, 0
	for _, e := range stats {
		calls += e.Calls
		failures += e.Failures
	}
	r.fact("window", Window)
	r.fact("calls", calls)
	r.fact("failures", failures)
	if calls > 0 {
		rate := Ratio(float64(failures) / float64(calls))
		r.fact("failure_rate", rate)
		r.mark(level(rate, failureWarn, failureFail), "failures")
	}
	if truncated {
		r.fact("newest_only", RingSize)
	}
	if d := s.rec.Dropped(); d > 0 {
		r.fact("call_log_dropped", d)
	}
}

// checkInbox looks at the webhook inbox: how many events wait, and for how long the oldest has.
func (s *Service) checkInbox(ctx context.Context, r *Result) {
	b, err := s.st.InboxBacklog(ctx)
	if err != nil {
		r.mark(Failing, "database")
		r.detail(err)
		return
	}
	r.fact("pending", b.Pending)
	if b.Pending == 0 {
		return
	}
	age := max(s.now().Sub(b.Oldest), 0).Round(time.Second)
	r.fact("oldest_age", age)
	r.mark(level(age, inboxAgeWarn, inboxAgeFail), "backlog")
}

// checkReconciler looks at how overdue the most overdue consent poll is: the reconciler should claim a due consent
// within one poll interval.
func (s *Service) checkReconciler(ctx context.Context, r *Result) {
	b, err := s.st.PollBacklog(ctx, s.now())
	if err != nil {
		r.mark(Failing, "database")
		r.detail(err)
		return
	}
	r.fact("open", b.Open)
	r.fact("due", b.Due)
	if b.Due == 0 {
		return
	}
	lag := max(s.now().Sub(b.OldestDue), 0).Round(time.Second)
	r.fact("lag", lag)
	r.mark(level(lag, pollLagWarn, pollLagFail), "lag")
}

// checkDatabase pings the database and reads its size: the file and its WAL on SQLite, the pool on PostgreSQL.
func (s *Service) checkDatabase(ctx context.Context, r *Result) {
	st, err := s.st.DBStats(ctx)
	r.fact("backend", st.Backend)
	if err != nil {
		r.mark(Failing, "database")
		r.detail(err)
		return
	}
	r.fact("ping", st.PingTook)
	r.fact("size", Bytes(st.SizeBytes))
	if st.WALBytes >= 0 {
		r.fact("wal", Bytes(st.WALBytes))
		if Bytes(st.WALBytes) >= walWarn {
			r.mark(Warning, "wal_large")
		}
	} else {
		r.fact("pool_in_use", st.Pool.InUse)
		r.fact("pool_open", st.Pool.OpenConnections)
		if st.Pool.MaxOpenConnections > 0 {
			r.fact("pool_max", st.Pool.MaxOpenConnections)
			if st.Pool.InUse >= st.Pool.MaxOpenConnections {
				r.mark(Warning, "pool_saturated")
			}
		}
		r.fact("pool_waits", st.Pool.WaitCount)
	}
	if st.PingTook >= dbPingWarn {
		r.mark(Warning, "slow")
	}
}
