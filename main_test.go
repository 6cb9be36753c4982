package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/views"
)

// envFrom is a test's environment. METRICS_ADDR is off unless the test sets it: tests run in parallel and must not
// all listen on the default metrics port.
func envFrom(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "METRICS_ADDR" {
			return v
		}
		return metricsOff
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envFrom(nil))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Addr != "127.0.0.1:8080" || c.SandboxAddr != "127.0.0.1:8090" || c.DatabasePath != filepath.Join("data", "portal.db") {
		t.Errorf("defaults = %+v", c)
	}
	if c.KlaviBaseURL != "" || c.AccessKey != demoAccessKey || c.SecretKey != demoSecretKey {
		t.Errorf("Klavi defaults = %q %q %q, want embedded sandbox with demo keys", c.KlaviBaseURL, c.AccessKey, c.SecretKey)
	}
	if c.Retention != 30*24*time.Hour {
		t.Errorf("retention = %v, want 30 days", c.Retention)
	}
	if c.RedirectTTL != 60*time.Second || c.PollInterval != 2*time.Second {
		t.Errorf("durations = %v %v", c.RedirectTTL, c.PollInterval)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"malformed base URL", map[string]string{"KLAVI_BASE_URL": "api.klavi.ai/data/v1", "KLAVI_ACCESS_KEY": "a", "KLAVI_SECRET_KEY": "b"}, "KLAVI_BASE_URL"},
		{"ftp base URL", map[string]string{"KLAVI_BASE_URL": "ftp://x/y", "KLAVI_ACCESS_KEY": "a", "KLAVI_SECRET_KEY": "b"}, "KLAVI_BASE_URL"},
		{"real Klavi without keys", map[string]string{"KLAVI_BASE_URL": "https://api-sandbox.klavi.ai/data/v1"}, "KLAVI_ACCESS_KEY"},
		{"address without port", map[string]string{"ADDR": "localhost"}, "ADDR"},
		{"public URL with query", map[string]string{"PUBLIC_URL": "https://x.example/?a=1"}, "PUBLIC_URL"},
		{"short session key", map[string]string{"SESSION_KEY": "short"}, "SESSION_KEY"},
		{"bad duration", map[string]string{"SANDBOX_REDIRECT_TTL": "soon"}, "SANDBOX_REDIRECT_TTL"},
		{"negative duration", map[string]string{"POLL_INTERVAL": "-1s"}, "POLL_INTERVAL"},
		{"bad bool", map[string]string{"SANDBOX_AUTO_REPORTS": "maybe"}, "SANDBOX_AUTO_REPORTS"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"bad retention", map[string]string{"RETENTION_DAYS": "a month"}, "RETENTION_DAYS"},
		{"negative retention", map[string]string{"RETENTION_DAYS": "-1"}, "RETENTION_DAYS"},
		{"bad allowlist entry", map[string]string{"WEBHOOK_ALLOWLIST": "18.231.92.86,klavi"}, "WEBHOOK_ALLOWLIST"},
		{"bad trusted proxy", map[string]string{"TRUSTED_PROXIES": "127.0.0.1,haproxy"}, "TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envFrom(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestRunHelpPrintsEveryVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, envFrom(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("run help: %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), s.name) {
			t.Errorf("help does not mention %s", s.name)
		}
	}
}

// The README's configuration table lists exactly the variables of the settings table, each fixed default as written
// there (defaults worked out at start are described in words).
func TestREADMEConfigTableMatchesSettings(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // variable → its row's default cell
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			name = strings.Trim(strings.TrimSpace(name), "`")
			if name != "" && strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
				rows[name] = cells[2]
			}
		}
	}
	for _, s := range settings {
		cell, ok := rows[s.name]
		switch {
		case !ok:
			t.Errorf("README's configuration table lacks %s", s.name)
		case s.shown == "" && !strings.Contains(cell, "`"+filepath.ToSlash(s.def)+"`"):
			t.Errorf("README gives %s the default %q, want `%s`", s.name, strings.TrimSpace(cell), s.def)
		}
		delete(rows, s.name)
	}
	for name := range rows {
		t.Errorf("README lists %s, which is not in the settings table", name)
	}
}

