package sandbox

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestScenarioTableTaxIDsAreValidAndUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range Scenarios() {
		n, err := normalizeTaxID(r.TaxID)
		if err != nil || !(validCPF(n) || validCNPJ(n)) {
			t.Errorf("%s is not a valid CPF/CNPJ", r.TaxID)
		}
		if seen[n] {
			t.Errorf("%s listed twice", r.TaxID)
		}
		seen[n] = true
	}
	if got := scenarioFor("52998224725", ""); got != scenarioApprove {
		t.Errorf("approve CPF: %v", got)
	}
	if got := scenarioFor("11144477735", "11222333000181"); got != scenarioApprove {
		t.Errorf("CNPJ decides when businessTaxId is set: %v", got)
	}
	if got := scenarioFor("52998224725", "33444555000181"); got != scenarioDeny {
		t.Errorf("business deny: %v", got)
	}
}

func TestScenarioBusinessDenyAndApprove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cnpj, want string
	}{
		{"33.444.555/0001-81", statusRejected},
		{"11.222.333/0001-81", statusAuthorised},
		{"12.ABC.345/01DE-35", statusAuthorised},
	} {
		t.Run(tc.cnpj, func(t *testing.T) {
			e := newEnv(t)
			f := e.startFlow(cpfApprove, tc.cnpj, nil)
			p := e.walk(newBrowser(t), f.created.ConsentRedirectURL, "authorise", "accept")
			if tc.want == statusRejected {
				if q := parseReturn(t, p, f); q.Get("error") != "access_denied" {
					t.Errorf("error=%q", q.Get("error"))
				}
			} else {
				parseReturn(t, p, f)
			}
			if c := e.consent(f.access, f.created.ConsentID); c.Status != tc.want {
				t.Errorf("status %s, want %s", c.Status, tc.want)
			}
		})
	}
}

func TestScenarioLGPDNeverAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 30 * time.Minute })
	f := e.startFlow("333.444.555-08", "", nil)
	p := e.walk(newBrowser(t), f.created.ConsentRedirectURL, "authorise", "accept")
	if p.status != 200 || !p.has("lgpd-abandoned") {
		t.Fatalf("status %d, want the abandoned notice", p.status)
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAwaitingLGPD {
		t.Fatalf("status %s, want AWAITING_LGPD_AUTHORISATION", c.Status)
	}
	e.clock.Advance(29 * time.Minute)
	e.sb.Sweep()
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAwaitingLGPD {
		t.Fatalf("at 29 min: %s", c.Status)
	}
	e.clock.Advance(time.Minute)
	e.sb.Sweep()
	if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusExpired {
		t.Fatalf("after the idle timeout: %s, want EXPIRED", c.Status)
	}
	waitFor(t, "consent_expired", func() bool { return len(e.rc.events(t)) == 2 })
	if n := e.rc.eventNames(t); n[1] != "consent_expired" {
		t.Errorf("events %v", n)
	}
}

func TestScenarioDuplicateDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow("444.555.666-19", "", nil)
	approve(t, e, f)
	e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "44455566619", "products": []string{"pf_checking_account"}}, nil)
	// link_created, consent_authorised, product_request_received, product_generated_success: ×2; report ×2.
	waitFor(t, "all deliveries twice", func() bool { return len(e.rc.all()) == 10 })
	count := map[string]int{}
	for _, ev := range e.rc.events(t) {
		count[ev.EventName+"/"+ev.EventID]++
	}
	for k, n := range count {
		if n != 2 {
			t.Errorf("%s delivered %d times, want 2 with the same eventId", k, n)
		}
	}
	if len(count) != 4 {
		t.Errorf("%d distinct events, want 4", len(count))
	}
	reps := e.rc.reports()
	var a, b struct {
		ProductReportID string `json:"productReportId"`
	}
	_ = json.Unmarshal(reps[0].body, &a)
	_ = json.Unmarshal(reps[1].body, &b)
	if len(reps) != 2 || a.ProductReportID == "" || a.ProductReportID != b.ProductReportID {
		t.Errorf("reports %d, ids %q %q; want the same report twice", len(reps), a.ProductReportID, b.ProductReportID)
	}
}

func TestScenarioWebhookBeforeRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rc.status = func(n int, r received) int {
		time.Sleep(150 * time.Millisecond) // a slow receiver: the redirect must still wait for it
		return 200
	}
	f := e.startFlow("555.666.777-20", "", nil)
	approve(t, e, f)
	// approve returned the 302: the consent webhook must already be acknowledged.
	found := false
	for _, r := range e.rc.all() {
		if strings.Contains(string(r.body), `"consent_authorised"`) && r.code == 200 {
			found = true
		}
	}
	if !found {
		t.Error("consent_authorised was not delivered before the browser was redirected")
	}
}

// A receiver that hangs on the consent webhook must not hold the browser's 302 for the whole retry schedule
// (≈68 s, past the portal's 35 s WriteTimeout): the wait is capped and the browser is redirected anyway while
// the delivery goes on.
func TestScenarioWebhookFirstRedirectIsCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const capWait = 100 * time.Millisecond
	e.sb.webhookFirstWait = capWait // default 5 s (TestOptionDefaults); the attempt timeout stays at 10 s
	e.rc.hang = func(r received) bool { return strings.Contains(string(r.body), `"consent_authorised"`) }
	f := e.startFlow("555.666.777-20", "", nil)
	waitFor(t, "link_created", func() bool { return len(e.rc.all()) == 1 })
	b := newBrowser(t)
	p := b.get(f.created.ConsentRedirectURL)
	p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}})
	p = b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {p.step()}, "action": {"authorise"}})
	start := time.Now()
	p = b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {p.step()}, "action": {"accept"}})
	elapsed := time.Since(start)
	parseReturn(t, p, f)
	// Lower bound: the scenario still waited for the delivery. Upper bound: far below the 10 s the first hung
	// attempt alone would take, let alone the retry schedule.
	if elapsed < capWait || elapsed > 5*time.Second {
		t.Errorf("302 after %v, want ≥ %v (the cap) and well under the 10 s attempt timeout", elapsed, capWait)
	}
	for _, r := range e.rc.all() {
		if strings.Contains(string(r.body), `"consent_authorised"`) {
			t.Errorf("consent_authorised answered (%d) although the receiver hangs", r.code)
		}
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAuthorised {
		t.Errorf("status %s, want AUTHORISED", c.Status)
	}
}

func TestScenarioNoConsentWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow("666.777.888-30", "", nil)
	approve(t, e, f)
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAuthorised {
		t.Fatalf("polling shows %s, want AUTHORISED", c.Status)
	}
	e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "66677788830", "products": []string{"pf_savings_account"}}, nil)
	e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil)
	// The product events travel in the same per-link queue, so once they are
	// in, any consent event would have been too.
	waitFor(t, "product events", func() bool { return len(e.rc.events(t)) == 3 })
	if got := strings.Join(e.rc.eventNames(t), ","); got != "link_created,product_request_received,product_generated_success" {
		t.Errorf("events %s, want no consent_* event", got)
	}
}

func TestScenarioBadSignatureThenGood(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow("777.888.999-41", "", nil)
	approve(t, e, f)
	waitFor(t, "consent_authorised retried", func() bool { return len(e.rc.all()) == 3 })
	all := e.rc.all()
	if !all[0].validSig {
		t.Error("link_created should be signed correctly")
	}
	if all[1].validSig || all[1].code != 401 {
		t.Errorf("first consent_authorised delivery: valid=%v code=%d, want a bad signature refused", all[1].validSig, all[1].code)
	}
	if !all[2].validSig || string(all[1].body) != string(all[2].body) {
		t.Error("the retry should carry the same bytes with a good signature")
	}
}

