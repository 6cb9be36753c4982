package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/klavi"
)

// TestConsentPageWaysBack: an expired bank link is not called "rejected"; the failure carries a tip, "try again"
// and "choose another bank" for the browser that started it; the technical details are folded for the owner and
// open for an operator.
func TestConsentPageWaysBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	id, track := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusRejected)
	r := e.get(b, callbackQuery(id, e.linkOf(id), track, "error", "access_denied", "error_description", "consent link expired"))
	wantStatus(t, r, http.StatusSeeOther)

	r = e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	doc := r.doc(t)
	badge := doc.Find(`[data-testid="consent-status"]`)
	if badge.AttrOr("data-status", "") != "REJECTED" || strings.TrimSpace(badge.Text()) != "Link expirado" {
		t.Errorf("badge %q (%s), want \"Link expirado\" keeping data-status REJECTED", badge.Text(), badge.AttrOr("data-status", ""))
	}
	if tip := doc.Find(`[data-testid="consent-tip"]`).Text(); !strings.Contains(tip, "60 segundos") {
		t.Errorf("tip = %q", tip)
	}
	for _, tid := range []string{"try-again", "choose-another"} {
		if doc.Find(`[data-testid="`+tid+`"]`).Length() != 1 {
			t.Errorf("the owner's page lacks %s", tid)
		}
	}
	if href := doc.Find(`[data-testid="choose-another"]`).AttrOr("href", ""); href != "/institutions" {
		t.Errorf("choose-another goes to %q", href)
	}
	if _, open := doc.Find(`[data-testid="tech-details"]`).Attr("open"); open {
		t.Error("the technical details are open for the end user")
	}
	if doc.Find(`[data-testid="tech-details"] [data-testid="timeline-entry"]`).Length() == 0 {
		t.Error("the timeline is not inside the technical details")
	}

	op := e.operator()
	doc = e.get(op, "/consents/"+id).doc(t)
	if _, open := doc.Find(`[data-testid="tech-details"]`).Attr("open"); !open {
		t.Error("the technical details are folded for an operator")
	}
	// An operator reading someone's failed consent cannot retry it in their own session.
	if doc.Find(`[data-testid="try-again"], [data-testid="choose-another"]`).Length() != 0 {
		t.Error("an operator is offered the owner's ways back")
	}
	if doc.Find(`[data-testid="start-over"]`).Length() != 1 {
		t.Error("no way back at all for the operator's view")
	}

	// English: the same in English.
	wantStatus(t, e.get(b, "/lang/en?next=/"), http.StatusSeeOther)
	doc = e.get(b, "/consents/"+id).doc(t)
	if s := doc.Find(`[data-testid="consent-status"]`).Text(); strings.TrimSpace(s) != "Link expired" {
		t.Errorf("English badge %q", s)
	}
	if s := doc.Find(`[data-testid="choose-another"]`).Text(); s != "Choose another bank" {
		t.Errorf("English choose-another %q", s)
	}
}

// TestConsentPageReportCards: each report is a card with its key figures, computed once, by the webhook that
// stored the report, and kept: the page decodes no report for them.
func TestConsentPageReportCards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	raw, err := os.ReadFile("../klavi/testdata/report_pf_checking_account.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["productReportId"] = "rep-fig"
	m["links"] = []any{map[string]any{"linkId": e.linkOf(id), "institutionCode": "341",
		"consents": []any{map[string]any{"consentId": id}}}}
	body, _ := json.Marshal(m)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body)), http.StatusOK)

	r := e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	figs := r.doc(t).Find(`[data-testid="report-item"][data-product="pf_checking_account"] [data-testid="report-figures"]`)
	if figs.Length() != 1 {
		t.Fatalf("no key figures on the report card: %s", r.doc(t).Find(`[data-testid="reports-section"]`).Text())
	}
	text := figs.Text()
	if !strings.Contains(text, "Saldo disponível") || !strings.Contains(text, "R$") || !strings.Contains(text, "Transações") {
		t.Errorf("figures = %q", text)
	}
	if len(e.s.figures.m) != 1 {
		t.Errorf("figure cache holds %d entries, want 1", len(e.s.figures.m))
	}
}

// TestDegradedInstitution: a partial outage is offered with a warning and a consent can be created; a full outage
// stays unselectable.
func TestDegradedInstitution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.kc.mu.Lock()
	e.kc.institutions = append(e.kc.institutions, klavi.Institution{InstitutionCode: "555", Name: "Banco Instável",
		InstitutionType: 1, BusinessType: "BOTH", AvailableResources: []string{"ACCOUNTS"}, IsOutage: true, OutageLevel: "partial"})
	e.kc.mu.Unlock()
	c := e.browser()
	wantStatus(t, e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	doc := e.get(c, "/institutions").doc(t)
	if doc.Find(`[data-testid="choose-555"]`).Length() != 1 || doc.Find(`[data-testid="institution-555"] [data-testid="badge-degraded"]`).Length() != 1 {
		t.Error("the partly unstable institution is not offered with its warning badge")
	}
	if w := doc.Find(`[data-testid="degraded-555"]`).Text(); !strings.Contains(w, "instável") {
		t.Errorf("warning = %q", w)
	}
	if doc.Find(`[data-testid="choose-777"]`).Length() != 0 || doc.Find(`[data-testid="institution-777"] [data-testid="badge-outage"]`).Length() != 1 {
		t.Error("the institution in full outage became choosable")
	}
	r := e.post(c, "/consents", url.Values{"institution_code": {"555"}, "validity_period": {"12"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "http://localhost:1/bank/") {
		t.Errorf("consent at the degraded institution: Location %q, want the bank", loc)
	}
}
