//go:build load

// 200 users walking the whole flow against one portal and its embedded sandbox (docs/benchmarks.md#200-users-walking-the-flow).
// Not part of `make test`: run it with `make load-flow`. Like the webhook load test it builds and starts the real
// binary itself, on loopback, with a fresh database.

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/flowwalk"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/sandbox"
)

const (
	flowLoadRSSGoal = 100e6            // bytes: the portal process's peak RSS (VmHWM), docs/benchmarks.md#200-users-walking-the-flow
	flowLoadWalkMax = 2 * time.Minute  // one walk, start page to report page, at the most
	flowLoadReports = 4                // the sandbox's default scenario for a personal CPF: four reports
	flowLoadIdle    = 90 * time.Second // a user's idle keep-alive connections, as a browser keeps them
)

// The steps of a walk, in order: one per page or form post, the bank's pages and /callback included.
var flowLoadSteps = []string{
	"start page", "POST /start", "institution picker", "confirmation", "POST /consents",
	"bank: open", "bank: login", "bank: authorise", "bank: LGPD", "/callback", "consent page",
	"live fragment (long poll)", "report page",
}

// flowLoadStep names the step of a hop (flowLoadSteps), or the path when it is none of them.
func flowLoadStep(h flowwalk.Hop, portalHost string) string {
	p := h.URL.Path
	if h.URL.Host != portalHost {
		switch p {
		case "/bank/authorize":
			return "bank: open"
		case "/bank/login":
			return "bank: login"
		case "/bank/authorise":
			return "bank: authorise"
		case "/bank/lgpd":
			return "bank: LGPD"
		}
		return "bank " + p
	}
	switch {
	case p == "/":
		return "start page"
	case p == "/start":
		return "POST /start"
	case p == "/institutions":
		return "institution picker"
	case p == "/consents/new":
		return "confirmation"
	case p == "/consents" && h.Method == http.MethodPost:
		return "POST /consents"
	case p == "/callback":
		return "/callback"
	case strings.HasPrefix(p, "/consents/") && strings.HasSuffix(p, "/live"):
		return "live fragment (long poll)"
	case strings.HasPrefix(p, "/consents/"):
		return "consent page"
	case strings.HasPrefix(p, "/reports/"):
		return "report page"
	}
	return p
}

// flowLoadStats collects what every user's walks saw.
type flowLoadStats struct {
	mu        sync.Mutex
	hops      map[string][]time.Duration // step → elapsed of its successful hops
	hopErrs   map[string]map[string]int  // step → "429", "transport" … → count
	walks     []time.Duration            // whole walks, start page to report page
	toReports []time.Duration            // back from the bank (consent page shown) → the reports listed
	walkErrs  map[string]int             // why walks failed (no CPF: the walker's messages carry none)
}

func (s *flowLoadStats) hop(step string, h flowwalk.Hop) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case h.Err != nil:
		s.hopErr(step, "transport")
	case h.Status >= 400:
		s.hopErr(step, strconv.Itoa(h.Status))
	default:
		s.hops[step] = append(s.hops[step], h.Elapsed)
	}
}

func (s *flowLoadStats) hopErr(step, kind string) {
	if s.hopErrs[step] == nil {
		s.hopErrs[step] = map[string]int{}
	}
	s.hopErrs[step][kind]++
}

// flowLoadCPF is the CPF of user u's k-th walk: every walk a person of its own. The base starts with 9, which no
// CPF of the sandbox's scenario catalogue does (checked by TestFlowLoad), so every walk is the default scenario.
func flowLoadCPF(u, k int) (string, error) {
	if u > 999 || k > 99999 {
		return "", fmt.Errorf("user %d walk %d: out of the CPF range", u, k)
	}
	return taxid.CompleteCPF(fmt.Sprintf("9%03d%05d", u, k))
}

