package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
)

func TestLoadConfigMetricsAddrAndLogFormat(t *testing.T) {
	t.Parallel()
	unset := func(string) string { return "" }
	c, err := loadConfig(unset)
	if err != nil || c.MetricsAddr != "127.0.0.1:9091" || c.LogFormat != "text" {
		t.Fatalf("defaults: METRICS_ADDR %q, LOG_FORMAT %q, %v; want 127.0.0.1:9091 (loopback) and text", c.MetricsAddr, c.LogFormat, err)
	}
	for _, v := range []string{"off", "OFF"} {
		if c, err := loadConfig(envFrom(map[string]string{"METRICS_ADDR": v})); err != nil || c.MetricsAddr != "" {
			t.Errorf("METRICS_ADDR=%s: %q, %v; want no listener", v, c.MetricsAddr, err)
		}
	}
	if c, err := loadConfig(envFrom(map[string]string{"METRICS_ADDR": "0.0.0.0:9100", "LOG_FORMAT": "JSON"})); err != nil ||
		c.MetricsAddr != "0.0.0.0:9100" || c.LogFormat != "json" {
		t.Errorf("set: %q %q %v", c.MetricsAddr, c.LogFormat, err)
	}
	for name, v := range map[string]string{"METRICS_ADDR": "localhost", "LOG_FORMAT": "xml"} {
		_, err := loadConfig(envFrom(map[string]string{name: v}))
		if err == nil || !strings.HasPrefix(err.Error(), name+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%s: err = %v, want one line naming %s", name, v, err, name)
		}
	}
}

// METRICS_ADDR set to the empty string turns the listener off; unset, it takes the default. Not parallel: it sets
// the process environment.
func TestEmptyMetricsAddrDisablesTheListener(t *testing.T) {
	t.Setenv("METRICS_ADDR", "")
	if c, err := loadConfig(osGetenv); err != nil || c.MetricsAddr != "" {
		t.Errorf("METRICS_ADDR= : %q, %v; want no listener", c.MetricsAddr, err)
	}
	t.Setenv("METRICS_ADDR", "127.0.0.1:9999")
	if c, err := loadConfig(osGetenv); err != nil || c.MetricsAddr != "127.0.0.1:9999" {
		t.Errorf("METRICS_ADDR=127.0.0.1:9999: %q, %v", c.MetricsAddr, err)
	}
	if err := os.Unsetenv("METRICS_ADDR"); err != nil { // t.Setenv restores the original value afterwards
		t.Fatal(err)
	}
	if c, err := loadConfig(osGetenv); err != nil || c.MetricsAddr != defaultOf("METRICS_ADDR") {
		t.Errorf("METRICS_ADDR unset: %q, %v; want the default", c.MetricsAddr, err)
	}
}

// A bad LOG_FORMAT stops the start with one line (main turns it into exit status 1), before anything listens.
func TestRunRejectsABadLogFormat(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	err := run(context.Background(), nil, envFrom(map[string]string{"LOG_FORMAT": "yaml", "ADDR": "127.0.0.1:0",
		"SANDBOX_ADDR": "127.0.0.1:0", "DATABASE_PATH": filepath.Join(t.TempDir(), "p.db")}), nil, io.Discard, &stderr)
	if err == nil || err.Error() != "LOG_FORMAT: want text or json" {
		t.Fatalf("err = %v, want LOG_FORMAT: want text or json", err)
	}
}

// The JSON format goes through the same redaction and request-id wrapper as the text one.
func TestJSONLoggerRedactsAndAddsTheRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo, "json")
	ctx := context.WithValue(context.Background(), middleware.RequestIDKey, "host/abc-000042")
	log.InfoContext(ctx, "in request", "note", "cpf 529.982.247-25 here", "personalTaxId", "52998224725",
		"authorization", "Bearer abc", "path", "/consents/abc")
	log.With("component", "klavi").WithGroup("g").InfoContext(ctx, "grouped", "cnpj", "12.ABC.345/01DE-35",
		"detail", "52998224725")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %q", lines)
	}
	for _, leak := range []string{"52998224725", "529.982.247-25", "Bearer abc", "12.ABC.345/01DE-35"} {
		if strings.Contains(buf.String(), leak) {
			t.Errorf("JSON log leaks %q: %s", leak, buf.String())
		}
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if first["request_id"] != "host/abc-000042" || first["msg"] != "in request" || first["path"] != "/consents/abc" ||
		first["note"] != "cpf [redacted] here" || first["personalTaxId"] != "[redacted]" {
		t.Errorf("first line = %v", first)
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[1], err)
	}
	if g, _ := second["g"].(map[string]any); g == nil || g["request_id"] != "host/abc-000042" || g["cnpj"] != "[redacted]" {
		t.Errorf("second line = %v", second)
	}
}