func TestScenarioSlowReports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sb.slowDelay = 300 * time.Millisecond // the real scenario waits 5 s
	f := e.startFlow("888.999.000-78", "", nil)
	approve(t, e, f)
	start := time.Now()
	e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "88899900078", "products": []string{"pf_checking_account"}}, nil)
	waitFor(t, "the slow report", func() bool { return len(e.rc.reports()) == 1 })
	if d := e.rc.reports()[0].at.Sub(start); d < 300*time.Millisecond {
		t.Errorf("report after %v, want ≥ 300 ms", d)
	}
	def := New(Options{})
	defer def.Close()
	if def.slowDelay != 5*time.Second {
		t.Error("the default slow delay should be 5 s")
	}
}

func TestScenarioProductFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow("123.123.123-87", "", nil)
	approve(t, e, f)
	e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "12312312387", "products": []string{"pf_checking_account", "pf_credit_card"}}, nil)
	waitFor(t, "product events", func() bool { return len(e.rc.events(t)) == 5 })
	time.Sleep(30 * time.Millisecond)
	reps := e.rc.reports()
	if len(reps) != 1 || reps[0].label(t) != "report:pf_checking_account" {
		t.Fatalf("%d reports, want only pf_checking_account", len(reps))
	}
	evs := e.rc.events(t)
	last := evs[4]
	p := last.Payload.(map[string]any)
	if last.EventName != "product_generated_failed" || p["productName"] != "pf_credit_card" || p["code"] == float64(200) || p["message"] == "" {
		t.Errorf("last event %s %v", last.EventName, p)
	}
}

func TestScenarioLargeReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow("321.321.321-78", "", nil)
	approve(t, e, f)
	e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "32132132178", "products": []string{"pf_checking_account"}}, nil)
	waitFor(t, "the large report", func() bool { return len(e.rc.reports()) == 1 })
	var rep ReportWire
	if err := json.Unmarshal(e.rc.reports()[0].body, &rep); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range rep.CheckingAccounts {
		n += len(a.TransactionDetails)
	}
	if n != LargeReportTransactions {
		t.Errorf("%d transactions, want %d", n, LargeReportTransactions)
	}
}

func TestScenarioTableOnLoginPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	p := newBrowser(t).get(f.created.ConsentRedirectURL)
	for _, r := range Scenarios() {
		if !strings.Contains(p.body, r.TaxID) {
			t.Errorf("scenario table lacks %s", r.TaxID)
		}
	}
}

const cpfOutOfOrder = "258.258.258-19"

// signedEvents returns the decoded events in the order they were received,
// failing on any delivery that was not correctly signed and acknowledged.
func (rc *receiver) signedEvents(t *testing.T) []eventWire {
	t.Helper()
	for i, r := range rc.all() {
		if !r.validSig || r.code != 200 {
			t.Errorf("delivery %d: valid signature %v, answer %d; want a correctly signed delivery acknowledged", i, r.validSig, r.code)
		}
	}
	return rc.events(t)
}

