// Package diag is the portal's self-diagnosis, for the operators' diagnostics page: a list of checks, each a small
// function that looks at one thing (Klavi credentials, the webhook round trip, clock skew, the circuit breaker,
// recent Klavi calls, the inbox, the reconciler, the database) and says ok, warning or failing with its figures
// and a reason code; plus the environment (embedded sandbox, Klavi's sandbox, production), the build and the
// uptime. Recorder watches the Klavi client's calls for the figures that need history and feeds the Klavi call log.
//
// It holds no HTTP handler and renders nothing: handlers turns a Report into a page, views translates the reason
// codes and says what to do about each failure.
package diag

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// Status is a check's verdict.
type Status string

// The verdicts, from best to worst. Unknown is neither good nor bad: the check is not configured or has nothing to
// look at yet; it is never shown as ok.
const (
	Unknown Status = "unknown"
	OK      Status = "ok"
	Warning Status = "warning"
	Failing Status = "failing"
)

// rank orders the verdicts for Worst.
func (s Status) rank() int {
	switch s {
	case OK:
		return 1
	case Warning:
		return 2
	case Failing:
		return 3
	}
	return 0
}

// Fact is one figure of a check: a key (the page translates "diag.fact.<key>") and a value of one of these types:
// int, int64, string, time.Duration, time.Time, Bytes, Ratio.
type Fact struct {
	Key   string
	Value any
}

// Bytes is a size, shown as KiB, MiB...
type Bytes int64

// Ratio is a share between 0 and 1, shown as a percentage.
type Ratio float64

// Result is what one check found.
type Result struct {
	ID     string // the check: "credentials", "roundtrip", "clock", "breaker", "calls", "inbox", "reconciler", "database"
	Status Status
	Reason string        // why it is not ok, as a code ("bad_keys", "unreachable", "not_configured"...); "" when ok
	Detail string        // technical detail for the operator (an error text, masked); "" when none
	Facts  []Fact        // its figures
	Took   time.Duration // how long the check ran
}

// fact appends a figure.
func (r *Result) fact(key string, v any) { r.Facts = append(r.Facts, Fact{Key: key, Value: v}) }

// Report is one run of every check.
type Report struct {
	At          time.Time
	Environment Environment
	KlaviHost   string // the host (and port) of KLAVI_BASE_URL; "" for the embedded sandbox
	Build       BuildInfo
	Uptime      time.Duration
	Checks      []Result
	// Calls are this replica's Klavi calls over the Window, per endpoint (also summed up by the "calls" check).
	Calls []EndpointStats
	// CallsTruncated: the Window held more attempts than RingSize; the figures cover the newest RingSize.
	CallsTruncated bool
}

// Worst is the worst verdict of the report's checks (Unknown counts as better than OK for this purpose: a check
// that is not configured does not make the page red).
func (r Report) Worst() Status {
	worst := OK
	for _, c := range r.Checks {
		if c.Status.rank() > worst.rank() {
			worst = c.Status
		}
	}
	return worst
}

// Klavi is what the checks need of *klavi.Client.
type Klavi interface {
	CheckCredentials(ctx context.Context) (time.Time, error)
	TokenExpiry() time.Time
	BreakerState() string
}

// RoundTripResult is what a webhook round trip reports when it worked.
type RoundTripResult struct {
	Took   time.Duration // from sending the probe to seeing it in the inbox
	Detail string        // e.g. the probe's event id; no personal data
}

// RoundTripFunc sends a signed probe event through PUBLIC_URL to the webhook receiver and waits for it to reach the
// inbox.
type RoundTripFunc func(ctx context.Context) (RoundTripResult, error)

// Options are the service's dependencies. Klavi and Store are required.
type Options struct {
	Klavi Klavi
	Store *store.Store
	// Recorder gives the clock skew and the recent calls; nil: those checks have no data.
	Recorder *Recorder
	// BaseURL is KLAVI_BASE_URL ("" when the embedded sandbox runs); it decides the Environment.
	BaseURL string
	// RoundTrip is the webhook round trip; nil: the check says "not configured" (never ok).
	RoundTrip RoundTripFunc
	// Version is the build's version as the Makefile stamps it (-ldflags -X main.version); "" falls back to the
	// module's.
	Version string
	// Commit and BuildTime (RFC 3339) are stamped by the Makefile too; they win over Go's build information.
	Commit, BuildTime string
	Now               func() time.Time
	// Started is when the process started (default: when New was called).
	Started time.Time
	// Timeout bounds each check that does I/O (default 10 s; the round trip gets twice as long).
	Timeout time.Duration
}

