package store

// Read-modify-write methods under concurrency, on both backends, with the callers split over two Store instances on
// one database (two replicas, in effect). SQLite serialises writers; PostgreSQL does not, so these tests are what
// shows that each method locks what it reads (FOR UPDATE, an advisory lock) or writes with one conditional
// statement.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

const racers = 20

// twoReplicas opens a second Store on the test database and returns both.
func twoReplicas(t *testing.T, be backend) (a, b *Store, c *clock) {
	t.Helper()
	a, c, db := openTest(t, be)
	b, err := db.open(context.Background(), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return a, b, c
}

// race runs fn(i, store) for i in [0, racers) at once, alternating the two stores, and returns the errors.
func race(a, b *Store, fn func(i int, s *Store) error) []error {
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i, s)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentClaimReportRequestClaimsOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		if err := a.CreateConsent(ctx, Consent{ID: "c", Status: consent.Authorised}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		claims := 0
		noErrors(t, race(a, b, func(_ int, s *Store) error {
			ok, err := s.ClaimReportRequest(ctx, "c")
			mu.Lock()
			defer mu.Unlock()
			if ok {
				claims++
			}
			return err
		}))
		if claims != 1 {
			t.Errorf("%d of %d callers claimed, want exactly 1", claims, racers)
		}
	})
}

// TestConcurrentSetStatusMovesOnce: from AWAITING_AUTHORISATION, half the callers say AUTHORISED and half REJECTED;
// either may win, but once one has, the other is no longer a forward move: exactly one call changes the consent,
// and the stored status is the winner's.
func TestConcurrentSetStatusMovesOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		if err := a.CreateConsent(ctx, Consent{ID: "c", Status: consent.AwaitingAuthorisation}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var winners []consent.Status
		noErrors(t, race(a, b, func(i int, s *Store) error {
			to := consent.Authorised
			if i%4 >= 2 {
				to = consent.Rejected
			}
			changed, err := s.SetStatus(ctx, "c", to, []string{"ACCOUNTS_READ"}, "")
			mu.Lock()
			defer mu.Unlock()
			if changed {
				winners = append(winners, to)
			}
			return err
		}))
		got, err := a.Consent(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if len(winners) != 1 || got.Status != winners[0] {
			t.Errorf("changes by %v, stored %s; want exactly one change, stored", winners, got.Status)
		}
	})
}

func TestConcurrentSameEventOneInboxRow(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		var mu sync.Mutex
		newItems := 0
		noErrors(t, race(a, b, func(_ int, s *Store) error {
			d, items := eventDelivery("evt-1")
			n, err := s.RecordEventDelivery(ctx, d, items)
			mu.Lock()
			defer mu.Unlock()
			newItems += n
			return err
		}))
		if n := count(t, a, "inbox"); n != 1 || newItems != 1 {
			t.Errorf("inbox rows = %d, new items reported = %d; want 1 and 1", n, newItems)
		}
		if n := countRows(t, a, `SELECT count(*) FROM webhook_deliveries WHERE duplicate = 1`); n != racers-1 {
			t.Errorf("duplicates = %d, want %d", n, racers-1)
		}
	})
}

// TestConcurrentDeliveriesInOppositeOrders: deliveries carrying the same events in opposite orders, at once. On
// PostgreSQL each waits for the other's uncommitted inbox rows, a deadlock the server breaks by aborting one; the
// store runs that transaction again, so no caller sees an error and each event is stored once.
func TestConcurrentDeliveriesInOppositeOrders(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		keys := []string{"k1", "k2", "k3", "k4", "k5", "k6"}
		for round := range 5 {
			var mu sync.Mutex
			newItems := 0
			noErrors(t, race(a, b, func(i int, s *Store) error {
				ks := make([]string, len(keys))
				for j, k := range keys {
					ks[j] = fmt.Sprint(round, "-", k)
				}
				if i%2 == 1 {
					slices.Reverse(ks)
				}
				d, items := eventDelivery(ks...)
				n, err := s.RecordEventDelivery(ctx, d, items)
				mu.Lock()
				defer mu.Unlock()
				newItems += n
				return err
			}))
			if newItems != len(keys) {
				t.Errorf("round %d: %d new items reported, want %d", round, newItems, len(keys))
			}
		}
		if n := count(t, a, "inbox"); n != 5*len(keys) {
			t.Errorf("inbox rows = %d, want %d", n, 5*len(keys))
		}
	})
}

