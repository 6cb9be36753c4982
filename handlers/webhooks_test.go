package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/klavi"
)

func inboxCount(t *testing.T, e *env) int {
	t.Helper()
	ds, err := e.st.Deliveries(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		if d.SignatureValid && !d.Duplicate && d.Kind == "event" && !flow.IsRejection(d.Result) {
			n += len(d.Keys)
		}
	}
	return n
}

func TestEventWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := consentEvent("ev-1", "consent_authorised", "consent-x", "link-x")

	tests := []struct {
		name       string
		body       []byte
		sig        string
		wantStatus int
	}{
		{"missing signature", body, "", http.StatusUnauthorized},
		{"wrong secret", body, klavi.Sign("other", body), http.StatusUnauthorized},
		{"flipped byte", body, flip(klavi.Sign(testSecret, body)), http.StatusUnauthorized},
		{"signature of re-serialised JSON", body, klavi.Sign(testSecret, bytes.ReplaceAll(body, []byte(","), []byte(", "))), http.StatusUnauthorized},
		{"truncated signature", body, klavi.Sign(testSecret, body)[:62], http.StatusUnauthorized},
		{"malformed JSON with a valid signature", []byte(`[{"eventId":`), klavi.Sign(testSecret, []byte(`[{"eventId":`)), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postWebhook("/webhooks/klavi/events", tt.body, tt.sig)
			wantStatus(t, r, tt.wantStatus)
			if n := inboxCount(t, e); n != 0 {
				t.Errorf("accepted deliveries = %d, want 0", n)
			}
		})
	}
	ds, _ := e.st.Deliveries(context.Background(), 100)
	if len(ds) != len(tests) {
		t.Errorf("recorded deliveries = %d, want %d (rejections are audited)", len(ds), len(tests))
	}
	for _, d := range ds {
		if d.Body != nil {
			t.Error("rejected delivery kept its body")
		}
	}

	t.Run("valid: 200 and one row; duplicate: 200 and still one row; unknown consent: unmatched", func(t *testing.T) {
		r := e.postWebhook("/webhooks/klavi/events", body, klavi.Sign(testSecret, body))
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.body, `"received":true`) {
			t.Errorf("body = %s", r.body)
		}
		r = e.postWebhook("/webhooks/klavi/events", body, klavi.Sign(testSecret, body))
		wantStatus(t, r, http.StatusOK)
		items, _ := e.st.PendingInbox(context.Background(), 10)
		if len(items) != 1 {
			t.Fatalf("pending inbox = %d, want 1", len(items))
		}
		ds, _ := e.st.Deliveries(context.Background(), 2)
		if !ds[0].Duplicate || ds[1].Duplicate {
			t.Errorf("duplicate flags = %v, %v", ds[0].Duplicate, ds[1].Duplicate)
		}
		e.runBackground()
		eventually(t, "inbox processed", func() bool {
			items, _ := e.st.PendingInbox(context.Background(), 10)
			return len(items) == 0
		})
		eventually(t, "delivery result unmatched", func() bool {
			ds, _ := e.st.Deliveries(context.Background(), 2)
			return ds[1].Result == consent.R(consent.RUnmatched)
		})
	})

	t.Run("over the limit: 413", func(t *testing.T) {
		big := bytes.Repeat([]byte("a"), eventLimit+1)
		r := e.postWebhook("/webhooks/klavi/events", big, klavi.Sign(testSecret, big))
		wantStatus(t, r, http.StatusRequestEntityTooLarge)
		checkSecurityHeaders(t, r)
	})

	t.Run("inbox page shows signature and duplicate flags, detail masks tax ids", func(t *testing.T) {
		c := e.operator()
		r := e.get(c, "/webhooks")
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		if d.Find(`[data-testid="webhook-row"][data-signature="invalid"]`).Length() == 0 ||
			d.Find(`[data-testid="webhook-row"][data-signature="valid"][data-duplicate="true"]`).Length() != 1 ||
			d.Find(`[data-testid="webhook-kind"]`).Length() == 0 {
			t.Error("webhook rows lack the expected flags")
		}
		ds, _ := e.st.Deliveries(context.Background(), 100)
		var okID int64
		for _, dl := range ds {
			if dl.SignatureValid && !dl.Duplicate && dl.Body != nil {
				okID = dl.ID
			}
		}
		r = e.get(c, "/webhooks/"+itoa64(okID))
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, "52998224725") || !strings.Contains(r.body, "982.247") {
			t.Error("webhook body not masked")
		}
		wantStatus(t, e.get(c, "/webhooks/999999"), http.StatusNotFound)
		wantStatus(t, e.get(c, "/webhooks/abc"), http.StatusNotFound)
	})
}

