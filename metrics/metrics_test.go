package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
)

func newTest(t testing.TB) (*prometheus.Registry, *Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg, m
}

func TestNewRegistersOnceAndLints(t *testing.T) {
	t.Parallel()
	reg, m := newTest(t)
	m.HTTPRoute("/")(200, time.Millisecond)
	m.ObserveKlavi(context.Background(), klavi.Call{Method: "POST", Endpoint: "/auth", Status: 200})
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if _, err := New(reg); err == nil {
		t.Error("registering the same series twice on one registry succeeded")
	}
}

func TestHTTPRouteCountsByRouteAndCode(t *testing.T) {
	t.Parallel()
	reg, m := newTest(t)
	page := m.HTTPRoute("/consents/{id}")
	page(200, 20*time.Millisecond)
	page(200, 30*time.Millisecond)
	page(404, time.Millisecond)
	m.HTTPRoute(UnmatchedRoute)(404, time.Millisecond)
	m.HTTPRoute("/consents/{id}")(200, time.Millisecond) // a second recorder of the same route adds to the same series

	for _, c := range []struct {
		route, code string
		want        float64
	}{{"/consents/{id}", "200", 3}, {"/consents/{id}", "404", 1}, {UnmatchedRoute, "404", 1}} {
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("requests{route=%q,code=%q} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if n := histogramCount(t, reg, "portal_http_request_duration_seconds", "route", "/consents/{id}"); n != 4 {
		t.Errorf("duration samples of /consents/{id} = %d, want 4", n)
	}
}

// A request costs no allocation once its route and code were seen (issue: page throughput).
func TestHTTPRouteDoesNotAllocate(t *testing.T) { // not parallel: AllocsPerRun refuses to run beside other tests
	_, m := newTest(t)
	rec := m.HTTPRoute("/reports/{id}")
	rec(200, time.Millisecond)
	if n := testing.AllocsPerRun(200, func() { rec(200, time.Millisecond) }); n != 0 {
		t.Errorf("allocations per request = %v, want 0", n)
	}
}

func TestHTTPRouteConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	_, m := newTest(t)
	rec := m.HTTPRoute("/")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				rec(303, time.Microsecond)
			}
		})
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("/", "303")); got != 800 {
		t.Errorf("count = %v, want 800", got)
	}
}

