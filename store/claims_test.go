package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// Inbox items are claimed by one replica at a time, for a lease; a dead replica's items come back when its lease
// runs out; finishing or retrying an item ends its claim.
func TestClaimInbox(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, c := twoReplicas(t, be)
		ctx := context.Background()
		items := make([]InboxItem, 30)
		keys := make([]string, 30)
		for i := range items {
			keys[i] = fmt.Sprintf("ev-%02d", i)
			items[i] = InboxItem{Kind: "event", Key: keys[i], Body: []byte(`{}`)}
		}
		if _, err := a.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true, Keys: keys, Result: "accepted"}, items); err != nil {
			t.Fatal(err)
		}
		// Two replicas claiming at once never get the same item, and together get all of them.
		var mu sync.Mutex
		seen := map[int64]string{}
		errs := race(a, b, func(i int, s *Store) error {
			got, err := s.ClaimInbox(ctx, fmt.Sprint("replica-", i%2), time.Minute, 2)
			mu.Lock()
			defer mu.Unlock()
			for _, it := range got {
				if prev, dup := seen[it.ID]; dup {
					return fmt.Errorf("item %d claimed by %s and again", it.ID, prev)
				}
				seen[it.ID] = fmt.Sprint("replica-", i%2)
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if len(seen) != 30 {
			t.Fatalf("claimed %d items, want all 30", len(seen))
		}
		if more, _ := a.ClaimInbox(ctx, "replica-0", time.Minute, 50); len(more) != 0 {
			t.Errorf("claimed again within the lease: %d", len(more))
		}
		// One item finished, one retried: neither is claimed any more; the rest come back after the lease.
		var ids []int64
		for id := range seen {
			ids = append(ids, id)
		}
		if err := a.FinishInbox(ctx, ids[0], "processed"); err != nil {
			t.Fatal(err)
		}
		if err := b.RetryInbox(ctx, ids[1], "retry: x"); err != nil {
			t.Fatal(err)
		}
		got, _ := b.ClaimInbox(ctx, "replica-1", time.Minute, 50)
		if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 1 {
			t.Errorf("after a retry: claimed %+v, want only the retried item", got)
		}
		c.Advance(61 * time.Second)
		got, _ = a.ClaimInbox(ctx, "replica-0", time.Minute, 50)
		if len(got) != 29 {
			t.Errorf("after the lease: claimed %d, want the 29 unfinished items (28 of the dead claims, the retried one)", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID < got[i-1].ID {
				t.Fatal("claimed items are not oldest first")
			}
		}
	})
}

// Due consents are polled by one replica at a time: a claim pushes next_poll_at forward.
func TestClaimDuePolls(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, c := twoReplicas(t, be)
		ctx := context.Background()
		for i := range 10 {
			if err := a.CreateConsent(ctx, Consent{ID: fmt.Sprint("c", i), Status: consent.AwaitingAuthorisation}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.CreateConsent(ctx, Consent{ID: "final", Status: consent.Rejected}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		claims := map[string]int{}
		errs := race(a, b, func(_ int, s *Store) error {
			got, err := s.ClaimDuePolls(ctx, c.Now(), 30*time.Second, 3)
			mu.Lock()
			defer mu.Unlock()
			for _, cs := range got {
				claims[cs.ID]++
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if len(claims) != 10 || claims["final"] != 0 {
			t.Errorf("claims = %v, want each of the 10 pending consents", claims)
		}
		for id, n := range claims {
			if n != 1 {
				t.Errorf("%s claimed %d times", id, n)
			}
		}
		if got, _ := a.ClaimDuePolls(ctx, c.Now(), 30*time.Second, 50); len(got) != 0 {
			t.Errorf("claimed again while held: %d", len(got))
		}
		c.Advance(31 * time.Second)
		if got, _ := b.ClaimDuePolls(ctx, c.Now(), 30*time.Second, 50); len(got) != 10 {
			t.Errorf("after the hold: %d due", len(got))
		}
	})
}

// Of many observers of one change, on two replicas, exactly one sees the transition.
func TestTransitionIsSeenOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		a, b, _ := twoReplicas(t, be)
		ctx := context.Background()
		if err := a.CreateConsent(ctx, Consent{ID: "c1", Status: consent.AwaitingAuthorisation}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		transitions := 0
		errs := race(a, b, func(_ int, s *Store) error {
			from, changed, err := s.Transition(ctx, "c1", consent.Authorised, []string{"ACCOUNTS_READ"}, "")
			if changed && from != consent.Authorised {
				mu.Lock()
				transitions++
				mu.Unlock()
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if transitions != 1 {
			t.Errorf("transitions seen = %d, want 1", transitions)
		}
		if from, changed, _ := a.Transition(ctx, "c1", consent.AwaitingAuthorisation, nil, ""); changed || from != consent.Authorised {
			t.Errorf("a stale status: from %s changed %v", from, changed)
		}
	})
}