func flip(sig string) string {
	b := []byte(sig)
	if b[0] == 'a' {
		b[0] = 'b'
	} else {
		b[0] = 'a'
	}
	return string(b)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func TestWebhookDrivesConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = 1e9 * 3600 }) // reconciler out of the way
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	e.runBackground()
	body := consentEvent("ev-auth", "consent_authorised", id, e.linkOf(id))
	for range 2 { // delivered twice
		wantStatus(t, e.postWebhook("/webhooks/klavi/events", body, klavi.Sign(testSecret, body)), http.StatusOK)
	}
	eventually(t, "AUTHORISED via webhook with reports requested", func() bool {
		c, _ := e.st.Consent(context.Background(), id)
		return c.Status == "AUTHORISED" && c.ReportRequestID != ""
	})
	tl, _ := e.st.Timeline(context.Background(), id)
	n := 0
	for _, en := range tl {
		if enText(en.Title) == "webhook consent_authorised, signature ok" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("webhook timeline entries = %d, want 1", n)
	}
	// A product failure lands on the timeline too.
	pf := []byte(`[{"eventId":"ev-pf","eventType":"api","eventName":"product_generated_failed","eventTime":"2026-01-01T00:00:00Z",` +
		`"payload":{"requestId":"req-1","taxId":"52998224725","linkId":"` + e.linkOf(id) + `","consentIds":["` + id + `"],"productName":"pf_credit_card","code":500,"message":"bank timeout"}}]`)
	wantStatus(t, e.postWebhook("/webhooks/klavi/events", pf, klavi.Sign(testSecret, pf)), http.StatusOK)
	eventually(t, "product failure on the timeline", func() bool {
		tl, _ := e.st.Timeline(context.Background(), id)
		for _, en := range tl {
			if enText(en.Title) == "webhook product_generated_failed, signature ok" && !en.OK {
				return true
			}
		}
		return false
	})
}

func TestReportWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := []byte(`{"code":200,"message":"ok","requestId":"r","productName":"pf_savings_account","productVersion":"1",` +
		`"productReportId":"rep-9","productReportTime":"2026-01-01 10:00:00","links":[{"linkId":"nolink","institutionCode":"1","consents":[{"consentId":"unknown"}]}],"savingsAccounts":[]}`)
	tests := []struct {
		name       string
		body       []byte
		sig        string
		wantStatus int
	}{
		{"bad signature", body, "00", http.StatusUnauthorized},
		{"unknown consent is acknowledged", body, klavi.Sign(testSecret, body), http.StatusOK},
		{"duplicate is acknowledged", body, klavi.Sign(testSecret, body), http.StatusOK},
		{"legacy report", []byte(`{"msg":"x","report_type":"y","enquiry_cpf":"1"}`), klavi.Sign(testSecret, []byte(`{"msg":"x","report_type":"y","enquiry_cpf":"1"}`)), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, e.postWebhook("/webhooks/klavi/reports", tt.body, tt.sig), tt.wantStatus)
		})
	}
	reps, _ := e.st.Reports(context.Background(), 10)
	if len(reps) != 1 {
		t.Errorf("reports = %d, want 1", len(reps))
	}
	ds, _ := e.st.Deliveries(context.Background(), 10)
	var results []string
	for _, d := range ds {
		results = append(results, d.Result)
	}
	if !slices.Contains(results, consent.R(consent.RUnmatched)) {
		t.Errorf("results = %v, want an unmatched one", results)
	}
}

