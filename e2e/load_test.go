//go:build load

// The webhook load test (docs/reliability.md#load-test, with slowloris connections against
// docs/reliability.md#server-timeouts). It is not part of `make test`: run it with `make load` (LOAD_SECONDS=60 by
// default). Self-contained: it builds and starts the real binary itself, so it compiles with `-tags load` alone.

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/logbuf"
	_ "modernc.org/sqlite"
)

const (
	loadSecret        = "load-test-secret-key"
	loadRate          = 50  // deliveries per second
	loadSlowloris     = 200 // concurrent slowloris connections
	loadMaxInFlight   = 2000
	loadP99Limit      = 300 * time.Millisecond // time to 2xx, p99 (docs/reliability.md#load-test)
	loadP999Limit     = time.Second            // time to 2xx, p99.9 (docs/reliability.md#load-test)
	loadHealthzP99    = 200 * time.Millisecond // /healthz under load, p99 (docs/reliability.md#load-test)
	loadHeaderTimeout = 5 * time.Second        // the portal's ReadHeaderTimeout (main.go)
)

type loadKind int

const (
	loadNew    loadKind = iota // a new valid delivery
	loadDup                    // a resend of an earlier valid delivery (same bytes, same eventId)
	loadBadSig                 // a valid body with a wrong signature
)

type loadResult struct {
	kind    loadKind
	id      string
	status  int
	err     error
	elapsed time.Duration
}