// TestConcurrentCoalescedTimelineIsOneLine: the same poll result logged at once by every caller is one line that
// counts them all.
func TestConcurrentCoalescedTimelineIsOneLine(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		noErrors(t, race(a, b, func(_ int, s *Store) error {
			return s.AddTimelineCoalesced(ctx, TimelineEntry{ConsentID: "c", Kind: "poll", OK: true,
				Title: consent.M("tl.poll", "AWAITING_AUTHORISATION")})
		}))
		tl, err := a.Timeline(ctx, "c")
		if err != nil || len(tl) != 1 || tl[0].Repeats != racers {
			t.Errorf("timeline = %+v, %v; want one line with %d repeats", tl, err, racers)
		}
	})
}

// TestConcurrentLoginFailuresAllCount: failures at the same moment are each counted, and the max-th locks.
func TestConcurrentLoginFailuresAllCount(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, c := twoReplicas(t, be)
		ctx := context.Background()
		var mu sync.Mutex
		locks := 0
		noErrors(t, race(a, b, func(_ int, s *Store) error {
			until, err := s.RecordLoginFailure(ctx, "k", time.Hour, racers, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if !until.IsZero() {
				locks++
			}
			return err
		}))
		if n := countRows(t, a, `SELECT failures FROM login_failures WHERE key = 'k'`); n != racers || locks != 1 {
			t.Errorf("failures = %d, callers told of a lock = %d; want %d and 1", n, locks, racers)
		}
		if until, err := a.LoginLockedUntil(ctx, "k"); err != nil || !until.Equal(c.Now().Add(time.Minute)) {
			t.Errorf("LoginLockedUntil = %v, %v", until, err)
		}
	})
}

// TestConcurrentSetupTokensMakeOneOperator: two valid setup tokens spent at once (and each by several callers)
// create exactly one first operator.
func TestConcurrentSetupTokensMakeOneOperator(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, c := twoReplicas(t, be)
		ctx := context.Background()
		for _, tok := range []string{"t0", "t1"} {
			if err := a.CreateSetupToken(ctx, tok, c.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		made := 0
		errs := race(a, b, func(i int, s *Store) error {
			_, err := s.UseSetupToken(ctx, fmt.Sprint("t", i%2), fmt.Sprintf("op%d@example.com", i), "hash")
			if err == nil {
				mu.Lock()
				made++
				mu.Unlock()
			}
			return err
		})
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
				t.Errorf("UseSetupToken: %v, want success, ErrNotFound or ErrConflict", err)
			}
		}
		if n, err := a.CountOperators(ctx); err != nil || n != 1 || made != 1 {
			t.Errorf("operators = %d (%v), successful calls = %d; want 1 and 1", n, err, made)
		}
	})
}

// TestConcurrentSettleSeesEveryItem: the items of one delivery finished and settled by several workers at once;
// the delivery's result ends up naming every item's result.
func TestConcurrentSettleSeesEveryItem(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		keys := make([]string, racers)
		for i := range keys {
			keys[i] = fmt.Sprint("e", i)
		}
		d, items := eventDelivery(keys...)
		if _, err := a.RecordEventDelivery(ctx, d, items); err != nil {
			t.Fatal(err)
		}
		pending, err := a.PendingInbox(ctx, racers)
		if err != nil || len(pending) != racers {
			t.Fatalf("PendingInbox = %d items, %v", len(pending), err)
		}
		noErrors(t, race(a, b, func(i int, s *Store) error {
			if err := s.FinishInbox(ctx, pending[i].ID, fmt.Sprint("r", i)); err != nil {
				return err
			}
			return s.SettleDeliveryResult(ctx, pending[i].DeliveryID)
		}))
		got, err := a.Delivery(ctx, pending[0].DeliveryID)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(got.Result, "; ")
		slices.Sort(parts)
		want := make([]string, racers)
		for i := range want {
			want[i] = fmt.Sprint("r", i)
		}
		slices.Sort(want)
		if !slices.Equal(parts, want) {
			t.Errorf("result = %q, want every item's result", got.Result)
		}
	})
}