// startRun runs the portal on free ports with env and returns the URLs it printed (portal, sandbox and, when on,
// metrics) and a function that stops it and checks it returned cleanly.
func startRun(t *testing.T, env map[string]string) (map[string]string, func()) {
	t.Helper()
	env["ADDR"], env["SANDBOX_ADDR"], env["DATABASE_PATH"] = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(t.TempDir(), "p.db")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envFrom(env), nil, pw, io.Discard); _ = pw.Close() }()
	urls := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[1] == "listening" {
			urls[f[0]] = f[3]
		}
		if len(f) > 0 && f[0] == "sandbox" { // the banner's last line comes after the sandbox's
			break
		}
	}
	// The metrics line, when on, follows the sandbox's in the same write.
	if env["METRICS_ADDR"] != metricsOff && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 4 && f[1] == "listening" {
			urls[f[0]] = f[3]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if urls["portal"] == "" || urls["sandbox"] == "" {
		cancel()
		t.Fatalf("run printed %v, want portal and sandbox URLs (err %v)", urls, <-done)
	}
	return urls, func() { cancel(); waitReturned(t, done) }
}

func httpGet(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
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

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	typeLine   = regexp.MustCompile(`^# TYPE (\S+) (\S+)$`)
)

// parseExposition reads a /metrics body: the samples, and each family's type by name.
func parseExposition(t *testing.T, body string) ([]sample, map[string]string) {
	t.Helper()
	var out []sample
	types := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if m := typeLine.FindStringSubmatch(line); m != nil {
			types[m[1]] = m[2]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable exposition line %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("value of %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out, types
}

// sum adds the samples of name whose labels include want.
func sum(samples []sample, name string, want map[string]string) (total float64, found bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			total, found = total+s.value, true
		}
	}
	return total, found
}

