// The consent flow's pages, in order, against the fake Klavi: the personal happy path from POST /start to the
// report, the start form's checks, the institution picker (search, filters, person type, its cache), consent
// creation failures, the callback, revoking, and which bank URLs a consent may redirect to. The lifecycle behind
// them (statuses, reports, loops) is tested in package flow.
package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
)

func TestHappyPathPersonal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()

	r := e.get(c, "/")
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	for _, id := range []string{"start-form", "person-type-personal", "person-type-business", "tax-id", "representative-cpf", "email", "phone", "start-submit", "lang-en", "lang-pt", "nav-me", "nav-login"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() == 0 {
			t.Errorf("start page: no %s", id)
		}
	}

	r = e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"529.982.247-25"}, "email": {"a@b.co"}})
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.header.Get("Location"); got != "/institutions" {
		t.Fatalf("Location = %q", got)
	}
	e.kc.mu.Lock()
	lr := e.kc.linkReqs[0]
	e.kc.mu.Unlock()
	if lr.RedirectURL != "http://127.0.0.1:8080/callback" || lr.ProductsCallbackURL["all"] != "http://127.0.0.1:8080/webhooks/klavi/reports" {
		t.Errorf("link request URLs = %q, %v", lr.RedirectURL, lr.ProductsCallbackURL)
	}
	for k, v := range lr.ExternalInfo {
		if s, _ := v.(string); strings.Contains(s, "52998224725") {
			t.Errorf("externalInfo[%s] carries the CPF", k)
		}
	}

	r = e.get(c, "/institutions")
	wantStatus(t, r, http.StatusOK)
	d = r.doc(t)
	for _, id := range []string{"institution-search", "filter-person", "filter-resource", "filter-kind", "institution-list", "institution-341", "choose-341", "badge-outage"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() == 0 {
			t.Errorf("picker: no %s", id)
		}
	}
	if d.Find(`[data-testid="choose-777"]`).Length() != 0 {
		t.Error("institution in outage is choosable")
	}
	if sel := d.Find(`[data-testid="institution-od1"]`); sel.Length() != 1 || !sel.Is("[hidden]") {
		t.Error("open data institution should be present but hidden by default")
	}

	r = e.get(c, "/consents/new?institution=341")
	wantStatus(t, r, http.StatusOK)
	d = r.doc(t)
	for _, id := range []string{"validity-12", "validity-0", "consent-submit"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() == 0 {
			t.Errorf("confirmation: no %s", id)
		}
	}
	if strings.Contains(r.body, "token-1") {
		t.Error("link token leaked into a page")
	}

	r = e.post(c, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"0"}})
	wantStatus(t, r, http.StatusSeeOther)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "http://localhost:1/bank/consent-1") {
		t.Fatalf("Location = %q", loc)
	}
	if strings.Contains(e.logs.String(), "one-time=secret") {
		t.Error("consentRedirectURL was logged")
	}
	e.kc.mu.Lock()
	cr := e.kc.consentReqs[0]
	e.kc.mu.Unlock()
	if cr.ValidityPeriod != 0 || cr.PersonalTaxID != "52998224725" || len(cr.ExternalTrackID) != 22 {
		t.Errorf("consent request = %+v", cr)
	}
	stored, err := e.st.Consent(context.Background(), "consent-1")
	if err != nil {
		t.Fatal(err)
	}
	if stored.TrackIDHash != sha256Hex(cr.ExternalTrackID) {
		t.Error("track id hash not stored")
	}

	e.kc.setStatus("consent-1", klavi.StatusAuthorised)
	r = e.get(c, callbackQuery("consent-1", "link-1", cr.ExternalTrackID))
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.header.Get("Location"); got != "/consents/consent-1" {
		t.Fatalf("Location = %q", got)
	}
	if n := e.kc.reportCalls.Load(); n != 1 {
		t.Fatalf("report requests = %d, want 1", n)
	}
	e.kc.mu.Lock()
	rr := e.kc.reportReqs[0]
	e.kc.mu.Unlock()
	if rr.Kind != klavi.Personal || rr.Level != klavi.UserLevel || rr.TaxID != "52998224725" || rr.LinkID != "link-1" ||
		len(rr.ConsentIDs) != 1 || len(rr.Products) != 4 || rr.ProductsCallbackURL["all"] == "" {
		t.Errorf("report request = %+v", rr)
	}

	r = e.get(c, "/consents/consent-1")
	wantStatus(t, r, http.StatusOK)
	d = r.doc(t)
	if st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status"); st != "AUTHORISED" {
		t.Errorf("consent-status = %q", st)
	}
	if got := d.Find(`[data-testid="consent-taxid"]`).Text(); got != "***.982.247-**" {
		t.Errorf("consent-taxid = %q", got)
	}
	if strings.Contains(r.body, "529.982.247-25") || strings.Contains(r.body, "52998224725") {
		t.Error("consent page shows the full CPF")
	}
	if d.Find(`[data-testid="timeline-entry"]`).Length() < 4 {
		t.Errorf("timeline entries = %d", d.Find(`[data-testid="timeline-entry"]`).Length())
	}
	for _, id := range []string{"permissions", "reports-section", "revoke-form", "revoke-button", "consent-institution"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() == 0 {
			t.Errorf("consent page: no %s", id)
		}
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}

	// Reports arrive by webhook.
	body := []byte(`{"code":200,"message":"ok","requestId":"req-1","productName":"pf_checking_account","productVersion":"1",` +
		`"productReportId":"rep-1","productReportTime":"2026-01-01 10:00:00","enquiryCpf":"52998224725",` +
		`"links":[{"linkId":"link-1","institutionCode":"341","consents":[{"consentId":"consent-1"}]}],` +
		`"checkingAccounts":[{"brandName":"Itaú","branchCode":"0001","number":"12345","checkDigit":"6",` +
		`"balances":{"availableAmount":{"amount":"1234.5600","currency":"BRL"}},"transactionDetails":[]}]}`)
	r = e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body))
	wantStatus(t, r, http.StatusOK)
	r = e.get(c, "/consents/consent-1")
	wantStatus(t, r, http.StatusOK)
	d = r.doc(t)
	if href, _ := d.Find(`[data-testid="report-item"]`).Attr("href"); href != "/reports/rep-1" {
		t.Errorf("report-item href = %q", href)
	}
	if !strings.Contains(r.body, "report pf_checking_account received") {
		t.Error("no timeline entry for the report")
	}
	r = e.get(c, "/reports/rep-1")
	wantStatus(t, r, http.StatusOK)
	if got := r.doc(t).Find(`[data-testid="account-balance"]`).First().Text(); !strings.Contains(got, "R$") || !strings.Contains(got, "1.234,56") {
		t.Errorf("account-balance = %q", got)
	}
	// The holder's download has every CPF/CNPJ masked; an operator may take the original, which is audited.
	for _, p := range []string{"/reports/rep-1/report.json", "/reports/rep-1.json"} {
		r = e.get(c, p)
		wantStatus(t, r, http.StatusOK)
		if !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") || r.body != taxid.MaskText(string(body)) {
			t.Errorf("%s: disposition %q, body masked %v", p, r.header.Get("Content-Disposition"), r.body == taxid.MaskText(string(body)))
		}
	}
	wantStatus(t, e.get(c, "/reports/rep-1/report.json?original=1"), http.StatusNotFound)
	op := e.operator()
	if r = e.get(op, "/reports/rep-1/report.json?original=1"); r.status != http.StatusOK || r.body != string(body) {
		t.Errorf("operator's original download: status %d, body equal %v", r.status, r.body == string(body))
	}
	if a, _ := e.st.Audit(context.Background(), 0, 10); len(a.Rows) == 0 || a.Rows[0].Action != "download_original" || a.Rows[0].Target != "report rep-1" {
		t.Errorf("audit after the original download: %+v", a.Rows)
	}
	r = e.get(c, "/reports/rep-1/transactions.csv")
	wantStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Errorf("csv content type = %q", r.header.Get("Content-Type"))
	}
	r = e.get(c, "/reports/rep-1/transactions-br.csv")
	wantStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(r.body, "\ufeffproduto;conta;data;") ||
		!strings.Contains(r.header.Get("Content-Disposition"), `br.csv"`) {
		t.Errorf("Excel (Brasil) CSV: disposition %q, starts %q", r.header.Get("Content-Disposition"), r.body[:min(len(r.body), 40)])
	}
	r = e.get(c, "/reports/rep-1/transactions.xlsx")
	wantStatus(t, r, http.StatusOK)
	if r.header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" ||
		!strings.HasPrefix(r.body, "PK") || !strings.Contains(r.header.Get("Content-Disposition"), `.xlsx"`) {
		t.Errorf("xlsx: content type %q, disposition %q", r.header.Get("Content-Type"), r.header.Get("Content-Disposition"))
	}
	r = e.get(c, "/consents/consent-1/reports")
	wantStatus(t, r, http.StatusOK)
	if r.doc(t).Find(`[data-testid="report-item"]`).Length() != 1 {
		t.Error("reports list: want 1 report-item")
	}

	// Consents list and filters (operators): the search is a POST that answers 303 to a holder URL.
	c = op
	r = e.post(c, "/consents/search", url.Values{"tax_id": {"529.982.247-25"}, "status": {"AUTHORISED"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = e.get(c, r.header.Get("Location"))
	wantStatus(t, r, http.StatusOK)
	if n := r.doc(t).Find(`[data-testid="consent-row"]`).Length(); n != 1 {
		t.Errorf("filtered consent rows = %d, want 1", n)
	}
	r = e.post(c, "/consents/search", url.Values{"tax_id": {"11144477735"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = e.get(c, r.header.Get("Location"))
	wantStatus(t, r, http.StatusOK)
	if n := r.doc(t).Find(`[data-testid="consent-row"]`).Length(); n != 0 {
		t.Errorf("other CPF rows = %d, want 0", n)
	}

	// Revoke with confirmation.
	r = e.post(c, "/consents/consent-1/revoke", url.Values{})
	wantStatus(t, r, http.StatusOK)
	if r.doc(t).Find(`[data-testid="revoke-confirm"]`).Length() != 1 {
		t.Fatal("no revoke-confirm")
	}
	r = e.post(c, "/consents/consent-1/revoke?confirm=1", url.Values{"confirm": {"1"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = e.get(c, "/consents/consent-1")
	wantStatus(t, r, http.StatusOK)
	if st, _ := r.doc(t).Find(`[data-testid="consent-status"]`).Attr("data-status"); st != "REVOKED" {
		t.Errorf("after revoke status = %q", st)
	}
	if strings.Contains(e.logs.String(), "52998224725") || strings.Contains(e.logs.String(), "529.982.247-25") {
		t.Error("CPF in logs")
	}
}

func TestStartValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, lang, personType, taxID, rep, wantText string
		wantField                                    string
	}{
		{"invalid CPF in Portuguese", "pt", "personal", "529.982.247-24", "", "CPF inválido", "tax-id-error"},
		{"invalid CPF in English", "en", "personal", "529.982.247-24", "", "Invalid CPF", "tax-id-error"},
		{"empty CPF", "pt", "personal", "", "", "Informe o CPF", "tax-id-error"},
		{"CPF with letters", "en", "personal", "5299822472A", "", "digits only", "tax-id-error"},
		{"invalid CNPJ", "pt", "business", "11.222.333/0001-80", "", "CNPJ inválido", "tax-id-error"},
		{"valid CNPJ, bad representative CPF", "en", "business", "12.ABC.345/01DE-35", "111.111.111-11", "Invalid CPF", "representative-cpf-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.browser()
			wantStatus(t, e.get(c, "/lang/"+tt.lang+"?next=/"), http.StatusSeeOther)
			r := e.post(c, "/start", url.Values{"person_type": {tt.personType}, "tax_id": {tt.taxID}, "representative_cpf": {tt.rep}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			d := r.doc(t)
			if got := d.Find(`[data-testid="` + tt.wantField + `"]`).Text(); !strings.Contains(got, tt.wantText) {
				t.Errorf("%s = %q, want %q", tt.wantField, got, tt.wantText)
			}
			if got, _ := d.Find(`[data-testid="tax-id"]`).Attr("value"); got != tt.taxID {
				t.Errorf("tax-id value = %q, want %q (form keeps what was typed)", got, tt.taxID)
			}
			wantLang := "pt-BR"
			if tt.lang == "en" {
				wantLang = "en"
			}
			if got, _ := d.Find("html").Attr("lang"); got != wantLang {
				t.Errorf("html lang = %q, want %q", got, wantLang)
			}
		})
	}
	t.Run("business with an alphanumeric CNPJ and no representative starts", func(t *testing.T) {
		c := e.browser()
		r := e.post(c, "/start", url.Values{"person_type": {"business"}, "tax_id": {"12.abc.345/01de-35"}})
		wantStatus(t, r, http.StatusSeeOther)
	})
	t.Run("Klavi down shows form-error and keeps the value", func(t *testing.T) {
		e.kc.mu.Lock()
		e.kc.linkErr = &klavi.APIError{HTTPStatus: 503}
		e.kc.mu.Unlock()
		defer func() { e.kc.mu.Lock(); e.kc.linkErr = nil; e.kc.mu.Unlock() }()
		r := e.post(e.browser(), "/start", url.Values{"person_type": {"personal"}, "tax_id": {"529.982.247-25"}})
		wantStatus(t, r, http.StatusBadGateway)
		d := r.doc(t)
		if d.Find(`[data-testid="form-error"]`).Length() != 1 {
			t.Error("no form-error")
		}
		if got, _ := d.Find(`[data-testid="tax-id"]`).Attr("value"); got != "529.982.247-25" {
			t.Errorf("tax-id value = %q", got)
		}
		if strings.Contains(r.body, "klavi:") {
			t.Error("raw error text on the page")
		}
	})
}

func TestInstitutionPicker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	r := e.get(c, "/institutions")
	wantStatus(t, r, http.StatusSeeOther) // no link in the session
	if got := r.header.Get("Location"); got != "/" {
		t.Fatalf("Location = %q", got)
	}
	wantStatus(t, e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)

	visible := func(q string) []string {
		r := e.get(c, "/institutions?"+q)
		wantStatus(t, r, http.StatusOK)
		var out []string
		r.doc(t).Find(`[data-testid="institution-list"] > li`).Each(func(_ int, li *goqSel) {
			if _, hidden := li.Attr("hidden"); !hidden {
				id, _ := li.Attr("data-testid")
				out = append(out, strings.TrimPrefix(id, "institution-"))
			}
		})
		return out
	}
	tests := []struct{ q, want string }{
		{"q=sao", "999"},
		{"q=S%C3%83O+PAULO", "999"},
		{"q=ita%C3%BA", "341"},
		{"person=LEGAL", "777,341"},
		{"resource=CREDIT_CARDS", "341"},
		{"kind=opendata", "od1"},
		{"q=nothing-matches", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(visible(tt.q), ","); got != tt.want {
			t.Errorf("%s: visible = %q, want %q", tt.q, got, tt.want)
		}
	}
	r = e.get(c, "/institutions?q=nothing-matches")
	if _, hidden := r.doc(t).Find(`[data-testid="institutions-empty"]`).Attr("hidden"); hidden {
		t.Error("institutions-empty hidden with no match")
	}
	if n := e.kc.institutionsN.Load(); n != 1 {
		t.Errorf("institution fetches = %d, want 1 (cached)", n)
	}
	wantStatus(t, e.get(c, "/consents/new?institution=nope"), http.StatusNotFound)
	r = e.post(c, "/consents", url.Values{"institution_code": {"777"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
}

// The picker's prepared list is built once per fetched list and person type (sorted by folded name, with the
// resources of all), and built again when a refresh brings another list.
func TestPickerListBuiltOncePerList(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	c := institutionCache{ttl: time.Minute, now: clk.Now}
	lists := [][]klavi.Institution{newFakeKlavi().institutions, {
		{InstitutionCode: "1", Name: "Zeta", InstitutionType: 1, BusinessType: "BOTH"},
		{InstitutionCode: "2", Name: "Ágil", InstitutionType: 1, BusinessType: "LEGAL", AvailableResources: []string{"INVOICES"}},
	}}
	fetches := 0
	fetch := func(context.Context) ([]klavi.Institution, error) {
		fetches++
		return lists[fetches-1], nil
	}
	codes := func(p pickerList) (out []string) {
		for _, it := range p.items {
			out = append(out, it.Code)
		}
		return out
	}
	list, err := c.get(context.Background(), fetch)
	if err != nil {
		t.Fatal(err)
	}
	personal := c.picker(list, "personal")
	if got := strings.Join(codes(personal), ","); got != "777,999,od1,341" ||
		strings.Join(personal.resources, ",") != "ACCOUNTS,CREDIT_CARDS" {
		t.Errorf("personal picker %s, resources %v", got, personal.resources)
	}
	if again := c.picker(list, "personal"); &again.items[0] != &personal.items[0] {
		t.Error("the picker was built again for the same list")
	}
	business := c.picker(list, "business")
	if personal.items[1].OtherPerson || !business.items[1].OtherPerson {
		t.Error("the NATURAL-only bank is not marked for the business picker only")
	}
	clk.Advance(time.Minute)
	list, err = c.get(context.Background(), fetch)
	if err != nil || fetches != 2 {
		t.Fatalf("refresh: %d fetches, %v", fetches, err)
	}
	if p := c.picker(list, "personal"); strings.Join(codes(p), ",") != "2,1" || !p.items[0].OtherPerson ||
		strings.Join(p.resources, ",") != "INVOICES" {
		t.Errorf("after the refresh: %v, resources %v", codes(p), p.resources)
	}
	if p := c.picker(nil, "personal"); len(p.items) != 0 {
		t.Error("an empty list has items")
	}
}

func TestConsentCreateFailures(t *testing.T) {
	t.Parallel()
	t.Run("Klavi error re-renders the confirmation with no row written", func(t *testing.T) {
		e := newEnv(t)
		c := e.browser()
		wantStatus(t, e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
		e.kc.consentErr = &klavi.APIError{HTTPStatus: 500, Message: "boom"}
		r := e.post(c, "/consents", url.Values{"institution_code": {"341"}})
		wantStatus(t, r, http.StatusBadGateway)
		if r.doc(t).Find(`[data-testid="form-error"]`).Length() != 1 {
			t.Error("no form-error")
		}
		if list, _ := e.st.ListConsents(context.Background(), storeFilterAll()); len(list) != 0 {
			t.Errorf("consents stored = %d, want 0", len(list))
		}
	})
	t.Run("expired link token: new link and one retry", func(t *testing.T) {
		e := newEnv(t)
		c := e.browser()
		wantStatus(t, e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
		e.kc.consentErr, e.kc.consentErrN = &klavi.APIError{HTTPStatus: 401}, 1
		e.kc.consentErr = wrapUnauthorized()
		r := e.post(c, "/consents", url.Values{"institution_code": {"341"}})
		wantStatus(t, r, http.StatusSeeOther)
		e.kc.mu.Lock()
		defer e.kc.mu.Unlock()
		if e.kc.links != 2 || len(e.kc.tokensUsed) != 2 || e.kc.tokensUsed[1] != "token-2" {
			t.Errorf("links = %d, tokens = %v", e.kc.links, e.kc.tokensUsed)
		}
	})
}

func TestCallback(t *testing.T) {
	t.Parallel()
	t.Run("no session: neutral page, nothing changed", func(t *testing.T) {
		e := newEnv(t)
		id, track := e.startFlow(e.browser(), "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		r := e.get(e.browser(), callbackQuery(id, e.linkOf(id), track))
		wantStatus(t, r, http.StatusOK)
		if r.doc(t).Find(`[data-testid="callback-neutral"]`).Length() != 1 {
			t.Error("no callback-neutral")
		}
		if strings.Contains(r.body, "982.247") || strings.Contains(r.body, id) {
			t.Error("neutral page reveals data")
		}
		c, _ := e.st.Consent(context.Background(), id)
		if c.CallbackAt != nil || c.Status != "STARTED" {
			t.Errorf("consent changed: callback %v status %s", c.CallbackAt, c.Status)
		}
	})
	t.Run("another session's track id: 403 and nothing changed", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser(), e.browser()
		vid, vtrack := e.startFlow(victim, "52998224725")
		e.startFlow(attacker, "11144477735")
		r := e.get(attacker, callbackQuery(vid, e.linkOf(vid), vtrack))
		wantStatus(t, r, http.StatusForbidden)
		if r.doc(t).Find(`[data-testid="callback-rejected"]`).Length() != 1 {
			t.Error("no callback-rejected")
		}
		c, _ := e.st.Consent(context.Background(), vid)
		if c.CallbackAt != nil {
			t.Error("victim consent marked")
		}
	})
	t.Run("wrong track id for own consent: 403", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id, _ := e.startFlow(b, "52998224725")
		wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), "AAAAAAAAAAAAAAAAAAAAAA")), http.StatusForbidden)
		wantStatus(t, e.get(b, callbackQuery(id, "link-other", e.kc.lastTrack())), http.StatusForbidden)
	})
	t.Run("malformed ids: 400", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		e.startFlow(b, "52998224725")
		for _, bad := range []string{strings.Repeat("a", 65), "a b", "a\x00b", "é", "../x", "a%0d%0a"} {
			r := e.get(b, callbackQuery(bad, "link-1", "track"))
			wantStatus(t, r, http.StatusBadRequest)
		}
	})
	t.Run("confirmed: the landing page already waits for the reports", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		r := e.get(b, callbackQuery(id, e.linkOf(id), track))
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.header.Get("Location"); loc != "/consents/"+id {
			t.Fatalf("callback Location = %q", loc)
		}
		// AUTHORISED, reports requested, none arrived yet: the page says they are coming and keeps refreshing.
		d := e.get(b, "/consents/"+id).doc(t)
		if d.Find(`[data-testid="reports-pending"] .spinner`).Length() != 1 || d.Find(`[data-testid="consent-live"]`).AttrOr("data-live", "") != "on" {
			t.Error("consent page after the return: no live reports-pending spinner")
		}
	})
	t.Run("replay is idempotent", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		q := callbackQuery(id, e.linkOf(id), track)
		wantStatus(t, e.get(b, q), http.StatusSeeOther)
		tl1, _ := e.st.Timeline(context.Background(), id)
		wantStatus(t, e.get(b, q), http.StatusSeeOther)
		tl2, _ := e.st.Timeline(context.Background(), id)
		if len(tl1) != len(tl2) {
			t.Errorf("timeline grew on replay: %d → %d", len(tl1), len(tl2))
		}
		if n := e.kc.reportCalls.Load(); n != 1 {
			t.Errorf("report requests = %d", n)
		}
	})
	t.Run("callback says success but Klavi says rejected: Klavi wins", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusRejected)
		wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), track)), http.StatusSeeOther)
		r := e.get(b, "/consents/"+id)
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		if st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status"); st != "REJECTED" {
			t.Errorf("status = %q", st)
		}
		if d.Find(`[data-testid="consent-error"]`).Length() != 1 || d.Find(`[data-testid="try-again"]`).Length() != 1 {
			t.Error("no consent-error / try-again")
		}
		if e.kc.reportCalls.Load() != 0 {
			t.Error("reports requested for a rejected consent")
		}
	})
	t.Run("bank error: message, hostile description escaped and cut, try again", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusRejected)
		hostile := `"><img src=x onerror=alert(1)><script>alert(1)</script>javascript:` + strings.Repeat("A", 100_000) + "\r\nX-Injected: 1"
		wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), track, "error", "access_denied", "error_description", hostile)), http.StatusSeeOther)
		c, _ := e.st.Consent(context.Background(), id)
		if len(c.ErrorDescription) > maxErrorDescLen || strings.ContainsAny(c.ErrorDescription, "\r\n") {
			t.Errorf("error description not cut/cleaned: %d bytes", len(c.ErrorDescription))
		}
		r := e.get(b, "/consents/"+id)
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, "<script>alert(1)") || strings.Contains(r.body, "<img src=x") {
			t.Error("hostile description rendered unescaped")
		}
		d := r.doc(t)
		if got := d.Find(`[data-testid="consent-error"]`).Text(); !strings.Contains(got, "recusou") {
			t.Errorf("consent-error = %q", got)
		}
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, "onerror") {
				t.Errorf("hostile text in logs: %.200s", l)
			}
		}
		// Try again: a new consent for the same institution, straight to the bank.
		r = e.post(b, "/consents/"+id+"/retry", url.Values{})
		wantStatus(t, r, http.StatusSeeOther)
		if !strings.HasPrefix(r.header.Get("Location"), "http://localhost:1/bank/consent-2") {
			t.Errorf("retry Location = %q", r.header.Get("Location"))
		}
		e.kc.mu.Lock()
		tracks := []string{e.kc.consentReqs[0].ExternalTrackID, e.kc.consentReqs[1].ExternalTrackID}
		inst := e.kc.consentReqs[1].InstitutionCode
		e.kc.mu.Unlock()
		if tracks[0] == tracks[1] || inst != "341" {
			t.Errorf("retry reused the track id or changed institution (%s)", inst)
		}
		// Another browser cannot retry it: to that browser the consent does not exist.
		wantStatus(t, e.post(e.browser(), "/consents/"+id+"/retry", url.Values{}), http.StatusNotFound)
	})
	t.Run("Klavi unavailable on confirm: status kept, reconciler finishes", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		e.kc.mu.Lock()
		e.kc.getErr = klavi.ErrUnavailable
		e.kc.mu.Unlock()
		wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), track)), http.StatusSeeOther)
		c, _ := e.st.Consent(context.Background(), id)
		if c.Status != "STARTED" {
			t.Errorf("status = %s, want STARTED until Klavi confirms", c.Status)
		}
		// The page the browser lands on already shows that the outcome is on its way and keeps refreshing.
		d := e.get(b, "/consents/"+id).doc(t)
		if live := d.Find(`[data-testid="consent-live"]`).AttrOr("data-live", ""); live != "on" || d.Find(".live-note .spinner").Length() != 1 {
			t.Errorf("consent page after an unconfirmed return: data-live %q, %d spinners; want it live with its spinner",
				live, d.Find(".live-note .spinner").Length())
		}
		e.kc.mu.Lock()
		e.kc.getErr = nil
		e.kc.mu.Unlock()
		e.runBackground()
		eventually(t, "reconciler AUTHORISED + reports", func() bool {
			c, _ := e.st.Consent(context.Background(), id)
			return c.Status == "AUTHORISED" && c.ReportsRequestedAt != nil && c.ReportRequestID == "req-1"
		})
	})
}

