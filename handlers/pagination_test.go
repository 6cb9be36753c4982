package handlers

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/store"
)

// pagerHref returns the href of the pager link with this testid ("" when absent).
func pagerHref(t *testing.T, r resp, testid string) string {
	t.Helper()
	href, _ := r.doc(t).Find(`[data-testid="` + testid + `"]`).Attr("href")
	return href
}

// hrefQuery parses a pager link, which must stay on path.
func hrefQuery(t *testing.T, href, path string) url.Values {
	t.Helper()
	u, err := url.Parse(href)
	if err != nil || u.Path != path || u.Host != "" {
		t.Fatalf("pager href %q is not a link to %s", href, path)
	}
	return u.Query()
}

// seedInbox stores, oldest first, 52 accepted events, 6 rejected (bad signature) events and 4 reports.
func seedInbox(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 52; i++ {
		key := fmt.Sprintf("evt-%02d", i)
		d := store.Delivery{Kind: "event", SignatureValid: true, Keys: []string{key}, EventNames: []string{"consent_authorised"},
			Body: []byte(`[{"eventId":"` + key + `"}]`), Result: "processed"}
		if _, err := e.st.RecordEventDelivery(ctx, d, []store.InboxItem{{Key: key, Body: d.Body}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 6; i++ {
		if err := e.st.RecordRejectedDelivery(ctx, store.Delivery{Kind: "event", Body: []byte("x"),
			Result: "rejected: invalid signature"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("rep-%d", i)
		raw := []byte(`{"productReportId":"` + id + `"}`)
		if _, err := e.st.RecordReportDelivery(ctx, store.Delivery{SignatureValid: true, Keys: []string{id}, Body: raw,
			Result: "unmatched"}, store.Report{ID: id, Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
}

func webhookRowIDs(t *testing.T, r resp) []string {
	t.Helper()
	var ids []string
	r.doc(t).Find(`[data-testid="webhook-open"]`).Each(func(_ int, s *goqSel) {
		href, _ := s.Attr("href")
		ids = append(ids, strings.TrimPrefix(href, "/webhooks/"))
	})
	return ids
}

func TestWebhookListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedInbox(t, e)
	c := e.operator()

	first := e.get(c, "/webhooks")
	wantStatus(t, first, 200)
	firstIDs := webhookRowIDs(t, first)
	if len(firstIDs) != 50 || firstIDs[0] != "62" || firstIDs[49] != "13" {
		t.Fatalf("first page: %d rows, %v ... %v", len(firstIDs), firstIDs[:1], firstIDs[len(firstIDs)-1:])
	}
	if got := strings.TrimSpace(first.doc(t).Find(`[data-testid="webhooks-count"]`).Text()); got != "Mostrando 50 entregas" {
		t.Errorf("count line = %q", got)
	}
	if pagerHref(t, first, "pager-newer") != "" {
		t.Error("first page links to the newest page")
	}
	older := pagerHref(t, first, "pager-older")
	if q := hrefQuery(t, older, "/webhooks"); q.Get("before") != "13" || len(q) != 1 {
		t.Fatalf("older link = %q", older)
	}

	t.Run("before shows the older rows and a link back", func(t *testing.T) {
		r := e.get(c, older)
		wantStatus(t, r, 200)
		ids := webhookRowIDs(t, r)
		if len(ids) != 12 || ids[0] != "12" || ids[11] != "1" {
			t.Errorf("older page = %v", ids)
		}
		if pagerHref(t, r, "pager-older") != "" {
			t.Error("last page has an older link")
		}
		if got := pagerHref(t, r, "pager-newer"); got != "/webhooks" {
			t.Errorf("newer link = %q", got)
		}
		if got := r.doc(t).Find(`[data-testid="webhooks-count"]`).Text(); got != "Mostrando 12 entregas" {
			t.Errorf("count line = %q", got)
		}
	})
	t.Run("a bad cursor shows the first page", func(t *testing.T) {
		for _, bad := range []string{"abc", "-5", "0", "1e3", "99999999999999999999", "%00", "13;DROP"} {
			r := e.get(c, "/webhooks?before="+url.QueryEscape(bad))
			wantStatus(t, r, 200)
			if ids := webhookRowIDs(t, r); strings.Join(ids, ",") != strings.Join(firstIDs, ",") {
				t.Errorf("before=%q: not the first page (%d rows)", bad, len(ids))
			}
			if pagerHref(t, r, "pager-newer") != "" {
				t.Errorf("before=%q: newer link on the first page", bad)
			}
		}
	})
	t.Run("kind filter", func(t *testing.T) {
		r := e.get(c, "/webhooks?kind=report")
		wantStatus(t, r, 200)
		d := r.doc(t)
		if n := d.Find(`[data-testid="webhook-row"]`).Length(); n != 4 {
			t.Errorf("reports: %d rows, want 4", n)
		}
		d.Find(`[data-testid="webhook-kind"]`).Each(func(_ int, s *goqSel) {
			if s.Text() != "Relatório" {
				t.Errorf("kind cell %q in a report-only list", s.Text())
			}
		})
		if v, _ := d.Find(`[data-testid="filter-kind"] option[selected]`).Attr("value"); v != "report" {
			t.Errorf("selected kind = %q", v)
		}
		if d.Find(`[data-testid="pager"]`).Length() != 0 {
			t.Error("pager on a single page")
		}
		// An unknown value is no filter.
		if ids := webhookRowIDs(t, e.get(c, "/webhooks?kind=zzz&signature=maybe")); len(ids) != 50 || ids[0] != "62" {
			t.Errorf("unknown filters: %d rows", len(ids))
		}
	})
	t.Run("signature filter", func(t *testing.T) {
		r := e.get(c, "/webhooks?signature=invalid")
		wantStatus(t, r, 200)
		d := r.doc(t)
		if n := d.Find(`[data-testid="webhook-row"][data-signature="invalid"]`).Length(); n != 6 ||
			d.Find(`[data-testid="webhook-row"]`).Length() != 6 {
			t.Errorf("invalid: %d rows", d.Find(`[data-testid="webhook-row"]`).Length())
		}
		if v, _ := d.Find(`[data-testid="filter-signature"] option[selected]`).Attr("value"); v != "invalid" {
			t.Errorf("selected signature = %q", v)
		}
		r = e.get(c, "/webhooks?signature=valid&kind=report&before=60")
		if ids := webhookRowIDs(t, r); strings.Join(ids, ",") != "59" {
			t.Errorf("valid reports before 60 = %v", ids)
		}
	})
	t.Run("filters stay in the pager links", func(t *testing.T) {
		r := e.get(c, "/webhooks?kind=event&signature=valid")
		wantStatus(t, r, 200)
		d := r.doc(t)
		if n := d.Find(`[data-testid="webhook-row"][data-signature="valid"]`).Length(); n != 50 {
			t.Errorf("valid events: %d rows", n)
		}
		older := pagerHref(t, r, "pager-older")
		q := hrefQuery(t, older, "/webhooks")
		if q.Get("kind") != "event" || q.Get("signature") != "valid" || q.Get("before") != "3" {
			t.Fatalf("older link = %q", older)
		}
		r = e.get(c, older)
		if ids := webhookRowIDs(t, r); strings.Join(ids, ",") != "2,1" {
			t.Errorf("older valid events = %v", ids)
		}
		newer := pagerHref(t, r, "pager-newer")
		if q := hrefQuery(t, newer, "/webhooks"); q.Get("kind") != "event" || q.Get("signature") != "valid" || q.Has("before") {
			t.Errorf("newer link = %q", newer)
		}
	})
	t.Run("an empty filtered page says so", func(t *testing.T) {
		r := e.get(c, "/webhooks?before=1")
		wantStatus(t, r, 200)
		d := r.doc(t)
		if d.Find(`[data-testid="webhook-row"]`).Length() != 0 || !strings.Contains(d.Find(`[data-testid="webhooks-empty"]`).Text(), "Nenhuma entrega") {
			t.Error("no filtered empty state")
		}
		if pagerHref(t, r, "pager-newer") != "/webhooks" {
			t.Error("no way back from an empty older page")
		}
	})
	t.Run("english", func(t *testing.T) {
		c := e.operator()
		wantStatus(t, e.get(c, "/lang/en?next=/"), 303)
		r := e.get(c, "/webhooks")
		d := r.doc(t)
		if got := d.Find(`[data-testid="pager-older"]`).Text(); got != "Older →" {
			t.Errorf("older text = %q", got)
		}
		if got := d.Find(`[data-testid="webhooks-count"]`).Text(); got != "Showing 50 deliveries" {
			t.Errorf("count = %q", got)
		}
		if got := d.Find(`[data-testid="pager-newer"]`).Length(); got != 0 {
			t.Errorf("newer link on the first page")
		}
		if got := e.get(c, older).doc(t).Find(`[data-testid="pager-newer"]`).Text(); got != "← Newest" {
			t.Errorf("newer text = %q", got)
		}
	})
}

func consentRowIDs(t *testing.T, r resp) []string {
	t.Helper()
	var ids []string
	r.doc(t).Find(`[data-testid="consent-row"]`).Each(func(_ int, s *goqSel) {
		id, _ := s.Attr("data-consent-id")
		ids = append(ids, id)
	})
	return ids
}

func TestConsentListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	// 120 consents for one CPF, a second apart; even ones AUTHORISED, odd ones REJECTED. pg-000 is the oldest.
	for i := 0; i < 120; i++ {
		status := consent.Authorised
		if i%2 == 1 {
			status = consent.Rejected
		}
		c := store.Consent{ID: fmt.Sprintf("pg-%03d", i), LinkID: fmt.Sprintf("link-%03d", i), PersonType: "personal",
			PersonalTaxID: "52998224725", InstitutionName: "Banco", Status: status, CreatedAt: base.Add(time.Duration(i) * time.Second)}
		c.HolderRef = e.flow.ConsentHolderRef(c)
		if err := e.st.CreateConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Reports for the newest consent: two naming it, one naming only its link.
	for i, r := range []store.Report{{ID: "pr-1", ConsentID: "pg-119"}, {ID: "pr-2", ConsentID: "pg-119"}, {ID: "pr-3", LinkID: "link-119"}} {
		r.Raw = []byte(fmt.Sprintf(`{"n":%d}`, i))
		if _, err := e.st.RecordReportDelivery(ctx, store.Delivery{SignatureValid: true}, r); err != nil {
			t.Fatal(err)
		}
	}
	c := e.operator()

	t.Run("pages of 50 with report counts", func(t *testing.T) {
		r := e.get(c, "/consents")
		wantStatus(t, r, 200)
		ids := consentRowIDs(t, r)
		if len(ids) != 50 || ids[0] != "pg-119" || ids[49] != "pg-070" {
			t.Fatalf("first page: %d rows", len(ids))
		}
		d := r.doc(t)
		if got := d.Find(`[data-consent-id="pg-119"] .c-reports`).Text(); got != "3" {
			t.Errorf("pg-119 reports = %q, want 3", got)
		}
		if got := d.Find(`[data-consent-id="pg-118"] .c-reports`).Text(); got != "0" {
			t.Errorf("pg-118 reports = %q, want 0", got)
		}
		if got := d.Find(`[data-testid="consents-count"]`).Text(); got != "Mostrando 50 consentimentos" {
			t.Errorf("count = %q", got)
		}
		if pagerHref(t, r, "pager-newer") != "" {
			t.Error("newer link on the first page")
		}
		var seen []string
		seen = append(seen, ids...)
		href := pagerHref(t, r, "pager-older")
		for pages := 1; href != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			if q := hrefQuery(t, href, "/consents"); q.Get("before") == "" {
				t.Fatalf("older link = %q", href)
			}
			r = e.get(c, href)
			wantStatus(t, r, 200)
			if pagerHref(t, r, "pager-newer") != "/consents" {
				t.Errorf("newer link = %q", pagerHref(t, r, "pager-newer"))
			}
			seen = append(seen, consentRowIDs(t, r)...)
			href = pagerHref(t, r, "pager-older")
		}
		if len(seen) != 120 {
			t.Fatalf("walked %d consents, want 120", len(seen))
		}
		for i, id := range seen {
			if want := fmt.Sprintf("pg-%03d", 119-i); id != want {
				t.Fatalf("row %d = %s, want %s", i, id, want)
			}
		}
	})
	t.Run("status and holder filters stay in the pager links", func(t *testing.T) {
		r := e.post(c, "/consents/search", url.Values{"status": {"AUTHORISED"}, "tax_id": {"529.982.247-25"}})
		wantStatus(t, r, 303)
		holder := hrefQuery(t, r.header.Get("Location"), "/consents").Get("holder")
		r = e.get(c, r.header.Get("Location"))
		wantStatus(t, r, 200)
		ids := consentRowIDs(t, r)
		if len(ids) != 50 || ids[0] != "pg-118" || ids[49] != "pg-020" {
			t.Fatalf("AUTHORISED page 1: %d rows", len(ids))
		}
		href := pagerHref(t, r, "pager-older")
		q := hrefQuery(t, href, "/consents")
		if q.Get("status") != "AUTHORISED" || q.Get("holder") != holder || !validHolderRef(holder) ||
			q.Has("tax_id") || q.Get("before") == "" {
			t.Fatalf("older link = %q", href)
		}
		if strings.Contains(href, "52998224725") || strings.Contains(href, "982") {
			t.Fatalf("older link %q carries the CPF", href)
		}
		r = e.get(c, href)
		wantStatus(t, r, 200)
		ids = consentRowIDs(t, r)
		if len(ids) != 10 || ids[0] != "pg-018" || ids[9] != "pg-000" {
			t.Errorf("AUTHORISED page 2 = %v", ids)
		}
		r.doc(t).Find(`[data-testid="consent-row-status"]`).Each(func(_ int, s *goqSel) {
			if st, _ := s.Attr("data-status"); st != "AUTHORISED" {
				t.Errorf("status %q on a filtered page", st)
			}
		})
		if pagerHref(t, r, "pager-older") != "" {
			t.Error("last page has an older link")
		}
		newer := pagerHref(t, r, "pager-newer")
		if q := hrefQuery(t, newer, "/consents"); q.Get("status") != "AUTHORISED" || q.Get("holder") != holder || q.Has("before") {
			t.Errorf("newer link = %q", newer)
		}
		if got := r.doc(t).Find(`[data-testid="consents-filtered-by"]`).Text(); !strings.Contains(got, "***.982.247-**") {
			t.Errorf("page 2 filtered-by = %q", got)
		}
	})
	t.Run("a bad cursor shows the first page", func(t *testing.T) {
		for _, bad := range []string{"!!!", "abc", "MTIz", "-1", strings.Repeat("A", 5000)} {
			r := e.get(c, "/consents?status=REJECTED&before="+url.QueryEscape(bad))
			wantStatus(t, r, 200)
			ids := consentRowIDs(t, r)
			if len(ids) != 50 || ids[0] != "pg-119" || pagerHref(t, r, "pager-newer") != "" {
				t.Errorf("before=%.10q: %d rows, first %v", bad, len(ids), ids[:min(1, len(ids))])
			}
		}
	})
}
