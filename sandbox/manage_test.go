package sandbox

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// manageURL is the lookup page for a tax id.
func (e *env) manageURL(taxID string) string {
	return e.srv.URL + "/manage?taxId=" + url.QueryEscape(taxID)
}

// deleteURL is the form action of a consent's "Excluir meus dados" button.
func (e *env) deleteURL(consentID string) string {
	return e.srv.URL + "/manage/consents/" + consentID + "/delete"
}

var rowRE = regexp.MustCompile(`<tr data-testid="manage-consent-row" data-consent-id="([^"]+)" data-status="([^"]+)"`)

// manageRows returns consent id → status of the rows on a management page.
func (p htmlPage) manageRows() map[string]string {
	out := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(p.body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestManagePortalDeletesAnAuthorisedConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	approve(t, e, f)
	b := newBrowser(t)

	if p := b.get(e.srv.URL + "/"); !strings.Contains(p.body, `href="/manage"`) || !p.has("manage-link") {
		t.Errorf("the index page should link /manage")
	}
	p := b.get(e.srv.URL + "/manage")
	if p.status != 200 || !p.has("manage-page") || !p.has("manage-taxid") || !strings.Contains(p.body, `lang="pt-BR"`) {
		t.Fatalf("GET /manage: status %d, want the pt-BR lookup form", p.status)
	}
	if p.has("manage-consent-row") || p.has("manage-empty") {
		t.Errorf("no list before a lookup")
	}

	p = b.get(e.manageURL(cpfApprove))
	if rows := p.manageRows(); p.status != 200 || len(rows) != 1 || rows[f.created.ConsentID] != statusAuthorised {
		t.Fatalf("lookup: status %d, rows %v; want the AUTHORISED consent", p.status, rows)
	}
	if !strings.Contains(p.body, "Itaú") || !strings.Contains(p.body, "***.982.247-**") || !p.has("manage-delete") ||
		!strings.Contains(p.body, "Excluir meus dados") {
		t.Errorf("row lacks the institution name, the masked CPF or the delete button")
	}
	for _, raw := range []string{"529.982.247-25", "52998224725"} {
		if strings.Contains(p.body, raw) {
			t.Errorf("the page shows the unmasked tax id %q", raw)
		}
	}
	if !strings.Contains(p.body, `action="/manage/consents/`+f.created.ConsentID+`/delete"`) {
		t.Errorf("the delete button should POST to /manage/consents/{id}/delete")
	}

	p = b.post(e.deleteURL(f.created.ConsentID), url.Values{})
	if p.status != 200 || !p.has("manage-notice") {
		t.Fatalf("delete: status %d, want 200 with a notice", p.status)
	}
	if rows := p.manageRows(); rows[f.created.ConsentID] != statusDeletedByUser || p.has("manage-delete") {
		t.Errorf("after delete: rows %v, want DELETED_BY_USER without a delete button", rows)
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusDeletedByUser {
		t.Errorf("GET /consents/{id}: %s, want DELETED_BY_USER", c.Status)
	}

	// consent_deleted_by_user: signed, same envelope and payload as the other consent_* events.
	waitFor(t, "consent_deleted_by_user", func() bool { return len(e.rc.events(t)) == 3 })
	if got := strings.Join(e.rc.eventNames(t), ","); got != "link_created,consent_authorised,consent_deleted_by_user" {
		t.Fatalf("events %s", got)
	}
	var last received
	for _, r := range e.rc.all() {
		if strings.Contains(string(r.body), `"consent_deleted_by_user"`) {
			last = r
		}
	}
	if !last.validSig || last.sig != sign(testSecretKey, last.body) || last.ts == "" {
		t.Errorf("consent_deleted_by_user: signature %q does not match the body", last.sig)
	}
	sameKeys(t, "event_consent_authorised.json", last.body)
	ev := e.rc.events(t)[2]
	pl := ev.Payload.(map[string]any)
	c := pl["consents"].(map[string]any)
	if ev.EventType != "api" || pl["linkId"] != f.linkID || pl["personalTaxId"] != "52998224725" ||
		c["consentId"] != f.created.ConsentID || c["institutionCode"] != "341" || ev.ExternalInfo["myTraceId"] != "yourTraceId-1" {
		t.Errorf("event %+v", ev)
	}

	// DELETED_BY_USER is terminal: no revoke, no reports, no second deletion.
	if code, body := e.do("DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil); code != 416 ||
		!strings.Contains(string(body), `"statusCode":4001`) {
		t.Errorf("revoke after deletion: %d %s, want 416/4001", code, body)
	}
	if code, _ := e.do("POST", "/personal/user-data", f.access, map[string]any{"taxId": cpfApprove, "products": []string{"all"}}); code != 416 {
		t.Errorf("report request after deletion: %d, want 416/4001", code)
	}
	if p := b.post(e.deleteURL(f.created.ConsentID), url.Values{}); p.status != 409 || !p.has("manage-error") {
		t.Errorf("second delete: status %d, want 409 with an error", p.status)
	}
}

func TestManagePortalRefusesNonAuthorisedConsents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := e.startFlow(cpfApprove, "", nil)
	rejected := e.startFlow(cpfApprove, "", nil)
	e.walk(newBrowser(t), rejected.created.ConsentRedirectURL, "deny", "")
	revoked := e.startFlow(cpfApprove, "", nil)
	approve(t, e, revoked)
	e.mustDo(200, "DELETE", "/consents/"+revoked.created.ConsentID+"/revoke", revoked.access, nil, nil)

	for _, tc := range []struct {
		name, id, status string
	}{
		{"STARTED", started.created.ConsentID, statusStarted},
		{"REJECTED", rejected.created.ConsentID, statusRejected},
		{"REVOKED", revoked.created.ConsentID, statusRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.sb.DeleteByUser(tc.id)
			if !errors.Is(err, ErrConsentNotAuthorised) || !strings.Contains(err.Error(), tc.status) {
				t.Errorf("DeleteByUser: %v, want ErrConsentNotAuthorised naming %s", err, tc.status)
			}
			p := newBrowser(t).post(e.deleteURL(tc.id), url.Values{})
			if p.status != http.StatusConflict || !p.has("manage-error") || !strings.Contains(p.body, "AUTHORISED") ||
				!strings.Contains(p.body, tc.status) {
				t.Errorf("POST delete: status %d, want 409 explaining that only AUTHORISED consents can be deleted", p.status)
			}
			if got := p.manageRows()[tc.id]; got != tc.status {
				t.Errorf("row status %q, want %s unchanged", got, tc.status)
			}
			if c := e.consent(started.access, tc.id); c.Status != tc.status {
				t.Errorf("status %s, want %s unchanged", c.Status, tc.status)
			}
		})
	}
	if err := e.sb.DeleteByUser("nope"); !errors.Is(err, ErrConsentNotFound) {
		t.Errorf("unknown id: %v, want ErrConsentNotFound", err)
	}
	if p := newBrowser(t).post(e.deleteURL("nope"), url.Values{}); p.status != 404 || !p.has("manage-error") {
		t.Errorf("POST delete of an unknown id: status %d, want 404", p.status)
	}
	// The list shows the three consents, none of them with a delete button.
	p := newBrowser(t).get(e.manageURL("52998224725"))
	if rows := p.manageRows(); len(rows) != 3 || p.has("manage-delete") {
		t.Errorf("rows %v, want 3 without a delete button", rows)
	}
	// An AUTHORISED consent already past its validity is expired, not deleted.
	late := e.startFlow(cpfApprove, "", nil)
	approve(t, e, late)
	e.clock.Advance(366 * 24 * time.Hour)
	if err := e.sb.DeleteByUser(late.created.ConsentID); !errors.Is(err, ErrConsentNotAuthorised) {
		t.Errorf("past expireAt: %v, want ErrConsentNotAuthorised", err)
	}
	if c := e.consent(e.accessToken(), late.created.ConsentID); c.Status != statusExpired {
		t.Errorf("past expireAt: %s, want EXPIRED", c.Status)
	}
	time.Sleep(50 * time.Millisecond) // the per-link queues are drained; nothing more may come
	for _, name := range e.rc.eventNames(t) {
		if name == "consent_deleted_by_user" {
			t.Errorf("consent_deleted_by_user sent for a refused deletion")
		}
	}
}

func TestManagePortalLookup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pj := e.startFlow(cpfApprove, "11.222.333/0001-81", nil)
	approve(t, e, pj)
	b := newBrowser(t)

	// A valid tax id without consents: an empty list and a message.
	p := b.get(e.manageURL("111.444.777-35"))
	if p.status != 200 || !p.has("manage-empty") || len(p.manageRows()) != 0 || !strings.Contains(p.body, "Nenhum consentimento") {
		t.Errorf("unknown tax id: status %d, want 200 with the empty-list message", p.status)
	}
	// An invalid one: an error, no list.
	p = b.get(e.manageURL("529.982.247-24"))
	if p.status != 400 || !p.has("manage-error") || p.has("manage-empty") {
		t.Errorf("invalid tax id: status %d, want 400 with an error", p.status)
	}
	// A business consent belongs to the CNPJ (masked), not to the operator's CPF.
	p = b.get(e.manageURL("11222333000181"))
	if rows := p.manageRows(); len(rows) != 1 || rows[pj.created.ConsentID] != statusAuthorised ||
		!strings.Contains(p.body, "11.222.***/****-81") || strings.Contains(p.body, "11222333000181") {
		t.Errorf("CNPJ lookup: rows %v, want the business consent with the CNPJ masked", rows)
	}
	if p = b.get(e.manageURL(cpfApprove)); !p.has("manage-empty") {
		t.Errorf("the operator's CPF should not list the company's consent")
	}
}