func TestWebhookSeriesExistFromTheStart(t *testing.T) {
	t.Parallel()
	reg, m := newTest(t)
	if n := testutil.CollectAndCount(m.webhooks); n != len(WebhookKinds)*len(WebhookResults) {
		t.Errorf("webhook series at start = %d, want every kind × result (%d)", n, len(WebhookKinds)*len(WebhookResults))
	}
	m.WebhookDelivery("event", WebhookAccepted)
	m.WebhookDelivery("event", WebhookDuplicate)
	m.WebhookDelivery("event", WebhookDuplicate)
	m.WebhookDelivery("report", WebhookBadSignature)
	want := `
# HELP portal_webhook_deliveries_total Webhook deliveries received from Klavi, by kind (event, report) and result.
# TYPE portal_webhook_deliveries_total counter
portal_webhook_deliveries_total{kind="event",result="accepted"} 1
portal_webhook_deliveries_total{kind="event",result="bad_signature"} 0
portal_webhook_deliveries_total{kind="event",result="duplicate"} 2
portal_webhook_deliveries_total{kind="event",result="error"} 0
portal_webhook_deliveries_total{kind="event",result="forbidden"} 0
portal_webhook_deliveries_total{kind="event",result="invalid"} 0
portal_webhook_deliveries_total{kind="event",result="too_large"} 0
portal_webhook_deliveries_total{kind="report",result="accepted"} 0
portal_webhook_deliveries_total{kind="report",result="bad_signature"} 1
portal_webhook_deliveries_total{kind="report",result="duplicate"} 0
portal_webhook_deliveries_total{kind="report",result="error"} 0
portal_webhook_deliveries_total{kind="report",result="forbidden"} 0
portal_webhook_deliveries_total{kind="report",result="invalid"} 0
portal_webhook_deliveries_total{kind="report",result="too_large"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "portal_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
}

func TestObserveKlaviLabelsEndpointTemplateAndCode(t *testing.T) {
	t.Parallel()
	reg, m := newTest(t)
	ctx := context.Background()
	m.ObserveKlavi(ctx, klavi.Call{Method: "GET", Endpoint: "/consents/{consentId}", Status: 200, Duration: 40 * time.Millisecond})
	m.ObserveKlavi(ctx, klavi.Call{Method: "GET", Endpoint: "/consents/{consentId}", Status: 503, Duration: time.Second})
	m.ObserveKlavi(ctx, klavi.Call{Method: "GET", Endpoint: "/consents/{consentId}", Status: 0, Duration: 5 * time.Second})
	m.ObserveKlavi(ctx, klavi.Call{Method: "POST", Endpoint: "/auth", Status: 200, Duration: 10 * time.Millisecond})
	for _, c := range []struct{ endpoint, code string }{
		{"GET /consents/{consentId}", "200"}, {"GET /consents/{consentId}", "503"},
		{"GET /consents/{consentId}", KlaviNoResponse}, {"POST /auth", "200"},
	} {
		if got := testutil.ToFloat64(m.klaviRequests.WithLabelValues(c.endpoint, c.code)); got != 1 {
			t.Errorf("klavi requests{endpoint=%q,code=%q} = %v, want 1", c.endpoint, c.code, got)
		}
	}
	if n := histogramCount(t, reg, "portal_klavi_request_duration_seconds", "endpoint", "GET /consents/{consentId}"); n != 3 {
		t.Errorf("duration samples = %d, want 3", n)
	}
}

// fakeState is a Store and a Breaker with fixed answers.
type fakeState struct {
	pending    int
	oldest     time.Time
	counts     map[consent.Status]int
	inboxErr   error
	countsErr  error
	breaker    string
	blockUntil bool // wait for the context to end, then fail with its error
}

func (f *fakeState) InboxPending(ctx context.Context) (int, time.Time, error) {
	if f.blockUntil {
		<-ctx.Done()
		return 0, time.Time{}, ctx.Err()
	}
	return f.pending, f.oldest, f.inboxErr
}

func (f *fakeState) ConsentCountsByStatus(ctx context.Context) (map[consent.Status]int, error) {
	if f.blockUntil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.counts, f.countsErr
}

func (f *fakeState) BreakerState() string { return f.breaker }

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestStateCollector(t *testing.T) {
	t.Parallel()
	f := &fakeState{pending: 3, oldest: now.Add(-90 * time.Second), breaker: "open",
		counts: map[consent.Status]int{consent.Authorised: 4, consent.Rejected: 1}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStateCollector(StateOptions{Store: f, Breaker: f, Now: func() time.Time { return now }}))
	want := `
# HELP portal_consents Consents in the database, by status.
# TYPE portal_consents gauge
portal_consents{status="AUTHORISED"} 4
portal_consents{status="AWAITING_AUTHORISATION"} 0
portal_consents{status="AWAITING_LGPD_AUTHORISATION"} 0
portal_consents{status="DELETED_BY_USER"} 0
portal_consents{status="ERROR"} 0
portal_consents{status="EXPIRED"} 0
portal_consents{status="REJECTED"} 1
portal_consents{status="REVOKED"} 0
portal_consents{status="STARTED"} 0
# HELP portal_inbox_oldest_pending_seconds Age of the oldest unprocessed webhook inbox item; 0 when none is pending.
# TYPE portal_inbox_oldest_pending_seconds gauge
portal_inbox_oldest_pending_seconds 90
# HELP portal_inbox_pending Webhook inbox items not processed yet (claimed ones included).
# TYPE portal_inbox_pending gauge
portal_inbox_pending 3
# HELP portal_klavi_breaker_open 1 while the Klavi client's circuit breaker refuses calls (open), 0 when closed or half-open.
# TYPE portal_klavi_breaker_open gauge
portal_klavi_breaker_open 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// Half-open lets the next call through as the probe: not counted as open. An empty inbox has no age.
	f.breaker, f.pending, f.oldest = "half-open", 0, time.Time{}
	want = `
# HELP portal_inbox_oldest_pending_seconds Age of the oldest unprocessed webhook inbox item; 0 when none is pending.
# TYPE portal_inbox_oldest_pending_seconds gauge
portal_inbox_oldest_pending_seconds 0
# HELP portal_inbox_pending Webhook inbox items not processed yet (claimed ones included).
# TYPE portal_inbox_pending gauge
portal_inbox_pending 0
# HELP portal_klavi_breaker_open 1 while the Klavi client's circuit breaker refuses calls (open), 0 when closed or half-open.
# TYPE portal_klavi_breaker_open gauge
portal_klavi_breaker_open 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"portal_inbox_pending", "portal_inbox_oldest_pending_seconds", "portal_klavi_breaker_open"); err != nil {
		t.Error(err)
	}
}

// A failing or slow database read leaves its gauges out of the scrape and is logged; the rest is still served.
func TestHandlerServesTheRestWhenTheStoreFails(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		f       *fakeState
		missing []string
		present []string
	}{
		{"inbox read fails", &fakeState{inboxErr: errors.New("store: inbox backlog: disk I/O error"), breaker: "closed"},
			[]string{"portal_inbox_pending", "portal_inbox_oldest_pending_seconds"},
			[]string{"portal_consents{", "portal_klavi_breaker_open 0", "portal_http_requests_total", "go_goroutines"}},
		{"database too slow", &fakeState{blockUntil: true, breaker: "closed"},
			[]string{"portal_inbox_pending", "portal_consents{"},
			[]string{"portal_klavi_breaker_open 0", "go_goroutines"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg, m := newTest(t)
			m.HTTPRoute("/")(200, time.Millisecond)
			reg.MustRegister(NewStateCollector(StateOptions{Store: c.f, Breaker: c.f, Timeout: 20 * time.Millisecond}))
			var logs bytes.Buffer
			srv := httptest.NewServer(Handler(reg, slog.New(slog.NewTextHandler(&logs, nil))))
			defer srv.Close()
			status, body := get(t, srv.URL+"/metrics")
			if status != http.StatusOK {
				t.Fatalf("GET /metrics = %d, want 200", status)
			}
			for _, s := range c.missing {
				if strings.Contains(body, s) {
					t.Errorf("scrape has %q although its read failed", s)
				}
			}
			for _, s := range c.present {
				if !strings.Contains(body, s) {
					t.Errorf("scrape lacks %q", s)
				}
			}
			if !strings.Contains(logs.String(), "metrics scrape") {
				t.Errorf("the failed read was not logged: %q", logs.String())
			}
		})
	}
}

func TestHandlerServesMetricsAndProfilerOnly(t *testing.T) {
	t.Parallel()
	reg, _ := newTest(t)
	srv := httptest.NewServer(Handler(reg, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	for path, want := range map[string]int{
		"/metrics":                       http.StatusOK,
		"/debug/pprof/":                  http.StatusOK,
		"/debug/pprof/cmdline":           http.StatusOK,
		"/debug/pprof/goroutine?debug=1": http.StatusOK,
		"/debug/pprof/heap":              http.StatusOK,
		"/":                              http.StatusNotFound,
		"/healthz":                       http.StatusNotFound,
	} {
		if status, _ := get(t, srv.URL+path); status != want {
			t.Errorf("GET %s = %d, want %d", path, status, want)
		}
	}
	_, body := get(t, srv.URL+"/metrics")
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes",
		"promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, "\n"+name+" ") && !strings.Contains(body, "\n"+name+"{") {
			t.Errorf("scrape lacks %s", name)
		}
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", resp.StatusCode)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

// histogramCount returns the sample count of the histogram family name whose label has value.
func histogramCount(t *testing.T, reg *prometheus.Registry, name, label, value string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func BenchmarkHTTPRoute(b *testing.B) {
	_, m := newTest(b)
	rec := m.HTTPRoute("/consents/{id}")
	b.ReportAllocs()
	for b.Loop() {
		rec(200, time.Millisecond)
	}
}