// TestReportWithUnreadableProductPartIsKept: the receiver reads only a report's envelope (docs/reliability.md#durable-inbox),
// so a report whose accounts do not decode is stored and acknowledged, and its page shows it as unreadable with the
// raw body; the transaction exports have nothing to offer.
func TestReportWithUnreadableProductPartIsKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := []byte(`{"code":200,"message":"ok","requestId":"r","productName":"pf_checking_account","productVersion":"1",` +
		`"productReportId":"rep-odd","links":[],"checkingAccounts":[{"number":"1","transactionDetails":[{"fAll":"many"}]}]}`)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body)), http.StatusOK)
	got, err := e.st.Report(context.Background(), "rep-odd")
	if err != nil || !bytes.Equal(got.Raw, body) || got.ProductName != "pf_checking_account" {
		t.Fatalf("stored %+v, %v; want the body as sent", got, err)
	}
	op := e.operator()
	r := e.get(op, "/reports/rep-odd")
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	if d.Find(`[data-testid="report-unreadable"]`).Length() != 1 || !strings.Contains(r.body, "many") {
		t.Error("the page does not show the report as unreadable with its raw body")
	}
	wantStatus(t, e.get(op, "/reports/rep-odd/transactions.csv"), http.StatusNotFound)
	wantStatus(t, e.get(op, "/reports/rep-odd/report.json"), http.StatusOK)
}

// TestReportsRequestedOnce: AUTHORISED observed at once by the callback, the webhook worker and the
// reconciler → exactly one report request.
func TestReportsRequestedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = 5e6 })
	e.kc.reportDelay = 50e6
	b := e.browser()
	id, track := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	e.runBackground()
	body := consentEvent("ev-race", "consent_authorised", id, e.linkOf(id))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if r := e.postWebhook("/webhooks/klavi/events", body, klavi.Sign(testSecret, body)); r.status != http.StatusOK {
			t.Errorf("webhook status = %d", r.status)
		}
	}()
	go func() {
		defer wg.Done()
		if r := e.get(b, callbackQuery(id, e.linkOf(id), track)); r.status != http.StatusSeeOther {
			t.Errorf("callback status = %d", r.status)
		}
	}()
	wg.Wait()
	eventually(t, "reports requested", func() bool {
		c, _ := e.st.Consent(context.Background(), id)
		return c.ReportRequestID != ""
	})
	// Give the other paths time to (not) do it again.
	eventually(t, "inbox drained", func() bool {
		items, _ := e.st.PendingInbox(context.Background(), 10)
		return len(items) == 0
	})
	if n := e.kc.reportCalls.Load(); n != 1 {
		t.Errorf("report requests = %d, want exactly 1", n)
	}
	tl, _ := e.st.Timeline(context.Background(), id)
	n := 0
	for _, en := range tl {
		if strings.HasSuffix(enText(en.Title), "→ AUTHORISED") && (en.Kind == "status" || en.Kind == "poll") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("timeline transitions to AUTHORISED = %d, want 1", n)
	}
}

func TestReportRequestFailureIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = 5e6 })
	e.kc.reportErr = klavi.ErrUnavailable
	b := e.browser()
	id, track := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), track)), http.StatusSeeOther)
	c, _ := e.st.Consent(context.Background(), id)
	if c.ReportsRequestedAt != nil {
		t.Fatal("claim not released after a failed request")
	}
	e.kc.mu.Lock()
	e.kc.reportErr = nil
	e.kc.mu.Unlock()
	e.runBackground()
	eventually(t, "reconciler re-requests", func() bool {
		c, _ := e.st.Consent(context.Background(), id)
		return c.ReportRequestID == "req-1"
	})
	_ = url.Values{}
}

func TestEventArrayWithOneKnownEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	one := consentEvent("ev-a", "consent_rejected", "c-x", "l-x")
	wantStatus(t, e.postWebhook("/webhooks/klavi/events", one, klavi.Sign(testSecret, one)), http.StatusOK)
	three := []byte("[" + strings.Trim(string(one), "[]") + "," +
		strings.Trim(string(consentEvent("ev-b", "consent_rejected", "c-x", "l-x")), "[]") + "," +
		strings.Trim(string(consentEvent("ev-c", "some_future_event", "c-x", "l-x")), "[]") + "]")
	wantStatus(t, e.postWebhook("/webhooks/klavi/events", three, klavi.Sign(testSecret, three)), http.StatusOK)
	items, err := e.st.PendingInbox(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("pending inbox = %d, want 3 (1 + 2 new)", len(items))
	}
	e.runBackground()
	eventually(t, "unknown event stored and ignored", func() bool {
		ds, _ := e.st.Deliveries(context.Background(), 10)
		items, _ := e.st.PendingInbox(context.Background(), 10)
		return len(items) == 0 && len(ds) == 2
	})
}

// panicKlavi panics on the first Consent call, as a bug in processing would.
type panicKlavi struct {
	*fakeKlavi
	panicked atomic.Bool
}

func (p *panicKlavi) Consent(ctx context.Context, id string) (*klavi.Consent, error) {
	if p.panicked.CompareAndSwap(false, true) {
		panic("processing bug")
	}
	return p.fakeKlavi.Consent(ctx, id)
}

func TestWorkerPanicIsRecoveredAndRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	pk := &panicKlavi{fakeKlavi: e.kc}
	e.useKlavi(pk)
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	body := consentEvent("ev-p", "consent_authorised", id, e.linkOf(id))
	wantStatus(t, e.postWebhook("/webhooks/klavi/events", body, klavi.Sign(testSecret, body)), http.StatusOK)
	e.runBackground()
	eventually(t, "processed after the panic", func() bool {
		c, _ := e.st.Consent(context.Background(), id)
		return c.Status == "AUTHORISED" && c.ReportRequestID != ""
	})
	if !pk.panicked.Load() {
		t.Error("the fake never panicked")
	}
	if !strings.Contains(e.logs.String(), "panic processing inbox item") {
		t.Error("panic not logged")
	}
}

// A report that names only the link (user-level requests may) belongs to that link's consent: shown on its page,
// on its timeline, and not marked unmatched in the inbox.
func TestReportNamingOnlyTheLinkIsMatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	id, _ := e.startFlow(e.browser(), "52998224725")
	link := e.linkOf(id)
	body := reportFor("rep-link-only", link, "") // names the link, no consent
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body)), http.StatusOK)
	reps, err := e.st.ReportsForConsent(context.Background(), id)
	if err != nil || len(reps) != 1 || reps[0].ID != "rep-link-only" {
		t.Fatalf("reports for the consent = %+v, %v; want rep-link-only", reps, err)
	}
	ds, _ := e.st.Deliveries(context.Background(), 10)
	if len(ds) == 0 || ds[0].Result != consent.R(consent.RStored) {
		t.Errorf("delivery = %+v, want result stored", ds)
	}
	tl, _ := e.st.Timeline(context.Background(), id)
	found := false
	for _, en := range tl {
		found = found || enText(en.Title) == "report pf_savings_account received"
	}
	if !found {
		t.Errorf("no report entry on the timeline: %+v", tl)
	}
}