func TestRevokingAConsentInProgressShowsWhatKlaviDecided(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	id, _ := e.startFlow(c, "529.982.247-25")
	r := e.post(c, "/consents/"+id+"/revoke?confirm=1", url.Values{"confirm": {"1"}})
	wantStatus(t, r, http.StatusSeeOther)
	got, err := e.st.Consent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != consent.Rejected {
		t.Errorf("status after revoking a consent in progress = %q, want REJECTED (read back from Klavi)", got.Status)
	}
}

func TestRevokeFallsBackToRevokedWhenTheReadBackFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	id, track := e.startFlow(c, "529.982.247-25")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	wantStatus(t, e.get(c, callbackQuery(id, e.linkOf(id), track)), http.StatusSeeOther)
	e.kc.mu.Lock()
	e.kc.getErr = &klavi.APIError{HTTPStatus: 503}
	e.kc.mu.Unlock()
	wantStatus(t, e.post(c, "/consents/"+id+"/revoke?confirm=1", url.Values{"confirm": {"1"}}), http.StatusSeeOther)
	got, err := e.st.Consent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != consent.Revoked {
		t.Errorf("status = %q, want REVOKED", got.Status)
	}
}

func TestBankURLAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want bool
	}{
		{"https://auth.mockbank.poc.raidiam.io/auth?client_id=x", true},
		{"http://localhost:8090/bank/authorize?t=x", true},
		{"http://127.0.0.1:8090/bank/authorize?t=x", true},
		{"http://[::1]:8090/bank/authorize", true},
		{"http://bank.example.com/auth", false},
		{"http://localhost.evil.com/auth", false},
		{"https://user:pass@bank.example.com/auth", false},
		{"javascript:alert(1)", false},
		{"//bank.example.com/auth", false},
		{"ftp://bank.example.com/auth", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := bankURLAllowed(tt.url); got != tt.want {
			t.Errorf("bankURLAllowed(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// An institution that serves only the other kind of customer is filtered out by default and, when shown, cannot
// be chosen, on the page and on the server.
func TestPickerMatchesThePersonType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.kc.institutions = append(e.kc.institutions, klavi.Institution{InstitutionCode: "555", Name: "Banco Empresas",
		InstitutionType: 1, BusinessType: "LEGAL", AvailableResources: []string{"ACCOUNTS"}})
	items := func(c *http.Client, q string) (shown []string, doc *goqDoc) {
		r := e.get(c, "/institutions?"+q)
		wantStatus(t, r, http.StatusOK)
		doc = r.doc(t)
		doc.Find(`[data-testid="institution-list"] > li`).Each(func(_ int, li *goqSel) {
			if _, hidden := li.Attr("hidden"); !hidden {
				id, _ := li.Attr("data-testid")
				shown = append(shown, strings.TrimPrefix(id, "institution-"))
			}
		})
		return shown, doc
	}

	person := e.browser()
	wantStatus(t, e.post(person, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	shown, doc := items(person, "")
	if slices.Contains(shown, "555") || !slices.Contains(shown, "999") {
		t.Errorf("personal default: shown = %v, want 999 and not the companies-only 555", shown)
	}
	if got, _ := doc.Find(`#person option[selected]`).Attr("value"); got != "NATURAL" {
		t.Errorf("personal default person filter = %q, want NATURAL", got)
	}
	shown, doc = items(person, "person=all")
	if !slices.Contains(shown, "555") {
		t.Fatalf("person=all: shown = %v, want 555 too", shown)
	}
	if doc.Find(`[data-testid="choose-555"]`).Length() != 0 {
		t.Error("a person can choose a companies-only institution")
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="other-person-555"]`).Text()); got != "Atende apenas empresas." {
		t.Errorf("why = %q", got)
	}
	r := e.get(person, "/consents/new?institution=555")
	wantStatus(t, r, http.StatusOK)
	if got := strings.TrimSpace(r.doc(t).Find(`[data-testid="form-error"]`).Text()); !strings.Contains(got, "não atende este tipo de cliente") {
		t.Errorf("confirmation error = %q", got)
	}
	wantStatus(t, e.post(person, "/consents", url.Values{"institution_code": {"555"}, "validity_period": {"12"}}), http.StatusUnprocessableEntity)
	if list, _ := e.st.ListConsents(context.Background(), storeFilterAll()); len(list) != 0 {
		t.Errorf("consents stored = %d, want 0", len(list))
	}

	company := e.browser()
	wantStatus(t, e.post(company, "/start", url.Values{"person_type": {"business"}, "tax_id": {"11222333000181"}}), http.StatusSeeOther)
	shown, doc = items(company, "")
	if !slices.Contains(shown, "555") || slices.Contains(shown, "999") {
		t.Errorf("business default: shown = %v, want 555 and not the individuals-only 999", shown)
	}
	if doc.Find(`[data-testid="choose-555"]`).Length() != 1 {
		t.Error("a company cannot choose a companies-only institution")
	}
	wantStatus(t, e.post(company, "/consents", url.Values{"institution_code": {"999"}, "validity_period": {"12"}}), http.StatusUnprocessableEntity)
	wantStatus(t, e.post(company, "/consents", url.Values{"institution_code": {"555"}, "validity_period": {"12"}}), http.StatusSeeOther)
}
