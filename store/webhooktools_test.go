package store

import (
	"context"
	"errors"
	"testing"

	"github.com/klavi-demo/portal/consent"
)

// A delivery remembers the consent its body names; reading it says whether that consent is stored.
func TestDeliveryNamesItsConsent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		d, items := eventDelivery("e1")
		d.ConsentID = "c-later"
		if _, err := s.RecordEventDelivery(ctx, d, items); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordRejectedDelivery(ctx, Delivery{Kind: "event", BodySHA256: "bad", Size: 3}); err != nil {
			t.Fatal(err)
		}
		page, err := s.ListDeliveries(ctx, DeliveryFilter{})
		if err != nil || len(page.Rows) != 2 {
			t.Fatalf("ListDeliveries = %+v, %v", page, err)
		}
		if got := page.Rows[1]; got.ConsentID != "c-later" || got.ConsentKnown {
			t.Errorf("before the consent exists: %q known=%v", got.ConsentID, got.ConsentKnown)
		}
		if got := page.Rows[0]; got.ConsentID != "" || got.ConsentKnown {
			t.Errorf("rejected delivery: %q known=%v", got.ConsentID, got.ConsentKnown)
		}
		if err := s.CreateConsent(ctx, Consent{ID: "c-later", Status: consent.AwaitingAuthorisation}); err != nil {
			t.Fatal(err)
		}
		page, err = s.ListDeliveries(ctx, DeliveryFilter{Kind: "event", SignatureValid: new(true)})
		if err != nil || len(page.Rows) != 1 || !page.Rows[0].ConsentKnown || page.Rows[0].ConsentID != "c-later" {
			t.Fatalf("after the consent exists: %+v, %v", page, err)
		}
		one, err := s.Delivery(ctx, page.Rows[0].ID)
		if err != nil || !one.ConsentKnown || one.ConsentID != "c-later" || string(one.Body) != "[...]" {
			t.Errorf("Delivery = %+v, %v", one, err)
		}
		all, err := s.Deliveries(ctx, 10)
		if err != nil || len(all) != 2 || all[1].ConsentID != "c-later" || !all[1].ConsentKnown {
			t.Errorf("Deliveries = %+v, %v", all, err)
		}
	})
}

// DeliveryByBodySHA256 finds the newest delivery of a body; InboxItem finds an item by its kind and key.
func TestDeliveryByBodyHashAndInboxItem(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		d, items := eventDelivery("k1", "k2")
		d.BodySHA256 = "aaaa"
		if _, err := s.RecordEventDelivery(ctx, d, items); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordEventDelivery(ctx, d, items); err != nil { // the same bytes again: a duplicate
			t.Fatal(err)
		}
		got, err := s.DeliveryByBodySHA256(ctx, "aaaa")
		if err != nil || !got.Duplicate || string(got.Body) != "[...]" {
			t.Fatalf("DeliveryByBodySHA256 = %+v, %v; want the newer (duplicate) delivery with its body", got, err)
		}
		if _, err := s.DeliveryByBodySHA256(ctx, "bbbb"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown hash: %v, want ErrNotFound", err)
		}
		it, err := s.InboxItem(ctx, "event", "k2")
		if err != nil || it.Key != "k2" || it.DeliveryID == got.ID || string(it.Body) != `{"eventId":"k2"}` {
			t.Errorf("InboxItem = %+v, %v; want k2 of the first delivery", it, err)
		}
		if _, err := s.InboxItem(ctx, "report", "k2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("other kind: %v, want ErrNotFound", err)
		}
	})
}

func TestReplaysAreKeptPerDelivery(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		if _, err := s.AddReplay(ctx, Replay{DeliveryID: 99}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("replay of a missing delivery: %v, want ErrNotFound", err)
		}
		d, items := eventDelivery("r1")
		if _, err := s.RecordEventDelivery(ctx, d, items); err != nil {
			t.Fatal(err)
		}
		ds, _ := s.Deliveries(ctx, 1)
		id := ds[0].ID
		first, err := s.AddReplay(ctx, Replay{DeliveryID: id, Actor: "ana@example.com", Changed: true,
			Result: consent.R(consent.RProcessed), ConsentID: "c1", StatusBefore: consent.Authorised,
			StatusAfter: consent.Revoked})
		if err != nil || first.ID == 0 || !first.At.Equal(c.Now()) {
			t.Fatalf("AddReplay = %+v, %v", first, err)
		}
		c.Advance(1e9)
		if _, err := s.AddReplay(ctx, Replay{DeliveryID: id, Actor: "bia@example.com", Result: consent.R(consent.RProcessed),
			ConsentID: "c1", StatusBefore: consent.Revoked, StatusAfter: consent.Revoked}); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Replays(ctx, id)
		if err != nil || len(rs) != 2 {
			t.Fatalf("Replays = %+v, %v", rs, err)
		}
		if rs[0].Actor != "bia@example.com" || rs[0].Changed || rs[1] != first {
			t.Errorf("Replays = %+v; want the newest first and the first as stored (%+v)", rs, first)
		}
		if other, err := s.Replays(ctx, id+1); err != nil || len(other) != 0 {
			t.Errorf("replays of another delivery = %+v, %v", other, err)
		}
	})
}

