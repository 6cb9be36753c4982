//go:build e2e

package e2e

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// TestFlowTiming is a measurement, not a test with a time limit: `make bench-flow` runs it (FLOW_TIMING=1), the
// ordinary e2e run skips it. It starts the real portal with the embedded sandbox at its default timings (no
// POLL_INTERVAL, SANDBOX_REPORT_DELAY or LOG_LEVEL of the suite's own) and walks the whole flow in chromium:
// start page, personal, a CPF, the first institution, the bank's login, authorisation and LGPD term, back to the
// consent page, then the first report card, opened. "Report visible" is that report's page showing its
// transaction rows. One warm-up run, then FLOW_RUNS runs (default 5), each in a fresh browser context (its own
// cookies, no axe-core); it prints every run, the median and the steps (docs/benchmarks.md#whole-flow-in-chromium).
func TestFlowTiming(t *testing.T) {
	if os.Getenv("FLOW_TIMING") != "1" {
		t.Skip("a measurement: make bench-flow (FLOW_TIMING=1) runs it")
	}
	runs := 5
	if v := os.Getenv("FLOW_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FLOW_RUNS=%q: want a positive whole number", v)
		}
		runs = n
	}
	// Empty values are the portal's defaults (config.go reads an empty variable as unset). The default log level
	// (info) keeps the request lines the webhook figure and the trace read.
	p, err := startPortal(t.TempDir(), map[string]string{"POLL_INTERVAL": "", "SANDBOX_REPORT_DELAY": "", "LOG_LEVEL": ""})
	if err != nil {
		t.Fatalf("start the portal: %v", err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("stop the portal: %v", err)
		}
	})

	out := &strings.Builder{}
	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	var all []flowTimes
	var trace *flowTrace
	for i := 0; i <= runs; i++ {
		ft, tr := timeFlow(t, p)
		trace = tr
		name := "warm-up"
		if i > 0 {
			name = "run " + strconv.Itoa(i)
			all = append(all, ft)
		}
		fmt.Fprintf(out, "%-8s %s\n", name, ft)
	}
	fmt.Fprintf(out, "median   %s\n", medianTimes(all))
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
	fmt.Fprint(out, "steps (each ends when the page shows what the next action needs, not at its load event):\n"+
		"  start = the start page's form shown; picker = personal, CPF, continue → the picker's choose buttons shown;\n"+
		"  confirm = first institution chosen → the confirmation shown; to bank = consent created → the bank's login shown;\n"+
		"  portal = the sum of those four; bank = the bank's login shown → the browser asks for /callback (login,\n"+
		"  authorise, LGPD term);\n"+
		"  callback→AUTH = /callback asked → the consent page shows AUTHORISED;\n"+
		"  AUTH→card = AUTHORISED shown → the first report card shows (report delay, webhook, inbox worker, live page);\n"+
		"  card→rows = the card clicked → the report page shows transaction rows;\n"+
		"  webhook = /callback asked → the first report webhook answered, from the portal's log\n")
	if os.Getenv("FLOW_TRACE") == "1" {
		fmt.Fprintf(out, "trace of the last run (ms since the run began; a page's line is at its navigation's start):\n%s", trace)
	}
	t.Log("\n" + out.String())
}

// flowTimes is one walk through the flow; every field is a duration of the steps above.
type flowTimes struct {
	Total, Start, Picker, Confirm, ToBank, Portal, Bank, CallbackAuth, AuthCard, CardRows, Webhook time.Duration
}

func (f flowTimes) String() string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }
	return fmt.Sprintf("total %7s | start %6s picker %6s confirm %6s to bank %6s = portal %7s | bank %7s | callback→AUTH %7s | AUTH→card %7s | card→rows %7s | webhook %7s",
		ms(f.Total), ms(f.Start), ms(f.Picker), ms(f.Confirm), ms(f.ToBank), ms(f.Portal), ms(f.Bank), ms(f.CallbackAuth), ms(f.AuthCard), ms(f.CardRows), ms(f.Webhook))
}

