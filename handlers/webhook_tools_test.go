package handlers

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/simulate"
	"github.com/klavi-demo/portal/store"
)

// newSelfEnv is newEnv whose PUBLIC_URL reaches the server itself (a second listener serving the same handler), as
// the simulate page and the round-trip probe need.
func newSelfEnv(t *testing.T, mods ...func(*envOptions)) *env {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := "http://" + l.Addr().String()
	e := newEnv(t, append([]func(*envOptions){func(o *envOptions) { o.PublicURL = self; o.PollInterval = time.Hour }}, mods...)...)
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: e.s, ReadHeaderTimeout: 5 * time.Second}}
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

// closedURL is an http URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	_ = l.Close()
	return u
}

// audits returns the audit trail's entries for action, newest first.
func (e *env) audits(action string) []store.AuditEntry {
	e.t.Helper()
	page, err := e.st.Audit(context.Background(), 0, 500)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, a := range page.Rows {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

// deliveryIDs returns the ids of the stored deliveries, newest first.
func (e *env) deliveryIDs() []int64 {
	e.t.Helper()
	ds, err := e.st.Deliveries(context.Background(), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []int64
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

// drain runs the inbox worker's pass at once.
func (e *env) drain() { e.flow.DrainInbox(context.Background()) }

// timelineKeys lists the consent's timeline as "title key/detail key" pairs, oldest first.
func (e *env) timelineKeys(id string) []string {
	e.t.Helper()
	tl, err := e.st.Timeline(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range tl {
		out = append(out, l.Title.Key+"/"+l.Detail.Key)
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// The inbox explains every delivery in words, in both languages, links it to its consent when one is stored, and
// leaves no cell empty: accepted, unmatched, unknown event, bad signature, not JSON, not events, too large, wrong
// media type, a report.
func TestWebhookInboxExplainsEveryDeliveryInWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	id, _ := e.startFlow(e.browser(), "52998224725")
	link := e.linkOf(id)
	post := func(body []byte, sig string, want int) {
		t.Helper()
		wantStatus(t, e.postWebhook(eventsPath, body, sig), want)
	}
	sign := func(b []byte) string { return klavi.Sign(testSecret, b) }
	ok := consentEvent("ev-ok", "consent_rejected", id, link)
	post(ok, sign(ok), http.StatusOK)
	other := consentEvent("ev-other", "consent_rejected", "consent-elsewhere", "link-x")
	post(other, sign(other), http.StatusOK)
	future := []byte(`[{"eventId":"ev-future","eventName":"some_future_event","payload":{}}]`)
	post(future, sign(future), http.StatusOK)
	post(ok, strings.Repeat("0", 64), http.StatusUnauthorized)
	post([]byte(`{"eventId":`), sign([]byte(`{"eventId":`)), http.StatusBadRequest)
	post([]byte(`[{"eventName":"x"}]`), sign([]byte(`[{"eventName":"x"}]`)), http.StatusBadRequest)
	big := bytes.Repeat([]byte(" "), eventLimit+10)
	post(big, sign(big), http.StatusRequestEntityTooLarge)
	wantStatus(t, e.do(http.DefaultClient, http.MethodPost, eventsPath, bytes.NewReader(ok),
		map[string]string{"Content-Type": "text/plain", klavi.SignatureHeader: sign(ok)}), http.StatusUnsupportedMediaType)
	rep := reportFor("rep-inbox", link, id)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", rep, sign(rep)), http.StatusOK)
	e.drain()

	op := e.operator()
	page := e.get(op, "/webhooks")
	wantStatus(t, page, http.StatusOK)
	d := page.doc(t)
	rows := d.Find(`[data-testid="webhook-row"]`)
	if rows.Length() != 9 {
		t.Fatalf("rows = %d, want 9", rows.Length())
	}
	rows.Find("td").Each(func(i int, td *goqSel) {
		if strings.TrimSpace(td.Text()) == "" {
			t.Errorf("an empty cell (%s) in row %q", td.AttrOr("data-label", "?"), strings.Join(strings.Fields(td.Parent().Text()), " "))
		}
	})
	byKey := map[string]string{}
	rows.Each(func(_ int, r *goqSel) {
		res := r.Find(`[data-testid="webhook-result"]`)
		byKey[res.AttrOr("data-result-key", "")] = strings.TrimSpace(res.Text())
		if strings.Contains(res.Text(), "wh.") {
			t.Errorf("a raw result key is shown: %q", res.Text())
		}
	})
	for key, want := range map[string]string{
		consent.RProcessed:       "Processado",
		consent.RUnmatched:       "Sem consentimento correspondente (guardado)",
		consent.RUnknownEvent:    "Ignorado: evento desconhecido some_future_event",
		consent.RBadSignature:    "Rejeitado: assinatura inválida",
		consent.RNotJSON:         "Rejeitado: o corpo não é JSON",
		consent.RMalformedEvents: "Rejeitado: não são eventos da Klavi",
		consent.RTooLarge:        "Rejeitado: corpo grande demais (limite 1.0 MiB)",
		consent.RMediaType:       "Rejeitado: tipo de conteúdo não suportado",
		consent.RStored:          "Relatório armazenado",
	} {
		if byKey[key] != want {
			t.Errorf("%s: shown as %q, want %q", key, byKey[key], want)
		}
	}
	// The consent column: a link when the consent is stored, the id and why not otherwise, "not read" when rejected.
	links := d.Find(`[data-testid="webhook-consent-link"]`)
	if links.Length() != 2 || links.First().AttrOr("href", "") != "/consents/"+id {
		t.Errorf("consent links = %d (%q), want the report's and the event's to /consents/%s", links.Length(), links.First().AttrOr("href", ""), id)
	}
	consentCells := d.Find(`[data-testid="webhook-consent"]`).Text()
	if d.Find(`[data-testid="webhook-consent"] [title="consent-elsewhere"]`).Length() != 1 {
		t.Error("the unmatched delivery does not name its consent id")
	}
	for _, want := range []string{"consent-… (não existe neste portal)", "não lido (rejeitado)", "nenhum citado"} {
		if !strings.Contains(strings.Join(strings.Fields(consentCells), " "), want) {
			t.Errorf("consent cells lack %q: %q", want, consentCells)
		}
	}

	// English, the same rows.
	wantStatus(t, e.get(op, "/lang/en?next=/webhooks"), http.StatusSeeOther)
	en := e.get(op, "/webhooks").doc(t).Find(`[data-testid="webhooks-table"]`).Text()
	for _, want := range []string{"Rejected: invalid signature", "Rejected: the body is not JSON", "Rejected: not Klavi events",
		"Rejected: body too large (limit 1.0 MiB)", "Ignored: unknown event some_future_event", "No matching consent (kept)",
		"not read (rejected)", "(not in this portal)", "Report stored", "Processed"} {
		if !strings.Contains(en, want) {
			t.Errorf("English list lacks %q", want)
		}
	}

	// A rejected delivery's page explains the rejection and offers no replay.
	var badSig int64
	ds, _ := e.st.Deliveries(context.Background(), 100)
	for _, dl := range ds {
		if dl.Result == consent.R(consent.RBadSignature) {
			badSig = dl.ID
		}
	}
	wantStatus(t, e.get(op, "/lang/pt-BR?next=/"), http.StatusSeeOther)
	dp := e.get(op, "/webhooks/"+strconv.FormatInt(badSig, 10))
	wantStatus(t, dp, http.StatusOK)
	dd := dp.doc(t)
	if why := dd.Find(`[data-testid="result-why"]`).Text(); !strings.Contains(why, "X-Klavi-Signature") || !strings.Contains(why, "KLAVI_SECRET_KEY") {
		t.Errorf("bad signature explained as %q", why)
	}
	if dd.Find(`[data-testid="webhook-replay"]`).Length() != 0 || !strings.Contains(dd.Find(`[data-testid="webhook-not-replayable"]`).Text(), "rejeitada na chegada") {
		t.Error("a rejected delivery offers a replay, or does not say why not")
	}
}

// The pages of a database written before result keys (store/testdata/portal-v3.db) read in words: every stored
// English result is explained, no row is blank, and deliveries link to the consents migration 0008 found in their
// bodies.
func TestOlderDatabaseWebhookPagesExplainResults(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "store", "testdata", "portal-v3.db"))
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	if err := os.WriteFile(dbPath, src, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dbPath, time.Now)
	if err != nil {
		t.Fatalf("open the v3 database: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o := envOptions{Options: Options{Store: st, WebhookSecret: testSecret, PublicURL: "http://127.0.0.1:8080",
		SessionKey: bytes.Repeat([]byte("k"), 64), RateLimit: -1, PasswordParams: cheapHash}, PollInterval: time.Hour}
	kc := newFakeKlavi()
	o.Flow = newFlow(t, o, kc)
	s, err := newServer(o.Options, kc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e := &env{t: t, s: s, flow: o.Flow, st: st, kc: kc, srv: srv, dbPath: dbPath}
	op := e.operator()
	var all strings.Builder
	next := "/webhooks"
	for next != "" {
		r := e.get(op, next)
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		d.Find(`[data-testid="webhook-result"]`).Each(func(_ int, s *goqSel) {
			if strings.TrimSpace(s.Text()) == "" || strings.Contains(s.Text(), "wh.") {
				t.Errorf("result cell %q", s.Text())
			}
			all.WriteString(s.Text() + "\n")
		})
		next = d.Find(`[data-testid="pager-older"]`).AttrOr("href", "")
	}
	for _, want := range []string{"Processado; Sem efeito: o consentimento já está REVOKED", "Relatório armazenado",
		"Descartado: dados apagados a pedido do titular", "Duplicado: já recebido, ignorado"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("older rows lack %q", want)
		}
	}
	ds, err := e.st.Deliveries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	linked := 0
	for _, d := range ds {
		if d.ConsentKnown {
			linked++
			page := e.get(op, "/webhooks/"+strconv.FormatInt(d.ID, 10)).doc(t)
			if page.Find(`[data-testid="webhook-consent-link"]`).AttrOr("href", "") != "/consents/"+d.ConsentID {
				t.Errorf("delivery %d does not link to consent %s", d.ID, d.ConsentID)
			}
			if page.Find(`[data-testid="result-why"]`).Length() == 0 {
				t.Errorf("delivery %d: its result is not explained", d.ID)
			}
		}
	}
	if linked < 3 {
		t.Errorf("older deliveries linked to their consent = %d, want at least the fixture's three reports", linked)
	}
	// An older event names a consent the fixture does not hold: shown with its id and why there is no link.
	list := strings.Join(strings.Fields(e.get(op, "/webhooks").doc(t).Find(`[data-testid="webhook-consent"]`).Text()), " ")
	if !strings.Contains(list, "consent-1 (não existe neste portal)") {
		t.Errorf("consent cells: %s", list)
	}
}

// A replay applies a stored delivery again through the worker's path: once the event was applied, a replay
// changes nothing and says so (on the delivery's page and the consent's timeline); an event that matched no consent
// at first is applied by a replay once the consent exists. Every replay is audited.
func TestReplayIsIdempotentAndExplained(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	op := e.operator()
	sign := func(b []byte) string { return klavi.Sign(testSecret, b) }

	// An event for consent-1 before it exists: unmatched.
	early := consentEvent("ev-early", "consent_rejected", "consent-1", "link-1")
	wantStatus(t, e.postWebhook(eventsPath, early, sign(early)), http.StatusOK)
	early2 := consentEvent("ev-pending", "consent_rejected", "consent-1", "link-1")
	e.drain()
	earlyID := e.deliveryIDs()[0]
	if d, _ := e.st.Delivery(context.Background(), earlyID); d.Result != consent.R(consent.RUnmatched) {
		t.Fatalf("early delivery result = %q", d.Result)
	}

	// Not applied yet: refused with the reason, 409, audited as failed.
	wantStatus(t, e.postWebhook(eventsPath, early2, sign(early2)), http.StatusOK)
	pendingID := e.deliveryIDs()[0]
	r := e.post(op, "/webhooks/"+strconv.FormatInt(pendingID, 10)+"/replay", nil)
	wantStatus(t, r, http.StatusConflict)
	if msg := r.doc(t).Find(`[data-testid="replay-error"]`).Text(); !strings.Contains(msg, "ainda não aplicou") {
		t.Errorf("pending replay error = %q", msg)
	}
	e.drain()

	id, _ := e.startFlow(e.browser(), "52998224725")
	if id != "consent-1" {
		t.Fatalf("consent id = %s", id)
	}
	path := "/webhooks/" + strconv.FormatInt(earlyID, 10)
	replay := func(wantChanged bool) {
		t.Helper()
		r := e.post(op, path+"/replay", nil)
		if r.status != http.StatusSeeOther {
			t.Fatalf("replay: %d %s", r.status, r.doc(t).Find(`[data-testid="replay-error"]`).Text())
		}
		if loc := r.header.Get("Location"); !strings.HasPrefix(loc, path+"#replay-") {
			t.Errorf("Location = %q", loc)
		}
		d := e.get(op, path).doc(t)
		row := d.Find(`[data-testid="replay-row"]`).First() // the newest
		if got := row.AttrOr("data-changed", ""); got != strconv.FormatBool(wantChanged) {
			t.Errorf("newest replay changed = %s, want %v", got, wantChanged)
		}
		effect := strings.TrimSpace(row.Find(`[data-testid="replay-effect"]`).Text())
		if wantChanged && effect != "Aplicado agora" || !wantChanged && effect != "Nada mudou: já tinha sido aplicado" {
			t.Errorf("effect = %q", effect)
		}
	}
	replay(true) // the consent exists now: applied
	if c, _ := e.st.Consent(context.Background(), id); c.Status != consent.Rejected {
		t.Fatalf("status after the replay = %s, want REJECTED", c.Status)
	}
	statusStr := strings.Join(strings.Fields(e.get(op, path).doc(t).Find(`[data-testid="replay-status"]`).First().Text()), " ")
	if statusStr != "Iniciado → Recusado" {
		t.Errorf("replay status = %q", statusStr)
	}
	replay(false) // applied already: nothing changes
	replay(false)
	if n := e.get(op, path).doc(t).Find(`[data-testid="replay-row"]`).Length(); n != 3 {
		t.Errorf("replays listed = %d, want 3", n)
	}
	keys := e.timelineKeys(id)
	if n := countOf(keys, consent.TLStatusChanged+"/"+consent.TLObservedVia); n != 1 {
		t.Errorf("status lines = %d, want 1: %v", n, keys)
	}
	if countOf(keys, consent.TLReplayed+"/"+consent.TLReplayApplied) != 1 || countOf(keys, consent.TLReplayed+"/"+consent.TLReplayUnchanged) != 2 {
		t.Errorf("replay lines: %v", keys)
	}
	if countOf(keys, consent.TLWebhook+"/"+consent.TLEventID) != 1 {
		t.Errorf("webhook lines for ev-early: %v", keys)
	}
	cp := e.get(op, "/consents/"+id).doc(t).Find(`[data-testid="timeline"]`).Text()
	if !strings.Contains(cp, "webhook consent_rejected reaplicado por um operador (entrega #"+strconv.FormatInt(earlyID, 10)+")") ||
		!strings.Contains(cp, "nada mudou: já tinha sido aplicado") || !strings.Contains(cp, "observado via replay") {
		t.Errorf("consent timeline lacks the replay lines: %s", strings.Join(strings.Fields(cp), " "))
	}

	// A product event and a report, replayed after being applied: nothing changes either.
	pf := []byte(`[{"eventId":"ev-pf","eventName":"product_generated_failed","payload":{"consentIds":["` + id + `"],"productName":"pf_credit_card","message":"boom"}}]`)
	wantStatus(t, e.postWebhook(eventsPath, pf, sign(pf)), http.StatusOK)
	e.drain()
	pfID := e.deliveryIDs()[0]
	rep := reportFor("rep-replay", e.linkOf(id), id)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", rep, sign(rep)), http.StatusOK)
	repID := e.deliveryIDs()[0]
	before := len(e.timelineKeys(id))
	for _, dID := range []int64{pfID, repID} {
		if r := e.post(op, "/webhooks/"+strconv.FormatInt(dID, 10)+"/replay", nil); r.status != http.StatusSeeOther {
			t.Fatalf("replay of %d: %d %s", dID, r.status, r.doc(t).Find(`[data-testid="replay-error"]`).Text())
		}
		if rs, _ := e.st.Replays(context.Background(), dID); len(rs) != 1 || rs[0].Changed {
			t.Errorf("delivery %d replays = %+v, want one that changed nothing", dID, rs)
		}
	}
	if after := e.timelineKeys(id); len(after) != before+2 { // only the two replay lines
		t.Errorf("timeline grew by %d lines, want 2: %v", len(after)-before, after[before:])
	}

	// Refused on arrival: no button, a clear error on POST.
	wantStatus(t, e.postWebhook(eventsPath, early, strings.Repeat("0", 64)), http.StatusUnauthorized)
	rejected := e.deliveryIDs()[0]
	r = e.post(op, "/webhooks/"+strconv.FormatInt(rejected, 10)+"/replay", nil)
	wantStatus(t, r, http.StatusConflict)
	if msg := r.doc(t).Find(`[data-testid="replay-error"]`).Text(); !strings.Contains(msg, "rejeitada na chegada") {
		t.Errorf("rejected replay error = %q", msg)
	}
	if r.doc(t).Find(`[data-testid="webhook-replay"]`).Length() != 0 {
		t.Error("the refusal page offers the replay button")
	}
	wantStatus(t, e.post(op, "/webhooks/999999/replay", nil), http.StatusNotFound)
	wantStatus(t, e.post(op, "/webhooks/x/replay", nil), http.StatusNotFound)

	// The audit trail: every replay, refused ones as failures.
	okN, failN := 0, 0
	for _, a := range e.audits("webhook_replay") {
		if a.OK {
			okN++
		} else {
			failN++
		}
		if !strings.HasPrefix(a.Actor, "op") || !strings.HasPrefix(a.Target, "delivery #") {
			t.Errorf("audit entry %+v", a)
		}
	}
	if okN != 5 || failN != 2 {
		t.Errorf("audited replays: %d ok, %d refused; want 5 and 2", okN, failN)
	}
}

// Simulate: the portal signs a webhook, posts it over HTTP to its own PUBLIC_URL and shows the round trip; the
// consent's status changes through the real receiver and worker. A synthetic report is stored and readable.
func TestSimulateChangesTheConsentThroughTheRealReceiver(t *testing.T) {
	t.Parallel()
	e := newSelfEnv(t)
	id, _ := e.startFlow(e.browser(), "52998224725")
	op := e.operator()

	form := e.get(op, "/webhooks/simulate?consent="+id)
	wantStatus(t, form, http.StatusOK)
	fd := form.doc(t)
	if fd.Find(`[data-testid="sim-consent"] option[selected]`).AttrOr("value", "") != id {
		t.Error("the consent of ?consent= is not preselected")
	}
	if n := fd.Find(`[data-testid="sim-event"] option`).Length(); n != len(simulate.Choices) {
		t.Errorf("events offered = %d", n)
	}
	if strings.Contains(fd.Text(), "529.982.247-25") {
		t.Error("the select shows a tax id in clear")
	}

	send := func(event, product string) *goqDoc {
		t.Helper()
		r := e.post(op, "/webhooks/simulate", url.Values{"consent": {id}, "event": {event}, "product": {product}})
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		res := d.Find(`[data-testid="sim-result"]`)
		if res.AttrOr("data-ok", "") != "true" {
			t.Fatalf("%s: round trip not ok: %s", event, strings.Join(strings.Fields(res.Text()), " "))
		}
		if st := d.Find(`[data-testid="sim-status"]`).AttrOr("data-status", ""); st != "200" {
			t.Errorf("%s: status %s", event, st)
		}
		if href := d.Find(`[data-testid="sim-delivery"]`).AttrOr("href", ""); !strings.HasPrefix(href, "/webhooks/") {
			t.Errorf("%s: delivery link %q", event, href)
		}
		if d.Find(`[data-testid="sim-duration"]`).Text() == "" || d.Find(`[data-testid="sim-not-applied"]`).Length() != 0 {
			t.Errorf("%s: no time, or not applied", event)
		}
		return d
	}

	d := send(simulate.ConsentAuthorised, "pf_checking_account")
	cs := d.Find(`[data-testid="sim-consent-status"]`)
	if cs.AttrOr("data-before", "") != "STARTED" || cs.AttrOr("data-after", "") != "AUTHORISED" {
		t.Errorf("status %s → %s, want STARTED → AUTHORISED", cs.AttrOr("data-before", ""), cs.AttrOr("data-after", ""))
	}
	if k := d.Find(`[data-testid="sim-delivery-result"]`).AttrOr("data-result-key", ""); k != consent.RProcessed {
		t.Errorf("delivery result %s", k)
	}
	if c, _ := e.st.Consent(context.Background(), id); c.Status != consent.Authorised {
		t.Fatalf("stored status %s", c.Status)
	}

	d = send(simulate.Report, "pf_checking_account")
	if k := d.Find(`[data-testid="sim-delivery-result"]`).AttrOr("data-result-key", ""); k != consent.RStored {
		t.Errorf("report delivery result %s", k)
	}
	reps, _ := e.st.ReportsForConsent(context.Background(), id)
	if len(reps) != 1 || !strings.HasPrefix(reps[0].ID, "sim-report-") {
		t.Fatalf("reports = %+v", reps)
	}
	page := e.get(op, "/reports/"+reps[0].ID)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.body, "Titular Simulado") {
		t.Error("the simulated report does not render")
	}
	raw, _ := e.st.Report(context.Background(), reps[0].ID)
	if taxid.MaskText(string(raw.Raw)) != string(raw.Raw) {
		t.Error("the simulated report holds a valid CPF/CNPJ")
	}

	send(simulate.ProductGeneratedFailed, "pf_credit_card")
	d = send(simulate.ConsentRevoked, "pf_checking_account")
	cs = d.Find(`[data-testid="sim-consent-status"]`)
	if cs.AttrOr("data-before", "") != "AUTHORISED" || cs.AttrOr("data-after", "") != "REVOKED" {
		t.Errorf("status %s → %s, want AUTHORISED → REVOKED", cs.AttrOr("data-before", ""), cs.AttrOr("data-after", ""))
	}

	keys := e.timelineKeys(id)
	if n := countOf(keys, consent.TLSimulated+"/"); n != 4 {
		t.Errorf("simulated lines = %d, want 4: %v", n, keys)
	}
	if countOf(keys, consent.TLWebhook+"/"+consent.TLProductFailedEvent) != 1 {
		t.Errorf("no product failure line: %v", keys)
	}
	if a := e.audits("webhook_simulate"); len(a) != 4 || !a[0].OK || !strings.Contains(a[0].Target, "consent_revoked") ||
		!strings.Contains(a[0].Target, "AUTHORISED → REVOKED") {
		t.Errorf("audit = %+v", a)
	}

	// A form that names nothing known is refused next to the form, nothing sent.
	n := len(e.deliveryIDs())
	for _, v := range []url.Values{
		{"consent": {"nope"}, "event": {"consent_revoked"}, "product": {"pf_credit_card"}},
		{"consent": {id}, "event": {"consent_deleted_by_user"}, "product": {"pf_credit_card"}},
		{"consent": {id}, "event": {"report"}, "product": {"pf_loans"}},
	} {
		r := e.post(op, "/webhooks/simulate", v)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.doc(t).Find(`[data-testid="sim-error"]`).Text(), "Escolha um consentimento existente") {
			t.Errorf("%v: no error next to the form", v)
		}
	}
	if len(e.deliveryIDs()) != n {
		t.Error("a refused form sent a webhook")
	}
}

// When PUBLIC_URL cannot be reached from where the portal runs, the page says so in plain words with what to do.
func TestSimulateExplainsAnUnreachablePublicURL(t *testing.T) {
	t.Parallel()
	dead := closedURL(t)
	e := newEnv(t, func(o *envOptions) { o.PublicURL = dead; o.PollInterval = time.Hour })
	id, _ := e.startFlow(e.browser(), "52998224725")
	op := e.operator()
	r := e.post(op, "/webhooks/simulate", url.Values{"consent": {id}, "event": {"consent_revoked"}, "product": {"pf_checking_account"}})
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	res := d.Find(`[data-testid="sim-result"]`)
	if res.AttrOr("data-ok", "") != "false" || res.AttrOr("data-problem", "") != string(simulate.ProblemRefused) {
		t.Fatalf("result ok=%s problem=%s", res.AttrOr("data-ok", ""), res.AttrOr("data-problem", ""))
	}
	msg := strings.Join(strings.Fields(d.Find(`[data-testid="sim-problem"]`).Text()), " ")
	for _, want := range []string{"Conexão recusada", dead, "PUBLIC_URL aponta para este portal"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problem text lacks %q: %s", want, msg)
		}
	}
	if d.Find(`[data-testid="sim-no-delivery"]`).Length() != 1 || d.Find(`[data-testid="sim-status"]`).AttrOr("data-status", "") != "0" {
		t.Error("an unreachable URL shows a delivery or a status")
	}
	if c, _ := e.st.Consent(context.Background(), id); c.Status != consent.Started {
		t.Errorf("status changed to %s", c.Status)
	}
	if a := e.audits("webhook_simulate"); len(a) != 1 || a[0].OK || !strings.Contains(a[0].Target, "(refused)") {
		t.Errorf("audit = %+v", a)
	}
	// In English too.
	wantStatus(t, e.get(op, "/lang/en?next=/"), http.StatusSeeOther)
	r = e.post(op, "/webhooks/simulate", url.Values{"consent": {id}, "event": {"consent_revoked"}, "product": {"pf_checking_account"}})
	if msg := r.doc(t).Find(`[data-testid="sim-problem"]`).Text(); !strings.Contains(msg, "Connection refused") ||
		!strings.Contains(msg, "Check that PUBLIC_URL points at this portal") {
		t.Errorf("English problem text: %s", msg)
	}
}

// RoundTrip, the probe a diagnostics page runs: it reaches the inbox and the worker, is marked a probe, and changes
// nothing; against an unreachable PUBLIC_URL it says why.
func TestRoundTripProbe(t *testing.T) {
	t.Parallel()
	e := newSelfEnv(t)
	id, _ := e.startFlow(e.browser(), "52998224725")
	before := e.timelineKeys(id)
	o := simulate.RoundTrip(context.Background(), simulate.Target{PublicURL: e.s.publicURL, Secret: testSecret,
		Store: e.st, Apply: e.flow.DrainInbox})
	if !o.OK() || o.Status != http.StatusOK || !o.Reached || !o.Applied || o.Delivery.ID == 0 {
		t.Fatalf("RoundTrip = %s (reached %v, applied %v)", o, o.Reached, o.Applied)
	}
	if o.Delivery.Result != consent.R(consent.RProbe) || o.Delivery.ConsentID != "" {
		t.Errorf("probe delivery = %+v", o.Delivery)
	}
	if after := e.timelineKeys(id); len(after) != len(before) {
		t.Errorf("the probe wrote on a consent's timeline: %v", after)
	}
	op := e.operator()
	if txt := e.get(op, "/webhooks").doc(t).Find(`[data-testid="webhook-result"]`).First().Text(); txt != "Sonda do próprio portal" {
		t.Errorf("the probe is listed as %q", txt)
	}

	o = simulate.RoundTrip(context.Background(), simulate.Target{PublicURL: closedURL(t), Secret: testSecret, Store: e.st})
	if o.OK() || o.Problem != simulate.ProblemRefused || o.Reached || o.Status != 0 {
		t.Errorf("unreachable RoundTrip = %s", o)
	}
}

// Replay and simulate are operators' tools: a visitor is sent to sign in (401 to JSON), a cross-site form post is
// refused, and nothing is sent or replayed.
func TestWebhookToolsAreForOperatorsOnly(t *testing.T) {
	t.Parallel()
	e := newSelfEnv(t)
	owner := e.browser()
	id, _ := e.startFlow(owner, "52998224725")
	ev := consentEvent("ev-auth", "consent_rejected", id, e.linkOf(id))
	wantStatus(t, e.postWebhook(eventsPath, ev, klavi.Sign(testSecret, ev)), http.StatusOK)
	e.drain()
	did := strconv.FormatInt(e.deliveryIDs()[0], 10)
	n := len(e.deliveryIDs())
	simForm := url.Values{"consent": {id}, "event": {"consent_revoked"}, "product": {"pf_checking_account"}}
	for _, c := range []*http.Client{e.browser(), owner} {
		for _, tc := range []struct {
			method, path string
			form         url.Values
		}{
			{http.MethodGet, "/webhooks/simulate", nil},
			{http.MethodPost, "/webhooks/simulate", simForm},
			{http.MethodPost, "/webhooks/" + did + "/replay", url.Values{}},
		} {
			var r resp
			if tc.method == http.MethodGet {
				r = e.get(c, tc.path)
			} else {
				r = e.post(c, tc.path, tc.form)
			}
			wantStatus(t, r, http.StatusSeeOther)
			if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") {
				t.Errorf("%s %s: Location %q", tc.method, tc.path, loc)
			}
			r = e.do(c, tc.method, tc.path, strings.NewReader(tc.form.Encode()), map[string]string{"Accept": "application/json"})
			wantStatus(t, r, http.StatusUnauthorized)
		}
	}
	op := e.operator()
	for _, p := range []string{"/webhooks/simulate", "/webhooks/" + did + "/replay"} {
		r := e.do(op, http.MethodPost, p, strings.NewReader(simForm.Encode()), map[string]string{"Sec-Fetch-Site": "cross-site"})
		wantStatus(t, r, http.StatusForbidden)
	}
	if len(e.deliveryIDs()) != n {
		t.Error("a refused request sent a webhook")
	}
	if rs, _ := e.st.Replays(context.Background(), e.deliveryIDs()[0]); len(rs) != 0 {
		t.Error("a refused request replayed a delivery")
	}
	if len(e.audits("webhook_replay"))+len(e.audits("webhook_simulate")) != 0 {
		t.Error("refused requests were audited as operator actions")
	}
	if c, _ := e.st.Consent(context.Background(), id); c.Status != consent.Rejected {
		t.Errorf("status = %s", c.Status)
	}
}
