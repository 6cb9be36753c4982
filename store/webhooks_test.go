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
	if err := s.r.QueryRowContext(context.Background(), sqlText(`SELECT count(*) FROM `+table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refuseInsert makes the database itself refuse to insert a row into table when the condition (on NEW) holds: a real
// failure inside the store's transaction, for the atomicity tests.
func refuseInsert(t *testing.T, s *Store, table, when string) {
	t.Helper()
	q := `CREATE TRIGGER refuse_` + table + ` BEFORE INSERT ON ` + table + ` WHEN ` + when + //nolint:gosec // G202: DDL from the tests' own constants
		` BEGIN SELECT RAISE(ABORT, 'refused'); END`
	if s.Backend() == "postgres" {
		q = `CREATE FUNCTION refuse_` + table + `() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF ` + when + ` THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
			CREATE TRIGGER refuse_` + table + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION refuse_` + table + `()`
	}
	if _, err := s.w.db.ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
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
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)

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
	})
}

// TestRecordEventDeliveryConcurrentSameEvent: 50 deliveries of one eventId at once → 1 inbox row, 50 delivery
// rows, 49 of them duplicates, exactly one caller sees a new item.
func TestRecordEventDeliveryConcurrentSameEvent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
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
		if err := s.r.QueryRowContext(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE duplicate = 1`).Scan(&dups); err != nil {
			t.Fatal(err)
		}
		if dups != n-1 {
			t.Errorf("duplicates = %d, want %d", dups, n-1)
		}
	})
}

// TestRecordEventDeliveryAtomic: when an inbox insert fails after the delivery row was written, neither is kept.
func TestRecordEventDeliveryAtomic(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		// A real failing insert inside the transaction, after the delivery row and the first inbox row.
		refuseInsert(t, s, "inbox", "NEW.key = 'boom'")
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
	})
}

func TestRecordRejectedDelivery(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
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
	})
}

func TestInboxProcessing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
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
		if err := s.r.QueryRowContext(context.Background(), `SELECT result, processed_at FROM inbox WHERE id = ?`, pending[0].ID).Scan(&result, &processedAt); err != nil {
			t.Fatal(err)
		}
		if result != "applied AUTHORISED" || processedAt != t0.Add(time.Second).UnixMicro() {
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
		if err := s.r.QueryRowContext(context.Background(), `SELECT result FROM inbox WHERE id = ?`, pending[1].ID).Scan(&result); err != nil {
			t.Fatal(err)
		}
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
	})
}

func TestDeliveriesListAndDetail(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
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
		if _, err := s.Delivery(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delivery(999) = %v", err)
		}
		if ds, _ := s.Deliveries(ctx, 1); len(ds) != 1 {
			t.Errorf("limit 1 gave %d", len(ds))
		}
	})
}

// seedDeliveries records n deliveries, one second apart, cycling through an accepted event, an accepted
// report and a rejected (invalid signature) event, and returns their ids in insertion order.
func seedDeliveries(t *testing.T, s *Store, c *clock, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		var err error
		switch i % 3 {
		case 0:
			d, items := eventDelivery(fmt.Sprintf("e%d", i))
			_, err = s.RecordEventDelivery(ctx, d, items)
		case 1:
			_, err = s.RecordReportDelivery(ctx, Delivery{SignatureValid: true, Body: []byte(`{"r":1}`)},
				Report{ID: fmt.Sprintf("r%d", i), Raw: []byte(`{"r":1}`)})
		default:
			err = s.RecordRejectedDelivery(ctx, Delivery{Kind: "event", Body: []byte("bad")})
		}
		if err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	ds, err := s.Deliveries(ctx, 1000)
	if err != nil || len(ds) != n {
		t.Fatalf("Deliveries = %d, %v", len(ds), err)
	}
	ids := make([]int64, n)
	for i, d := range ds {
		ids[n-1-i] = d.ID
	}
	return ids
}

// walkDeliveries follows Next from the first page to the last, checking the page size, and returns every
// delivery seen, in order, plus the number of pages.
func walkDeliveries(t *testing.T, s *Store, f DeliveryFilter) ([]Delivery, int) {
	t.Helper()
	var all []Delivery
	pages := 0
	for {
		page, err := s.ListDeliveries(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Rows) > f.Limit {
			t.Fatalf("page %d has %d rows, limit %d", pages, len(page.Rows), f.Limit)
		}
		all = append(all, page.Rows...)
		if page.Next == 0 {
			return all, pages
		}
		if len(page.Rows) != f.Limit || page.Next != page.Rows[len(page.Rows)-1].ID {
			t.Fatalf("page %d: %d rows, Next %d", pages, len(page.Rows), page.Next)
		}
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		f.BeforeID = page.Next
	}
}