// TestMetricsListener runs the whole portal with METRICS_ADDR on a free port, makes traffic (pages, a link and a
// consent through the embedded sandbox, webhooks accepted, duplicated and badly signed), then scrapes the metrics
// listener: the series exist with non-zero values where traffic happened, no label holds an id or a CPF, the
// profiler answers there, and the public listener serves neither. The Grafana dashboard is checked against the
// same scrape.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	urls, stop := startRun(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	defer stop()
	portal, metricsURL := urls["portal"], urls["metrics"]
	if !strings.HasSuffix(metricsURL, "/metrics") {
		t.Fatalf("banner's metrics URL = %q, want http://host:port/metrics", metricsURL)
	}
	metricsBase := strings.TrimSuffix(metricsURL, "/metrics")

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) int {
		t.Helper()
		resp, err := browser.PostForm(portal+path, form)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code, _ := httpGet(t, browser, portal+"/"); code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	const cpf = "52998224725"
	if code := post("/start", url.Values{"person_type": {"personal"}, "tax_id": {cpf}}); code != http.StatusSeeOther {
		t.Fatalf("POST /start = %d, want 303", code)
	}
	if code, _ := httpGet(t, browser, portal+"/institutions"); code != http.StatusOK {
		t.Fatalf("GET /institutions = %d", code)
	}
	if code := post("/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}}); code != http.StatusSeeOther {
		t.Fatalf("POST /consents = %d, want 303", code)
	}
	httpGet(t, browser, portal+"/consents/ab12cd34-5678-90ef-1234-567890abcdef") // an id in a path: 404 here
	httpGet(t, browser, portal+"/no/such/page/"+cpf)

	event := []byte(`[{"partnerAppId":"1","eventId":"ev-metrics-0001","eventType":"api","eventName":"consent_authorised",` +
		`"eventTime":"2026-01-01T00:00:00.000Z","payload":{"personalTaxId":"` + cpf + `","businessTaxId":"","linkId":"l-1",` +
		`"consents":{"consentId":"c-1","externalTrackId":"x","institutionCode":"341"}}}]`)
	webhook := func(sig string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, portal+"/webhooks/klavi/events", bytes.NewReader(event))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(klavi.SignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("webhook: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, c := range []struct{ sig string }{{klavi.Sign(demoSecretKey, event)}, {klavi.Sign(demoSecretKey, event)}, {"sha256=00"}} {
		want := http.StatusOK
		if i == 2 {
			want = http.StatusUnauthorized
		}
		if code := webhook(c.sig); code != want {
			t.Fatalf("webhook %d = %d, want %d", i, code, want)
		}
	}

	// The public listener serves neither the metrics nor the profiler.
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if code, _ := httpGet(t, http.DefaultClient, portal+p); code != http.StatusNotFound {
			t.Errorf("public GET %s = %d, want 404", p, code)
		}
	}
	// The metrics listener serves the profiler.
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
		if code, _ := httpGet(t, http.DefaultClient, metricsBase+p); code != http.StatusOK {
			t.Errorf("metrics listener GET %s = %d, want 200", p, code)
		}
	}

	code, body := httpGet(t, http.DefaultClient, metricsURL)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d", metricsURL, code)
	}
	samples, types := parseExposition(t, body)
	for _, c := range []struct {
		name    string
		labels  map[string]string
		nonZero bool
	}{
		{"portal_http_requests_total", map[string]string{"route": "/", "code": "200"}, true},
		{"portal_http_requests_total", map[string]string{"route": "/start", "code": "303"}, true},
		{"portal_http_requests_total", map[string]string{"route": "/consents/{id}", "code": "404"}, true},
		{"portal_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}, true},
		{"portal_http_requests_total", map[string]string{"route": "/webhooks/klavi/events", "code": "200"}, true},
		{"portal_http_request_duration_seconds_count", map[string]string{"route": "/institutions"}, true},
		{"portal_webhook_deliveries_total", map[string]string{"kind": "event", "result": "accepted"}, true},
		{"portal_webhook_deliveries_total", map[string]string{"kind": "event", "result": "duplicate"}, true},
		{"portal_webhook_deliveries_total", map[string]string{"kind": "event", "result": "bad_signature"}, true},
		{"portal_webhook_deliveries_total", map[string]string{"kind": "report", "result": "accepted"}, false},
		{"portal_klavi_requests_total", map[string]string{"endpoint": "POST /auth", "code": "200"}, true},
		{"portal_klavi_requests_total", map[string]string{"endpoint": "POST /links"}, true},
		{"portal_klavi_requests_total", map[string]string{"endpoint": "POST /consents"}, true},
		{"portal_klavi_request_duration_seconds_count", map[string]string{"endpoint": "POST /links"}, true},
		{"portal_klavi_breaker_open", nil, false},
		{"portal_inbox_pending", nil, false},
		{"portal_inbox_oldest_pending_seconds", nil, false},
		{"portal_consents", nil, true},
		{"go_goroutines", nil, true},
		{"process_resident_memory_bytes", nil, true},
	} {
		v, found := sum(samples, c.name, c.labels)
		if !found || (c.nonZero && v == 0) {
			t.Errorf("%s%v = %v (present %v), want it present%s", c.name, c.labels, v, found,
				map[bool]string{true: " and non-zero"}[c.nonZero])
		}
	}
	if v, _ := sum(samples, "portal_klavi_breaker_open", nil); v != 0 {
		t.Errorf("portal_klavi_breaker_open = %v, want 0 (the sandbox answers)", v)
	}
	for _, st := range consent.All {
		if _, found := sum(samples, "portal_consents", map[string]string{"status": string(st)}); !found {
			t.Errorf("portal_consents{status=%q} missing", st)
		}
	}

	// Labels are patterns, templates and fixed words: no id, no CPF.
	idLike := regexp.MustCompile(`\d{4,}`)
	for _, s := range samples {
		if !strings.HasPrefix(s.name, "portal_") {
			continue
		}
		for k, v := range s.labels {
			if k != "le" && idLike.MatchString(v) {
				t.Errorf("%s has label %s=%q, which looks like an id", s.name, k, v)
			}
		}
	}
	if strings.Contains(body, cpf) || strings.Contains(body, "ab12cd34") || strings.Contains(body, "ev-metrics-0001") {
		t.Error("the scrape holds a CPF or an id from the requests")
	}

	checkDashboard(t, types)
}

