package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func count(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func eventDelivery(keys ...string) (Delivery, []InboxItem) {
	d := Delivery{Kind: "event", SignatureValid: true, Keys: keys, BodySHA256: "sha", Body: []byte(`[...]`)}
	var items []InboxItem
	for _, k := range keys {
		d.EventNames = append(d.EventNames, "consent_authorised")
		items = append(items, InboxItem{Key: k, EventName: "consent_authorised", Body: []byte(`{"eventId":"` + k + `"}`)})
	}
	return d, items
}

func TestRecordEventDelivery(t *testing.T) {
	ctx := context.Background()
	s, c, _ := openTest(t)

	d, items := eventDelivery("e1")
	n, err := s.RecordEventDelivery(ctx, d, items)
	if err != nil || n != 1 {
		t.Fatalf("first delivery: %d, %v", n, err)
	}
	got, err := s.Deliveries(ctx, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("Deliveries = %v, %v", got, err)
	}
	want := Delivery{ID: got[0].ID, Kind: "event", ReceivedAt: t0, SignatureValid: true, Keys: []string{"e1"},
		EventNames: []string{"consent_authorised"}, BodySHA256: "sha", Body: []byte(`[...]`), Size: 5}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("delivery =\n%+v\nwant\n%+v", got[0], want)
	}
	pending, _ := s.PendingInbox(ctx, 10)
	if len(pending) != 1 || pending[0].Key != "e1" || pending[0].Kind != "event" || pending[0].DeliveryID != want.ID ||
		!pending[0].ReceivedAt.Equal(t0) || string(pending[0].Body) != `{"eventId":"e1"}` {
		t.Errorf("inbox = %+v", pending)
	}

	t.Run("array of 3 with one already seen gives 2 new", func(t *testing.T) {
		c.Advance(time.Second)
		d, items := eventDelivery("e1", "e2", "e3")
		n, err := s.RecordEventDelivery(ctx, d, items)
		if err != nil || n != 2 {
			t.Fatalf("newItems = %d, %v; want 2", n, err)
		}
		if got := count(t, s, "inbox"); got != 3 {
			t.Errorf("inbox rows = %d, want 3", got)
		}
		ds, _ := s.Deliveries(ctx, 1)
		if ds[0].Duplicate {
			t.Error("partly new delivery marked duplicate")
		}
	})
	t.Run("all seen is a duplicate", func(t *testing.T) {
		c.Advance(time.Second)
		d, items := eventDelivery("e2", "e3")
		n, err := s.RecordEventDelivery(ctx, d, items)
		if err != nil || n != 0 {
			t.Fatalf("newItems = %d, %v; want 0", n, err)
		}
		ds, _ := s.Deliveries(ctx, 1)
		if !ds[0].Duplicate {
			t.Error("fully known delivery not marked duplicate")
		}
	})
	t.Run("same key under another kind is new", func(t *testing.T) {
		n, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event"}, []InboxItem{{Kind: "other", Key: "e1"}})
		if err != nil || n != 1 {
			t.Errorf("newItems = %d, %v; want 1", n, err)
		}
	})
	t.Run("no items is not a duplicate", func(t *testing.T) {
		if _, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event"}, nil); err != nil {
			t.Fatal(err)
		}
		ds, _ := s.Deliveries(ctx, 1)
		if ds[0].Duplicate {
			t.Error("empty delivery marked duplicate")
		}
	})
}

// TestRecordEventDeliveryConcurrentSameEvent: 50 deliveries of one eventId at once → 1 inbox row, 50 delivery
// rows, 49 of them duplicates, exactly one caller sees a new item.
func TestRecordEventDeliveryConcurrentSameEvent(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	newTotal, failures := 0, 0
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, items := eventDelivery("same-event")
			got, err := s.RecordEventDelivery(ctx, d, items)
			mu.Lock()
			defer mu.Unlock()
			newTotal += got
			if err != nil {
				failures++
			}
		}()
	}
	close(start)
	wg.Wait()
	if newTotal != 1 || failures != 0 {
		t.Errorf("new items total = %d, failures = %d; want 1 and 0", newTotal, failures)
	}
	if got := count(t, s, "inbox"); got != 1 {
		t.Errorf("inbox rows = %d, want 1", got)
	}
	if got := count(t, s, "webhook_deliveries"); got != n {
		t.Errorf("delivery rows = %d, want %d", got, n)
	}
	var dups int
	s.r.QueryRow(`SELECT count(*) FROM webhook_deliveries WHERE duplicate = 1`).Scan(&dups)
	if dups != n-1 {
		t.Errorf("duplicates = %d, want %d", dups, n-1)
	}
}

// TestRecordEventDeliveryAtomic: when an inbox insert fails after the delivery row was written, neither is kept.
func TestRecordEventDeliveryAtomic(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	// A real failing insert inside the transaction, after the delivery row and the first inbox row.
	if _, err := s.w.Exec(`CREATE TRIGGER fail_boom BEFORE INSERT ON inbox WHEN NEW.key = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom refused'); END`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		items []InboxItem
	}{
		{"constraint failure in the second item", []InboxItem{{Key: "ok-1"}, {Key: "boom"}}},
		{"empty key", []InboxItem{{Key: "ok-2"}, {Key: ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true}, tt.items)
			if err == nil || n != 0 {
				t.Fatalf("got %d, %v; want an error and 0", n, err)
			}
			if d, i := count(t, s, "webhook_deliveries"), count(t, s, "inbox"); d != 0 || i != 0 {
				t.Errorf("after failure: %d deliveries, %d inbox rows; want 0 and 0", d, i)
			}
		})
	}
}