func TestWebhookLoad(t *testing.T) {
	seconds := 60
	if s, err := strconv.Atoi(os.Getenv("LOAD_SECONDS")); err == nil && s > 0 && s <= 3600 {
		seconds = s
	}
	duration := time.Duration(seconds) * time.Second
	seed := uint64(time.Now().UnixNano())
	t.Logf("LOAD_SECONDS=%d seed=%d", seconds, seed)

	dir := t.TempDir()
	p := loadStartPortal(t, dir)
	host := strings.TrimPrefix(p.url, "http://")

	var (
		mu       sync.Mutex
		results  []loadResult
		validMu  sync.Mutex
		valid    [][]byte // bodies of valid deliveries sent so far (for late duplicates)
		wg       sync.WaitGroup
		inFlight = make(chan struct{}, loadMaxInFlight)
		dropped  atomic.Int64
		seq      atomic.Int64
		client   = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}}
	)
	send := func(kind loadKind, id string, body []byte, sig string) {
		defer wg.Done()
		defer func() { <-inFlight }()
		status, elapsed, err := loadPost(client, p.url, body, sig)
		mu.Lock()
		results = append(results, loadResult{kind: kind, id: id, status: status, err: err, elapsed: elapsed})
		mu.Unlock()
	}
	launch := func(kind loadKind, id string, body []byte, sig string) {
		select {
		case inFlight <- struct{}{}:
			wg.Add(1)
			go send(kind, id, body, sig)
		default:
			dropped.Add(1) // the portal is so slow that 2000 deliveries are waiting: reported, and fails the test
		}
	}

	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()

	// Slowloris: 200 connections that send one header byte per second, reopened when the portal closes them.
	slow := &loadSlow{}
	var slowWG sync.WaitGroup
	for i := range loadSlowloris {
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			time.Sleep(time.Duration(i) * 5 * time.Millisecond) // open them over the first second
			slow.run(ctx, host)
		}()
	}

	// A normal client: GET /healthz on a fresh connection every 20 ms during the run.
	var health []time.Duration
	var healthErrs int
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		time.Sleep(1500 * time.Millisecond) // measure once the slowloris connections are all open
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			t0 := time.Now()
			resp, err := hc.Get(p.url + "/healthz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				healthErrs++
				continue
			}
			health = append(health, time.Since(t0))
		}
	}()

	// The deliveries: open loop at loadRate per second (a slow answer doesn't slow the sender down, so the
	// latencies are not flattered by coordinated omission).
	rng := rand.New(rand.NewPCG(seed, 7))
	runID := strconv.FormatUint(seed%1e9, 36)
	newBody := func(prefix string) (string, []byte) {
		id := fmt.Sprintf("load-%s-%s%d", runID, prefix, seq.Add(1))
		return id, loadBody(rng, id, 1<<10+rng.IntN(63<<10+1))
	}
	tick := time.NewTicker(time.Second / loadRate)
	skip := 0
	started := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if skip > 0 {
			skip--
			continue
		}
		validMu.Lock()
		nValid := len(valid)
		validMu.Unlock()
		switch r := rng.Float64(); {
		case r < 0.05: // 5% bad signatures
			id, body := newBody("bad-")
			launch(loadBadSig, id, body, loadBadSignature(rng, body))
		case r < 0.10 && nValid > 0: // 5% late duplicates of an earlier delivery
			validMu.Lock()
			body := valid[rng.IntN(len(valid))]
			validMu.Unlock()
			launch(loadDup, loadIDOf(body), body, loadSign(loadSecret, body))
		case r < 0.15: // 5% pairs: a new delivery and its duplicate 0–1 ms later (the pair uses two ticks)
			id, body := newBody("")
			sig := loadSign(loadSecret, body)
			validMu.Lock()
			valid = append(valid, body)
			validMu.Unlock()
			launch(loadNew, id, body, sig)
			if gap := rng.IntN(1001); gap > 0 {
				time.Sleep(time.Duration(gap) * time.Microsecond)
			}
			launch(loadDup, id, body, sig)
			skip = 1
		default:
			id, body := newBody("")
			validMu.Lock()
			valid = append(valid, body)
			validMu.Unlock()
			launch(loadNew, id, body, loadSign(loadSecret, body))
		}
	}
	tick.Stop()
	sendWindow := time.Since(started)

	waitOrTimeout := func(wg *sync.WaitGroup, d time.Duration) bool {
		c := make(chan struct{})
		go func() { wg.Wait(); close(c) }()
		select {
		case <-c:
			return true
		case <-time.After(d):
			return false
		}
	}
	if !waitOrTimeout(&wg, 30*time.Second) {
		t.Errorf("deliveries still in flight 30 s after the run")
	}
	if !waitOrTimeout(&slowWG, 10*time.Second) {
		t.Errorf("slowloris goroutines did not stop")
	}
	<-healthDone

	// Give the worker a moment to drain the inbox (reported, not asserted), then stop gracefully.
	time.Sleep(2 * time.Second)
	if err := p.stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	statuses := map[string]int{}
	var validLat []time.Duration
	fiveXX, transportErrs, badNot401, validNot2xx := 0, 0, 0, 0
	acked := map[string]int{} // id → 2xx'd posts
	badIDs := map[string]bool{}
	nNew, nDup, nBad := 0, 0, 0
	for _, r := range results {
		switch r.kind {
		case loadNew:
			nNew++
		case loadDup:
			nDup++
		case loadBadSig:
			nBad++
			badIDs[r.id] = true
		}
		if r.err != nil {
			statuses["transport error"]++
			transportErrs++
			if r.kind != loadBadSig {
				validNot2xx++
			} else {
				badNot401++
			}
			continue
		}
		statuses[strconv.Itoa(r.status)]++
		if r.status >= 500 {
			fiveXX++
		}
		if r.kind == loadBadSig {
			if r.status != http.StatusUnauthorized {
				badNot401++
			}
			continue
		}
		if r.status/100 != 2 {
			validNot2xx++
			continue
		}
		acked[r.id]++
		validLat = append(validLat, r.elapsed)
	}
	ackedPosts := 0
	for _, n := range acked {
		ackedPosts += n
	}

	// The database, read-only, after a graceful stop.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "load.db")+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	defer func() { _ = db.Close() }() // read-only: nothing to flush
	integrity, stored := readInbox(t, filepath.Join(dir, "load.db"), "load-"+runID+"-")
	present, multi, badStored := 0, 0, 0
	for id := range acked {
		if stored[id] >= 1 {
			present++
		}
	}
	for id, n := range stored {
		if n > 1 {
			multi++
		}
		if badIDs[id] {
			badStored++
		}
	}
	var dupDeliveries, pendingInbox, attemptsOver0 int
	count := func(what string, n *int, q string, args ...any) {
		if err := db.QueryRow(q, args...).Scan(n); err != nil {
			t.Errorf("count %s: %v", what, err)
		}
	}
	count("duplicate deliveries", &dupDeliveries, `SELECT COUNT(*) FROM webhook_deliveries WHERE kind = 'event'
		AND signature_valid = 1 AND duplicate = 1`)
	count("pending inbox items", &pendingInbox, `SELECT COUNT(*) FROM inbox WHERE key LIKE ? AND processed_at IS NULL`,
		"load-"+runID+"-%")
	count("retried inbox items", &attemptsOver0, `SELECT COUNT(*) FROM inbox WHERE key LIKE ? AND attempts > 0`,
		"load-"+runID+"-%")
	results2 := map[string]int{}
	if rr, err := db.Query(`SELECT result, COUNT(*) FROM inbox WHERE key LIKE ? GROUP BY result`,
		"load-"+runID+"-%"); err == nil {
		for rr.Next() {
			var res string
			var n int
			if rr.Scan(&res, &n) == nil {
				results2[res] = n
			}
		}
		if err := rr.Err(); err != nil {
			t.Errorf("inbox results: %v", err)
		}
		rr.Close()
	}
	storedPct := 100.0
	if len(acked) > 0 {
		storedPct = 100 * float64(present) / float64(len(acked))
	}
	wantDup := ackedPosts - len(acked) // every 2xx'd post of an id after its first is a recognised duplicate

	p50, p99, p999 := loadPct(validLat, 0.50), loadPct(validLat, 0.99), loadPct(validLat, 0.999)
	hp50, hp99 := loadPct(health, 0.50), loadPct(health, 0.99)
	sl := slow.report()

	var b strings.Builder
	fmt.Fprintf(&b, "\n==================== webhook load test ====================\n")
	fmt.Fprintf(&b, "run                 %s of sending (%d/s target), seed %d\n", sendWindow.Round(time.Millisecond), loadRate, seed)
	fmt.Fprintf(&b, "sent                %d deliveries (%.1f/s): %d new, %d duplicates (%.1f%%), %d bad signatures (%.1f%%)\n",
		len(results), float64(len(results))/sendWindow.Seconds(), nNew, nDup, pct(nDup, len(results)), nBad, pct(nBad, len(results)))
	fmt.Fprintf(&b, "not sent            %d (would have exceeded %d in flight)\n", dropped.Load(), loadMaxInFlight)
	fmt.Fprintf(&b, "statuses            %s\n", loadFmtMap(statuses))
	fmt.Fprintf(&b, "5xx                 %d\n", fiveXX)
	fmt.Fprintf(&b, "bad signatures      %d, %d answered 401, %d otherwise; %d of their ids stored\n", nBad, nBad-badNot401, badNot401, badStored)
	fmt.Fprintf(&b, "valid not 2xx       %d (transport errors overall %d)\n", validNot2xx, transportErrs)
	fmt.Fprintf(&b, "time-to-2xx (valid) p50 %s  p99 %s  p99.9 %s  max %s  (n=%d; limits p99 ≤ %s, p99.9 ≤ %s)\n",
		ms(p50), ms(p99), ms(p999), ms(loadPct(validLat, 1)), len(validLat), loadP99Limit, loadP999Limit)
	fmt.Fprintf(&b, "stored              %d of %d 2xx'd eventIds in the inbox = %.2f%%\n", present, len(acked), storedPct)
	fmt.Fprintf(&b, "inbox uniqueness    %d ids stored more than once; %d duplicate deliveries recognised (expected %d)\n", multi, dupDeliveries, wantDup)
	fmt.Fprintf(&b, "inbox processing    %d pending at stop, %d with retries; results %s\n", pendingInbox, attemptsOver0, loadFmtMap(results2))
	fmt.Fprintf(&b, "integrity_check     %s\n", integrity)
	fmt.Fprintf(&b, "slowloris           %d connections kept open (1 header byte/s): %d opened, %d dial errors, %d closed by the portal after median %s / max %s (ReadHeaderTimeout %s)\n",
		loadSlowloris, sl.opened, sl.dialErrs, len(sl.lifetimes), ms(loadPct(sl.lifetimes, 0.5)), ms(loadPct(sl.lifetimes, 1)), loadHeaderTimeout)
	fmt.Fprintf(&b, "GET /healthz        during slowloris, new connection each: p50 %s  p99 %s  max %s  (n=%d, %d errors; limit p99 ≤ %s)\n",
		ms(hp50), ms(hp99), ms(loadPct(health, 1)), len(health), healthErrs, loadHealthzP99)
	fmt.Fprintf(&b, "===========================================================")
	t.Log(b.String())

	if fiveXX > 0 {
		t.Errorf("%d responses were 5xx, want 0", fiveXX)
	}
	if storedPct < 100 {
		t.Errorf("only %.2f%% of the 2xx'd eventIds are stored, want 100%%", storedPct)
	}
	if p99 > loadP99Limit {
		t.Errorf("p99 time-to-2xx %s > %s", p99, loadP99Limit)
	}
	if p999 > loadP999Limit {
		t.Errorf("p99.9 time-to-2xx %s > %s", p999, loadP999Limit)
	}
	if badNot401 > 0 {
		t.Errorf("%d bad-signature deliveries were not answered 401", badNot401)
	}
	if badStored > 0 {
		t.Errorf("%d bad-signature eventIds reached the inbox", badStored)
	}
	if validNot2xx > 0 {
		t.Errorf("%d valid deliveries got no 2xx", validNot2xx)
	}
	if multi > 0 {
		t.Errorf("%d eventIds stored more than once", multi)
	}
	if validNot2xx == 0 && dupDeliveries != wantDup {
		t.Errorf("%d deliveries marked duplicate, want %d (one per 2xx'd resend)", dupDeliveries, wantDup)
	}
	if integrity != "ok" {
		t.Errorf("integrity_check = %q", integrity)
	}
	if dropped.Load() > 0 {
		t.Errorf("%d deliveries not sent: %d already in flight", dropped.Load(), loadMaxInFlight)
	}
	if len(sl.lifetimes) == 0 {
		t.Errorf("the portal closed no slowloris connection")
	} else if longest := loadPct(sl.lifetimes, 1); longest > 2*loadHeaderTimeout {
		t.Errorf("a slowloris connection lived %s, want ≤ %s (ReadHeaderTimeout %s)", longest, 2*loadHeaderTimeout,
			loadHeaderTimeout)
	}
	if len(health) == 0 {
		t.Errorf("no successful GET /healthz during the run")
	} else if hp99 > loadHealthzP99 {
		t.Errorf("GET /healthz p99 %s > %s during slowloris", hp99, loadHealthzP99)
	}
	if healthErrs > 0 {
		t.Errorf("%d GET /healthz failed during slowloris", healthErrs)
	}
}