func TestFlowLoad(t *testing.T) {
	users := loadEnvInt(t, "LOAD_USERS", 200, 1, 1000)
	seconds := loadEnvInt(t, "LOAD_SECONDS", 60, 1, 3600)
	think := time.Duration(loadEnvInt(t, "LOAD_THINK_MS", 0, 0, 60000)) * time.Millisecond
	once := os.Getenv("LOAD_ONCE") == "1"
	t.Logf("LOAD_USERS=%d LOAD_SECONDS=%d LOAD_THINK_MS=%d LOAD_ONCE=%v", users, seconds, think.Milliseconds(), once)
	for _, row := range sandbox.Scenarios() {
		if n, err := taxid.Normalize(row.TaxID); err == nil && len(n) == taxid.CPFLength && n[0] == '9' {
			t.Fatalf("the sandbox's scenario CPF %s starts with 9: flowLoadCPF would walk into it", row.TaxID)
		}
	}

	// The portal keeps a per-client limit on the flow's posts (60 a minute, handlers/ratelimit.go). 200 people
	// come from 200 addresses: the portal trusts loopback as its proxy (TRUSTED_PROXIES), and each user sends its
	// own X-Forwarded-For, so each has the budget a person has and the limit stays as it ships.
	dir := t.TempDir()
	// LOAD_PORTAL_ENV adds settings to the portal's environment (NAME=value, space-separated), for experiments.
	env := append([]string{"TRUSTED_PROXIES=127.0.0.1/32"}, strings.Fields(os.Getenv("LOAD_PORTAL_ENV"))...)
	p := loadStartPortal(t, dir, env...)
	portal, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	loadBefore := loadAvg1()

	stats := &flowLoadStats{hops: map[string][]time.Duration{}, hopErrs: map[string]map[string]int{},
		walkErrs: map[string]int{}}
	var walksDone, walksFailed atomic.Int64

	// The portal's memory, sampled through the run: RSS from /proc, goroutines and heap from /metrics.
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	samples := make(chan flowLoadPeak, 1)
	profiles := os.Getenv("LOAD_PROFILE_DIR")
	go func() { samples <- flowLoadSample(sampleCtx, pid, p.metrics, profiles != "") }()

	cpuProfile := make(chan []byte, 1)
	if profiles != "" { // a CPU profile of the middle third of the run
		go func() {
			time.Sleep(time.Duration(seconds) * time.Second / 3)
			secs := max(1, seconds/3)
			b, _ := loadGet(sampleCtx, &http.Client{Timeout: time.Duration(secs+10) * time.Second},
				fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.metrics, secs))
			cpuProfile <- b
		}()
	} else {
		cpuProfile <- nil
	}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	started := time.Now()
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the arrivals over the first second, as 200 people do not click at the same instant.
			time.Sleep(time.Duration(u) * time.Second / time.Duration(users))
			tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 6, IdleConnTimeout: flowLoadIdle}
			defer tr.CloseIdleConnections()
			addr := fmt.Sprintf("10.77.%d.%d", u/250, u%250+1)
			for k := 0; ; k++ {
				cpf, err := flowLoadCPF(u, k)
				if err != nil {
					t.Error(err)
					return
				}
				w, err := flowwalk.New(p.url, flowLoadWalkMax)
				if err != nil {
					t.Error(err)
					return
				}
				w.Transport(tr, func(h flowwalk.Hop) { stats.hop(flowLoadStep(h, portal.Host), h) }, addr)
				if err := flowLoadWalk(w, cpf, think, stats); err != nil {
					walksFailed.Add(1)
					stats.mu.Lock()
					stats.walkErrs[flowLoadReason(err)]++
					stats.mu.Unlock()
				} else {
					walksDone.Add(1)
				}
				if once || time.Now().After(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	hwm, _ := procStatusKB(pid, "VmHWM")
	cpu := <-cpuProfile
	stopSampling()
	peak := <-samples
	if profiles != "" {
		for name, b := range map[string][]byte{"heap.pb.gz": peak.heapProfile, "goroutine.txt": peak.goroutineProfile,
			"cpu.pb.gz": cpu} {
			if err := os.WriteFile(filepath.Join(profiles, name), b, 0o600); err != nil || len(b) == 0 {
				t.Errorf("profile %s: %d bytes, %v", name, len(b), err)
			}
		}
	}
	loadAfter := loadAvg1()
	if err := p.stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}

	stats.mu.Lock()
	defer stats.mu.Unlock()
	done, failed := walksDone.Load(), walksFailed.Load()
	t.Logf("%d users, %d walks completed and %d failed in %.1f s: %.2f walks/s; load average (1 min) %s → %s",
		users, done, failed, elapsed.Seconds(), float64(done)/elapsed.Seconds(), loadBefore, loadAfter)
	t.Logf("portal peak RSS (VmHWM) %.1f MB (goal ≤ %.0f MB); highest sampled: RSS %.1f MB, Go heap in use %.1f MB, "+
		"goroutines %d, threads %d", kbToMB(hwm), flowLoadRSSGoal/1e6, kbToMB(peak.rssKB),
		peak.heapInuse/1e6, peak.goroutines, peak.threads)
	if m := peak.atPeak; m != nil {
		mb := func(name string) float64 { return m[name] / 1e6 }
		t.Logf("at the highest RSS sampled: anonymous %.1f MB, mapped files (the binary) %.1f MB; Go heap in use "+
			"%.1f MB (next GC at %.1f MB), heap idle %.1f MB of which returned to the OS %.1f MB, stacks %.1f MB, "+
			"all the Go runtime holds %.1f MB (most of the other anonymous memory is SQLite's page cache, which "+
			"modernc allocates outside Go's heap); %d goroutines", kbToMB(peak.rssAnonKB), kbToMB(peak.rssFileKB),
			mb("go_memstats_heap_inuse_bytes"), mb("go_memstats_next_gc_bytes"), mb("go_memstats_heap_idle_bytes"),
			mb("go_memstats_heap_released_bytes"), mb("go_memstats_stack_inuse_bytes"), mb("go_memstats_sys_bytes"),
			int(m["go_goroutines"]))
	}
	t.Logf("walk, start page to report page: p50 %s p90 %s p99 %s max %s", ms(loadPct(stats.walks, 0.5)),
		ms(loadPct(stats.walks, 0.9)), ms(loadPct(stats.walks, 0.99)), ms(loadPct(stats.walks, 1)))
	t.Logf("back from the bank → %d reports listed: p50 %s p90 %s p99 %s max %s", flowLoadReports,
		ms(loadPct(stats.toReports, 0.5)), ms(loadPct(stats.toReports, 0.9)), ms(loadPct(stats.toReports, 0.99)),
		ms(loadPct(stats.toReports, 1)))
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %7s %7s %9s %9s %9s %9s  %s\n", "step", "count", "req/s", "p50", "p90", "p99", "max", "errors")
	steps := slices.Clone(flowLoadSteps)
	for step := range stats.hops {
		if !slices.Contains(steps, step) {
			steps = append(steps, step)
		}
	}
	for step := range stats.hopErrs {
		if !slices.Contains(steps, step) {
			steps = append(steps, step)
		}
	}
	hopErrors := 0
	for _, step := range steps {
		d := stats.hops[step]
		errs := stats.hopErrs[step]
		for _, n := range errs {
			hopErrors += n
		}
		fmt.Fprintf(&b, "%-26s %7d %7.1f %9s %9s %9s %9s  %s\n", step, len(d), float64(len(d))/elapsed.Seconds(),
			ms(loadPct(d, 0.5)), ms(loadPct(d, 0.9)), ms(loadPct(d, 0.99)), ms(loadPct(d, 1)), loadFmtMap(errs))
	}
	t.Logf("per step (a redirect the browser follows is a step of its own):\n%s", b.String())
	if len(stats.walkErrs) > 0 {
		t.Logf("failed walks: %s", loadFmtMap(stats.walkErrs))
	}

	if failed > 0 || hopErrors > 0 {
		t.Errorf("%d walks failed, %d requests failed", failed, hopErrors)
	}
	if done == 0 {
		t.Errorf("no walk completed")
	}
	if hwm == 0 {
		t.Errorf("no VmHWM read for the portal (pid %d)", pid)
	} else if float64(hwm)*1024 > flowLoadRSSGoal {
		t.Errorf("peak RSS %.1f MB is above the goal of %.0f MB", kbToMB(hwm), flowLoadRSSGoal/1e6)
	}
}

