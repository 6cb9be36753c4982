package flow

// Several replicas of the lifecycle on one database (docs/reliability.md#replicas): each test runs its Services on
// separate Stores opened on one SQLite file and on one PostgreSQL database. The PostgreSQL server is a throwaway one
// this test binary starts on first use (internal/pgtest) and stops at the end; without PostgreSQL the postgres
// subtests are skipped, or fail under STORE_REQUIRE_POSTGRES=1 (make unit), as the store's tests do.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection
	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/internal/pgtest"
	"github.com/klavi-demo/portal/internal/testclock"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.srv != nil {
		_ = pg.admin.Close()
		if err := pg.srv.Stop("fast"); err != nil {
			fmt.Fprintln(os.Stderr, "flow tests: stopping PostgreSQL:", err)
		}
	}
	os.Exit(code)
}

// pg is the test binary's PostgreSQL server, started on first use.
var pg struct {
	once  sync.Once
	srv   *pgtest.Server
	admin *sql.DB
	err   error
	dbs   atomic.Int64
}

// postgresDatabase returns the URL of a new, empty database on the test binary's server, dropped when the test
// ends; the first Store opened on it migrates it.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	if v := os.Getenv("STORE_BACKENDS"); v != "" && !strings.Contains(v, "postgres") {
		t.Skip("STORE_BACKENDS leaves out postgres")
	}
	pg.once.Do(func() {
		if pg.srv, pg.err = pgtest.Start(pgtest.Options{Prefix: "flow-pg-", Fast: true}); pg.err != nil {
			return
		}
		if pg.admin, pg.err = sql.Open("pgx", pg.srv.URL("postgres")); pg.err != nil {
			_ = pg.srv.Stop("immediate")
			pg.srv = nil
		}
	})
	if pg.err != nil {
		if os.Getenv("STORE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (STORE_REQUIRE_POSTGRES=1) but unavailable: %v", pg.err)
		}
		t.Skipf("PostgreSQL unavailable, postgres half skipped (make unit requires it): %v", pg.err)
	}
	name := fmt.Sprintf("flow_%d", pg.dbs.Add(1))
	if _, err := pg.admin.ExecContext(context.Background(), "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pg.admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return pg.srv.URL(name)
}

// replicaStores opens n Stores on one fresh database of the backend ("sqlite" or "postgres"), closed at the end.
func replicaStores(t *testing.T, backend string, n int, now func() time.Time) []*store.Store {
	t.Helper()
	var open func(ctx context.Context) (*store.Store, error)
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "flow.db")
		open = func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, path, now) }
	case "postgres":
		url := postgresDatabase(t)
		open = func(ctx context.Context) (*store.Store, error) { return store.OpenPostgres(ctx, url, now) }
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	out := make([]*store.Store, n)
	for i := range out {
		st, err := open(context.Background())
		if err != nil {
			t.Fatalf("open %s replica %d: %v", backend, i, err)
		}
		t.Cleanup(func() { _ = st.Close() })
		out[i] = st
	}
	return out
}

// eachReplicaBackend runs body as a parallel subtest per backend.
func eachReplicaBackend(t *testing.T, body func(t *testing.T, backend string)) {
	for _, be := range []string{"sqlite", "postgres"} {
		t.Run(be, func(t *testing.T) {
			t.Parallel()
			body(t, be)
		})
	}
}

// countingKlavi is the one Klavi every replica talks to: it answers every consent with one status and counts the
// polls and report requests per consent.
type countingKlavi struct {
	mu      sync.Mutex
	status  klavi.ConsentStatus
	polls   map[string]int
	reports map[string]int
}

func newCountingKlavi(status klavi.ConsentStatus) *countingKlavi {
	return &countingKlavi{status: status, polls: map[string]int{}, reports: map[string]int{}}
}

func (k *countingKlavi) Consent(_ context.Context, id string) (*klavi.Consent, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.polls[id]++
	return &klavi.Consent{ConsentID: id, Status: k.status}, nil
}

func (k *countingKlavi) RequestReports(_ context.Context, req klavi.ReportRequest) (*klavi.ReportRequestResult, error) {
	k.mu.Lock()
	for _, id := range req.ConsentIDs {
		k.reports[id]++
	}
	k.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // widen the race window
	return &klavi.ReportRequestResult{RequestID: "req-" + strings.Join(req.ConsentIDs, ",")}, nil
}

func (k *countingKlavi) counts() (polls, reports map[string]int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	polls, reports = map[string]int{}, map[string]int{}
	for id, n := range k.polls {
		polls[id] = n
	}
	for id, n := range k.reports {
		reports[id] = n
	}
	return polls, reports
}

