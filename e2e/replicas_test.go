//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// TestReplicas runs two portal replicas on one PostgreSQL database behind a round-robin reverse proxy (the load
// balancer), as docs/reliability.md#replicas describes: same DATABASE_URL and SESSION_KEY, PUBLIC_URL = the proxy,
// replica A with the embedded sandbox and replica B using A's sandbox as its Klavi. The browser goes through the
// proxy, so consecutive requests of one flow land on different replicas; the bank's return and the sandbox's
// webhooks go through it too. Then signed webhooks with duplicates are sprayed at both replicas (directly and
// through the proxy) while B is SIGKILLed and restarted, and a second consent is approved at the bank meanwhile.
func TestReplicas(t *testing.T) {
	const (
		kills   = 4
		senders = 4
		minAcks = 50
	)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("CRASH_SEED=%d", seed)
	runID := strconv.FormatUint(seed%1e9, 36)

	dbURL := startPostgres(t)
	portA, errA := freePort()
	portB, errB := freePort()
	sandboxPort, errS := freePort()
	if err := errors.Join(errA, errB, errS); err != nil {
		t.Fatal(err)
	}
	directA := fmt.Sprintf("http://127.0.0.1:%d", portA)
	directB := fmt.Sprintf("http://127.0.0.1:%d", portB)

	lb := newRoundRobin(directA, directB)
	proxy := httptest.NewServer(lb.handler())
	t.Cleanup(proxy.Close)

	common := map[string]string{
		"DATABASE_URL":         dbURL,
		"PUBLIC_URL":           proxy.URL,
		"SANDBOX_REPORT_DELAY": "1s", // reports arrive while B is being killed
		"LOG_LEVEL":            "info",
		"TRUSTED_PROXIES":      "127.0.0.1", // the proxy: the replicas read the client from X-Forwarded-For
	}
	envA := map[string]string{"ADDR": "127.0.0.1:" + strconv.Itoa(portA), "SANDBOX_ADDR": "127.0.0.1:" + strconv.Itoa(sandboxPort)}
	envB := map[string]string{"ADDR": "127.0.0.1:" + strconv.Itoa(portB),
		"KLAVI_BASE_URL":   fmt.Sprintf("http://127.0.0.1:%d/data/v1", sandboxPort),
		"KLAVI_ACCESS_KEY": demoAccessKey, "KLAVI_SECRET_KEY": demoSecretKey}
	for k, v := range common {
		envA[k], envB[k] = v, v
	}
	a := &crashRig{dir: filepath.Join(t.TempDir(), "a"), extra: envA}
	if err := a.start(); err != nil {
		t.Fatalf("start replica A: %v", err)
	}
	t.Cleanup(a.killNow)
	b := &crashRig{dir: filepath.Join(t.TempDir(), "b"), extra: envB}
	if err := b.start(); err != nil {
		t.Fatalf("start replica B: %v", err)
	}
	t.Cleanup(b.killNow)
	for _, u := range []string{directA, directB} {
		if err := waitHealthy(u); err != nil {
			t.Fatal(err)
		}
	}
	if a.cur.SandboxURL == "" || b.cur.SandboxURL != "" {
		t.Fatalf("want the sandbox in A only: A %q, B %q", a.cur.SandboxURL, b.cur.SandboxURL)
	}
	lbPortal := &portal{URL: proxy.URL}

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	// a. The whole flow through the proxy.
	page := desktop(t)
	authorise(t, page, lbPortal, "personal", cpfApprove, "341")
	expectReports(t, page, 4)
	consent1 := consentIDOf(t, page)
	flowServed := lb.servedCounts()
	if flowServed[0] == 0 || flowServed[1] == 0 {
		t.Fatalf("the flow did not use both replicas: %v requests served by A, B", flowServed)
	}

	// b. The second consent is created now and approved at the bank during the chaos.
	page2 := desktop(t)
	start(t, page2, lbPortal, "personal", cpfApprove2)
	chooseInstitution(t, page2, "104")

	var (
		mu       sync.Mutex
		sent     []*crashDelivery
		pending  []*crashDelivery
		acked    = map[string]bool{}
		consentE = map[string]bool{} // eventIds of consent_authorised events about consent1
		statuses = map[string]int{}
		posts    atomic.Int64
		nextID   atomic.Int64
		client   = &http.Client{Timeout: 5 * time.Second}
		ctx, end = context.WithCancel(context.Background())
		wg       sync.WaitGroup
	)
	defer end()
	targets := []string{directA, directB, proxy.URL}
	post := func(ctx context.Context, target string, d *crashDelivery) {
		posts.Add(1)
		status, err := crashPost(ctx, client, target, demoSecretKey, d.body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			statuses["error"]++
		} else {
			statuses[strconv.Itoa(status)]++
		}
		if err == nil && status/100 == 2 {
			for _, id := range d.ids {
				acked[id] = true
			}
			return
		}
		pending = append(pending, d)
	}
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for ctx.Err() == nil {
				var d *crashDelivery
				mu.Lock()
				switch r := rng.Float64(); {
				case len(pending) > 0 && r < 0.2: // Klavi's retry of a delivery that got no 2xx
					i := rng.IntN(len(pending))
					d = pending[i]
					pending[i] = pending[len(pending)-1]
					pending = pending[:len(pending)-1]
				case len(sent) > 0 && r >= 0.2 && r < 0.4: // a duplicate, same bytes, to any replica
					d = sent[rng.IntN(len(sent))]
				}
				mu.Unlock()
				if d == nil {
					d = newReplicaDelivery(rng, runID, &nextID, consent1)
					mu.Lock()
					sent = append(sent, d)
					if d.consentEvent {
						consentE[d.ids[0]] = true
					}
					mu.Unlock()
				}
				post(ctx, targets[rng.IntN(len(targets))], d)
				time.Sleep(time.Duration(2+rng.IntN(8)) * time.Millisecond)
			}
		}()
	}

	killErr := make(chan error, 1)
	var killed atomic.Int64
	go func() {
		rng := rand.New(rand.NewPCG(seed, 1<<32))
		for range kills {
			time.Sleep(time.Duration(400+rng.IntN(600)) * time.Millisecond)
			if err := b.crashAndRestart(); err != nil {
				killErr <- err
				return
			}
			killed.Add(1)
		}
		time.Sleep(time.Duration(300+rng.IntN(400)) * time.Millisecond)
		killErr <- nil
	}()
	started := time.Now()
	approveAtBank(t, page2) // the bank's return and the sandbox's webhooks reach the proxy while B dies and restarts
	consent2 := consentIDOf(t, page2)
	err = <-killErr
	end()
	wg.Wait()
	chaos := time.Since(started)
	if err != nil {
		t.Fatalf("after %d kills of B: %v", killed.Load(), err)
	}
	if err := waitHealthy(directB); err != nil {
		t.Fatal(err)
	}

	// Klavi redelivers what got no 2xx, now that both replicas are up.
	redelivered := 0
	for round := 0; round < 5 && len(pending) > 0; round++ {
		retry := pending
		pending = nil
		for _, d := range retry {
			if crashAllAcked(acked, d.ids) {
				continue
			}
			redelivered++
			post(context.Background(), proxy.URL, d)
		}
	}
	for _, d := range pending {
		if !crashAllAcked(acked, d.ids) {
			t.Errorf("delivery %v never got a 2xx from the healthy replicas", d.ids)
		}
	}

	// Items a killed B had claimed come back when its lease ends (one minute): wait for every item to be applied.
	prefix := "rep-" + runID + "-"
	// Such an item may already have been applied by B before it died, without being marked processed: the replica
	// that takes it over applies it again. Applying twice changes nothing (forward-only status, the report claim)
	// and writes no second timeline line (the line is written once per eventId), so every acknowledged consent
	// event shows exactly one line.
	held := map[string]bool{}
	rows, err := db.Query(`SELECT key FROM inbox WHERE key LIKE $1 AND processed_at IS NULL AND claimed_by <> ''`, prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			t.Fatal(err)
		}
		held[key] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for countRows(t, db, `SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL`) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("inbox items still pending after 90s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every acknowledged eventId is stored once and applied once.
	stored := map[string]int{}
	unprocessed := 0
	rows, err = db.Query(`SELECT key, COUNT(*), COUNT(processed_at) FROM inbox WHERE kind = 'event' AND key LIKE $1 GROUP BY key`, prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var key string
		var n, processed int
		if err := rows.Scan(&key, &n, &processed); err != nil {
			t.Fatal(err)
		}
		stored[key] = n
		unprocessed += n - processed
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	checkStoredOnce(t, acked, stored)
	if unprocessed > 0 {
		t.Errorf("%d inbox rows were never processed", unprocessed)
	}
	if len(acked) < minAcks {
		t.Errorf("only %d eventIds acknowledged, want at least %d", len(acked), minAcks)
	}
	// Applied once: each consent event leaves exactly one webhook line, naming its eventId, on consent1's timeline.
	applied := map[string]int{}
	rows, err = db.Query(`SELECT detail_args FROM timeline WHERE consent_id = $1 AND kind = 'webhook'`, consent1)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var args string
		if err := rows.Scan(&args); err != nil {
			t.Fatal(err)
		}
		var list []string
		_ = json.Unmarshal([]byte(args), &list) // other lines' args are not all strings: only eventIds matter
		for _, a := range list {
			if strings.HasPrefix(a, prefix) {
				applied[a]++
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	consentAcked := 0
	for id := range consentE {
		if !acked[id] {
			continue
		}
		consentAcked++
		if n := applied[id]; n != 1 {
			t.Errorf("consent event %s shown %d times on the timeline, want once (held by a killed replica: %v)", id, n, held[id])
		}
	}

	// One status line per change and one report request per consent, however many replicas saw the change.
	reportRequests := map[string]int{}
	for _, id := range []string{consent1, consent2} {
		changes := map[string]int{}
		rows, err := db.Query(`SELECT title_args FROM timeline WHERE consent_id = $1 AND kind IN ('status', 'poll') AND title_key IN ('tl.status_changed', 'tl.poll_changed')`, id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var args string
			if err := rows.Scan(&args); err != nil {
				t.Fatal(err)
			}
			changes[args]++
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		if len(changes) == 0 {
			t.Errorf("consent %s: no status line on the timeline", id)
		}
		for change, n := range changes {
			if n != 1 {
				t.Errorf("consent %s: status change %s logged %d times, want once", id, change, n)
			}
		}
		reportRequests[id] = countRows(t, db, `SELECT COUNT(*) FROM timeline WHERE consent_id = $1 AND kind = 'reports' AND title_key IN ('tl.reports_requested', 'tl.reports_requested_again')`, id)
		if reportRequests[id] != 1 {
			t.Errorf("consent %s: reports requested %d times, want once", id, reportRequests[id])
		}
	}

	// Both consent pages reach the final status, read through the proxy.
	for _, p := range []playwright.Page{page, page2} {
		_, err := p.Reload()
		must(t, err, "reload the consent page")
		expectStatus(t, p, "AUTHORISED")
		must(t, expect.Locator(p.GetByTestId("report-item")).ToHaveCount(4, playwright.LocatorAssertionsToHaveCountOptions{
			Timeout: playwright.Float(20000)}), "four reports, each once")
	}

	mu.Lock()
	defer mu.Unlock()
	served := lb.servedCounts()
	t.Logf("replicas: flow served by A/B %v; %d SIGKILLs + restarts of B in %s; %d webhook POSTs (%d distinct bodies, %d redelivered after), statuses %v; "+
		"%d eventIds acknowledged, %d stored (one row each), all processed; %d held by a killed replica at the end of the chaos, taken over after the lease; "+
		"%d consent events about %s acknowledged, each shown once on the timeline; report requests %v; proxy served A/B %v, %d failovers",
		flowServed, killed.Load(), chaos.Round(time.Millisecond), posts.Load(), len(sent), redelivered, statuses,
		len(acked), len(stored), len(held), consentAcked, consent1, reportRequests, served, lb.failovers.Load())
}

// The embedded sandbox's demo credentials (config.go): replica B must name them to use A's sandbox as its Klavi.
const (
	demoAccessKey = "demo-access-key"
	demoSecretKey = "demo-secret-key"
)

func consentIDOf(t *testing.T, page playwright.Page) string {
	t.Helper()
	m := consentPath.FindStringSubmatch(page.URL())
	if m == nil {
		t.Fatalf("not on a consent page: %s", page.URL())
	}
	return m[1]
}

func countRows(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func waitHealthy(base string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/healthz not ready: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newReplicaDelivery is one signed-event body with fresh eventIds "rep-<run>-<n>": a consent_authorised about the
// AUTHORISED consent (alone in its delivery, so its id can be followed to the timeline), or 1–3 events the worker
// applies without a consent (link_created, a product event about an unknown consent).
func newReplicaDelivery(rng *rand.Rand, runID string, next *atomic.Int64, consentID string) *crashDelivery {
	envelope := func(id, name string, payload map[string]any) map[string]any {
		return map[string]any{"partnerAppId": "replica-test", "eventId": id, "eventType": "api", "eventName": name,
			"eventTime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "payload": payload, "externalInfo": map[string]any{}}
	}
	d := &crashDelivery{}
	var events []map[string]any
	if rng.IntN(3) == 0 {
		id := fmt.Sprintf("rep-%s-%d", runID, next.Add(1))
		d.ids, d.consentEvent = []string{id}, true
		events = append(events, envelope(id, "consent_authorised", map[string]any{"linkId": crashUUID(rng),
			"consents": map[string]any{"consentId": consentID, "institutionCode": "341"}}))
	} else {
		for range 1 + rng.IntN(3) {
			id := fmt.Sprintf("rep-%s-%d", runID, next.Add(1))
			d.ids = append(d.ids, id)
			if rng.IntN(2) == 0 {
				events = append(events, envelope(id, "link_created", map[string]any{"linkId": crashUUID(rng)}))
			} else {
				events = append(events, envelope(id, "product_request_received", map[string]any{"requestId": crashUUID(rng),
					"productName": "pf_checking_account", "consentIds": []string{crashUUID(rng)}}))
			}
		}
	}
	d.body, _ = json.Marshal(events)
	return d
}

// roundRobin is the test's load balancer: an httputil.ReverseProxy whose transport sends each request to the next
// replica in turn. Like a balancer's redispatch, a request whose connection is refused (the replica is down) goes
// to the other replica, as does a GET cut by a kill; a cut POST gets 502, and its sender retries.
type roundRobin struct {
	backends  []string // host:port
	next      atomic.Uint64
	served    [2]atomic.Int64
	failovers atomic.Int64
	tr        *http.Transport
}

func newRoundRobin(a, b string) *roundRobin {
	return &roundRobin{
		backends: []string{strings.TrimPrefix(a, "http://"), strings.TrimPrefix(b, "http://")},
		// A fresh connection per request: a refused dial then says plainly that the replica is down.
		tr: &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 15 * time.Second},
	}
}

func (rr *roundRobin) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "replica"
			pr.Out.Host = pr.In.Host // the replicas' PUBLIC_URL host
			pr.SetXForwarded()       // the client's address, taken from the proxy (TRUSTED_PROXIES)
		},
		Transport:     rr,
		FlushInterval: -1, // live pages stream
		ErrorLog:      log.New(io.Discard, "", 0),
	}
}

func (rr *roundRobin) servedCounts() [2]int64 {
	return [2]int64{rr.served[0].Load(), rr.served[1].Load()}
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	first := rr.next.Add(1)
	var lastErr error
	for i := range uint64(len(rr.backends)) {
		k := int((first + i) % uint64(len(rr.backends)))
		out := req.Clone(req.Context())
		out.URL.Host = rr.backends[k]
		out.Body, out.ContentLength = nil, 0
		if len(body) > 0 {
			out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		resp, err := rr.tr.RoundTrip(out)
		if err == nil {
			rr.served[k].Add(1)
			return resp, nil
		}
		lastErr = err
		var op *net.OpError
		refused := errors.As(err, &op) && op.Op == "dial"
		if !refused && req.Method != http.MethodGet && req.Method != http.MethodHead {
			return nil, err
		}
		rr.failovers.Add(1)
	}
	return nil, lastErr
}
