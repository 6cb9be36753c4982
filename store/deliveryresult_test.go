package store

import (
	"context"
	"errors"
	"testing"
)

func TestSettleDeliveryResultCombinesItsItems(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
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
}