// flowLoadWalk is one person's walk: start page, personal and a CPF, the first institution, confirmation, the
// bank's pages, back at the consent page, its live fragment until the four reports are listed, then the checking
// account's report page (the heaviest: transactions and charts).
func flowLoadWalk(w *flowwalk.Walker, cpf string, think time.Duration, stats *flowLoadStats) error {
	ctx, cancel := context.WithTimeout(context.Background(), flowLoadWalkMax)
	defer cancel()
	t0 := time.Now()
	pause := func() {
		if think > 0 {
			time.Sleep(think)
		}
	}
	p, err := w.Start(ctx, taxid.FormatCPF(cpf))
	if err != nil {
		return err
	}
	pause()
	if p, err = w.ConsentFrom(ctx, p); err != nil {
		return err
	}
	back := time.Now()
	links, err := w.LiveReports(ctx, p, flowLoadReports)
	if err != nil {
		return err
	}
	toReports := time.Since(back)
	pause()
	report := links[0]
	for _, l := range links {
		if strings.HasSuffix(l.Product, "checking_account") {
			report = l
		}
	}
	rp, err := w.Get(ctx, report.Path)
	if err != nil {
		return err
	}
	if rp.Status != http.StatusOK || rp.Doc.Find(`[data-testid="report"]`).Length() == 0 {
		return fmt.Errorf("flowwalk: report page answered %d", rp.Status)
	}
	total := time.Since(t0)
	stats.mu.Lock()
	stats.walks = append(stats.walks, total)
	stats.toReports = append(stats.toReports, toReports)
	stats.mu.Unlock()
	return nil
}