// TestMemoryLimitDefault: the settings table's GOMEMLIMIT default is applied when the variable is unset or empty,
// and left to the runtime when it is set. Not parallel: the limit is the whole process's; the test puts back the
// one it found.
func TestMemoryLimitDefault(t *testing.T) {
	found := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(found) })
	want, err := parseByteSize(defaultOf("GOMEMLIMIT"))
	if err != nil || want <= 0 {
		t.Fatalf("the default %q: %d, %v", defaultOf("GOMEMLIMIT"), want, err)
	}
	for _, env := range []map[string]string{nil, {"GOMEMLIMIT": " "}} {
		debug.SetMemoryLimit(found)
		if err := applyMemoryLimit(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Errorf("environment %v: limit %d, want the default %d", env, got, want)
		}
	}
	debug.SetMemoryLimit(found)
	if err := applyMemoryLimit(func(string) (string, bool) { return "1GiB", true }); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != found {
		t.Errorf("GOMEMLIMIT set: the limit became %d; the runtime's own reading (%d) must stay", got, found)
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "512": 512, "10B": 10, "2KiB": 2 << 10, "48MiB": 48 << 20,
		"1GiB": 1 << 30, "3TiB": 3 << 40} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "48MB", "48 MiB", "-1MiB", "1.5GiB", "off", "9999999TiB"} {
		if got, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestRunRejectsUnknownCommand(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve-everything"}, envFrom(nil), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunFailsClearlyWhenThePortIsInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := map[string]string{"ADDR": ln.Addr().String(), "SANDBOX_ADDR": "127.0.0.1:0",
		"DATABASE_PATH": filepath.Join(t.TempDir(), "p.db")}
	err = run(context.Background(), nil, envFrom(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ADDR") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("err = %v, want ADDR ... address already in use", err)
	}
}

// A malformed DATABASE_URL stops the start with one line naming the variable, and never echoes the password.
func TestLoadConfigRejectsMalformedDatabaseURL(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"mysql://portal:hunter2@db:3306/portal",
		"postgres://portal:hunter2@db:notaport/portal",
		"postgres://portal:hunter2@db:5432/portal?sslmode=sometimes",
		"portal:hunter2@db/portal",
		"postgres:portal:hunter2",
	} {
		_, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": v}))
		if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") || strings.Contains(err.Error(), "hunter2") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("DATABASE_URL=%s: err = %v, want one line naming DATABASE_URL without the password", v, err)
		}
	}
	c, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgresql://portal:hunter2@db.internal/portal?sslmode=require"}))
	if err != nil || c.DatabaseURL == "" {
		t.Errorf("a well-formed URL: %+v, %v", c, err)
	}
}

// unreachablePostgres is a URL whose server refuses connections: a loopback port just freed.
func unreachablePostgres(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "postgres://portal:hunter2@" + addr + "/portal" // sslmode prefer: pgx tries twice, one line per try
}

// DATABASE_URL selects PostgreSQL for the server: a server that does not answer stops the start with a line naming
// DATABASE_URL (not the password), instead of falling back to SQLite.
func TestRunFailsClearlyWhenPostgresIsUnreachable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0",
		"DATABASE_PATH": filepath.Join(dir, "p.db"), "DATABASE_URL": unreachablePostgres(t)}
	err := run(context.Background(), nil, envFrom(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") || strings.Contains(err.Error(), "hunter2") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %q, want one line naming DATABASE_URL without the password", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "p.db")); statErr == nil {
		t.Error("an SQLite file was created although DATABASE_URL was set")
	}
}

// TestMainExitsWithOneLine: the real process (main, in a child of the test binary) given a malformed DATABASE_URL
// or one whose server does not answer exits 1 after exactly one line on stderr naming DATABASE_URL, without the
// password, and prints nothing else.
func TestMainExitsWithOneLine(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]string{
		"malformed":   "postgres://portal:hunter2@db:notaport/portal",
		"unreachable": unreachablePostgres(t),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0]) //nolint:gosec // G204: the test binary itself
			cmd.Env = append(os.Environ(), "PORTAL_TEST_RUN_MAIN=1", "DATABASE_URL="+url,
				"DATABASE_PATH="+filepath.Join(t.TempDir(), "p.db"), "SESSION_KEY="+strings.Repeat("k", 32),
				"ADDR=127.0.0.1:0", "SANDBOX_ADDR=127.0.0.1:0", "METRICS_ADDR=off")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1", err)
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "portal: DATABASE_URL: ") ||
				strings.Contains(lines[0], "hunter2") || stdout.Len() != 0 {
				t.Errorf("stderr %q, stdout %q; want one line naming DATABASE_URL without the password", stderr.String(),
					stdout.String())
			}
		})
	}
}

