package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// seedPurge stores two links (one to purge, one to keep) with consents, reports and webhook bodies.
func seedPurge(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for _, l := range []Link{
		{ID: "link-a", SessionID: "s1", PersonType: "personal", PersonalTaxID: "52998224725", Email: "a@b.co",
			Phone: "+5511999999999", LinkToken: "tok-a", TokenExpiresAt: t0},
		{ID: "link-b", SessionID: "s2", PersonType: "personal", PersonalTaxID: "11144477735", Email: "c@d.co",
			LinkToken: "tok-b", TokenExpiresAt: t0},
	} {
		if err := s.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []Consent{
		{ID: "consent-a1", LinkID: "link-a", PersonType: "personal", PersonalTaxID: "52998224725", TrackIDHash: "h1", HolderRef: "ref-a1"},
		{ID: "consent-a2", LinkID: "link-a", PersonType: "business", PersonalTaxID: "52998224725", BusinessTaxID: "11222333000181", TrackIDHash: "h2", HolderRef: "ref-a2"},
		{ID: "consent-b1", LinkID: "link-b", PersonType: "personal", PersonalTaxID: "11144477735", TrackIDHash: "h3", HolderRef: "ref-b1"},
	} {
		if err := s.CreateConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []Report{
		{ID: "rep-a1", LinkID: "link-a", ConsentID: "consent-a1", ProductName: "pf_checking_account", Raw: []byte(`{"enquiryCpf":"52998224725"}`)},
		{ID: "rep-a-link-only", LinkID: "link-a", ProductName: "pf_savings_account", Raw: []byte(`{}`)},
		{ID: "rep-a2-no-link", ConsentID: "consent-a2", ProductName: "pj_checking_account", Raw: []byte(`{}`)},
		{ID: "rep-b1", LinkID: "link-b", ConsentID: "consent-b1", ProductName: "pf_checking_account", Raw: []byte(`{"enquiryCpf":"11144477735"}`)},
	} {
		if _, err := s.RecordReportDelivery(ctx, Delivery{Kind: "report", SignatureValid: true, Keys: []string{r.ID}}, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []struct{ key, body string }{
		{"ev-a", `[{"eventId":"ev-a","payload":{"personalTaxId":"52998224725","linkId":"link-a","consents":{"consentId":"consent-a1"}}}]`},
		{"ev-b", `[{"eventId":"ev-b","payload":{"personalTaxId":"11144477735","linkId":"link-b","consents":{"consentId":"consent-b1"}}}]`},
		// "link-a" appears only inside a longer id: must not match.
		{"ev-c", `[{"eventId":"ev-c","payload":{"linkId":"link-abc"}}]`},
	} {
		d := Delivery{Kind: "event", SignatureValid: true, Keys: []string{ev.key}, Body: []byte(ev.body)}
		if _, err := s.RecordEventDelivery(ctx, d, []InboxItem{{Kind: "event", Key: ev.key, Body: []byte(ev.body)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func countRows(t *testing.T, s *Store, query sqlText, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestPurgeLink(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		seedPurge(t, s)

		p, err := s.PurgeLink(ctx, "link-a")
		if err != nil {
			t.Fatalf("PurgeLink: %v", err)
		}
		if want := (Purged{Reports: 3, Consents: 2, Links: 1, Deliveries: 2}); p != want {
			t.Errorf("Purged = %+v, want %+v", p, want)
		}

		// Reports of the link (by link id or by consent) are gone; the other link's stay.
		for _, id := range []string{"rep-a1", "rep-a-link-only", "rep-a2-no-link"} {
			if _, err := s.Report(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("report %s: err = %v, want ErrNotFound", id, err)
			}
		}
		if _, err := s.Report(ctx, "rep-b1"); err != nil {
			t.Errorf("other link's report: %v", err)
		}
		// Link and consents keep ids and status but no personal data.
		l, err := s.Link(ctx, "link-a")
		if err != nil {
			t.Fatal(err)
		}
		if l.PersonalTaxID != "" || l.BusinessTaxID != "" || l.Email != "" || l.Phone != "" || l.LinkToken != "" {
			t.Errorf("link keeps personal data: %+v", l)
		}
		for _, id := range []string{"consent-a1", "consent-a2"} {
			c, err := s.Consent(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.PersonalTaxID != "" || c.BusinessTaxID != "" {
				t.Errorf("%s keeps tax ids", id)
			}
			if c.HolderRef != "" {
				t.Errorf("%s keeps its holder ref %q (a pseudonym of the erased tax id)", id, c.HolderRef)
			}
			tl, _ := s.Timeline(ctx, id)
			if len(tl) != 1 || tl[0].Title.Key != consent.TLPurgedByHolder || tl[0].Kind != "status" || !tl[0].OK {
				t.Errorf("%s audit = %+v", id, tl)
			}
			for _, e := range tl {
				if strings.Contains(fmt.Sprint(e.Title, e.Detail), "52998224725") || strings.Contains(fmt.Sprint(e.Title, e.Detail), "11222333000181") {
					t.Errorf("audit entry has a tax id: %+v", e)
				}
			}
		}
		// Nothing anywhere still holds the purged holder's tax ids (the other holder's data is untouched).
		for _, q := range []sqlText{
			`SELECT count(*) FROM links WHERE personal_tax_id = ? OR business_tax_id = ?`,
			`SELECT count(*) FROM consents WHERE personal_tax_id = ? OR business_tax_id = ?`,
			`SELECT count(*) FROM (SELECT raw AS body FROM reports) r WHERE {bodyHas} OR {bodyHas}`,
			`SELECT count(*) FROM webhook_deliveries WHERE {bodyHas} OR {bodyHas}`,
			`SELECT count(*) FROM inbox WHERE {bodyHas} OR {bodyHas}`,
		} {
			if n := countRows(t, s, q, "52998224725", "11222333000181"); n != 0 {
				t.Errorf("%s: %d rows still hold the tax id", q, n)
			}
			if n := countRows(t, s, q, "11144477735", "11144477735"); n == 0 && !strings.Contains(string(q), "reports") {
				t.Errorf("%s: the other holder's data was erased", q)
			}
		}
		if _, err := s.Report(ctx, "rep-b1"); err != nil {
			t.Error("other report gone")
		}
		if n := countRows(t, s, `SELECT count(*) FROM inbox WHERE key = 'ev-c' AND body IS NOT NULL`); n != 1 {
			t.Error("a body mentioning a longer id was dropped")
		}
		c, _ := s.Consent(ctx, "consent-b1")
		if c.PersonalTaxID != "11144477735" || c.HolderRef != "ref-b1" {
			t.Error("other consent touched")
		}
		if n := countRows(t, s, `SELECT count(*) FROM consents WHERE holder_ref IN ('ref-a1', 'ref-a2')`); n != 0 {
			t.Errorf("%d consents still hold the purged holder's refs", n)
		}

		// Idempotent: nothing left, no new audit entry.
		p, err = s.PurgeLink(ctx, "link-a")
		if err != nil || !p.Empty() {
			t.Errorf("second purge = %+v, %v", p, err)
		}
		if tl, _ := s.Timeline(ctx, "consent-a1"); len(tl) != 1 {
			t.Errorf("second purge wrote %d entries", len(tl))
		}
	})
}

func TestPurgeLinkEdgeCases(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		if _, err := s.PurgeLink(ctx, ""); err == nil {
			t.Error("empty link id accepted")
		}
		p, err := s.PurgeLink(ctx, "never-seen")
		if err != nil || !p.Empty() {
			t.Errorf("unknown link = %+v, %v", p, err)
		}
		// Consents of a link this database never stored are still purged.
		if err := s.CreateConsent(ctx, Consent{ID: "c-x", LinkID: "link-x", PersonalTaxID: "52998224725"}); err != nil {
			t.Fatal(err)
		}
		p, err = s.PurgeLink(ctx, "link-x")
		if err != nil || p.Consents != 1 || p.Links != 0 {
			t.Errorf("purge without link row = %+v, %v", p, err)
		}
		// A cancelled context changes nothing.
		if err := s.CreateConsent(ctx, Consent{ID: "c-y", LinkID: "link-y", PersonalTaxID: "52998224725"}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.PurgeLink(cctx, "link-y"); err == nil {
			t.Error("purge with a cancelled context succeeded")
		}
		if c, _ := s.Consent(ctx, "c-y"); c.PersonalTaxID == "" {
			t.Error("failed purge changed data")
		}
	})
}

func TestPurgeExpiredErasesOnlyLinksPastTheCutoff(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		if err := s.CreateLink(ctx, Link{ID: "old", SessionID: "s1", PersonType: "personal", PersonalTaxID: "52998224725",
			Email: "a@b.co", LinkToken: "tok-old", TokenExpiresAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateConsent(ctx, Consent{ID: "c-old", LinkID: "old", PersonType: "personal", PersonalTaxID: "52998224725", TrackIDHash: "h1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordReportDelivery(ctx, Delivery{Kind: "report", SignatureValid: true, Keys: []string{"r-old"}},
			Report{ID: "r-old", LinkID: "old", ConsentID: "c-old", ProductName: "pf_checking_account", Raw: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		c.Advance(40 * 24 * time.Hour)
		if err := s.CreateLink(ctx, Link{ID: "new", SessionID: "s2", PersonType: "personal", PersonalTaxID: "11144477735",
			LinkToken: "tok-new", TokenExpiresAt: t0}); err != nil {
			t.Fatal(err)
		}
		// An old link whose only remaining personal data is a consent's holder ref is still due.
		if err := s.CreateConsent(ctx, Consent{ID: "c-ref-only", LinkID: "old-ref", HolderRef: "ref-only"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateLink(ctx, Link{ID: "old-ref", SessionID: "s3", PersonType: "personal", TokenExpiresAt: t0,
			CreatedAt: c.Now().Add(-35 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		cutoff := c.Now().Add(-30 * 24 * time.Hour)
		n, err := s.PurgeExpired(ctx, cutoff)
		if err != nil || n != 2 {
			t.Fatalf("PurgeExpired = %d, %v; want 2 links", n, err)
		}
		if ro, _ := s.Consent(ctx, "c-ref-only"); ro.HolderRef != "" {
			t.Errorf("holder ref kept past the retention: %q", ro.HolderRef)
		}
		if got := countRows(t, s, `SELECT count(*) FROM reports WHERE link_id = 'old'`); got != 0 {
			t.Errorf("reports of the old link = %d, want 0", got)
		}
		if got := countRows(t, s, `SELECT count(*) FROM links WHERE id = 'old' AND personal_tax_id = '' AND email = '' AND link_token = ''`); got != 1 {
			t.Error("the old link keeps personal data")
		}
		if got := countRows(t, s, `SELECT count(*) FROM links WHERE id = 'new' AND personal_tax_id = '11144477735'`); got != 1 {
			t.Error("the new link was purged")
		}
		old, err := s.Consent(ctx, "c-old")
		if err != nil || old.PersonalTaxID != "" {
			t.Errorf("old consent = %+v, %v; want it kept without the CPF", old, err)
		}
		tl, _ := s.Timeline(ctx, "c-old")
		if len(tl) != 1 || tl[0].Title.Key != consent.TLPurgedRetention || tl[0].Detail.Key != consent.TLPurgeRetentionDetail || tl[0].Detail.Args[0] != "1" {
			t.Errorf("audit entry = %+v", tl)
		}
		if n, err := s.PurgeExpired(ctx, cutoff); err != nil || n != 0 {
			t.Errorf("second PurgeExpired = %d, %v; want 0 (idempotent)", n, err)
		}
	})
}