// medianTimes takes the median of each field on its own.
func medianTimes(all []flowTimes) flowTimes {
	med := func(get func(flowTimes) time.Duration) time.Duration {
		v := make([]time.Duration, 0, len(all))
		for _, f := range all {
			v = append(v, get(f))
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return flowTimes{
		Total:        med(func(f flowTimes) time.Duration { return f.Total }),
		Start:        med(func(f flowTimes) time.Duration { return f.Start }),
		Picker:       med(func(f flowTimes) time.Duration { return f.Picker }),
		Confirm:      med(func(f flowTimes) time.Duration { return f.Confirm }),
		ToBank:       med(func(f flowTimes) time.Duration { return f.ToBank }),
		Portal:       med(func(f flowTimes) time.Duration { return f.Portal }),
		Bank:         med(func(f flowTimes) time.Duration { return f.Bank }),
		CallbackAuth: med(func(f flowTimes) time.Duration { return f.CallbackAuth }),
		AuthCard:     med(func(f flowTimes) time.Duration { return f.AuthCard }),
		CardRows:     med(func(f flowTimes) time.Duration { return f.CardRows }),
		Webhook:      med(func(f flowTimes) time.Duration { return f.Webhook }),
	}
}

// waitFor waits until selector matches a rendered element, checking on every animation frame: Playwright's own
// waits poll at up to half a second or a second apart, which would be measured as the portal's time.
func waitFor(t *testing.T, page playwright.Page, selector, what string) {
	t.Helper()
	_, err := page.WaitForFunction(`sel => { const e = document.querySelector(sel); return !!e && e.getClientRects().length > 0; }`,
		selector, playwright.PageWaitForFunctionOptions{Polling: "raf", Timeout: playwright.Float(30000)})
	must(t, err, what)
}

// flowTrace is what happened in one run, for FLOW_TRACE=1: every request the page made with its timings, each
// document's navigation timing and element count, and the portal's request log lines.
type flowTrace struct {
	mu    sync.Mutex
	t0    time.Time
	lines []traceLine
}

type traceLine struct {
	at   time.Duration
	text string
}

func (tr *flowTrace) add(at time.Time, format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, traceLine{at: at.Sub(tr.t0), text: fmt.Sprintf(format, args...)})
}

func (tr *flowTrace) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	slices.SortStableFunc(tr.lines, func(a, b traceLine) int { return int(a.at - b.at) })
	var b strings.Builder
	for _, l := range tr.lines {
		fmt.Fprintf(&b, "  %6d  %s\n", l.at.Milliseconds(), l.text)
	}
	return b.String()
}

// watch records page's requests and navigation timings into the trace.
func (tr *flowTrace) watch(page playwright.Page) {
	short := func(raw string) string {
		if u, err := url.Parse(raw); err == nil {
			return u.Host + u.Path
		}
		return raw
	}
	page.OnRequestFinished(func(r playwright.Request) {
		tm := r.Timing()
		if tm == nil {
			return
		}
		start := time.UnixMicro(int64(tm.StartTime * 1000))
		tr.add(start, "%-4s %-70s first byte +%4.0f, done +%4.0f", r.Method(), short(r.URL()), tm.ResponseStart, tm.ResponseEnd)
	})
	// Each document reports its own navigation timing after its load event, through a binding (init scripts and
	// bindings are not subject to the pages' Content-Security-Policy).
	err := page.ExposeBinding("flowTiming", func(src *playwright.BindingSource, args ...any) any {
		if len(args) < 2 {
			return nil
		}
		origin, _ := args[0].(float64)
		line, _ := args[1].(string)
		tr.add(time.UnixMicro(int64(origin*1000)), "%s", line)
		return nil
	})
	if err != nil {
		return
	}
	_ = page.AddInitScript(playwright.Script{Content: playwright.String(`addEventListener("load", () => setTimeout(() => {
  const n = performance.getEntriesByType("navigation")[0]; if (!n) return;
  const r = v => Math.round(v);
  window.flowTiming(performance.timeOrigin, "page " + location.host + location.pathname +
    ": request +" + r(n.requestStart) + ", response done +" + r(n.responseEnd) + ", interactive +" + r(n.domInteractive) +
    ", DOMContentLoaded +" + r(n.domContentLoadedEventEnd) + ", load +" + r(n.loadEventEnd) + "; " + n.decodedBodySize + " bytes, " +
    document.getElementsByTagName("*").length + " elements");
}, 0));`)})
}

// arrive waits for the navigation to url to commit, then for selector to show: the person acts on what the page
// shows, not on its load event (which also waits for images such as the picker's logos).
func arrive(t *testing.T, page playwright.Page, url any, selector, what string) {
	t.Helper()
	must(t, page.WaitForURL(url, playwright.PageWaitForURLOptions{WaitUntil: playwright.WaitUntilStateCommit}), what+": navigation")
	waitFor(t, page, selector, what)
}