// On PostgreSQL the portal may run as several replicas, which must share the session key: it is required.
func TestRunRequiresSessionKeyWithDatabaseURL(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://portal@db.internal/portal"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.sessionKey(); err == nil || !strings.HasPrefix(err.Error(), "SESSION_KEY: required") {
		t.Errorf("sessionKey without SESSION_KEY = %v, want SESSION_KEY: required ...", err)
	}
	c.SessionKey = strings.Repeat("k", 32)
	if key, generated, err := c.sessionKey(); err != nil || generated || len(key) != 64 {
		t.Errorf("sessionKey with SESSION_KEY = %d bytes, generated %v, %v", len(key), generated, err)
	}
}

func TestRunFailsClearlyWhenTheDatabaseIsUnwritable(t *testing.T) {
	t.Parallel()
	// CI runs as root, which writes into read-only directories: put the database under a regular file instead.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0",
		"DATABASE_PATH": filepath.Join(file, "portal.db")}
	err := run(context.Background(), nil, envFrom(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_PATH") {
		t.Fatalf("err = %v, want one naming DATABASE_PATH", err)
	}
}

// TestRunServesAndShutsDown starts the whole binary's wiring on free ports, checks /healthz and the start page,
// then cancels the context and expects a clean return.
func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0",
		"DATABASE_PATH": filepath.Join(dir, "p.db")}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envFrom(env), nil, pw, io.Discard); _ = pw.Close() }()

	urls := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(urls) < 2 && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[1] == "listening" {
			urls[f[0]] = f[3]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if urls["portal"] == "" || urls["sandbox"] == "" {
		cancel()
		t.Fatalf("run printed %v, want portal and sandbox URLs (err %v)", urls, <-done)
	}
	for _, path := range []string{"/healthz", "/"} {
		resp, err := http.Get(urls["portal"] + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "session.key")); err != nil {
		t.Errorf("generated session key not kept beside the database: %v", err)
	}
	cancel()
	waitReturned(t, done)
}

func TestLoggerRedactsSensitiveValues(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelDebug, "text")
	log.Info("x", "personalTaxId", "52998224725", "authorization", "Bearer abc", "note", "cpf 529.982.247-25 here",
		"detail", "cnpj 12.ABC.345/01DE-35 in free text",
		"cnpj", "12.ABC.345/01DE-35", "path", "/consents/abc")
	out := buf.String()
	for _, leak := range []string{"52998224725", "529.982.247-25", "Bearer abc", "12.ABC.345/01DE-35"} {
		if strings.Contains(out, leak) {
			t.Errorf("log line leaks %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, "/consents/abc") {
		t.Errorf("log line lost a harmless value: %s", out)
	}
}

// mayHoldTaxID only lets the logger skip the regular expression: it must say yes whenever the pattern matches.
func TestMayHoldTaxIDNeverHidesAMatch(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"52998224725", "529.982.247-25", "x 12.ABC.345/01DE-35 y", "12ABC34501DE35",
		"/consents/abc", "GET", "http request", "ABCDEFGHIJ1", ""} {
		if taxIDPattern.MatchString(s) && !mayHoldTaxID(s) {
			t.Errorf("mayHoldTaxID(%q) = false, but the pattern matches", s)
		}
	}
	if mayHoldTaxID("/consents/{id}") || mayHoldTaxID("http request") {
		t.Error("mayHoldTaxID should rule out a route and a message")
	}
}

func FuzzMayHoldTaxID(f *testing.F) {
	f.Add("529.982.247-25")
	f.Add("12.ABC.345/01DE-35")
	f.Add("route /consents/{id}")
	f.Fuzz(func(t *testing.T, s string) {
		if taxIDPattern.MatchString(s) && !mayHoldTaxID(s) {
			t.Fatalf("mayHoldTaxID(%q) = false, but the pattern matches", s)
		}
	})
}

