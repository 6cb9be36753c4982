//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/klavi-demo/portal/internal/logbuf"
	"github.com/klavi-demo/portal/klavi/taxid"
)

var (
	pw      *playwright.Playwright
	browser playwright.Browser
	expect  playwright.PlaywrightAssertions
	binary  string
	shared  *portal // one portal for the tests that need no special configuration
)

// artifacts is where screenshots (always) and failure dumps go; git-ignored.
var artifacts = filepath.Join("artifacts")

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "portal-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }() // a leftover temporary directory fails nothing

	// Build the real binary once: the tests then exercise main's wiring too (package main can't be imported).
	binary = filepath.Join(tmp, "portal")
	args := []string{"build", "-o", binary}
	if os.Getenv("E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "..")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build:", err)
		return 1
	}

	if os.Getenv("PLAYWRIGHT_DRIVER_PATH") == "" {
		fmt.Fprintln(os.Stderr, "e2e: PLAYWRIGHT_DRIVER_PATH is not set: run `make e2e` (it installs the driver first)")
		return 1
	}
	pw, err = playwright.Run(&playwright.RunOptions{SkipInstallBrowsers: true, Verbose: false})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: playwright:", err)
		return 1
	}
	defer func() { _ = pw.Stop() }()
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	browser, err = pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
		ExecutablePath: playwright.String(chromium),
		Headless:       playwright.Bool(true),
		Args:           []string{"--disable-gpu", "--disable-sync", "--no-first-run", "--disable-component-update"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: launch chromium:", err)
		return 1
	}
	defer func() { _ = browser.Close() }()
	expect = playwright.NewPlaywrightAssertions(10000)

	shared, err = startPortal(filepath.Join(tmp, "shared"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start portal:", err)
		return 1
	}
	// The operators' pages need an operator: one is made the way an admin would, with the CLI of the same binary
	// on the running portal's database (signIn uses it).
	if err := shared.addOperator(operatorEmail, operatorPassword); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: add the operator:", err)
		_ = shared.stop() // the failure to add is the error to report
		return 1
	}
	code := m.Run()
	fmt.Printf("e2e: axe-core checked %d page loads for WCAG A/AA (serious and critical violations fail)\n", axeChecked.Load())
	if err := shared.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stop portal:", err)
		code = 1
	}
	if leaks := shared.leakedTaxIDs(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: the portal logged %d tax ids (CPF/CNPJ) in clear: %v\n", len(leaks), leaks)
		code = 1
	}
	if strings.Contains(shared.logs.String(), operatorPassword) {
		fmt.Fprintln(os.Stderr, "e2e: the portal logged the operator's password")
		code = 1
	}
	return code
}

// portal is one running portal binary with its embedded sandbox (or, with KLAVI_BASE_URL, another's). URL is the
// portal's PUBLIC_URL: with a load balancer in front, the balancer's.
type portal struct {
	URL, SandboxURL string
	MetricsURL      string            // METRICS_ADDR's /metrics (startPortal gives every portal one on a free port)
	env             map[string]string // the environment it was started with
	cmd             *exec.Cmd
	logs            *logbuf.Buffer
	done            chan error
}

var (
	listening = regexp.MustCompile(`^(portal|sandbox) listening on (\S+)`)
	// usingKlavi is the banner's second line when KLAVI_BASE_URL is set: no embedded sandbox (SandboxURL stays "").
	usingKlavi = regexp.MustCompile(`^using Klavi at (\S+)`)
	// metricsLine is the banner's last line while METRICS_ADDR is on.
	metricsLine = regexp.MustCompile(`^metrics listening on (\S+)`)
)