func TestListDeliveriesPagination(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ids := seedDeliveries(t, s, c, 7)

		all, pages := walkDeliveries(t, s, DeliveryFilter{Limit: 3})
		if pages != 3 || len(all) != 7 {
			t.Fatalf("7 deliveries by 3: %d pages, %d rows", pages, len(all))
		}
		seen := map[int64]bool{}
		for i, d := range all {
			if want := ids[len(ids)-1-i]; d.ID != want {
				t.Errorf("row %d = id %d, want %d (newest first)", i, d.ID, want)
			}
			if seen[d.ID] {
				t.Errorf("id %d on two pages", d.ID)
			}
			seen[d.ID] = true
			if d.Body != nil {
				t.Errorf("id %d: list returned a body (%d bytes)", d.ID, len(d.Body))
			}
			if d.Size == 0 || d.Kind == "" {
				t.Errorf("id %d: missing fields %+v", d.ID, d)
			}
		}
		if full, err := s.Delivery(context.Background(), all[len(all)-1].ID); err != nil || string(full.Body) == "" {
			t.Errorf("Delivery still returns the body: %q, %v", full.Body, err)
		}

		t.Run("a full last page has no next cursor", func(t *testing.T) {
			_, pages := walkDeliveries(t, s, DeliveryFilter{Limit: 7})
			if pages != 1 {
				t.Errorf("7 rows by 7: %d pages, want 1", pages)
			}
			page, err := s.ListDeliveries(context.Background(), DeliveryFilter{Limit: 3, BeforeID: ids[3]})
			if err != nil || len(page.Rows) != 3 || page.Next != 0 {
				t.Errorf("last 3: %d rows, Next %d, %v", len(page.Rows), page.Next, err)
			}
		})
		t.Run("cursor beyond the newest, and past the oldest", func(t *testing.T) {
			page, _ := s.ListDeliveries(context.Background(), DeliveryFilter{Limit: 50, BeforeID: ids[6] + 1000})
			if len(page.Rows) != 7 {
				t.Errorf("before a future id: %d rows", len(page.Rows))
			}
			page, _ = s.ListDeliveries(context.Background(), DeliveryFilter{Limit: 50, BeforeID: ids[0]})
			if len(page.Rows) != 0 || page.Next != 0 {
				t.Errorf("before the oldest: %d rows, Next %d", len(page.Rows), page.Next)
			}
		})
		t.Run("default page size", func(t *testing.T) {
			page, _ := s.ListDeliveries(context.Background(), DeliveryFilter{})
			if len(page.Rows) != 7 || page.Next != 0 {
				t.Errorf("default: %d rows, Next %d", len(page.Rows), page.Next)
			}
		})
	})
}

func TestListDeliveriesFilters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		seedDeliveries(t, s, c, 10) // kinds by index: 0,3,6,9 event ok; 1,4,7 report; 2,5,8 rejected event
		valid, invalid := true, false
		tests := []struct {
			name      string
			f         DeliveryFilter
			want      int
			kind      string
			signature *bool
		}{
			{"all", DeliveryFilter{}, 10, "", nil},
			{"events", DeliveryFilter{Kind: "event"}, 7, "event", nil},
			{"reports", DeliveryFilter{Kind: "report"}, 3, "report", nil},
			{"valid signature", DeliveryFilter{SignatureValid: &valid}, 7, "", &valid},
			{"invalid signature", DeliveryFilter{SignatureValid: &invalid}, 3, "event", &invalid},
			{"valid events", DeliveryFilter{Kind: "event", SignatureValid: &valid}, 4, "event", &valid},
			{"invalid reports", DeliveryFilter{Kind: "report", SignatureValid: &invalid}, 0, "", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := tt.f
				f.Limit = 2 // filters and pagination together
				got, _ := walkDeliveries(t, s, f)
				if len(got) != tt.want {
					t.Errorf("%d rows, want %d", len(got), tt.want)
				}
				for i, d := range got {
					if tt.kind != "" && d.Kind != tt.kind {
						t.Errorf("id %d kind %q", d.ID, d.Kind)
					}
					if tt.signature != nil && d.SignatureValid != *tt.signature {
						t.Errorf("id %d signature %v", d.ID, d.SignatureValid)
					}
					if i > 0 && d.ID >= got[i-1].ID {
						t.Errorf("not newest first at %d", i)
					}
				}
			})
		}
	})
}
