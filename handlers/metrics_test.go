package handlers

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/metrics"
)

// withMetrics gives the test server real metrics on a registry of its own.
func withMetrics(reg *prometheus.Registry) func(*envOptions) {
	return func(o *envOptions) {
		m, err := metrics.New(reg)
		if err != nil {
			panic(err)
		}
		o.Metrics = m
	}
}

// counterValue returns the value of the counter family name with exactly these labels (0 when absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// labelValues returns every value of label in family name.
func labelValues(t *testing.T, reg *prometheus.Registry, name, label string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// Requests are counted by chi route pattern: a consent id in the path never becomes a label, and a path no route
// matches is "unmatched".
func TestMetricsCountRequestsByRoutePattern(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, withMetrics(reg))
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	wantStatus(t, e.get(b, "/consents/"+id), http.StatusOK)
	wantStatus(t, e.get(b, "/consents/"+id), http.StatusOK)
	wantStatus(t, e.get(b, "/consents/no-such-consent-0042"), http.StatusNotFound)
	wantStatus(t, e.get(b, "/no/such/page/52998224725"), http.StatusNotFound)
	wantStatus(t, e.get(b, "/healthz"), http.StatusOK)
	wantStatus(t, e.do(b, http.MethodDelete, "/healthz", nil, nil), http.StatusMethodNotAllowed)

	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"/consents/{id}", "200", 2},
		{"/consents/{id}", "404", 1},
		{"/healthz", "200", 1},
		{"/start", "303", 1},
		{"/consents", "303", 1},
		{"unmatched", "404", 1},
	} {
		if got := counterValue(t, reg, "portal_http_requests_total", map[string]string{"route": c.route, "code": c.code}); got != c.want {
			t.Errorf("portal_http_requests_total{route=%q,code=%q} = %v, want %v", c.route, c.code, got, c.want)
		}
	}

	var patterns []string
	_ = chi.Walk(e.s.router.(chi.Routes), func(_, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		patterns = append(patterns, route)
		return nil
	})
	for _, route := range labelValues(t, reg, "portal_http_requests_total", "route") {
		if route != metrics.UnmatchedRoute && !slices.Contains(patterns, route) {
			t.Errorf("route label %q is not a route pattern", route)
		}
		if strings.Contains(route, id) || regexp.MustCompile(`\d{4,}`).MatchString(route) {
			t.Errorf("route label %q holds an id", route)
		}
	}
	if n := testutil.CollectAndCount(reg, "portal_http_request_duration_seconds"); n == 0 {
		t.Error("no request duration recorded")
	}
}

// Every receiver outcome is counted with its result; a GET to a receiver is not a delivery.
func TestMetricsCountWebhookDeliveriesByResult(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, withMetrics(reg))
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	link := e.linkOf(id)

	ev := consentEvent("ev-metrics-1", "consent_authorised", id, link)
	wantStatus(t, e.postWebhook(eventsPath, ev, klavi.Sign(testSecret, ev)), http.StatusOK)
	wantStatus(t, e.postWebhook(eventsPath, ev, klavi.Sign(testSecret, ev)), http.StatusOK) // the same again
	wantStatus(t, e.postWebhook(eventsPath, ev, "sha256=bad"), http.StatusUnauthorized)
	junk := []byte(`{"not":"an array"}`)
	wantStatus(t, e.postWebhook(eventsPath, junk, klavi.Sign(testSecret, junk)), http.StatusBadRequest)
	wantStatus(t, e.do(http.DefaultClient, http.MethodPost, eventsPath, bytes.NewReader(ev),
		map[string]string{"Content-Type": "text/plain", klavi.SignatureHeader: klavi.Sign(testSecret, ev)}),
		http.StatusUnsupportedMediaType)
	big := bytes.Repeat([]byte("x"), eventLimit+1)
	wantStatus(t, e.postWebhook(eventsPath, big, klavi.Sign(testSecret, big)), http.StatusRequestEntityTooLarge)
	wantStatus(t, e.get(http.DefaultClient, eventsPath), http.StatusMethodNotAllowed)

	rep := reportFor("rep-metrics-1", link, id)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", rep, klavi.Sign(testSecret, rep)), http.StatusOK)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", rep, klavi.Sign(testSecret, rep)), http.StatusOK)

	for _, c := range []struct {
		kind, result string
		want         float64
	}{
		{"event", "accepted", 1}, {"event", "duplicate", 1}, {"event", "bad_signature", 1}, {"event", "invalid", 2},
		{"event", "too_large", 1}, {"event", "forbidden", 0}, {"event", "error", 0},
		{"report", "accepted", 1}, {"report", "duplicate", 1}, {"report", "bad_signature", 0},
	} {
		if got := counterValue(t, reg, "portal_webhook_deliveries_total", map[string]string{"kind": c.kind, "result": c.result}); got != c.want {
			t.Errorf("portal_webhook_deliveries_total{kind=%q,result=%q} = %v, want %v", c.kind, c.result, got, c.want)
		}
	}
}

func TestMetricsCountWebhooksFromOutsideTheAllowlist(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, withMetrics(reg), func(o *envOptions) {
		o.WebhookAllowlist = []netip.Prefix{netip.MustParsePrefix("18.231.92.86/32")}
	})
	body := consentEvent("ev-x", "consent_authorised", "c", "l")
	wantStatus(t, e.postWebhook(eventsPath, body, klavi.Sign(testSecret, body)), http.StatusForbidden)
	if got := counterValue(t, reg, "portal_webhook_deliveries_total", map[string]string{"kind": "event", "result": "forbidden"}); got != 1 {
		t.Errorf("forbidden deliveries = %v, want 1", got)
	}
}

// The receivers' result words are the metrics package's, so each series exists from the start.
func TestWebhookResultWordsAreKnownToMetrics(t *testing.T) {
	t.Parallel()
	for _, w := range []string{webhookAccepted, webhookDuplicate, webhookBadSignature, webhookTooLarge, webhookInvalid,
		webhookForbidden, webhookError} {
		if !slices.Contains(metrics.WebhookResults, w) {
			t.Errorf("result %q is not in metrics.WebhookResults", w)
		}
	}
	if unmatchedRoute != metrics.UnmatchedRoute {
		t.Errorf("unmatched route label %q, metrics says %q", unmatchedRoute, metrics.UnmatchedRoute)
	}
}

// BenchmarkRequestMetrics measures what the request metrics add to a request through the whole middleware chain:
// GET /healthz without and with Options.Metrics.
func BenchmarkRequestMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			s, _ := benchServer(b)
			if on {
				m, err := metrics.New(prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				s.metrics = m
				s.router = s.routes()
				s.bindRouteMetrics()
			}
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET /healthz = %d", rec.Code)
				}
			}
		})
	}
}