// TestConcurrentPurgeExpiredErasesOnce: every replica runs the retention purge, here all at the same moment. Each
// due link is erased by exactly one of them (the counts add up to the links), each of its consents gets one audit
// line, and nothing personal is left.
func TestConcurrentPurgeExpiredErasesOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, c := twoReplicas(t, be)
		ctx := context.Background()
		const links = 6
		for i := range links {
			l := fmt.Sprintf("link-%d", i)
			if err := a.CreateLink(ctx, Link{ID: l, SessionID: "s", PersonType: "personal", PersonalTaxID: "52998224725",
				Email: "a@b.co", LinkToken: "tok-" + l, TokenExpiresAt: t0}); err != nil {
				t.Fatal(err)
			}
			for j := range 2 {
				id := fmt.Sprintf("%s-consent-%d", l, j)
				if err := a.CreateConsent(ctx, Consent{ID: id, LinkID: l, PersonType: "personal",
					PersonalTaxID: "52998224725", HolderRef: "ref-" + id}); err != nil {
					t.Fatal(err)
				}
				if _, err := a.RecordReportDelivery(ctx, Delivery{Kind: "report", SignatureValid: true, Keys: []string{"r-" + id}},
					Report{ID: "r-" + id, LinkID: l, ConsentID: id, ProductName: "pf_checking_account", Raw: []byte(`{}`)}); err != nil {
					t.Fatal(err)
				}
				key := "ev-" + id
				body := []byte(`[{"eventId":"` + key + `","payload":{"personalTaxId":"52998224725","consents":{"consentId":"` + id + `"}}}]`)
				if _, err := a.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true, Keys: []string{key}, Body: body},
					[]InboxItem{{Kind: "event", Key: key, Body: body}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		c.Advance(40 * 24 * time.Hour)
		cutoff := c.Now().Add(-30 * 24 * time.Hour)
		var purged atomic.Int64
		noErrors(t, race(a, b, func(_ int, s *Store) error {
			n, err := s.PurgeExpired(ctx, cutoff)
			purged.Add(int64(n))
			return err
		}))
		if got := purged.Load(); got != links {
			t.Errorf("the replicas purged %d links in all, want each of the %d once", got, links)
		}
		if n := countRows(t, a, `SELECT count(*) FROM timeline WHERE title_key = ?`, consent.TLPurgedRetention); n != 2*links {
			t.Errorf("%d retention lines, want one per consent (%d)", n, 2*links)
		}
		for _, q := range []sqlText{
			`SELECT count(*) FROM reports`,
			`SELECT count(*) FROM links WHERE personal_tax_id <> '' OR email <> '' OR link_token <> ''`,
			`SELECT count(*) FROM consents WHERE personal_tax_id <> '' OR holder_ref <> ''`,
			`SELECT count(*) FROM webhook_deliveries WHERE kind = 'event' AND body IS NOT NULL`,
			`SELECT count(*) FROM inbox WHERE body IS NOT NULL`,
		} {
			if n := countRows(t, a, q); n != 0 {
				t.Errorf("%s = %d after the purge, want 0", q, n)
			}
		}
	})
}

// TestConcurrentOpenMigratesOnce: replicas starting together on an empty PostgreSQL database all come up, and each
// migration is applied once (the others wait at the advisory lock).
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	postgresOnly(t)
	url := emptyPostgresDatabase(t)
	ctx := context.Background()
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenPostgres(ctx, url, nil)
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
			continue
		}
		defer s.Close()
	}
	if t.Failed() {
		return
	}
	files, _ := pgMigrationFS.ReadDir("migrations/postgres")
	if n := countRows(t, stores[0], `SELECT count(*) FROM schema_migrations`); n != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(files))
	}
}

// TestDeadlockVictimRunsAgain (PostgreSQL; SQLite's writers never interleave): two transactions update the same two
// rows in opposite orders, so the server aborts one as a deadlock victim; tx runs it again, and both succeed.
func TestDeadlockVictimRunsAgain(t *testing.T) {
	t.Parallel()
	postgresOnly(t)
	s, _, _ := openTest(t, postgresBackend)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateConsent(ctx, Consent{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	var runs [2]atomic.Int32
	var holding sync.WaitGroup
	holding.Add(2)
	cross := func(i int, first, second string) error {
		return s.tx(ctx, "cross", func(tx *txn) error {
			run := runs[i].Add(1)
			if _, err := tx.ExecContext(ctx, `UPDATE consents SET poll_attempts = poll_attempts + 1 WHERE id = ?`, first); err != nil {
				return err
			}
			if run == 1 { // the first time, wait until both hold their first row
				holding.Done()
				holding.Wait()
			}
			_, err := tx.ExecContext(ctx, `UPDATE consents SET poll_attempts = poll_attempts + 1 WHERE id = ?`, second)
			return err
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, order := range [][2]string{{"a", "b"}, {"b", "a"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cross(i, order[0], order[1])
		}()
	}
	wg.Wait()
	noErrors(t, errs)
	// At least one victim ran again. PostgreSQL may abort the victim's second run too when the winner has not
	// committed yet, so more than three runs in all is allowed; what matters is that both end committed once.
	if total := runs[0].Load() + runs[1].Load(); total < 3 {
		t.Errorf("the transactions ran %d times in all, want at least 3 (a deadlock victim run again)", total)
	}
	for _, id := range []string{"a", "b"} {
		if c, err := s.Consent(ctx, id); err != nil || c.PollAttempts != 2 {
			t.Errorf("consent %s: poll_attempts %d, %v; want 2", id, c.PollAttempts, err)
		}
	}
}