// flowLoadReason shortens a walk's error for the summary: the walker's own messages as they are, a transport
// error by its kind (ids and ports would make every line distinct).
func flowLoadReason(err error) string {
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "walk timed out"
	case errors.As(err, &ue):
		return ue.Op + " " + strings.TrimSpace(strings.TrimPrefix(ue.Err.Error(), "dial tcp"))
	}
	return err.Error()
}

// flowLoadPeak is the highest of each figure seen while sampling, and the Go runtime's figures at the highest RSS.
type flowLoadPeak struct {
	rssKB, threads, goroutines int
	rssAnonKB, rssFileKB       int                // of the highest RSS: anonymous memory and mapped files (the binary)
	heapInuse                  float64            // the highest Go heap in use seen, bytes
	atPeak                     map[string]float64 // go_memstats_* (bytes) read when RSS was at its highest
	heapProfile                []byte             // /debug/pprof/heap when heapInuse was at its highest
	goroutineProfile           []byte             // /debug/pprof/goroutine?debug=1 at the most goroutines
}

// flowLoadMemstats are the series read at the RSS peak: what of the RSS is Go heap, stacks and the runtime's own.
var flowLoadMemstats = []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes",
	"go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes",
	"go_memstats_next_gc_bytes", "go_goroutines"}

// flowLoadSample reads the portal's VmRSS and Threads every 200 ms until ctx ends, and /metrics every second or
// whenever RSS reaches a new high; it returns the peaks. With profiles, each new high of the heap (by 5 %) fetches
// a heap profile and each new high of the goroutines (by 5 %) a goroutine profile, so the ones returned show what
// was live at about the highest point.
func flowLoadSample(ctx context.Context, pid int, metrics string, profiles bool) flowLoadPeak {
	var peak flowLoadPeak
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := 0; ; i++ {
		rss, _ := procStatusKB(pid, "VmRSS")
		if n, ok := procStatusKB(pid, "Threads"); ok {
			peak.threads = max(peak.threads, n)
		}
		newHigh := rss > peak.rssKB
		if newHigh {
			peak.rssKB = rss
			peak.rssAnonKB, _ = procStatusKB(pid, "RssAnon")
			peak.rssFileKB, _ = procStatusKB(pid, "RssFile")
		}
		if newHigh || i%5 == 0 {
			if m := scrapeMetrics(ctx, hc, metrics); m != nil {
				if newHigh {
					peak.atPeak = m
				}
				g := int(m["go_goroutines"])
				if profiles && g > peak.goroutines+peak.goroutines/20 {
					if b, err := loadGet(ctx, hc, metrics+"/debug/pprof/goroutine?debug=1"); err == nil {
						peak.goroutineProfile = b
					}
				}
				peak.goroutines = max(peak.goroutines, g)
				h := m["go_memstats_heap_inuse_bytes"]
				if profiles && h > peak.heapInuse*1.05 {
					if b, err := loadGet(ctx, hc, metrics+"/debug/pprof/heap"); err == nil {
						peak.heapProfile = b
					}
				}
				peak.heapInuse = max(peak.heapInuse, h)
			}
		}
		select {
		case <-ctx.Done():
			return peak
		case <-tick.C:
		}
	}
}

// scrapeMetrics reads flowLoadMemstats from the portal's /metrics; nil when it cannot.
func scrapeMetrics(ctx context.Context, hc *http.Client, metrics string) map[string]float64 {
	b, err := loadGet(ctx, hc, metrics+"/metrics")
	if err != nil {
		return nil
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(l, " ")
		if !ok || !slices.Contains(flowLoadMemstats, name) {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = f
		}
	}
	return m
}

// kbToMB converts /proc's kB (KiB) to MB (10⁶ bytes), the unit of the goal and of docs/benchmarks.md.
func kbToMB(kb int) float64 { return float64(kb) * 1024 / 1e6 }

// procStatusKB reads one numeric field of /proc/<pid>/status (kB for the Vm* fields, a count for Threads).
func procStatusKB(pid int, field string) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n, err == nil
		}
	}
	return 0, false
}

// loadAvg1 is the first field of /proc/loadavg (the 1-minute load average), or "?".
func loadAvg1() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// loadGet returns the body of GET u.
func loadGet(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d", u, res.StatusCode)
	}
	return io.ReadAll(res.Body)
}

// loadEnvInt reads a whole number from the environment, def when unset; out of [lo, hi] fails the test.
func loadEnvInt(t *testing.T, name string, def, lo, hi int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		t.Fatalf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n
}