// Cross-origin browser POSTs are refused (Sec-Fetch-Site, else Origin vs Host); a same-origin one is accepted.
func TestManagePortalDeleteIsCSRFSafe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	approve(t, e, f)
	post := func(h map[string]string) int {
		req, err := http.NewRequest("POST", e.deleteURL(f.created.ConsentID), strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
	} {
		if code := post(h); code != http.StatusForbidden {
			t.Errorf("%v: status %d, want 403", h, code)
		}
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAuthorised {
		t.Fatalf("after cross-origin POSTs: %s, want AUTHORISED", c.Status)
	}
	if code := post(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.srv.URL}); code != 200 {
		t.Errorf("same-origin POST: status %d, want 200", code)
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusDeletedByUser {
		t.Errorf("after the same-origin POST: %s, want DELETED_BY_USER", c.Status)
	}
}

// consent_deleted_by_user follows the consent's webhook scenario like every consent_* event.
func TestDeleteByUserFollowsTheWebhookScenario(t *testing.T) {
	t.Parallel()
	t.Run("no consent webhooks", func(t *testing.T) {
		e := newEnv(t)
		f := e.startFlow("666.777.888-30", "", nil)
		approve(t, e, f)
		// A second consent on the same link, whose report request goes through the same per-link queue.
		var other createdConsentWire
		e.mustDo(200, "POST", "/consents", f.linkToken, consentBody("666.777.888-30", "", "001"), &other)
		e.walk(newBrowser(t), other.ConsentRedirectURL, "authorise", "accept")
		if err := e.sb.DeleteByUser(f.created.ConsentID); err != nil {
			t.Fatal(err)
		}
		e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
			"taxId": "66677788830", "consentIds": []string{other.ConsentID}, "products": []string{"pf_savings_account"}}, nil)
		// Once product_request_received is in, a consent event queued before it would have been too.
		waitFor(t, "product_request_received", func() bool { return slices.Contains(e.rc.eventNames(t), "product_request_received") })
		for _, name := range e.rc.eventNames(t) {
			if strings.HasPrefix(name, "consent_") {
				t.Errorf("%s sent in the no-consent-webhook scenario", name)
			}
		}
		if c := e.consent(f.access, f.created.ConsentID); c.Status != statusDeletedByUser {
			t.Errorf("status %s, want DELETED_BY_USER", c.Status)
		}
	})
	t.Run("bad signature first", func(t *testing.T) {
		e := newEnv(t)
		f := e.startFlow("777.888.999-41", "", nil)
		approve(t, e, f)
		if err := e.sb.DeleteByUser(f.created.ConsentID); err != nil {
			t.Fatal(err)
		}
		var del []received
		waitFor(t, "consent_deleted_by_user retried", func() bool {
			del = nil
			for _, r := range e.rc.all() {
				if strings.Contains(string(r.body), `"consent_deleted_by_user"`) {
					del = append(del, r)
				}
			}
			return len(del) == 2
		})
		if del[0].validSig || del[0].code != 401 || !del[1].validSig || del[1].code != 200 || string(del[0].body) != string(del[1].body) {
			t.Errorf("attempts valid=%v/%d then valid=%v/%d, want a bad signature refused, then the same bytes signed",
				del[0].validSig, del[0].code, del[1].validSig, del[1].code)
		}
	})
}