// The portal's logger adds the request id to lines logged with a request's context, and only to those.
func TestLoggerAddsTheRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo, "text")
	log.InfoContext(context.WithValue(context.Background(), middleware.RequestIDKey, "host/abc-000042"), "in request")
	log.InfoContext(context.Background(), "outside a request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "request_id=host/abc-000042") || strings.Contains(lines[1], "request_id") {
		t.Errorf("log lines = %q", lines)
	}
}

func TestWebhookAllowlistAndTrustedProxiesAcceptIPsAndCIDRs(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envFrom(map[string]string{"WEBHOOK_ALLOWLIST": " 18.231.92.86, 10.0.0.0/8 ,::1",
		"TRUSTED_PROXIES": "127.0.0.1, 10.1.2.3/16"}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	for name, tc := range map[string]struct {
		got  []netip.Prefix
		want string
	}{
		"WEBHOOK_ALLOWLIST": {c.WebhookAllowlist, "18.231.92.86/32 10.0.0.0/8 ::1/128"},
		"TRUSTED_PROXIES":   {c.TrustedProxies, "127.0.0.1/32 10.1.0.0/16"},
	} {
		var got []string
		for _, p := range tc.got {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s = %v, want %s", name, got, tc.want)
		}
	}
}

// TestServerRejectsHugeHeaders checks the explicit MaxHeaderBytes: a request whose headers exceed 64 KiB gets 431.
func TestServerRejectsHugeHeaders(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), slog.New(slog.DiscardHandler))
	go func() { _ = hs.Serve(ln) }() // ErrServerClosed once the test closes it
	defer func() { _ = hs.Close() }()
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 80<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status = %d, want 431", resp.StatusCode)
	}
}

// `portal sandbox` runs the simulator alone: it answers Klavi's API with the configured keys and nothing else.
func TestRunSandboxAlone(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SANDBOX_ADDR": "127.0.0.1:0", "ADDR": "127.0.0.1:1"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"sandbox"}, envFrom(env), nil, pw, io.Discard); _ = pw.Close() }()
	sc := bufio.NewScanner(pr)
	api := ""
	for api == "" && sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "(API "); ok {
			api, _, _ = strings.Cut(rest, ";")
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.HasSuffix(api, "/data/v1") {
		cancel()
		t.Fatalf("run printed no API URL (got %q, err %v)", api, <-done)
	}
	post := func(body string) int {
		t.Helper()
		resp, err := http.Post(api+"/auth", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST /auth: %v", err)
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(`{"accessKey":"` + demoAccessKey + `","secretKey":"` + demoSecretKey + `"}`); got != http.StatusOK {
		t.Errorf("POST /auth with the demo keys = %d, want 200", got)
	}
	if got := post(`{"accessKey":"x","secretKey":"y"}`); got != http.StatusUnauthorized {
		t.Errorf("POST /auth with other keys = %d, want 401", got)
	}
	cancel()
	waitReturned(t, done)
}

// The start page's table of test tax ids (views, which may not import the sandbox) lists exactly the sandbox's
// scenario catalogue.
func TestStartPageScenariosMatchTheSandbox(t *testing.T) {
	t.Parallel()
	var fromSandbox, onStartPage []string
	for _, r := range sandbox.Scenarios() {
		fromSandbox = append(fromSandbox, r.TaxID)
	}
	for _, r := range views.Scenarios {
		onStartPage = append(onStartPage, r.TaxID)
	}
	slices.Sort(fromSandbox)
	slices.Sort(onStartPage)
	if !slices.Equal(fromSandbox, onStartPage) {
		t.Errorf("start page lists %v, sandbox has %v", onStartPage, fromSandbox)
	}
}

// waitReturned fails the test unless run, already cancelled, returns nil within its shutdown grace.
func waitReturned(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("PORTAL_TEST_RUN_MAIN") == "1" { // TestMainExitsWithOneLine runs the real main in a child
		main()
		os.Exit(0)
	}
	// The operator commands hash with argon2's cheapest costs here: the real ones take seconds under -race, and
	// the hashing itself is tested in auth.
	operatorHashParams = auth.Params{Time: 1, Memory: 64, Threads: 1}
	os.Exit(m.Run())
}
