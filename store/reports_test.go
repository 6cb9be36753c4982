package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordReportDelivery(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		raw := []byte(`{"productReportId":"r1","enquiryCpf":"52998224725"}`)
		r := Report{ID: "r1", RequestID: "req-1", ProductName: "pf_checking_account", ProductVersion: "1.0", Code: 200,
			Message: "ok", LinkID: "link-1", ConsentID: "consent-1", Raw: raw, BodySHA256: "sha"}
		inserted, err := s.RecordReportDelivery(ctx, Delivery{SignatureValid: true, Keys: []string{"r1"}, Body: raw}, r)
		if err != nil || !inserted {
			t.Fatalf("first = %v, %v", inserted, err)
		}
		got, err := s.Report(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		want := r
		want.DeliveryID, want.ReceivedAt, want.Size = got.DeliveryID, t0, len(raw)
		if !reflect.DeepEqual(got, want) || got.DeliveryID == 0 {
			t.Errorf("Report =\n%+v\nwant\n%+v", got, want)
		}

		head, err := s.ReportHead(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		want.Raw = nil
		if !reflect.DeepEqual(head, want) {
			t.Errorf("ReportHead =\n%+v\nwant\n%+v", head, want)
		}

		t.Run("redelivery is a duplicate and changes nothing", func(t *testing.T) {
			c.Advance(time.Second)
			r2 := r
			r2.Message = "changed"
			inserted, err := s.RecordReportDelivery(ctx, Delivery{SignatureValid: true, Keys: []string{"r1"}}, r2)
			if err != nil || inserted {
				t.Fatalf("second = %v, %v; want false", inserted, err)
			}
			again, _ := s.Report(ctx, "r1")
			if again.Message != "ok" || again.DeliveryID != got.DeliveryID {
				t.Errorf("report changed by a duplicate: %+v", again)
			}
			ds, _ := s.Deliveries(ctx, 10)
			if len(ds) != 2 || !ds[0].Duplicate || ds[1].Duplicate || ds[0].Kind != "report" {
				t.Errorf("deliveries: %+v", ds)
			}
		})
		t.Run("not found", func(t *testing.T) {
			if _, err := s.Report(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Report(nope) = %v", err)
			}
			if _, err := s.ReportHead(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReportHead(nope) = %v", err)
			}
		})
		t.Run("empty id refused", func(t *testing.T) {
			if _, err := s.RecordReportDelivery(ctx, Delivery{}, Report{}); err == nil {
				t.Error("accepted a report without id")
			}
		})
	})
}

// TestRecordReportDeliveryAtomic: a failing report insert leaves no delivery row behind.
func TestRecordReportDeliveryAtomic(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		refuseInsert(t, s, "reports", "TRUE")
		inserted, err := s.RecordReportDelivery(ctx, Delivery{SignatureValid: true}, Report{ID: "r1", Raw: []byte("{}")})
		if err == nil || inserted || !strings.HasPrefix(err.Error(), "store: record report delivery: ") {
			t.Fatalf("got %v, %v; want a wrapped error", inserted, err)
		}
		if d, r := count(t, s, "webhook_deliveries"), count(t, s, "reports"); d != 0 || r != 0 {
			t.Errorf("after failure: %d deliveries, %d reports; want 0 and 0", d, r)
		}
	})
}

func TestReportsForConsent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		for _, cs := range []Consent{{ID: "c1", LinkID: "L1"}, {ID: "c2", LinkID: "L1"}, {ID: "c3"}} {
			if err := s.CreateConsent(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []Report{
			{ID: "r-c1", ConsentID: "c1", LinkID: "L1"},
			{ID: "r-link-only", LinkID: "L1"},
			{ID: "r-c2", ConsentID: "c2", LinkID: "L1"},
			{ID: "r-other-link", LinkID: "L2"},
			{ID: "r-nothing"},
			{ID: "r-c3", ConsentID: "c3"},
		} {
			r.Raw = []byte(`{"big":true}`)
			if _, err := s.RecordReportDelivery(ctx, Delivery{}, r); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		tests := []struct{ consent, want string }{
			{"c1", "r-c1,r-link-only"},
			{"c2", "r-link-only,r-c2"},
			{"c3", "r-c3"},  // no link: only its own (never the reports naming nothing)
			{"unknown", ""}, // no error either
			{"", ""},        // never "every report without a consent"
		}
		for _, tt := range tests {
			t.Run(tt.consent, func(t *testing.T) {
				got, err := s.ReportsForConsent(ctx, tt.consent)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, r := range got {
					ids = append(ids, r.ID)
					if r.Raw != nil {
						t.Errorf("%s returned with Raw", r.ID)
					}
				}
				if strings.Join(ids, ",") != tt.want {
					t.Errorf("ReportsForConsent(%q) = %v, want %s", tt.consent, ids, tt.want)
				}
			})
		}
		all, err := s.Reports(ctx, 3)
		if err != nil || len(all) != 3 || all[0].ID != "r-c3" || all[2].ID != "r-other-link" || all[0].Raw != nil {
			t.Errorf("Reports(3) = %+v, %v", all, err)
		}
	})
}