func TestRecordRejectedDelivery(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	body := []byte(`{"personalTaxId":"52998224725"}`)
	err := s.RecordRejectedDelivery(ctx, Delivery{Kind: "event", SignatureValid: false, BodySHA256: "h", Body: body,
		Result: "rejected: bad signature"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.Deliveries(ctx, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	d, err := s.Delivery(ctx, ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Body != nil || d.SignatureValid || d.Size != len(body) || d.Result != "rejected: bad signature" {
		t.Errorf("rejected delivery = %+v", d)
	}
	if got := count(t, s, "inbox"); got != 0 {
		t.Errorf("inbox rows = %d, want 0", got)
	}
}

func TestInboxProcessing(t *testing.T) {
	ctx := context.Background()
	s, c, _ := openTest(t)
	d, items := eventDelivery("e1", "e2", "e3")
	if _, err := s.RecordEventDelivery(ctx, d, items); err != nil {
		t.Fatal(err)
	}
	pending, err := s.PendingInbox(ctx, 10)
	if err != nil || len(pending) != 3 || pending[0].Key != "e1" || pending[2].Key != "e3" {
		t.Fatalf("PendingInbox = %+v, %v", pending, err)
	}
	if p, _ := s.PendingInbox(ctx, 2); len(p) != 2 {
		t.Errorf("limit 2 gave %d", len(p))
	}

	c.Advance(time.Second)
	if err := s.FinishInbox(ctx, pending[0].ID, "applied AUTHORISED"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := s.FinishInbox(ctx, pending[0].ID, "second result ignored"); err != nil {
		t.Errorf("FinishInbox again: %v", err)
	}
	if err := s.RetryInbox(ctx, pending[0].ID, "ignored"); err != nil {
		t.Errorf("RetryInbox on a finished item: %v", err)
	}
	var result string
	var processedAt int64
	s.r.QueryRow(`SELECT result, processed_at FROM inbox WHERE id = ?`, pending[0].ID).Scan(&result, &processedAt)
	if result != "applied AUTHORISED" || processedAt != t0.Add(time.Second).UnixMilli() {
		t.Errorf("finished item: %q at %d", result, processedAt)
	}

	for i := 1; i < MaxInboxAttempts; i++ {
		if err := s.RetryInbox(ctx, pending[1].ID, fmt.Sprintf("try %d failed", i)); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := s.PendingInbox(ctx, 10)
	if len(p) != 2 || p[0].ID != pending[1].ID || p[0].Attempts != MaxInboxAttempts-1 || p[0].Result != "try 9 failed" {
		t.Fatalf("after 9 retries: %+v", p)
	}
	if err := s.RetryInbox(ctx, pending[1].ID, "try 10 failed"); err != nil {
		t.Fatal(err)
	}
	p, _ = s.PendingInbox(ctx, 10)
	if len(p) != 1 || p[0].ID != pending[2].ID {
		t.Errorf("dead item still pending: %+v", p)
	}
	s.r.QueryRow(`SELECT result FROM inbox WHERE id = ?`, pending[1].ID).Scan(&result)
	if result != "dead: try 10 failed" {
		t.Errorf("dead result = %q", result)
	}

	for name, err := range map[string]error{
		"FinishInbox": s.FinishInbox(ctx, 999, "x"),
		"RetryInbox":  s.RetryInbox(ctx, 999, "x"),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s(999) = %v, want ErrNotFound", name, err)
		}
	}
}

func TestDeliveriesListAndDetail(t *testing.T) {
	ctx := context.Background()
	s, c, _ := openTest(t)
	big := bytes.Repeat([]byte("x"), listBodyLimit+1)
	if _, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", Body: []byte("small")}, []InboxItem{{Key: "a"}}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if _, err := s.RecordReportDelivery(ctx, Delivery{Body: big}, Report{ID: "r1", Raw: big}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Deliveries(ctx, 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if ds[0].Kind != "report" || ds[0].Body != nil || ds[0].Size != len(big) {
		t.Errorf("newest (big report) = kind %q, body %d bytes, size %d", ds[0].Kind, len(ds[0].Body), ds[0].Size)
	}
	if ds[1].Kind != "event" || string(ds[1].Body) != "small" {
		t.Errorf("older (event) = %+v", ds[1])
	}
	full, err := s.Delivery(ctx, ds[0].ID)
	if err != nil || !bytes.Equal(full.Body, big) {
		t.Errorf("Delivery(big) body %d bytes, %v", len(full.Body), err)
	}
	if err := s.SetDeliveryResult(ctx, ds[1].ID, "processed"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Delivery(ctx, ds[1].ID); d.Result != "processed" {
		t.Errorf("result = %q", d.Result)
	}
	if _, err := s.Delivery(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delivery(999) = %v", err)
	}
	if err := s.SetDeliveryResult(ctx, 999, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDeliveryResult(999) = %v", err)
	}
	if ds, _ := s.Deliveries(ctx, 1); len(ds) != 1 {
		t.Errorf("limit 1 gave %d", len(ds))
	}
}
