package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

func TestSettleDeliveryResultCombinesItsItems(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		if _, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true, Keys: []string{"a", "b", "c"}, Result: "accepted"},
			[]InboxItem{{Key: "a"}, {Key: "b"}, {Key: "c"}}); err != nil {
			t.Fatal(err)
		}
		items, err := s.PendingInbox(ctx, 10)
		if err != nil || len(items) != 3 {
			t.Fatalf("PendingInbox = %d items, %v", len(items), err)
		}
		did := items[0].DeliveryID
		result := func() string {
			t.Helper()
			d, err := s.Delivery(ctx, did)
			if err != nil {
				t.Fatal(err)
			}
			return d.Result
		}

		if err := s.SettleDeliveryResult(ctx, did); err != nil {
			t.Fatal(err)
		}
		if got := result(); got != "accepted" {
			t.Errorf("nothing processed: result = %q, want accepted", got)
		}
		if err := s.FinishInbox(ctx, items[0].ID, "processed"); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishInbox(ctx, items[1].ID, "processed"); err != nil {
			t.Fatal(err)
		}
		for range MaxInboxAttempts {
			if err := s.RetryInbox(ctx, items[2].ID, "retry: call interrupted"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SettleDeliveryResult(ctx, did); err != nil {
			t.Fatal(err)
		}
		if got, want := result(), "processed; dead: retry: call interrupted"; got != want {
			t.Errorf("result = %q, want %q", got, want)
		}
		if err := s.SettleDeliveryResult(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown delivery: err = %v, want ErrNotFound", err)
		}
	})
}

func TestAddTimelineCoalescedCountsRepeats(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		poll := TimelineEntry{ConsentID: "c1", Kind: "poll", Title: consent.M(consent.TLPollUnchanged, "STARTED"), OK: true}
		for range 3 {
			if err := s.AddTimelineCoalesced(ctx, poll); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		if err := s.AddTimeline(ctx, TimelineEntry{ConsentID: "c1", Kind: "webhook", Title: consent.M(consent.TLWebhook, "consent_authorised"), OK: true}); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
		if err := s.AddTimelineCoalesced(ctx, poll); err != nil { // after another entry: a new line
			t.Fatal(err)
		}
		tl, err := s.Timeline(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != 3 {
			t.Fatalf("entries = %d, want 3: %+v", len(tl), tl)
		}
		if tl[0].Repeats != 3 || !tl[0].LastAt.Equal(tl[0].At.Add(2*time.Second)) {
			t.Errorf("first poll: repeats %d, last %v (at %v); want 3, at+2s", tl[0].Repeats, tl[0].LastAt, tl[0].At)
		}
		if tl[1].Repeats != 1 || !tl[1].LastAt.IsZero() || tl[2].Repeats != 1 {
			t.Errorf("others: %+v", tl[1:])
		}
	})
}
