// Rules of Klavi's documented behaviour and of the sandbox's README that cut across the sandbox's files: the two
// event shapes (array and bare object), the 60-minute rule and which deadline wins, revoking an unfinished
// consent, the product-failure and webhook-before-redirect scenarios, the consent list's token, and the
// repeated-base CNPJ.

package sandbox

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// klaviSample reads a sample of the portal's client package. The sandbox must not import klavi/, so the two
// sides are compared by the shape of the JSON only.
func klaviSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "klavi", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// elementKeys strips the leading "[]" of an array's key paths ("[].payload" → "payload").
func elementKeys(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(p, "[]"), "."))
	}
	slices.Sort(out)
	return out
}

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// Events go out as a one-element array by default and as a bare object with EventsAsObject (docs/klavi.md#webhooks:
// live bodies may be either); both shapes are the ones the portal's parser is tested with (klavi/testdata: the array
// example and event_single.json).
func TestEventsAsArrayOrObject(t *testing.T) {
	t.Parallel()
	arraySample := klaviSample(t, "event_consent_authorised.json")
	objectSample := klaviSample(t, "event_single.json")
	if firstByte(arraySample) != '[' || firstByte(objectSample) != '{' {
		t.Fatalf("klavi samples changed shape: %q / %q", firstByte(arraySample), firstByte(objectSample))
	}
	wantElement := elementKeys(keyPaths(t, arraySample))

	for _, asObject := range []bool{false, true} {
		name := "array (default)"
		if asObject {
			name = "object"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.EventsAsObject = asObject })
			f := e.startFlow(cpfApprove, "", nil)
			approve(t, e, f)
			waitFor(t, "link_created and consent_authorised", func() bool { return len(e.rc.all()) == 2 })
			for _, r := range e.rc.all() {
				if !r.validSig {
					t.Errorf("signature does not match the bytes sent")
				}
				var ev eventWire
				if asObject {
					if firstByte(r.body) != '{' {
						t.Fatalf("body starts with %q, want a bare object", firstByte(r.body))
					}
					if err := json.Unmarshal(r.body, &ev); err != nil {
						t.Fatal(err)
					}
				} else {
					var evs []eventWire
					if firstByte(r.body) != '[' {
						t.Fatalf("body starts with %q, want the default array", firstByte(r.body))
					}
					if err := json.Unmarshal(r.body, &evs); err != nil || len(evs) != 1 {
						t.Fatalf("want a one-element array: %v", err)
					}
					ev = evs[0]
				}
				if ev.EventID == "" || ev.EventType != "api" {
					t.Errorf("envelope %+v", ev)
				}
				if ev.EventName != "consent_authorised" {
					continue
				}
				got := keyPaths(t, r.body)
				if asObject {
					if !slices.Equal(got, wantElement) {
						t.Errorf("object keys %v, want the array element's %v", got, wantElement)
					}
				} else {
					sameKeys(t, "event_consent_authorised.json", r.body)
					if !slices.Equal(got, keyPaths(t, arraySample)) {
						t.Errorf("array keys %v differ from klavi's sample", got)
					}
				}
			}
		})
	}
}

// A consent not finished 60 minutes after its creation becomes REJECTED (consent_rejected), even when the user kept
// it active, and the bank flow cannot continue (docs/klavi.md#consents).
func TestSixtyMinuteRuleRejectsAnUnfinishedConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // default IdleTimeout 30 min, FlowTimeout 60 min
	f := e.startFlow(cpfApprove, "", nil)
	b := newBrowser(t)
	p := b.get(f.created.ConsentRedirectURL)
	e.clock.Advance(29 * time.Minute)
	p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}})
	if !p.has("bank-authorise") {
		t.Fatalf("login at 29 min: status %d", p.status)
	}
	e.clock.Advance(29 * time.Minute)
	p = b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {p.step()}, "action": {"authorise"}})
	if !p.has("lgpd-page") {
		t.Fatalf("authorise at 58 min: status %d", p.status)
	}
	e.clock.Advance(time.Minute + 59*time.Second) // 59:59
	e.sb.Sweep()
	if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusAwaitingLGPD {
		t.Fatalf("at 59:59: %s, want AWAITING_LGPD_AUTHORISATION", c.Status)
	}
	e.clock.Advance(time.Second) // 60:00, idle only 2 min
	e.sb.Sweep()
	if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusRejected {
		t.Fatalf("at 60 min: %s, want REJECTED", c.Status)
	}
	waitFor(t, "consent_rejected", func() bool { return len(e.rc.events(t)) == 2 })
	if n := e.rc.eventNames(t); n[1] != "consent_rejected" {
		t.Errorf("events %v", n)
	}
	if q := b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {p.step()}, "action": {"accept"}}); !q.has("bank-error") {
		t.Errorf("LGPD accept after the 60-minute rule: status %d, want bank-error", q.status)
	}
	if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusRejected {
		t.Errorf("after a late accept: %s, want REJECTED", c.Status)
	}
}