// Each poll is on the timeline, but polls that see the same status share one line with a count; a change
// gets its own line.
func TestEveryPollIsOnTheTimelineCoalesced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAwaitingAuthorisation)
	e.pollNow(id) // STARTED → AWAITING_AUTHORISATION: a change
	e.pollNow(id)
	e.pollNow(id)
	e.pollNow(id)
	tl, _ := e.st.Timeline(context.Background(), id)
	var polls []string
	repeats := 0
	for _, en := range tl {
		if en.Kind == "poll" {
			polls = append(polls, enText(en.Title))
			repeats = en.Repeats
		}
	}
	want := []string{"poll: GET /consents/{id}: STARTED → AWAITING_AUTHORISATION", "poll: GET /consents/{id}: AWAITING_AUTHORISATION (unchanged)"}
	if strings.Join(polls, "|") != strings.Join(want, "|") || repeats != 3 {
		t.Fatalf("poll entries = %q (last ×%d), want %q (last ×3)", polls, repeats, want)
	}
	r := e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	if got := r.doc(t).Find(`[data-testid="timeline-repeats"]`).Text(); !strings.Contains(got, "3 vezes") {
		t.Errorf("repeats on the page = %q, want 3 vezes", got)
	}
}

// Reports that never arrive are asked for once more, ten minutes after the request, and only once.
func TestMissingReportsAreRequestedAgainOnce(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := newEnv(t, func(o *envOptions) {
		o.PollInterval = time.Hour
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	e.pollNow(id) // AUTHORISED → first report request
	if n := e.kc.reportCalls.Load(); n != 1 {
		t.Fatalf("report requests after AUTHORISED = %d, want 1", n)
	}
	offset.Store(int64(5 * time.Minute))
	e.pollNow(id)
	if n := e.kc.reportCalls.Load(); n != 1 {
		t.Fatalf("report requests after 5 min = %d, want still 1", n)
	}
	offset.Store(int64(11 * time.Minute))
	e.pollNow(id)
	if n := e.kc.reportCalls.Load(); n != 2 {
		t.Fatalf("report requests after 11 min without a report = %d, want 2", n)
	}
	offset.Store(int64(30 * time.Minute))
	e.pollNow(id)
	if n := e.kc.reportCalls.Load(); n != 2 {
		t.Fatalf("report requests after 30 min = %d, want 2 (asked again only once)", n)
	}
	r := e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.doc(t).Find(`[data-testid="timeline"]`).Text(), "nenhum chegou 10 min após o pedido") {
		t.Error("the second request is not explained on the timeline")
	}
}

// A consent whose reports arrived is never asked again.
func TestArrivedReportsAreNotRequestedAgain(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := newEnv(t, func(o *envOptions) {
		o.PollInterval = time.Hour
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	id, _ := e.startFlow(e.browser(), "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	e.pollNow(id)
	body := reportFor("rep-arrived", e.linkOf(id), id)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body)), http.StatusOK)
	offset.Store(int64(20 * time.Minute))
	e.pollNow(id)
	if n := e.kc.reportCalls.Load(); n != 1 {
		t.Errorf("report requests = %d, want 1", n)
	}
}

// The retention purge erases what is older than RETENTION_DAYS and says so on the consent's timeline.
func TestRetentionPurgeErasesOldData(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := newEnv(t, func(o *envOptions) {
		o.PollInterval = time.Hour
		o.Retention = 30 * 24 * time.Hour
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	body := reportFor("rep-old", e.linkOf(id), id)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body)), http.StatusOK)
	e.flow.PurgeExpired(context.Background())
	if reps, _ := e.st.ReportsForConsent(context.Background(), id); len(reps) != 1 {
		t.Fatalf("a fresh report was purged: %d left", len(reps))
	}
	offset.Store(int64(31 * 24 * time.Hour))
	e.flow.PurgeExpired(context.Background())
	if reps, _ := e.st.ReportsForConsent(context.Background(), id); len(reps) != 0 {
		t.Errorf("reports after the retention period = %d, want 0", len(reps))
	}
	r := e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.doc(t).Find(`[data-testid="timeline"]`).Text(), "dados apagados: prazo de retenção vencido") {
		t.Error("the erasure is not on the timeline")
	}
	if !strings.Contains(e.logs.String(), "retention purge") {
		t.Error("the purge is not logged")
	}
}