// timeFlow walks the flow once in a fresh browser context.
func timeFlow(t *testing.T, p *portal) (flowTimes, *flowTrace) {
	t.Helper()
	bctx, err := browser.NewContext(playwright.BrowserNewContextOptions{
		Viewport: &playwright.Size{Width: 1280, Height: 900},
		Locale:   playwright.String("pt-BR"),
		// waitFor's predicate is evaluated from a string, which the pages' Content-Security-Policy forbids;
		// the policy changes nothing of what is timed.
		BypassCSP: playwright.Bool(true),
	})
	must(t, err, "new browser context")
	defer func() { _ = bctx.Close() }() // the context ends with the run
	page, err := bctx.NewPage()
	must(t, err, "new page")
	page.SetDefaultTimeout(30000)
	var asked atomic.Int64 // when the browser asked for /callback, in Unix nanoseconds (set by the driver's goroutine)
	page.OnRequest(func(r playwright.Request) {
		if strings.Contains(r.URL(), "/callback?") {
			asked.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	logFrom := len(p.logs.String())
	trace := &flowTrace{}
	trace.watch(page)

	t0 := time.Now()
	trace.t0 = t0
	_, err = page.Goto(p.URL+"/", playwright.PageGotoOptions{WaitUntil: playwright.WaitUntilStateCommit})
	must(t, err, "open the start page")
	waitFor(t, page, `[data-testid="start-submit"]`, "the start form")
	tStart := time.Now()
	must(t, page.GetByTestId("person-type-personal").Check(), "choose personal")
	must(t, page.GetByTestId("tax-id").Fill(cpfApprove), "type the CPF")
	must(t, page.GetByTestId("start-submit").Click(), "continue")
	arrive(t, page, regexp.MustCompile(`/institutions`), `[data-testid="institution-list"] [data-testid^="choose-"]`, "the institution picker")
	tPicker := time.Now()
	must(t, page.GetByTestId("institution-list").Locator(`[data-testid^="choose-"]`).First().Click(), "choose the first institution")
	arrive(t, page, regexp.MustCompile(`/consents/new`), `[data-testid="consent-submit"]`, "the confirmation")
	tConfirm := time.Now()
	must(t, page.GetByTestId("consent-submit").Click(), "go to the bank")
	arrive(t, page, p.SandboxURL+"/**", `[data-testid="bank-login"]`, "the bank's page")
	atBank := time.Now()

	must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, page.GetByTestId("bank-authorise").Click(), "authorise at the bank")
	// The LGPD term, when the scenario shows it; otherwise the browser is already on its way back.
	waitFor(t, page, `[data-testid="lgpd-accept"], [data-testid="consent-status"]`, "the LGPD term or the consent page")
	if n, _ := page.GetByTestId("lgpd-accept").Count(); n > 0 {
		must(t, page.GetByTestId("lgpd-accept").Click(), "accept the LGPD term")
	}
	arrive(t, page, regexp.MustCompile(`/consents/[^/]+$`), `[data-testid="consent-status"][data-status="AUTHORISED"]`, "AUTHORISED")
	authorised := time.Now()
	waitFor(t, page, `[data-testid="report-item"]`, "the first report card")
	card := time.Now()
	must(t, page.GetByTestId("report-item").First().Click(), "open the first report")
	arrive(t, page, regexp.MustCompile(`/reports/[^/]+$`), `[data-testid="transaction-row"], [data-testid="card-transaction-row"]`, "transaction rows")
	done := time.Now()

	if asked.Load() == 0 {
		t.Fatal("the browser never asked for /callback")
	}
	callbackAt := time.Unix(0, asked.Load())
	ft := flowTimes{
		Total: done.Sub(t0), Start: tStart.Sub(t0), Picker: tPicker.Sub(tStart), Confirm: tConfirm.Sub(tPicker),
		ToBank: atBank.Sub(tConfirm), Portal: atBank.Sub(t0), Bank: callbackAt.Sub(atBank),
		CallbackAuth: authorised.Sub(callbackAt), AuthCard: card.Sub(authorised), CardRows: done.Sub(card),
	}
	if at, ok := firstLogged(p.logs.String()[logFrom:], "/webhooks/klavi/reports"); ok {
		ft.Webhook = at.Sub(callbackAt)
	}
	for _, m := range logLine.FindAllStringSubmatch(p.logs.String()[logFrom:], -1) {
		if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
			trace.add(at, "portal answered %s after %s ms", m[2], m[3])
		}
	}
	return ft, trace
}

// logLine is the request log's line (handlers.requestLogger): the time it was written and the route.
var logLine = regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg="http request" .*route=(\S+) .*duration_ms=(\d+)`)

// firstLogged is when the portal's log first shows a request to route (the line is written when the answer is).
func firstLogged(logs, route string) (time.Time, bool) {
	for _, m := range logLine.FindAllStringSubmatch(logs, -1) {
		if m[2] != route {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err == nil {
			return at, true
		}
	}
	return time.Time{}, false
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, for the record.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