// Without a Sweep, the bank step itself applies the rule; and the earlier of the idle and 60-minute deadlines
// decides.
func TestSixtyMinuteRuleAtTheBankStepAndDeadlineOrder(t *testing.T) {
	t.Parallel()
	t.Run("bank step after 60 min, idle longer", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.IdleTimeout = 2 * time.Hour })
		f := e.startFlow(cpfApprove, "", nil)
		b := newBrowser(t)
		p := b.get(f.created.ConsentRedirectURL)
		e.clock.Advance(60 * time.Minute)
		if q := b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}}); !q.has("bank-error") {
			t.Fatalf("login at 60 min: status %d, want bank-error", q.status)
		}
		if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusRejected {
			t.Errorf("status %s, want REJECTED", c.Status)
		}
	})
	t.Run("idle deadline first", func(t *testing.T) {
		e := newEnv(t) // idle 30 min < 60 min
		f := e.startFlow(cpfApprove, "", nil)
		newBrowser(t).get(f.created.ConsentRedirectURL)
		e.clock.Advance(61 * time.Minute) // both overdue: idle (30 min) came first
		e.sb.Sweep()
		if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusExpired {
			t.Errorf("status %s, want EXPIRED", c.Status)
		}
	})
	t.Run("custom FlowTimeout", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.FlowTimeout = 10 * time.Minute })
		f := e.startFlow(cpfApprove, "", nil)
		newBrowser(t).get(f.created.ConsentRedirectURL)
		e.clock.Advance(10 * time.Minute)
		e.sb.Sweep()
		if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusRejected {
			t.Errorf("status %s, want REJECTED", c.Status)
		}
	})
	t.Run("authorised consents are not affected", func(t *testing.T) {
		e := newEnv(t)
		f := e.startFlow(cpfApprove, "", nil)
		approve(t, e, f)
		e.clock.Advance(2 * time.Hour)
		e.sb.Sweep()
		if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusAuthorised {
			t.Errorf("status %s, want AUTHORISED", c.Status)
		}
	})
	def := New(Options{})
	defer def.Close()
	if def.o.FlowTimeout != 60*time.Minute || def.o.EventsAsObject {
		t.Errorf("defaults: FlowTimeout %v, EventsAsObject %v; want 60m and false", def.o.FlowTimeout, def.o.EventsAsObject)
	}
}

// A consent revoked before it is authorised becomes REJECTED, not REVOKED (docs/klavi.md#consents).
func TestRevokingAnUnfinishedConsentRejectsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	b := newBrowser(t)
	p := b.get(f.created.ConsentRedirectURL) // AWAITING_AUTHORISATION
	e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil)
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusRejected {
		t.Fatalf("status %s, want REJECTED", c.Status)
	}
	waitFor(t, "consent_rejected", func() bool { return len(e.rc.events(t)) == 2 })
	if got := strings.Join(e.rc.eventNames(t), ","); got != "link_created,consent_rejected" {
		t.Errorf("events %s, want link_created,consent_rejected", got)
	}
	if q := b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}}); !q.has("bank-error") {
		t.Errorf("bank flow after revoke: status %d, want bank-error", q.status)
	}
	// Repeating the revoke (a client retry after a lost answer) is a no-op 200: no second event.
	e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil)
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusRejected {
		t.Errorf("after a second revoke: %s, want REJECTED", c.Status)
	}
	// A consent rejected by the user (not by a revoke) still cannot be revoked.
	f2 := e.startFlow(cpfApprove, "", nil)
	e.walk(newBrowser(t), f2.created.ConsentRedirectURL, "deny", "")
	if code, body := e.do("DELETE", "/consents/"+f2.created.ConsentID+"/revoke", f.access, nil); code != 416 ||
		!strings.Contains(string(body), `"statusCode":4001`) {
		t.Errorf("revoke of a REJECTED consent: %d %s, want 416/4001", code, body)
	}
	rejected := func() int {
		n := 0
		for _, name := range e.rc.eventNames(t) {
			if name == "consent_rejected" {
				n++
			}
		}
		return n
	}
	waitFor(t, "both consent_rejected events", func() bool { return rejected() >= 2 })
	time.Sleep(50 * time.Millisecond) // the per-link queues are drained; nothing more may come
	// One per consent.
	if n := rejected(); n != 2 {
		t.Errorf("%d consent_rejected events, want 2 (no event for the repeated revoke)", n)
	}
}