// loadBody is one event delivery in the documented envelope (an array of one event) of about size bytes: the
// event's payload carries a padding field. link_created and events for unknown consents: the worker handles them
// without calling Klavi.
func loadBody(rng *rand.Rand, id string, size int) []byte {
	var name string
	payload := map[string]any{"linkId": loadUUID(rng)}
	switch rng.IntN(3) {
	case 0:
		name = "link_created"
	case 1:
		name = "consent_authorised"
		payload["consents"] = map[string]any{"consentId": loadUUID(rng), "institutionCode": "033"}
	default:
		name = "product_generated_success"
		payload["requestId"], payload["productName"] = loadUUID(rng), "pf_checking_account"
		payload["consentIds"] = []string{loadUUID(rng)}
	}
	ev := map[string]any{"partnerAppId": "load-test", "eventId": id, "eventType": "api", "eventName": name,
		"eventTime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "payload": payload,
		"externalInfo": map[string]any{}}
	payload["padding"] = ""
	base, _ := json.Marshal([]any{ev})
	if n := size - len(base); n > 0 {
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		pad := make([]byte, n)
		for i := range pad {
			pad[i] = letters[rng.IntN(len(letters))]
		}
		payload["padding"] = string(pad)
	}
	body, _ := json.Marshal([]any{ev})
	return body
}