// Service runs the checks. It is safe for concurrent use.
type Service struct {
	kc        Klavi
	st        *store.Store
	rec       *Recorder
	env       Environment
	klaviHost string
	roundTrip RoundTripFunc
	build     BuildInfo
	now       func() time.Time
	started   time.Time
	timeout   time.Duration
}

// New validates the options and returns the service.
func New(o Options) (*Service, error) {
	if o.Klavi == nil {
		return nil, errors.New("diag: Options.Klavi is required")
	}
	if o.Store == nil {
		return nil, errors.New("diag: Options.Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	host := ""
	if u, err := url.Parse(o.BaseURL); err == nil && o.BaseURL != "" {
		host = u.Host
	}
	return &Service{kc: o.Klavi, st: o.Store, rec: o.Recorder, env: EnvironmentOf(o.BaseURL), klaviHost: host,
		roundTrip: o.RoundTrip, build: readBuild(o.Version, o.Commit, o.BuildTime), now: o.Now, started: o.Started, timeout: o.Timeout}, nil
}

// Environment is the Klavi this portal talks to.
func (s *Service) Environment() Environment { return s.env }

// Build is this binary's version.
func (s *Service) Build() BuildInfo { return s.build }

// check is one entry of the list: a small function that looks at one thing.
type check struct {
	id string
	// live checks do I/O (Klavi, the database): they run side by side, each within the timeout, before the others,
	// which read what the live ones may have just observed (the clock skew of the credentials check's answer).
	live bool
	run  func(ctx context.Context, r *Result)
}

// checks is the list, in the order of the page.
func (s *Service) checks() []check {
	return []check{
		{id: "credentials", live: true, run: s.checkCredentials},
		{id: "roundtrip", live: true, run: s.checkRoundTrip},
		{id: "clock", run: s.checkClock},
		{id: "breaker", run: s.checkBreaker},
		{id: "calls", run: s.checkCalls},
		{id: "inbox", live: true, run: s.checkInbox},
		{id: "reconciler", live: true, run: s.checkReconciler},
		{id: "database", live: true, run: s.checkDatabase},
	}
}

// Run runs every check and returns the report. A check that panics is reported as failing; Run itself never fails.
func (s *Service) Run(ctx context.Context) Report {
	list := s.checks()
	results := make([]Result, len(list))
	var wg sync.WaitGroup
	for i, c := range list {
		if !c.live {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := s.timeout
			if c.id == "roundtrip" {
				timeout *= 2
			}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i] = s.runOne(cctx, c)
		}()
	}
	wg.Wait()
	for i, c := range list {
		if !c.live {
			results[i] = s.runOne(ctx, c)
		}
	}
	now := s.now()
	rep := Report{At: now, Environment: s.env, KlaviHost: s.klaviHost, Build: s.build, Uptime: now.Sub(s.started), Checks: results}
	if s.rec != nil {
		rep.Calls, rep.CallsTruncated = s.rec.Stats(now)
	}
	return rep
}

// runOne runs one check, timing it and turning a panic into a failing result.
func (s *Service) runOne(ctx context.Context, c check) (r Result) {
	start := time.Now()
	r = Result{ID: c.id, Status: OK}
	defer func() {
		if p := recover(); p != nil {
			r = Result{ID: c.id, Status: Failing, Reason: "internal", Detail: taxid.MaskText(fmt.Sprint(p))}
		}
		r.Took = time.Since(start)
	}()
	c.run(ctx, &r)
	return r
}

// mark gives r a verdict and its reason, unless r already has a worse one (an ok result takes any verdict).
func (r *Result) mark(st Status, reason string) {
	if st == OK {
		return
	}
	if st.rank() > r.Status.rank() || r.Status == OK {
		r.Status, r.Reason = st, reason
	}
}

// detail keeps an error's text, masked (no CPF/CNPJ can reach the page through it).
func (r *Result) detail(err error) {
	if err != nil {
		r.Detail = taxid.MaskText(err.Error())
	}
}

// level grades a non-negative figure against two thresholds: below warn ok, below fail warning, else failing.
func level[T cmp.Ordered](v, warn, fail T) Status {
	switch {
	case v >= fail:
		return Failing
	case v >= warn:
		return Warning
	}
	return OK
}

// IDs lists the checks' ids in the order Run reports them (for the page's texts and its tests).
func IDs() []string {
	var out []string
	for _, c := range (&Service{}).checks() {
		out = append(out, c.id)
	}
	return slices.Clip(out)
}