// Migration 0008 fills the consent of deliveries stored before it from their bodies. The test takes a database back
// to before 0008 (its objects dropped, its record deleted), stores bodies of every shape, and opens it again.
func TestMigration0008FindsTheConsentOfOlderDeliveries(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, db := openTest(t, be)
		for _, q := range []sqlText{`DROP TABLE webhook_replays`, `DROP INDEX webhook_deliveries_body_sha256`,
			`ALTER TABLE webhook_deliveries DROP COLUMN consent_id`, `DELETE FROM schema_migrations WHERE version = 8`} {
			if _, err := s.w.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		bodies := []struct {
			body  string
			valid bool
			want  string
		}{
			{`[{"eventId":"1","eventName":"consent_revoked","payload":{"consents":{"consentId":"c-arr"}}}]`, true, "c-arr"},
			{`{"eventId":"2","eventName":"consent_authorised","payload":{"consents":{"consentId":"c-obj"}}}`, true, "c-obj"},
			{`[{"eventId":"3","payload":{"consents":[{"consentId":"c-list"}]}}]`, true, "c-list"},
			{`[{"eventId":"4","eventName":"product_generated_success","payload":{"consentIds":["c-prod","x"]}}]`, true, "c-prod"},
			{`{"productReportId":"r1","links":[{"linkId":"l","consents":[{"consentId":"c-rep"}]}]}`, true, "c-rep"},
			{`[{"eventId":"5","eventName":"link_created","payload":{"linkId":"l"}}]`, true, ""},
			{`not json at all`, true, ""},
			{"\xff\xfe", true, ""},
			{`[{"eventId":"6","payload":{"consents":{"consentId":"c-bad-signature"}}}]`, false, ""},
		}
		for _, b := range bodies {
			if _, err := s.w.ExecContext(ctx, `INSERT INTO webhook_deliveries (kind, received_at, signature_valid, body)
				VALUES ('event', 1, ?, ?)`, boolInt(b.valid), []byte(b.body)); err != nil {
				t.Fatal(err)
			}
		}
		// Report deliveries keep no body: their report row names the consent, or only its link.
		if err := s.CreateConsent(ctx, Consent{ID: "c-of-link", LinkID: "l-only"}); err != nil {
			t.Fatal(err)
		}
		reports := []struct{ id, link, consent, want string }{
			{"r-named", "l-x", "c-named", "c-named"},
			{"r-link", "l-only", "", "c-of-link"},
			{"r-nothing", "", "", ""},
		}
		for _, r := range reports {
			var id int64
			if err := s.w.QueryRowContext(ctx, `INSERT INTO webhook_deliveries (kind, received_at, signature_valid, keys)
				VALUES ('report', 1, 1, ?) RETURNING id`, `["`+r.id+`"]`).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.w.ExecContext(ctx, `INSERT INTO reports (product_report_id, delivery_id, link_id, consent_id,
				received_at) VALUES (?, ?, ?, ?, 1)`, r.id, id, r.link, r.consent); err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, struct {
				body  string
				valid bool
				want  string
			}{r.id, true, r.want})
		}
		// A duplicate of the first report: no row of its own, found by its key.
		if _, err := s.w.ExecContext(ctx, `INSERT INTO webhook_deliveries (kind, received_at, signature_valid, keys,
			duplicate) VALUES ('report', 1, 1, '["r-named"]', 1)`); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, struct {
			body  string
			valid bool
			want  string
		}{"r-named again", true, "c-named"})
		s2 := migrateAgain(t, s, db)
		all, err := s2.Deliveries(ctx, 100)
		if err != nil || len(all) != len(bodies) {
			t.Fatalf("Deliveries = %d, %v", len(all), err)
		}
		for i, d := range all { // newest first
			b := bodies[len(bodies)-1-i]
			if d.ConsentID != b.want {
				t.Errorf("body %.40q: consent %q, want %q", b.body, d.ConsentID, b.want)
			}
		}
		if rs, err := s2.Replays(ctx, all[0].ID); err != nil || len(rs) != 0 {
			t.Errorf("replays table after the migration: %v, %v", rs, err)
		}
	})
}

func TestHasReport(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		if ok, err := s.HasReport(ctx, "rep-1"); err != nil || ok {
			t.Fatalf("before: %v, %v", ok, err)
		}
		if _, err := s.RecordReportDelivery(ctx, Delivery{Kind: "report", SignatureValid: true, Keys: []string{"rep-1"}},
			Report{ID: "rep-1", Raw: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.HasReport(ctx, "rep-1"); err != nil || !ok {
			t.Errorf("after: %v, %v", ok, err)
		}
	})
}