var loadEventID = regexp.MustCompile(`"eventId":"([^"]+)"`)

func loadIDOf(body []byte) string {
	if m := loadEventID.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

func loadUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func loadSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// loadBadSignature returns one of the usual wrong signatures: another secret, one hex digit changed, truncated,
// empty, or over a trailing newline.
func loadBadSignature(rng *rand.Rand, body []byte) string {
	good := loadSign(loadSecret, body)
	switch rng.IntN(5) {
	case 0:
		return loadSign("another-secret", body)
	case 1:
		b := []byte(good)
		i := rng.IntN(len(b))
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	case 2:
		return good[:62]
	case 3:
		return ""
	default:
		return loadSign(loadSecret, append(slices.Clone(body), '\n'))
	}
}

// loadPost posts one delivery and returns its status and the time until the whole answer was read.
func loadPost(c *http.Client, base string, body []byte, sig string) (int, time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/klavi/events", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Klavi-Signature", sig)
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, time.Since(t0), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0), err
}

// loadSlow runs slowloris connections and records how long the portal let each one live.
type loadSlow struct {
	mu        sync.Mutex
	opened    int
	dialErrs  int
	lifetimes []time.Duration // connections the portal closed (not the ones closed by the end of the run)
}

type loadSlowReport struct {
	opened, dialErrs int
	lifetimes        []time.Duration
}

func (s *loadSlow) report() loadSlowReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return loadSlowReport{s.opened, s.dialErrs, slices.Clone(s.lifetimes)}
}