// README: 123.123.123-87 fails pf_credit_card only; the categorized card product is still generated.
func TestScenarioProductFailsOnlyThePlainCreditCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow("123.123.123-87", "", nil)
	approve(t, e, f)
	e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "12312312387", "products": []string{"pf_categorized_creditcard_l3", "pf_credit_card"}}, nil)
	// link_created, consent_authorised, product_request_received, success, failed.
	waitFor(t, "product events", func() bool { return len(e.rc.events(t)) == 5 })
	reps := e.rc.reports()
	if len(reps) != 1 || reps[0].label(t) != "report:pf_categorized_creditcard_l3" {
		t.Fatalf("%d reports, want only pf_categorized_creditcard_l3", len(reps))
	}
	evs := e.rc.events(t)
	byProduct := map[string]string{}
	for _, ev := range evs[2:] {
		if p, ok := ev.Payload.(map[string]any); ok {
			if name, _ := p["productName"].(string); name != "" {
				byProduct[name] = ev.EventName
			}
		}
	}
	if byProduct["pf_categorized_creditcard_l3"] != "product_generated_success" ||
		byProduct["pf_credit_card"] != "product_generated_failed" {
		t.Errorf("product events %v", byProduct)
	}
}

// The consent list shares its path with POST /consents (linkToken) but takes the accessToken only.
func TestConsentListTakesTheAccessTokenOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	if code, body := e.do("GET", "/consents?personalTaxId=52998224725", f.linkToken, nil); code != 401 {
		t.Errorf("linkToken on the consent list: status %d, want 401 (%s)", code, body)
	}
	var list []consentWire
	e.mustDo(200, "GET", "/consents?personalTaxId=52998224725", f.access, nil, &list)
	if len(list) != 1 {
		t.Errorf("accessToken on the consent list: %d consents, want 1", len(list))
	}
}

// README: in the 555.666.777-20 scenario the consent webhook is delivered before the browser's 302, whatever
// the flow's outcome (not only for AUTHORISED).
func TestScenarioWebhookBeforeRedirectOnEveryOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, authorise, lgpd, event string
	}{
		{"deny at the bank", "deny", "", "consent_rejected"},
		{"LGPD declined", "authorise", "decline", "consent_rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.rc.status = func(n int, r received) int {
				time.Sleep(150 * time.Millisecond) // a slow receiver: the redirect must still wait for it
				return 200
			}
			f := e.startFlow("555.666.777-20", "", nil)
			p := e.walk(newBrowser(t), f.created.ConsentRedirectURL, tc.authorise, tc.lgpd)
			if q := parseReturn(t, p, f); q.Get("error") != "access_denied" {
				t.Errorf("error=%q", q.Get("error"))
			}
			found := false
			for _, r := range e.rc.all() {
				if strings.Contains(string(r.body), `"`+tc.event+`"`) && r.code == 200 {
					found = true
				}
			}
			if !found {
				t.Errorf("%s was not delivered before the browser was redirected", tc.event)
			}
		})
	}
}

// A CNPJ whose 12 base characters are all the same is refused even though its check digits are right (the
// portal's klavi/taxid refuses it too; the whole 14 characters are then not all the same).
func TestRepeatedCNPJBaseIsInvalid(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"11111111111180", "11.111.111/1111-80", "AAAAAAAAAAAA45"} {
		if _, err := parseCNPJ(s); err == nil {
			t.Errorf("CNPJ %q accepted", s)
		}
	}
	if _, err := parseCNPJ("11222333000181"); err != nil {
		t.Errorf("valid CNPJ refused: %v", err)
	}
}