func TestRunWithoutMetricsListener(t *testing.T) {
	t.Parallel()
	urls, stop := startRun(t, map[string]string{"METRICS_ADDR": metricsOff})
	defer stop()
	if _, ok := urls["metrics"]; ok {
		t.Errorf("METRICS_ADDR off, yet the banner names a metrics listener: %v", urls)
	}
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := httpGet(t, http.DefaultClient, urls["portal"]+p); code != http.StatusNotFound {
			t.Errorf("public GET %s = %d, want 404", p, code)
		}
	}
}

// Dashboard expressions: the metric names are what remains once strings, label matchers, ranges, grouping clauses,
// Grafana variables, functions (a name followed by "("), keywords and numbers are taken out.
var (
	promStrip = []*regexp.Regexp{
		regexp.MustCompile(`"(?:[^"\\]|\\.)*"`),
		regexp.MustCompile(`\{[^}]*\}`),
		regexp.MustCompile(`\[[^\]]*\]`),
		regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`),
		regexp.MustCompile(`\$\{[^}]*\}|\$\w+`),
	}
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan"}
)

func promMetricNames(expr string) []string {
	for _, re := range promStrip {
		expr = re.ReplaceAllString(expr, " ")
	}
	var names []string
	for _, at := range promIdent.FindAllStringIndex(expr, -1) {
		name := expr[at[0]:at[1]]
		if at[0] > 0 && strings.ContainsAny(expr[at[0]-1:at[0]], "0123456789.") {
			continue // the exponent of a number such as 1e3
		}
		if strings.HasPrefix(strings.TrimLeft(expr[at[1]:], " \t\n"), "(") || slices.Contains(promKeywords, strings.ToLower(name)) {
			continue // a function or aggregation, or a keyword
		}
		names = append(names, name)
	}
	return names
}

func TestPromMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (le, route) (rate(portal_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`: {"portal_http_request_duration_seconds_bucket"},
		`sum(rate(a_total{code=~"5.."}[5m])) by (x) / sum(rate(a_total[5m])) > bool 1e3`:                                                            {"a_total", "a_total"},
		`max(go_goroutines) or vector(0)`:                         {"go_goroutines"},
		`rate(b_sum[${__range}]) / ignoring(x) rate(b_count[5m])`: {"b_sum", "b_count"},
	} {
		if got := promMetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("promMetricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// checkDashboard asserts that every metric a panel of docs/grafana-dashboard.json queries exists in a scrape
// (types: family → type), so renaming a metric breaks this test, and that the dashboard covers the portal's series.
func checkDashboard(t *testing.T, types map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Type       string `json:"type"`
				Query      any    `json:"query"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	hasDatasourceVar := false
	var names []string
	for _, v := range dash.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			hasDatasourceVar = true
		}
		if m := regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`).FindStringSubmatch(v.Definition); m != nil {
			names = append(names, m[1])
		}
	}
	if !hasDatasourceVar {
		t.Error("the dashboard has no Prometheus datasource variable")
	}
	var walk func(panels []json.RawMessage)
	exprs := 0
	walk = func(panels []json.RawMessage) {
		for _, p := range panels {
			var panel struct {
				Title   string            `json:"title"`
				Panels  []json.RawMessage `json:"panels"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			}
			if err := json.Unmarshal(p, &panel); err != nil {
				t.Fatal(err)
			}
			walk(panel.Panels)
			for _, tg := range panel.Targets {
				exprs++
				found := promMetricNames(tg.Expr)
				if len(found) == 0 {
					t.Errorf("panel %q: no metric in %q", panel.Title, tg.Expr)
				}
				names = append(names, found...)
			}
		}
	}
	walk(dash.Panels)
	if exprs == 0 {
		t.Fatal("the dashboard has no panel expressions")
	}
	for _, name := range names {
		if _, ok := types[name]; ok {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if typ := types[base]; base == name || (typ != "histogram" && typ != "summary") {
			t.Errorf("the dashboard queries %s, which the portal does not export", name)
		}
	}
	for _, want := range []string{"portal_http_requests_total", "portal_http_request_duration_seconds_bucket",
		"portal_webhook_deliveries_total", "portal_inbox_pending", "portal_inbox_oldest_pending_seconds",
		"portal_klavi_requests_total", "portal_klavi_request_duration_seconds_bucket", "portal_klavi_breaker_open",
		"portal_consents", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if !slices.Contains(names, want) {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}
