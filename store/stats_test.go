package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

func TestInboxPending(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)

		if n, oldest, err := s.InboxPending(ctx); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("empty inbox: %d, %v, %v; want 0, zero time", n, oldest, err)
		}
		for i, at := range []time.Time{t0.Add(-3 * time.Minute), t0.Add(-time.Minute), t0} {
			d, items := eventDelivery(fmt.Sprint("e", i))
			d.ReceivedAt = at
			if _, err := s.RecordEventDelivery(ctx, d, items); err != nil {
				t.Fatal(err)
			}
		}
		n, oldest, err := s.InboxPending(ctx)
		if err != nil || n != 3 || !oldest.Equal(t0.Add(-3*time.Minute)) {
			t.Fatalf("three pending: %d, %v, %v; want 3, %v", n, oldest, err, t0.Add(-3*time.Minute))
		}

		// Claimed items are still pending; processed ones (finished, or given up) are not.
		pending, err := s.PendingInbox(ctx, 10)
		if err != nil || len(pending) != 3 {
			t.Fatalf("pending = %d, %v", len(pending), err)
		}
		if err := s.FinishInbox(ctx, pending[0].ID, "applied"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimInbox(ctx, "replica-a", time.Minute, 10); err != nil {
			t.Fatal(err)
		}
		n, oldest, err = s.InboxPending(ctx)
		if err != nil || n != 2 || !oldest.Equal(t0.Add(-time.Minute)) {
			t.Fatalf("after finishing the oldest: %d, %v, %v; want 2, %v", n, oldest, err, t0.Add(-time.Minute))
		}
		for _, it := range pending[1:] {
			if err := s.FinishInbox(ctx, it.ID, "applied"); err != nil {
				t.Fatal(err)
			}
		}
		if n, oldest, err := s.InboxPending(ctx); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("all processed: %d, %v, %v; want 0, zero time", n, oldest, err)
		}
	})
}

func TestConsentCountsByStatus(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)

		got, err := s.ConsentCountsByStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(consent.All) {
			t.Errorf("no consents: %v, want every status at 0", got)
		}
		for _, st := range consent.All {
			if n, ok := got[st]; !ok || n != 0 {
				t.Errorf("no consents: %s = %d (present %v), want 0", st, n, ok)
			}
		}

		want := map[consent.Status]int{consent.Authorised: 3, consent.Rejected: 1, consent.Started: 2}
		i := 0
		for st, n := range want {
			for range n {
				i++
				if err := s.CreateConsent(ctx, Consent{ID: fmt.Sprint("c", i), Status: st}); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err = s.ConsentCountsByStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range consent.All {
			if got[st] != want[st] {
				t.Errorf("%s = %d, want %d", st, got[st], want[st])
			}
		}
		if len(got) != len(consent.All) {
			t.Errorf("counts = %v, want exactly the statuses of consent.All", got)
		}
	})
}
