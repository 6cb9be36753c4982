// The diagnostics page, the environment banner and the support bundle, against the real embedded sandbox.

package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/klavi-demo/portal/diag"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// withDiagnostics wires the diagnostics into a sandbox env as main does: the recorder watches the Klavi client,
// its call-log writer runs until the test ends, and the server gets the service.
func withDiagnostics(t *testing.T) func(*sandboxSetup) {
	rec := diag.NewRecorder(nil)
	return func(s *sandboxSetup) {
		s.klavi = append(s.klavi, klavi.WithObserver(rec.Observe))
		s.server = func(o *envOptions, kc *klavi.Client) {
			svc, err := diag.New(diag.Options{Klavi: kc, Store: o.Store, Recorder: rec})
			if err != nil {
				t.Fatal(err)
			}
			o.Diagnostics = svc
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { rec.WriteCallLog(ctx, o.Store, nil); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
		}
	}
}

// wrongKeys makes the portal's Klavi client use a secret the sandbox refuses.
func wrongKeys(s *sandboxSetup) {
	s.klavi = append(s.klavi, klavi.WithCredentials("demo-access-key", "not-the-secret"))
}

// diagChecks reads the checks of a diagnostics page: id → status and reason.
func diagChecks(d *goquery.Document) map[string][2]string {
	out := map[string][2]string{}
	d.Find(`[data-testid^="diag-check-"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-testid")
		st, _ := s.Attr("data-status")
		reason, _ := s.Attr("data-reason")
		out[strings.TrimPrefix(id, "diag-check-")] = [2]string{st, reason}
	})
	return out
}

// lastAudit returns the newest audit entry with the action.
func lastAudit(t *testing.T, st *store.Store, action string) (store.AuditEntry, bool) {
	t.Helper()
	page, err := st.Audit(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Rows {
		if e.Action == action {
			return e, true
		}
	}
	return store.AuditEntry{}, false
}

// TestDiagnosticsAllGreenAgainstTheEmbeddedSandbox: every check is ok against the embedded sandbox but the webhook
// round trip, which says "not configured" (never a green dot for what was not checked); the environment, the
// build, this replica's Klavi calls (the POST /auth the page just made) and the menu link are there; the run is in
// the audit trail.
func TestDiagnosticsAllGreenAgainstTheEmbeddedSandbox(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, withDiagnostics(t))
	e.signIn()
	d := e.consentPage("/diagnostics")

	checks := diagChecks(d)
	for _, id := range diag.IDs() {
		want := [2]string{"ok", ""}
		if id == "roundtrip" {
			want = [2]string{"unknown", "not_configured"}
		}
		if checks[id] != want {
			t.Errorf("check %s = %v, want %v", id, checks[id], want)
		}
	}
	if len(checks) != len(diag.IDs()) {
		t.Errorf("page shows %d checks, want %d", len(checks), len(diag.IDs()))
	}
	if st, _ := d.Find(`[data-testid="diag-summary"]`).Attr("data-status"); st != "ok" {
		t.Errorf("summary = %q, want ok", st)
	}
	rt := d.Find(`[data-testid="diag-check-roundtrip"]`)
	if !strings.Contains(rt.Find(`[data-testid="diag-status"]`).Text(), "Não verificado") ||
		rt.Find(`[data-testid="diag-help"]`).Length() != 1 {
		t.Errorf("round trip card: %q", strings.Join(strings.Fields(rt.Text()), " "))
	}
	cred := d.Find(`[data-testid="diag-check-credentials"]`)
	if cred.Find(`[data-testid="diag-fact-token_expires_in"]`).Length() != 1 || cred.Find(`[data-testid="diag-help"]`).Length() != 0 {
		t.Error("credentials card: want the token's remaining life and no help text when ok")
	}
	if !strings.Contains(cred.Find(`[data-testid="diag-status"]`).Text(), "OK") {
		t.Error("an ok check says OK in words, not only by colour")
	}
	if env, _ := d.Find(`[data-testid="diag-env"]`).Attr("data-env"); env != "embedded" {
		t.Errorf("environment = %q, want embedded", env)
	}
	if d.Find(`[data-testid="diag-call-row"][data-endpoint="POST /auth"]`).Length() != 1 {
		t.Error("the calls table lacks the POST /auth the credentials check made")
	}
	if d.Find(`[data-testid="nav-diagnostics"][aria-current="page"]`).Length() != 1 {
		t.Error("no current diagnostics link in the operators' menu")
	}
	if a, ok := lastAudit(t, e.st, "diagnostics"); !ok || a.Actor != "op@example.com" || !a.OK {
		t.Errorf("audit = %+v (found %v), want a diagnostics run by op@example.com", a, ok)
	}
}

// TestDiagnosticsWithWrongKeys: the sandbox refuses the keys; the credentials check fails in words ("keys refused"),
// with Klavi's error and what to do; the page is red and the audit entry says so.
func TestDiagnosticsWithWrongKeys(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, withDiagnostics(t), wrongKeys)
	e.signIn()
	d := e.consentPage("/lang/en?next=/diagnostics")
	checks := diagChecks(d)
	if checks["credentials"] != [2]string{"failing", "bad_keys"} {
		t.Fatalf("credentials = %v, want failing/bad_keys", checks["credentials"])
	}
	cred := d.Find(`[data-testid="diag-check-credentials"]`)
	text := strings.Join(strings.Fields(cred.Text()), " ")
	for _, want := range []string{"Failing", "Keys refused by Klavi (401/403)", "Check KLAVI_ACCESS_KEY", "HTTP 401"} {
		if !strings.Contains(text, want) {
			t.Errorf("credentials card lacks %q: %s", want, text)
		}
	}
	if strings.Contains(text, "not-the-secret") {
		t.Error("the page shows the secret key")
	}
	if st, _ := d.Find(`[data-testid="diag-summary"]`).Attr("data-status"); st != "failing" {
		t.Errorf("summary = %q, want failing", st)
	}
	if a, ok := lastAudit(t, e.st, "diagnostics"); !ok || a.OK {
		t.Errorf("audit = %+v, want a failed diagnostics run", a)
	}
}

// TestDiagnosticsAndSupportBundleAreForOperators: a visitor is sent to sign in (the bundle, a JSON download,
// answers 401), the browser that started a consent included; nothing is audited for them; a server without
// diagnostics answers 404 to an operator and shows no banner.
func TestDiagnosticsAndSupportBundleAreForOperators(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	r := e.get(b, "/diagnostics")
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/login?next=%2Fdiagnostics" {
		t.Errorf("Location = %q", loc)
	}
	id, _ := e.startFlow(b, "529.982.247-25")
	r = e.get(b, "/consents/"+id+"/support.json")
	wantStatus(t, r, http.StatusUnauthorized)
	if strings.Contains(r.body, id) {
		t.Error("the 401 names the consent")
	}
	if page := e.get(b, "/consents/"+id); strings.Contains(page.body, "support.json") {
		t.Error("the consent's own browser is offered the support bundle")
	}
	if _, ok := lastAudit(t, e.st, "support_bundle"); ok {
		t.Error("a refused bundle was audited as downloaded")
	}

	op := e.operator()
	wantStatus(t, e.get(op, "/diagnostics"), http.StatusNotFound)
	if page := e.get(op, "/"); strings.Contains(page.body, `data-testid="env-banner"`) {
		t.Error("a server without diagnostics shows an environment banner")
	}
	r = e.get(op, "/consents/"+id+"/support.json")
	wantStatus(t, r, http.StatusOK)
	r = e.get(op, "/consents/nope/support.json")
	wantStatus(t, r, http.StatusNotFound)
}

// TestEnvironmentBannerOnEveryPage: the banner names the embedded sandbox on the end-user pages (start, institutions,
// the consent, /me, sign-in, an error page) in both languages, and on the operators' pages.
func TestEnvironmentBannerOnEveryPage(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, withDiagnostics(t))
	check := func(path, want string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.portal.URL+path, nil)
		_, d := e.send(req)
		banner := d.Find(`[data-testid="env-banner"]`)
		if banner.Length() != 1 {
			t.Errorf("%s: %d banners", path, banner.Length())
			return
		}
		if env, _ := banner.Attr("data-env"); env != "embedded" {
			t.Errorf("%s: banner env %q", path, env)
		}
		if role, _ := banner.Attr("role"); role != "note" {
			t.Errorf("%s: banner role %q", path, role)
		}
		if text := strings.Join(strings.Fields(banner.Text()), " "); !strings.Contains(text, want) {
			t.Errorf("%s: banner %q lacks %q", path, text, want)
		}
	}
	check("/", "Sandbox embutido")
	res, _ := e.walk("529.982.247-25", "personal", true)
	check(res.Request.URL.Path, "dados fictícios")
	check("/me", "Demo")
	check("/login", "Demo")
	check("/no-such-page", "Sandbox embutido")
	check("/lang/en?next=/", "Embedded sandbox")
	check("/institutions", "made-up data")
	e.signIn()
	check("/consents", "made-up data")
}

// TestSupportBundleHoldsWhatSupportNeedsAndNoPersonalData walks a consent with reports full of transactions (and an
// email and phone at the start), then downloads its support bundle as an operator: the ids, statuses and their
// changes, the timeline, the request ids of the Klavi calls made for it, the webhook deliveries and the reports are
// there; no CPF, CNPJ, name, email, phone, account or transaction of the stored reports is; the download is audited.
func TestSupportBundleHoldsWhatSupportNeedsAndNoPersonalData(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, withDiagnostics(t))
	const email, phone = "maria.silva@example.com", "+55 11 98765-4321"
	res, _ := e.walkForm(url.Values{"person_type": {"personal"}, "tax_id": {"529.982.247-25"}, "email": {email},
		"phone": {phone}}, true)
	path := res.Request.URL.Path
	id := strings.TrimPrefix(path, "/consents/")
	eventually(t, "AUTHORISED with 4 reports", func() bool {
		d := e.consentPage(path)
		st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status")
		return st == "AUTHORISED" && d.Find(`[data-testid="report-item"]`).Length() >= 4
	})
	if d := e.consentPage(path); d.Find(`[data-testid="support-box"]`).Length() != 0 {
		t.Error("the end user is offered the support bundle")
	}
	e.signIn()
	d := e.consentPage(path)
	if href, _ := d.Find(`[data-testid="support-download"]`).Attr("href"); href != path+"/support.json" {
		t.Errorf("support download link = %q", href)
	}
	if copyURL, _ := d.Find(`[data-testid="support-copy"]`).Attr("data-support-copy"); copyURL != path+"/support.json" {
		t.Errorf("copy button fetches %q", copyURL)
	}

	c, err := e.st.Consent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func() (string, supportBundle) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.portal.URL+path+"/support.json", nil)
		r, err := e.browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		raw, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
			!strings.Contains(r.Header.Get("Content-Disposition"), `filename="support-`+id+`.json"`) {
			t.Fatalf("support.json: %d %q %q", r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
		}
		var b supportBundle
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("support.json is not JSON: %v", err)
		}
		return string(raw), b
	}
	// The call log is written in the background: wait until the report request's call is in.
	var raw string
	var b supportBundle
	eventually(t, "the report request in the call log", func() bool {
		raw, b = fetch()
		return slices.ContainsFunc(b.KlaviCalls, func(k supportCall) bool { return k.Endpoint == "/personal/user-data" })
	})

	if b.Consent.ID != id || b.Consent.LinkID != c.LinkID || b.Consent.InstitutionCode != c.InstitutionCode ||
		b.Consent.Status != "AUTHORISED" || len(b.Consent.PermissionsGranted) == 0 || b.Consent.ReportRequestID == "" {
		t.Errorf("consent = %+v", b.Consent)
	}
	if b.Portal.Environment != "embedded" {
		t.Errorf("portal = %+v", b.Portal)
	}
	if len(b.StatusChanges) == 0 || b.StatusChanges[len(b.StatusChanges)-1].To != "AUTHORISED" {
		t.Errorf("status changes = %+v, want the last one to AUTHORISED", b.StatusChanges)
	}
	if len(b.Timeline) == 0 || b.Timeline[0].Title.Key == "" || b.Timeline[0].Title.Text == "" {
		t.Errorf("timeline = %+v", b.Timeline)
	}
	endpoints := map[string]bool{}
	for _, k := range b.KlaviCalls {
		endpoints[k.Method+" "+k.Endpoint] = true
		if k.RequestID == "" || k.At.IsZero() {
			t.Errorf("call without request id or time: %+v", k)
		}
	}
	for _, want := range []string{"POST /auth", "POST /links", "GET /links/institutions", "POST /consents",
		"GET /consents/{consentId}", "POST /personal/user-data"} {
		if !endpoints[want] {
			t.Errorf("no %s in the call log: %v", want, endpoints)
		}
	}
	var events, reportDeliveries int
	for _, w := range b.Webhooks {
		switch w.Kind {
		case "event":
			events++
		case "report":
			reportDeliveries++
		}
	}
	if events == 0 || reportDeliveries < 4 {
		t.Errorf("webhooks: %d event and %d report deliveries, want some and at least 4", events, reportDeliveries)
	}
	if len(b.Reports) < 4 {
		t.Fatalf("reports = %+v", b.Reports)
	}
	for _, rp := range b.Reports {
		if rp.ID == "" || rp.Product == "" || rp.Size <= 0 || rp.DeliveryID == 0 {
			t.Errorf("report = %+v", rp)
		}
	}

	// Privacy: every personal value the stored reports hold, and the link's, must be absent.
	personal := []string{"52998224725", "529.982.247-25", email, phone, "98765-4321", "11987654321"}
	transactions := 0
	for _, rp := range b.Reports {
		full, err := e.st.Report(context.Background(), rp.ID)
		if err != nil {
			t.Fatal(err)
		}
		var body any
		if err := json.Unmarshal(full.Raw, &body); err != nil {
			t.Fatal(err)
		}
		personal = append(personal, personalValues(body, &transactions)...)
	}
	if transactions < 50 {
		t.Fatalf("only %d transactions in the stored reports: not the rich reports this test needs", transactions)
	}
	for _, p := range personal {
		if strings.Contains(raw, p) {
			t.Errorf("the bundle holds personal data %q", taxid.MaskText(p))
		}
	}
	for _, m := range logCPF.FindAllStringSubmatch(raw, -1) {
		if _, err := taxid.ValidateCPF(m[1]); err == nil {
			t.Errorf("the bundle holds a valid CPF %s", taxid.Mask(m[1]))
		}
	}
	for _, m := range logCNPJ.FindAllStringSubmatch(raw, -1) {
		if _, err := taxid.ValidateCNPJ(m[1]); err == nil {
			t.Errorf("the bundle holds a valid CNPJ %s", taxid.Mask(m[1]))
		}
	}
	if a, ok := lastAudit(t, e.st, "support_bundle"); !ok || a.Target != "consent "+id || a.Actor != "op@example.com" {
		t.Errorf("audit = %+v (found %v)", a, ok)
	}
}

// personalFields are the report fields that hold a person's or a transaction's data (docs/klavi.md#reports).
var personalFields = map[string]bool{
	"enquiryCpf": true, "enquiryCnpj": true, "civilName": true, "name": true, "number": true, "checkDigit": true,
	"transactionName": true, "transactionId": true, "partieCnpjCpf": true, "partieNumber": true,
	"identificationNumber": true,
}

// personalValues collects the values of personalFields in a decoded report (4 characters or longer, so that a
// check digit does not match any number), and counts its transactions.
func personalValues(v any, transactions *int) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["transactionName"]; ok {
			*transactions++
		}
		for k, val := range x {
			if s, ok := val.(string); ok && personalFields[k] && len(s) >= 4 {
				out = append(out, s)
				continue
			}
			out = append(out, personalValues(val, transactions)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, personalValues(e, transactions)...)
		}
	}
	return out
}