// startPortal runs the binary on free ports with a fresh database under dir and extra environment.
func startPortal(dir string, extra map[string]string) (*portal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	env := map[string]string{
		"ADDR":                 "127.0.0.1:0",
		"SANDBOX_ADDR":         "127.0.0.1:0",
		"DATABASE_PATH":        filepath.Join(dir, "e2e.db"),
		"SESSION_KEY":          "e2e-session-key-0123456789abcdef0123456789",
		"POLL_INTERVAL":        "500ms",
		"SANDBOX_REPORT_DELAY": "100ms",
		"LOG_LEVEL":            "debug",
		"METRICS_ADDR":         "127.0.0.1:0",
	}
	for k, v := range extra {
		env[k] = v
	}
	wantMetrics := env["METRICS_ADDR"] != "" && env["METRICS_ADDR"] != "off"
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &portal{env: env, cmd: cmd, logs: &logbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		external, announced := false, false
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.logs.Write([]byte("stdout: " + line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				if m[1] == "portal" {
					p.URL = m[2]
				} else {
					p.SandboxURL = m[2]
				}
			}
			if usingKlavi.MatchString(line) {
				external = true
			}
			if m := metricsLine.FindStringSubmatch(line); m != nil {
				p.MetricsURL = m[1]
			}
			if !announced && p.URL != "" && (p.SandboxURL != "" || external) && (!wantMetrics || p.MetricsURL != "") {
				announced = true
				close(found)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case <-found:
	case err := <-p.done:
		return nil, fmt.Errorf("portal exited early: %v\n%s", err, p.logs.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("portal did not print its URLs within 30s\n%s", p.logs.String())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.stop() // the readiness failure is the error to report
			return nil, fmt.Errorf("portal /healthz not ready: %v\n%s", err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *portal) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // a process that already exited is reported on p.done
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("portal exit: %v\n%s", err, p.logs.String())
		}
		return nil
	case <-time.After(25 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("portal did not stop within 25s")
	}
}

// Patterns of the log scan (docs/reliability.md#log-scan): a CPF or a (numeric or alphanumeric) CNPJ, formatted or
// not, standing alone (not inside a longer run of letters and digits, such as a hash).
var (
	logCPF  = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(\d{3}\.?\d{3}\.?\d{3}-?\d{2})(?:$|[^0-9A-Za-z])`)
	logCNPJ = regexp.MustCompile(`(?:^|[^0-9A-Za-z])([0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2})(?:$|[^0-9A-Za-z])`)
)

// leakedTaxIDs returns, masked, the CPFs/CNPJs that appear unmasked in the portal's logs.
func (p *portal) leakedTaxIDs() []string { return unmaskedTaxIDs(p.logs.String()) }

// unmaskedTaxIDs returns, masked, the CPFs/CNPJs that appear unmasked in text (a log, a response body): the test
// ids, and any other value that passes the check digits.
func unmaskedTaxIDs(text string) []string {
	var leaks []string
	for _, id := range allTestTaxIDs {
		digits := strings.NewReplacer(".", "", "-", "", "/", "").Replace(id)
		if strings.Contains(text, id) || strings.Contains(text, digits) {
			leaks = append(leaks, taxid.Mask(digits))
		}
	}
	for _, m := range logCPF.FindAllStringSubmatch(text, -1) {
		if n, err := taxid.ValidateCPF(m[1]); err == nil {
			leaks = append(leaks, taxid.Mask(n))
		}
	}
	for _, m := range logCNPJ.FindAllStringSubmatch(text, -1) {
		if n, err := taxid.ValidateCNPJ(m[1]); err == nil {
			leaks = append(leaks, taxid.Mask(n))
		}
	}
	return leaks
}

// The operator TestMain adds to the shared portal.
const (
	operatorEmail    = "operator@e2e.test"
	operatorPassword = "e2e-operator-passphrase-0123"
)

// addOperator runs `portal operator add` of the same binary on the portal's database (same DATABASE_PATH and
// SESSION_KEY), the password on stdin as a pipe would give it.
func (p *portal) addOperator(email, password string) error {
	return p.operatorCommand(password+"\n", "add", "--email", email)
}

// operatorCommand runs `portal operator ARGS…` on the portal's database with stdin.
func (p *portal) operatorCommand(stdin string, args ...string) error {
	cmd := exec.Command(binary, append([]string{"operator"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_PATH=" + p.env["DATABASE_PATH"], "SESSION_KEY=" + p.env["SESSION_KEY"]}
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("portal operator %s: %v\n%s", args[0], err, out)
	}
	return nil
}

// signIn signs the page's browser context in at the shared portal's /login as the operator TestMain added.
func signIn(t *testing.T, page playwright.Page) {
	t.Helper()
	_, err := page.Goto(shared.URL + "/login")
	must(t, err, "open /login")
	must(t, page.GetByTestId("login-email").Fill(operatorEmail), "type the operator's email")
	must(t, page.GetByTestId("login-password").Fill(operatorPassword), "type the operator's password")
	must(t, page.GetByTestId("login-submit").Click(), "sign in")
	must(t, expect.Locator(page.GetByTestId("signed-in-as")).ToContainText(operatorEmail), "signed in as the operator")
}

// newPage opens a fresh browser context (isolated cookies) with a page of the given viewport. On failure the
// page's screenshot and HTML are saved under artifacts/.
func newPage(t *testing.T, width, height int, opts ...func(*playwright.BrowserNewContextOptions)) playwright.Page {
	t.Helper()
	o := playwright.BrowserNewContextOptions{
		Viewport: &playwright.Size{Width: width, Height: height},
		Locale:   playwright.String("pt-BR"),
	}
	for _, f := range opts {
		f(&o)
	}
	bctx, err := browser.NewContext(o)
	if err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	withAxe(t, bctx)
	page, err := bctx.NewPage()
	if err != nil {
		t.Fatalf("new page: %v", err)
	}
	page.SetDefaultTimeout(15000)
	t.Cleanup(func() {
		if t.Failed() {
			name := sanitize(t.Name())
			if err := os.MkdirAll(filepath.Join(artifacts, "failures"), 0o750); err != nil {
				t.Logf("failure artifacts: %v", err)
			}
			if _, err := page.Screenshot(playwright.PageScreenshotOptions{
				Path: playwright.String(filepath.Join(artifacts, "failures", name+".png")), FullPage: playwright.Bool(true)}); err != nil {
				t.Logf("failure screenshot: %v", err)
			}
			if html, err := page.Content(); err == nil {
				if err := os.WriteFile(filepath.Join(artifacts, "failures", name+".html"), []byte(html), 0o600); err != nil {
					t.Logf("failure HTML: %v", err)
				}
			}
			t.Logf("failure artifacts in e2e/artifacts/failures/%s.*; page URL %s", name, page.URL())
		}
		_ = bctx.Close() // the browser context ends with the test either way
	})
	return page
}

func desktop(t *testing.T) playwright.Page { return newPage(t, 1280, 900) }
func phone(t *testing.T) playwright.Page {
	return newPage(t, 390, 844, func(o *playwright.BrowserNewContextOptions) {
		o.IsMobile = playwright.Bool(true)
		o.HasTouch = playwright.Bool(true)
	})
}

// shot saves a full-page screenshot under artifacts/screens for people to look at.
func shot(t *testing.T, page playwright.Page, name string) {
	t.Helper()
	dir := filepath.Join(artifacts, "screens")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Logf("screenshots: %v", err)
	}
	if _, err := page.Screenshot(playwright.PageScreenshotOptions{
		Path: playwright.String(filepath.Join(dir, name+".png")), FullPage: playwright.Bool(true)}); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
	// On a phone the first screen is what a person judges a page by: keep it too.
	if vp := page.ViewportSize(); vp != nil && vp.Width < 600 {
		if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(dir, name+"-top.png"))}); err != nil {
			t.Logf("screenshot %s-top: %v", name, err)
		}
	}
}

func sanitize(s string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(s, "_")
}
