package store

// Round trips on both backends: what goes in comes back identical, whatever the database does with types, text
// encodings and time zones.

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// moneyStrings are amounts as people and APIs write them: they must come back as the same characters (no numeric
// conversion, no trimmed zeros, no locale).
var moneyStrings = []string{"1234.56", "R$ 1.234,56", "0.10", "-0.00", "1e-7", "12345678901234567890.123456789",
	"€ 12,00", "١٢٣٫٤٥", " 7.00 "}

// oddBytes is a webhook body that is not text: NUL bytes, invalid UTF-8 (a lone continuation byte, an overlong
// form, a truncated sequence), a byte-order mark and every byte value once.
func oddBytes() []byte {
	b := []byte("\x00{\"eventId\":\"odd\"}\x00\xff\xfe\x80\xc0\xaf\xe2\x82\xef\xbb\xbf")
	for i := 0; i < 256; i++ {
		b = append(b, byte(i))
	}
	return b
}

func TestRoundTripTimesAreMicrosecondsInUTC(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		brt := time.FixedZone("BRT", -3*60*60)
		at := time.Date(2026, 11, 25, 7, 0, 0, 123456789, brt) // nanoseconds: the store keeps microseconds
		want := time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)
		before1970 := time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC)
		far := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
		same := func(name string, got, want time.Time) {
			t.Helper()
			if !got.Equal(want) || got.Location() != time.UTC || got.Nanosecond()%1000 != 0 {
				t.Errorf("%s = %v (%s), want %v in UTC", name, got, got.Location(), want)
			}
		}

		if err := s.CreateLink(ctx, Link{ID: "l", TokenExpiresAt: far, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		l, err := s.Link(ctx, "l")
		if err != nil {
			t.Fatal(err)
		}
		same("Link.CreatedAt", l.CreatedAt, want)
		same("Link.TokenExpiresAt", l.TokenExpiresAt, far)

		cb := before1970
		if err := s.CreateConsent(ctx, Consent{ID: "c", CreatedAt: at, CallbackAt: &cb, NextPollAt: &far}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Consent(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		same("Consent.CreatedAt", c.CreatedAt, want)
		same("Consent.UpdatedAt", c.UpdatedAt, want)
		same("Consent.CallbackAt", *c.CallbackAt, before1970)
		same("Consent.NextPollAt", *c.NextPollAt, far)
		if c.ReportsRequestedAt != nil {
			t.Errorf("ReportsRequestedAt = %v, want nil", c.ReportsRequestedAt)
		}
		cur := ConsentCursor{CreatedAt: c.CreatedAt, ID: c.ID}
		if back, err := ParseConsentCursor(cur.String()); err != nil || back != cur {
			t.Errorf("cursor %v came back as %v, %v", cur, back, err)
		}

		if err := s.AddTimeline(ctx, TimelineEntry{ConsentID: "c", Kind: "api", At: at}); err != nil {
			t.Fatal(err)
		}
		if tl, err := s.Timeline(ctx, "c"); err != nil || len(tl) != 1 {
			t.Fatalf("Timeline = %v, %v", tl, err)
		} else {
			same("TimelineEntry.At", tl[0].At, want)
		}

		d, items := eventDelivery("e1")
		d.ReceivedAt = at
		if _, err := s.RecordEventDelivery(ctx, d, items); err != nil {
			t.Fatal(err)
		}
		if ds, err := s.Deliveries(ctx, 1); err != nil || len(ds) != 1 {
			t.Fatalf("Deliveries = %v, %v", ds, err)
		} else {
			same("Delivery.ReceivedAt", ds[0].ReceivedAt, want)
		}
		if p, err := s.PendingInbox(ctx, 1); err != nil || len(p) != 1 {
			t.Fatalf("PendingInbox = %v, %v", p, err)
		} else {
			same("InboxItem.ReceivedAt", p[0].ReceivedAt, want)
		}
		if _, err := s.RecordReportDelivery(ctx, Delivery{ReceivedAt: at}, Report{ID: "r", ConsentID: "c"}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Report(ctx, "r"); err != nil {
			t.Fatal(err)
		} else {
			same("Report.ReceivedAt", r.ReceivedAt, want)
		}
		if err := s.AddAudit(ctx, AuditEntry{At: at, Actor: "cli", Action: "x"}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Audit(ctx, 0, 1); err != nil || len(p.Rows) != 1 {
			t.Fatalf("Audit = %v, %v", p, err)
		} else {
			same("AuditEntry.At", p.Rows[0].At, want)
		}
		if err := s.SaveSession(ctx, Session{IDHash: "h", CreatedAt: at, SeenAt: at, ExpiresAt: far}); err != nil {
			t.Fatal(err)
		}
		if ss, err := s.Session(ctx, "h"); err != nil {
			t.Fatal(err)
		} else {
			same("Session.CreatedAt", ss.CreatedAt, want)
			same("Session.ExpiresAt", ss.ExpiresAt, far)
		}
	})
}

func TestRoundTripStringsJSONAndBytes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()

		// Money strings as timeline arguments, permissions, Klavi's expiry text and a report message.
		args := append([]string(nil), moneyStrings...)
		if err := s.CreateConsent(ctx, Consent{ID: "c", PermissionsGranted: args, ExpireAt: moneyStrings[1],
			InstitutionName: "Banco Ação & Cia \"S/A\" 'ok' \\ ✓"}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Consent(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.PermissionsGranted, moneyStrings) || c.ExpireAt != moneyStrings[1] ||
			c.InstitutionName != "Banco Ação & Cia \"S/A\" 'ok' \\ ✓" {
			t.Errorf("consent strings = %q %q %q", c.PermissionsGranted, c.ExpireAt, c.InstitutionName)
		}
		line := TimelineEntry{ConsentID: "c", Kind: "reports", OK: true, Title: consent.M("tl.x", args...),
			Detail: consent.M("tl.y", "{\"amount\":\"1234.56\"}", "")}
		if err := s.AddTimeline(ctx, line); err != nil {
			t.Fatal(err)
		}
		if tl, err := s.Timeline(ctx, "c"); err != nil || len(tl) != 1 || !tl[0].Title.Equal(line.Title) ||
			!tl[0].Detail.Equal(line.Detail) || !tl[0].OK {
			t.Errorf("timeline = %+v, %v; want %+v", tl, err, line)
		}

		// JSON report bodies byte for byte: number spelling, key order, escapes and whitespace untouched.
		raw := []byte("{\"amount\": \"1234.56\",\n \"value\":1234.5600, \"big\":12345678901234567890.123456789,\t" +
			"\"a\":1,\"A\":2,\"esc\":\"\\u00e7\\n\\\"\", \"utf8\":\"ção\", \"empty\":{}}")
		if _, err := s.RecordReportDelivery(ctx, Delivery{Body: raw}, Report{ID: "r", ConsentID: "c",
			Message: moneyStrings[1], Raw: raw}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Report(ctx, "r")
		if err != nil || !bytes.Equal(r.Raw, raw) || r.Message != moneyStrings[1] || r.Size != len(raw) {
			t.Errorf("report = raw %q message %q size %d, %v", r.Raw, r.Message, r.Size, err)
		}

		// Webhook bodies that are not text at all, in the delivery, its list entry and the inbox item.
		odd := oddBytes()
		d := Delivery{Kind: "event", SignatureValid: true, Keys: []string{"odd"}, Body: odd}
		if _, err := s.RecordEventDelivery(ctx, d, []InboxItem{{Key: "odd", Body: odd}}); err != nil {
			t.Fatal(err)
		}
		ds, err := s.Deliveries(ctx, 1)
		if err != nil || len(ds) != 1 || !bytes.Equal(ds[0].Body, odd) || ds[0].Size != len(odd) {
			t.Fatalf("Deliveries = %+v, %v", ds, err)
		}
		if full, err := s.Delivery(ctx, ds[0].ID); err != nil || !bytes.Equal(full.Body, odd) {
			t.Errorf("Delivery body = %q, %v", full.Body, err)
		}
		if p, err := s.PendingInbox(ctx, 10); err != nil || len(p) != 1 || !bytes.Equal(p[0].Body, odd) {
			t.Errorf("inbox body = %+v, %v", p, err)
		}

		// Session data is a JSON object of strings.
		data := map[string]string{"amount": "R$ 1.234,56", "json": `{"a":[1,2]}`, "nul-free ✓": "\u2028\t\"'"}
		if err := s.SaveSession(ctx, Session{IDHash: "h", Data: data, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if ss, err := s.Session(ctx, "h"); err != nil || !reflect.DeepEqual(ss.Data, data) {
			t.Errorf("session data = %q, %v", ss.Data, err)
		}
	})
}

// TestPurgeFindsIdsInBodiesThatAreNotText: the body search that erases a link's webhook bodies works on raw bytes,
// so an id after NUL bytes or invalid UTF-8 is found all the same (and a body without it is kept).
func TestPurgeFindsIdsInBodiesThatAreNotText(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		if err := s.CreateLink(ctx, Link{ID: "link-z", PersonalTaxID: "52998224725"}); err != nil {
			t.Fatal(err)
		}
		mentions := append(oddBytes(), []byte(`{"linkId":"link-z"}`)...)
		for key, body := range map[string][]byte{"mentions": mentions, "other": oddBytes()} {
			if _, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", Keys: []string{key}, Body: body},
				[]InboxItem{{Key: key, Body: body}}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := s.PurgeLink(ctx, "link-z")
		if err != nil || p.Deliveries != 2 || p.Links != 1 {
			t.Fatalf("PurgeLink = %+v, %v; want the delivery and the inbox body of the one that mentions it", p, err)
		}
		if n := countRows(t, s, `SELECT count(*) FROM inbox WHERE body IS NULL`); n != 1 {
			t.Errorf("%d inbox bodies dropped, want 1", n)
		}
	})
}

// TestTextWithNULOrInvalidUTF8 stores alike on both backends (PostgreSQL's TEXT takes neither): each NUL and each
// invalid sequence becomes U+FFFD, lookups with the same bytes find the row, and a webhook carrying such text in an
// event name is stored rather than refused; bodies keep their bytes.
func TestTextWithNULOrInvalidUTF8(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		odd := "c\x00-\xff-ok"
		if err := s.CreateConsent(ctx, Consent{ID: odd, InstitutionName: "Banco\x00"}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Consent(ctx, odd)
		if err != nil || c.ID != "c\uFFFD-\uFFFD-ok" || c.InstitutionName != "Banco\uFFFD" {
			t.Errorf("Consent(%q) = %q %q, %v", odd, c.ID, c.InstitutionName, err)
		}
		if _, err := s.Consent(ctx, "x\x00"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Consent(x NUL) = %v, want ErrNotFound", err)
		}
		body := []byte("{\"eventName\":\"consent\\u0000x\"}\x00\xff")
		d := Delivery{Kind: "event", Keys: []string{"e1"}, EventNames: []string{"consent\x00x"}, Body: body}
		if _, err := s.RecordEventDelivery(ctx, d, []InboxItem{{Key: "e1", EventName: "consent\x00x", Body: body}}); err != nil {
			t.Fatal(err)
		}
		p, err := s.PendingInbox(ctx, 1)
		if err != nil || len(p) != 1 || p[0].EventName != "consent\uFFFDx" || !bytes.Equal(p[0].Body, body) {
			t.Errorf("inbox = %+v, %v", p, err)
		}
	})
}