// replicaServices is one Service per Store, all talking to kc.
func replicaServices(t *testing.T, stores []*store.Store, kc Klavi, now func() time.Time) []*Service {
	t.Helper()
	out := make([]*Service, len(stores))
	for i, st := range stores {
		s, err := New(Options{Store: st, Klavi: kc, PublicURL: "http://127.0.0.1:8080", HolderKey: []byte("k"),
			Now: now, PollInterval: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// TestReportsRequestedOnceAcrossReplicas: AUTHORISED is seen at once by the callback on replica A, the webhook
// (stored and applied by replica B's inbox worker) and the reconciler's poll on replica C. Each consent gets one
// report request at Klavi, one status line and one "reports requested" line.
func TestReportsRequestedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	eachReplicaBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		stores := replicaStores(t, backend, 3, time.Now)
		kc := newCountingKlavi(klavi.StatusAuthorised)
		svc := replicaServices(t, stores, kc, time.Now)
		a, b, c := svc[0], svc[1], svc[2]
		const consents = 8
		ids := make([]string, consents)
		for i := range ids {
			ids[i] = fmt.Sprintf("consent-%d", i)
			if err := stores[0].CreateConsent(ctx, store.Consent{ID: ids[i], LinkID: "link-" + ids[i],
				PersonType: "personal", PersonalTaxID: "52998224725", Status: consent.AwaitingAuthorisation}); err != nil {
				t.Fatal(err)
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(2)
			go func() { // the bank's return lands on A
				defer wg.Done()
				<-start
				cur, err := stores[0].Consent(ctx, id)
				if err == nil {
					_, err = a.ApplyStatus(ctx, cur, consent.Authorised, []string{"ACCOUNTS_ALL"}, "", FromCallback)
				}
				if err != nil {
					t.Error(err)
				}
			}()
			go func() { // Klavi's webhook lands on B, which stores it and applies it
				defer wg.Done()
				<-start
				key := "ev-" + id
				body := []byte(`{"eventId":"` + key + `","eventType":"api","eventName":"consent_authorised",` +
					`"eventTime":"2026-12-04T10:00:00.000Z","payload":{"linkId":"link-` + id + `",` +
					`"consents":{"consentId":"` + id + `","institutionCode":"341"}}}`)
				if _, err := stores[1].RecordEventDelivery(ctx, store.Delivery{Kind: "event", SignatureValid: true,
					Keys: []string{key}, Body: body}, []store.InboxItem{{Kind: "event", Key: key, EventName: "consent_authorised",
					Body: body}}); err != nil {
					t.Error(err)
					return
				}
				b.DrainInbox(ctx)
			}()
		}
		wg.Add(1)
		go func() { // the reconciler's poll runs on C
			defer wg.Done()
			<-start
			c.reconcileOnce(ctx)
		}()
		close(start)
		wg.Wait()
		b.DrainInbox(ctx) // whatever another drain's claim held back

		_, reports := kc.counts()
		for _, id := range ids {
			if reports[id] != 1 {
				t.Errorf("%s: %d report requests at Klavi, want 1", id, reports[id])
			}
			st, err := stores[2].Consent(ctx, id)
			if err != nil || st.Status != consent.Authorised || st.ReportRequestID != "req-"+id {
				t.Errorf("%s: status %s, report request %q, %v", id, st.Status, st.ReportRequestID, err)
			}
			tl, err := stores[2].Timeline(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			changes, requested := 0, 0
			for _, e := range tl {
				switch e.Title.Key {
				case consent.TLStatusChanged, consent.TLPollChanged:
					changes++
				case consent.TLReportsRequested:
					requested++
				}
			}
			if changes != 1 || requested != 1 {
				t.Errorf("%s: %d status lines and %d report-request lines, want 1 and 1", id, changes, requested)
			}
		}
	})
}

// TestReconcilerPollsOncePerPeriodWhateverTheReplicas: three replicas run the reconciler at the same moments; each
// pending consent is polled at Klavi on the schedule of one replica (the base period, then backing off), not three
// times as often.
func TestReconcilerPollsOncePerPeriodWhateverTheReplicas(t *testing.T) {
	t.Parallel()
	eachReplicaBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		clk := testclock.New(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)) // the replicas share it
		stores := replicaStores(t, backend, 3, clk.Now)
		kc := newCountingKlavi(klavi.StatusAwaitingAuthorisation)
		svc := replicaServices(t, stores, kc, clk.Now)
		const consents = 10
		for i := range consents {
			if err := stores[0].CreateConsent(ctx, store.Consent{ID: fmt.Sprintf("consent-%d", i),
				Status: consent.AwaitingAuthorisation}); err != nil {
				t.Fatal(err)
			}
		}
		tick := func() {
			var wg sync.WaitGroup
			for _, s := range svc {
				wg.Add(1)
				go func() { defer wg.Done(); s.reconcileOnce(ctx) }()
			}
			wg.Wait()
		}
		// One replica's schedule with a 2 s base: due at once, then 2 s later, then 4 s after that (backoff).
		for i, step := range []struct {
			advance time.Duration
			polls   int // polls of each consent so far
		}{{0, 1}, {0, 1}, {2 * time.Second, 2}, {2 * time.Second, 2}, {2 * time.Second, 3}, {time.Second, 3}} {
			clk.Advance(step.advance)
			tick()
			polls, _ := kc.counts()
			for j := range consents {
				id := fmt.Sprintf("consent-%d", j)
				if polls[id] != step.polls {
					t.Fatalf("tick %d (+%s): %s polled %d times by the three replicas, want %d", i, step.advance, id,
						polls[id], step.polls)
				}
			}
		}
	})
}
