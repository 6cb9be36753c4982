//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metricValue adds the samples of name in a /metrics body whose labels include every pair of want (`k="v"`).
func metricValue(body, name string, want ...string) (total float64, found bool) {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, w := range want {
			match = match && strings.Contains(line, w)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total, found = total+v, true
		}
	}
	return total, found
}

// After a whole flow in the browser, the portal's METRICS_ADDR shows it: requests by route pattern, Klavi calls by
// endpoint, accepted webhooks, consents by status; no label holds an id or the CPF. The public address serves
// neither /metrics nor the profiler.
func TestMetricsAfterAFlow(t *testing.T) {
	t.Parallel()
	if shared.MetricsURL == "" {
		t.Fatal("the shared portal printed no metrics URL")
	}
	page := desktop(t)
	authorise(t, page, shared, "personal", "52998224725", "341")
	expectReports(t, page, 4)

	resp, err := http.Get(shared.MetricsURL)
	must(t, err, "GET METRICS_ADDR/metrics")
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err, "read /metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", shared.MetricsURL, resp.StatusCode)
	}
	body := string(raw)
	for _, c := range []struct {
		name string
		want []string
	}{
		{"portal_http_requests_total", []string{`route="/consents/{id}"`, `code="200"`}},
		{"portal_http_requests_total", []string{`route="/callback"`}},
		{"portal_http_request_duration_seconds_count", []string{`route="/institutions"`}},
		{"portal_klavi_requests_total", []string{`endpoint="POST /links"`}},
		{"portal_klavi_requests_total", []string{`endpoint="POST /consents"`}},
		{"portal_klavi_request_duration_seconds_count", []string{`endpoint="GET /consents/{consentId}"`}},
		{"portal_webhook_deliveries_total", []string{`kind="event"`, `result="accepted"`}},
		{"portal_webhook_deliveries_total", []string{`kind="report"`, `result="accepted"`}},
		{"portal_consents", []string{`status="AUTHORISED"`}},
		{"go_goroutines", nil},
	} {
		if v, found := metricValue(body, c.name, c.want...); !found || v == 0 {
			t.Errorf("%s%v = %v (present %v), want non-zero", c.name, c.want, v, found)
		}
	}
	for _, name := range []string{"portal_inbox_pending", "portal_inbox_oldest_pending_seconds", "portal_klavi_breaker_open"} {
		if _, found := metricValue(body, name); !found {
			t.Errorf("%s missing", name)
		}
	}
	if leaks := unmaskedTaxIDs(body); len(leaks) > 0 {
		t.Errorf("/metrics holds tax ids: %v", leaks)
	}
	idLike := regexp.MustCompile(`="[^"]*\d{4,}[^"]*"`)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "portal_") && !strings.Contains(line, "_bucket{") && idLike.MatchString(line) {
			t.Errorf("label looks like an id: %s", line)
		}
	}

	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		r, err := http.Get(shared.URL + p)
		must(t, err, "GET "+p)
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("public GET %s = %d, want 404", p, r.StatusCode)
		}
	}
}