// run keeps one slowloris connection open until ctx ends: the request trickles in one byte per second and never
// completes its headers; when the portal closes it, it opens another.
func (s *loadSlow) run(ctx context.Context, host string) {
	request := "POST /webhooks/klavi/events HTTP/1.1\r\nHost: " + host + "\r\nX-Klavi-Signature: " +
		strings.Repeat("0", 4000)
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			if ctx.Err() == nil {
				s.mu.Lock()
				s.dialErrs++
				s.mu.Unlock()
				time.Sleep(time.Second)
			}
			continue
		}
		s.mu.Lock()
		s.opened++
		s.mu.Unlock()
		opened := time.Now()
		closed := make(chan struct{})
		go func() { // the portal never answers a request that has no end of headers: any read end means closed
			_, _ = io.Copy(io.Discard, conn)
			close(closed)
		}()
		tick := time.NewTicker(time.Second)
		byServer := false
	trickle:
		for i := 0; i < len(request); i++ {
			if _, err := conn.Write([]byte{request[i]}); err != nil {
				byServer = true
				break
			}
			select {
			case <-ctx.Done():
				break trickle
			case <-closed:
				byServer = true
				break trickle
			case <-tick.C:
			}
		}
		tick.Stop()
		lived := time.Since(opened)
		conn.Close()
		<-closed
		if byServer {
			s.mu.Lock()
			s.lifetimes = append(s.lifetimes, lived)
			s.mu.Unlock()
		}
	}
}

func loadPct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func loadFmtMap(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// loadPortal is the portal process of the load test.
type loadPortal struct {
	url     string
	metrics string // http://host:port of METRICS_ADDR (/metrics, /debug/pprof/)
	cmd     *exec.Cmd
	logs    *logbuf.Buffer // its stderr (the log), the newest 8 MiB or so: a load run logs a lot
	done    chan struct{}  // closed when the process has exited; err is then its exit error
	err     error
}

// loadStartPortal builds the binary into dir and starts it on loopback free ports with a fresh database there,
// with env (NAME=value) added to its environment. t.Cleanup kills it if the test did not stop it.
func loadStartPortal(t *testing.T, dir string, env ...string) *loadPortal {
	t.Helper()
	bin := filepath.Join(dir, "portal")
	build := exec.Command("go", "build", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ADDR=127.0.0.1:0", "SANDBOX_ADDR=127.0.0.1:0",
		"DATABASE_PATH=" + filepath.Join(dir, "load.db"),
		"SESSION_KEY=load-session-key-0123456789abcdef0123456789",
		"KLAVI_SECRET_KEY=" + loadSecret, "LOG_LEVEL=warn", "METRICS_ADDR=127.0.0.1:0"}
	cmd.Env = append(cmd.Env, env...)
	p := &loadPortal{cmd: cmd, logs: &logbuf.Buffer{Max: 8 << 20}, done: make(chan struct{})}
	cmd.Stderr = p.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if p.wait(0) == errStillRunning {
			_ = cmd.Process.Kill()
			_ = p.wait(10 * time.Second) // killed: only the wait matters, not the exit status
		}
		if t.Failed() {
			logs := p.logs.String()
			if len(logs) > 4000 {
				logs = "…" + logs[len(logs)-4000:]
			}
			t.Logf("portal log tail:\n%s", logs)
		}
	})
	urlc, metricsc := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`^portal listening on (\S+)`)
		reMetrics := regexp.MustCompile(`^metrics listening on (http://[^/\s]+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
			if m := reMetrics.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case metricsc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p.url = <-urlc:
	case <-time.After(30 * time.Second):
		t.Fatalf("the portal did not print its URL within 30 s\n%s", p.logs.String())
	}
	select { // printed in the same banner as the URL
	case p.metrics = <-metricsc:
	case <-time.After(5 * time.Second):
		t.Fatalf("the portal did not print its metrics address\n%s", p.logs.String())
	}
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") {
		t.Fatalf("portal URL %q is not loopback", p.url)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("portal /healthz not ready: %v\n%s", err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var errStillRunning = fmt.Errorf("still running")

// wait returns the exit error, or errStillRunning if the process hasn't exited within d.
func (p *loadPortal) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		return errStillRunning
	}
}

// stop sends SIGTERM and waits for a graceful exit (the portal's grace period is 20 s).
func (p *loadPortal) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // a process that already exited is reported by wait
	if err := p.wait(25 * time.Second); err != nil {
		if err == errStillRunning {
			_ = p.cmd.Process.Kill()
			return fmt.Errorf("the portal did not stop within 25 s")
		}
		return fmt.Errorf("exit: %v", err)
	}
	return nil
}