func BenchmarkRecordEventDelivery(b *testing.B) {
	ctx := context.Background()
	s, _, _ := openTest(b, sqliteBackend)
	body := []byte(strings.Repeat("x", 600))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key := fmt.Sprintf("evt-%d", i)
		_, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true, Keys: []string{key}, Body: body},
			[]InboxItem{{Key: key, EventName: "consent_authorised", Body: body}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReportsForConsent(b *testing.B) {
	ctx := context.Background()
	s, _, _ := openTest(b, sqliteBackend)
	raw := []byte(strings.Repeat("x", 4096))
	for i := 0; i < 200; i++ {
		cid := fmt.Sprintf("c%d", i%50)
		if i < 50 {
			if err := s.CreateConsent(ctx, Consent{ID: cid, LinkID: "L" + cid}); err != nil {
				b.Fatal(err)
			}
		}
		r := Report{ID: fmt.Sprintf("r%d", i), ConsentID: cid, LinkID: "L" + cid, Raw: raw}
		if i%4 == 0 {
			r.ConsentID = "" // link-only reports exercise the second branch
		}
		if _, err := s.RecordReportDelivery(ctx, Delivery{}, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := s.ReportsForConsent(ctx, fmt.Sprintf("c%d", i%50))
		if err != nil || len(got) != 4 {
			b.Fatalf("got %d reports, %v", len(got), err)
		}
	}
}

// Migration 0012 moves reports.raw to the last column on SQLite, keeping every row, constraint and index. The test
// takes a database back to the layout before it (raw before body_sha256 and size), stores reports, and opens it again.
func TestMigration0012PutsTheBodyLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, db := openTest(t, sqliteBackend)
	for _, q := range []sqlText{`DROP TABLE reports`, `CREATE TABLE reports (
		product_report_id TEXT PRIMARY KEY CHECK (product_report_id <> ''),
		delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id), request_id TEXT NOT NULL DEFAULT '',
		product_name TEXT NOT NULL DEFAULT '', product_version TEXT NOT NULL DEFAULT '', code INTEGER NOT NULL DEFAULT 0,
		message TEXT NOT NULL DEFAULT '', link_id TEXT NOT NULL DEFAULT '', consent_id TEXT NOT NULL DEFAULT '',
		received_at INTEGER NOT NULL, raw BLOB, body_sha256 TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0)`,
		`DELETE FROM schema_migrations WHERE version = 12`} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	big := []byte(`{"productReportId":"r-big","pad":"` + strings.Repeat("x", 200_000) + `"}`)
	want := []Report{
		{ID: "r-big", RequestID: "q1", ProductName: "pf_checking_account", ProductVersion: "V1", Code: 200, Message: "OK",
			LinkID: "l1", ConsentID: "c1", Raw: big, BodySHA256: "h1", Size: len(big)},
		{ID: "r-nil", ProductName: "pf_savings_account", Code: 204, LinkID: "l2", BodySHA256: "h2", Size: 7},
	}
	for i := range want {
		if _, err := s.RecordReportDelivery(ctx, Delivery{SignatureValid: true, Keys: []string{want[i].ID}}, want[i]); err != nil {
			t.Fatal(err)
		}
		got, err := s.Report(ctx, want[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = got
	}
	s2 := migrateAgain(t, s, db)
	for _, w := range want {
		got, err := s2.Report(ctx, w.ID)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("after the migration: %+v, %v\nwant %+v", got, err, w)
		}
	}
	var last string
	if err := s2.r.QueryRowContext(ctx, `SELECT name FROM pragma_table_info('reports') ORDER BY cid DESC LIMIT 1`).Scan(&last); err != nil || last != "raw" {
		t.Errorf("last column = %q, %v; want raw", last, err)
	}
	var indexes int
	if err := s2.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reports'
		AND name IN ('reports_consent', 'reports_link', 'reports_received')`).Scan(&indexes); err != nil || indexes != 3 {
		t.Errorf("indexes = %d, %v; want 3", indexes, err)
	}
	if _, err := s2.RecordReportDelivery(ctx, Delivery{SignatureValid: true, Keys: []string{""}}, Report{ID: "", Raw: big}); err == nil {
		t.Error("an empty id was accepted after the migration")
	}
	if _, err := s2.w.ExecContext(ctx, `INSERT INTO reports (product_report_id, delivery_id, received_at) VALUES ('x', 999999, 1)`); err == nil {
		t.Error("the reference to webhook_deliveries was lost")
	}
}