// The scenario behind docs/reliability.md#forward-only-status: for the "events out of order" CPF the consent_authorised
// event (eventTime T1) is held back; the consent's next event (T2 > T1) overtakes it and the held one follows with its
// original bytes.
func TestScenarioOutOfOrderNextEventOvertakesAuthorised(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, next string
		end        func(e *env, f flow)
	}{
		{"revoke", "consent_revoked", func(e *env, f flow) {
			e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil)
		}},
		{"deleted by the user", "consent_deleted_by_user", func(e *env, f flow) {
			if err := e.sb.DeleteByUser(f.created.ConsentID); err != nil {
				e.t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t) // holdRelease stays at its 60 s default: only the next event releases the held one
			f := e.startFlow(cpfOutOfOrder, "", nil)
			t1 := e.clock.Now()
			approve(t, e, f)
			if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAuthorised {
				t.Fatalf("status %s, want AUTHORISED (GET /consents/{id} is not held back)", c.Status)
			}
			waitFor(t, "link_created", func() bool { return len(e.rc.all()) >= 1 })
			time.Sleep(50 * time.Millisecond) // consent_authorised would follow link_created in the same queue
			if got := strings.Join(e.rc.eventNames(t), ","); got != "link_created" {
				t.Fatalf("events %s before the consent ended, want consent_authorised held back", got)
			}

			e.clock.Advance(5 * time.Minute)
			t2 := e.clock.Now()
			tc.end(e, f)
			waitFor(t, "the next event and the held one", func() bool { return len(e.rc.all()) >= 3 })
			time.Sleep(50 * time.Millisecond) // nothing else follows
			evs := e.rc.signedEvents(t)
			var names []string
			for _, ev := range evs {
				names = append(names, ev.EventName)
			}
			if got, want := strings.Join(names, ","), "link_created,"+tc.next+",consent_authorised"; got != want {
				t.Fatalf("delivery order %s, want %s", got, want)
			}
			next, auth := evs[1], evs[2]
			if auth.EventTime != t1.Format(isoMillis) || next.EventTime != t2.Format(isoMillis) {
				t.Errorf("eventTimes: %s %s, consent_authorised %s; want %s then the earlier %s",
					tc.next, next.EventTime, auth.EventTime, t2.Format(isoMillis), t1.Format(isoMillis))
			}
			if !strings.HasPrefix(auth.EventID, strconv.FormatInt(t1.UnixMilli(), 10)+"-") || auth.EventID == next.EventID {
				t.Errorf("eventIds %s / %s: want the held event's own id, stamped at authorisation", next.EventID, auth.EventID)
			}
			for _, ev := range evs[1:] {
				p := ev.Payload.(map[string]any)
				c := p["consents"].(map[string]any)
				if c["consentId"] != f.created.ConsentID || p["linkId"] != f.linkID || p["personalTaxId"] != "25825825819" {
					t.Errorf("%s payload %v", ev.EventName, p)
				}
			}
			sameKeys(t, "event_consent_authorised.json", e.rc.all()[2].body)
		})
	}
}

// If the consent is never ended, the held consent_authorised goes out after holdRelease (60 s by default) with its
// original eventTime, once: a later revoke is then delivered in the usual order.
func TestScenarioOutOfOrderReleasedAfterBoundedDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const hold = 150 * time.Millisecond
	e.sb.holdRelease = hold // default 60 s (TestOptionDefaults)
	f := e.startFlow(cpfOutOfOrder, "", nil)
	waitFor(t, "link_created", func() bool { return len(e.rc.all()) == 1 })
	t1 := e.clock.Now()
	start := time.Now()
	approve(t, e, f)
	e.clock.Advance(time.Minute) // a release that rebuilt the event would stamp this later time
	waitFor(t, "the held consent_authorised", func() bool { return len(e.rc.all()) == 2 })
	got := e.rc.all()[1]
	if d := got.at.Sub(start); d < hold {
		t.Errorf("consent_authorised after %v, want ≥ %v (held back until the release)", d, hold)
	}
	evs := e.rc.signedEvents(t)
	if auth := evs[1]; auth.EventName != "consent_authorised" || auth.EventTime != t1.Format(isoMillis) {
		t.Errorf("released %s at eventTime %s, want consent_authorised at %s", auth.EventName, auth.EventTime, t1.Format(isoMillis))
	}

	e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil)
	waitFor(t, "consent_revoked", func() bool { return len(e.rc.all()) >= 3 })
	time.Sleep(50 * time.Millisecond) // the released event is not sent again
	var names []string
	for _, ev := range e.rc.signedEvents(t) {
		names = append(names, ev.EventName)
	}
	if got := strings.Join(names, ","); got != "link_created,consent_authorised,consent_revoked" {
		t.Errorf("events %s, want consent_authorised once, before consent_revoked", got)
	}
}

// Close while consent_authorised is held: the release timer stops with it and nothing more is sent.
func TestScenarioOutOfOrderCloseDropsTheHeldEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfOutOfOrder, "", nil)
	approve(t, e, f)
	done := make(chan struct{})
	go func() { e.sb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for the 20 s release timer")
	}
	for _, ev := range e.rc.eventNames(t) {
		if ev == "consent_authorised" {
			t.Error("consent_authorised sent although the sandbox closed while holding it")
		}
	}
}
