package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func approve(t *testing.T, e *env, f flow) {
	t.Helper()
	parseReturn(t, e.walk(newBrowser(t), f.created.ConsentRedirectURL, "authorise", "accept"), f)
}

func TestSignHexKnownAnswer(t *testing.T) {
	t.Parallel()
	// Known answer computed independently (python3 hmac/hashlib).
	got := sign("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Errorf("sign = %s, want %s", got, want)
	}
}

func TestWebhookEnvelopeAndSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	approve(t, e, f)
	waitFor(t, "two events", func() bool { return len(e.rc.all()) >= 2 })
	all := e.rc.all()
	ids := map[string]bool{}
	for i, r := range all {
		if !r.validSig {
			t.Errorf("delivery %d: signature %q does not match HMAC of the bytes received", i, r.sig)
		}
		if r.ctype != "application/json" {
			t.Errorf("Content-Type %q", r.ctype)
		}
		if r.ts != strconv.FormatInt(e.clock.Now().Unix(), 10) {
			t.Errorf("X-Klavi-Timestamp %q, want the clock's unix seconds", r.ts)
		}
		var evs []eventWire
		if err := json.Unmarshal(r.body, &evs); err != nil || len(evs) != 1 {
			t.Fatalf("body is not a one-element array: %v", err)
		}
		ev := evs[0]
		if ids[ev.EventID] {
			t.Errorf("eventId %s repeated", ev.EventID)
		}
		ids[ev.EventID] = true
		if ev.EventType != "api" || ev.PartnerAppID == "" {
			t.Errorf("envelope %+v", ev)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", ev.EventTime); err != nil {
			t.Errorf("eventTime %q: %v", ev.EventTime, err)
		}
		switch ev.EventName {
		case "link_created":
			sameKeys(t, "event_link_created.json", r.body)
		case "consent_authorised":
			sameKeys(t, "event_consent_authorised.json", r.body)
			p := ev.Payload.(map[string]any)
			c := p["consents"].(map[string]any)
			if c["consentId"] != f.created.ConsentID || p["linkId"] != f.linkID || p["personalTaxId"] != "52998224725" {
				t.Errorf("payload %v", p)
			}
		default:
			t.Errorf("unexpected event %s", ev.EventName)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.RetryBase = 20 * time.Millisecond })
	e.rc.status = func(n int, r received) int {
		if n < 2 {
			return 500
		}
		return 200
	}
	e.link(e.accessToken(), map[string]any{})
	waitFor(t, "3 attempts", func() bool { return len(e.rc.all()) >= 3 })
	time.Sleep(100 * time.Millisecond) // no 4th attempt after the 2xx
	all := e.rc.all()
	if len(all) != 3 {
		t.Fatalf("%d attempts, want 3", len(all))
	}
	if !slices.Equal(all[0].body, all[2].body) {
		t.Error("a retry must resend the same bytes (same eventId)")
	}
	// Timers give lower bounds only (a loaded machine may add delay), so the
	// doubling is asserted as: first gap ≥ base, second gap ≥ 2·base.
	gap1, gap2 := all[1].at.Sub(all[0].at), all[2].at.Sub(all[1].at)
	if gap1 < 20*time.Millisecond || gap2 < 40*time.Millisecond {
		t.Errorf("gaps %v, %v; want ≥ 20 ms then ≥ 40 ms", gap1, gap2)
	}
}

func TestRetryGivesUpAfterFiveRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.RetryBase = time.Millisecond })
	e.rc.status = func(int, received) int { return 503 }
	e.link(e.accessToken(), map[string]any{})
	waitFor(t, "6 attempts", func() bool { return len(e.rc.all()) >= 6 })
	time.Sleep(100 * time.Millisecond)
	if n := len(e.rc.all()); n != 6 {
		t.Errorf("%d attempts, want 1 + 5 retries", n)
	}
}

// Each attempt times out (10 s by default, shortened here); a receiver that never answers is cut off and the same
// bytes are retried (docs/klavi.md#webhooks).
func TestAttemptTimeoutCutsOffAHungReceiver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const timeout = 100 * time.Millisecond
	e.sb.attemptTimeout = timeout // the default is 10 s (TestOptionDefaults)
	var hung atomic.Bool
	e.rc.hang = func(received) bool { return hung.CompareAndSwap(false, true) } // first attempt only
	access := e.accessToken()
	start := time.Now() // before the first attempt's timeout starts
	e.link(access, map[string]any{})
	waitFor(t, "the retry after the cut-off attempt", func() bool { return len(e.rc.all()) == 2 })
	time.Sleep(50 * time.Millisecond) // no 3rd attempt after the 2xx
	all := e.rc.all()
	if len(all) != 2 {
		t.Fatalf("%d attempts, want 2", len(all))
	}
	// The hung attempt is recorded when the sender cancels it, so it may come second in the log.
	first, second := all[0], all[1]
	if first.at.After(second.at) {
		first, second = second, first
	}
	if first.code != 0 || second.code != 200 {
		t.Errorf("answers %d then %d, want no answer (cut off) then 200", first.code, second.code)
	}
	if !slices.Equal(first.body, second.body) || !second.validSig {
		t.Error("the retry must resend the same, correctly signed bytes")
	}
	// The retry cannot start before the attempt timed out, and the timeout's clock started after start: a strict
	// lower bound. The upper bound is far below the 10 s default, which would otherwise have to elapse.
	if d := second.at.Sub(start); d < timeout || d > 5*time.Second {
		t.Errorf("retry %v after the trigger, want ≥ %v (the attempt timeout) and well under 10 s", d, timeout)
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	e := newEnv(t, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				return nil, http.ErrHandlerTimeout
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	e.link(e.accessToken(), map[string]any{})
	waitFor(t, "delivery after a network error", func() bool { return len(e.rc.all()) == 1 })
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2", calls.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCloseCancelsPendingRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.RetryBase = time.Hour })
	e.rc.status = func(int, received) int { return 500 }
	e.link(e.accessToken(), map[string]any{})
	waitFor(t, "first attempt", func() bool { return len(e.rc.all()) == 1 })
	done := make(chan struct{})
	go func() { e.sb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return while a retry was pending")
	}
	// After Close nothing is sent.
	e.link(e.accessToken(), map[string]any{})
	time.Sleep(50 * time.Millisecond)
	if n := len(e.rc.all()); n != 1 {
		t.Errorf("%d deliveries after Close, want 1", n)
	}
}

func TestDeliveriesForOneConsentStayInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.AutoReports = true })
	// A slow, flaky receiver: if deliveries raced, the order would break.
	e.rc.status = func(n int, r received) int {
		time.Sleep(time.Duration(n%3) * 5 * time.Millisecond)
		if n%4 == 1 {
			return 500
		}
		return 200
	}
	f := e.startFlow(cpfApprove, "", nil)
	approve(t, e, f)
	acked := func() []string {
		var got []string
		for _, r := range e.rc.all() {
			if r.code == 200 {
				got = append(got, r.label(t))
			}
		}
		return got
	}
	waitFor(t, "all deliveries", func() bool { return len(acked()) >= 9 })
	got := acked()
	wantSeq := []string{"link_created", "consent_authorised", "product_request_received",
		"report:pf_checking_account", "product_generated_success",
		"report:pf_savings_account", "product_generated_success",
		"report:pf_credit_card", "product_generated_success"}
	if !slices.Equal(got, wantSeq) {
		t.Errorf("acknowledged deliveries\n got %v\nwant %v", got, wantSeq)
	}
}

// label names a delivery: the event name or "report:<product>".
func (r received) label(t *testing.T) string {
	if r.path == "/events" {
		var evs []eventWire
		_ = json.Unmarshal(r.body, &evs)
		return evs[0].EventName
	}
	var rep struct {
		ProductName string `json:"productName"`
	}
	_ = json.Unmarshal(r.body, &rep)
	return "report:" + rep.ProductName
}

func TestReportRequestDelivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	approve(t, e, f)
	var res reportRequestResult
	body := e.mustDo(200, "POST", "/personal/user-data", f.access, map[string]any{
		"taxId": "529.982.247-25", "linkId": f.linkID, "consentIds": []string{f.created.ConsentID},
		"products":     []string{"pf_checking_account", "pf_credit_card"},
		"externalInfo": map[string]any{"requestTrace": "r-1"},
	}, &res)
	sameKeys(t, "report_request_result.json", body)
	if res.RequestID == "" || res.Message != "ok" {
		t.Fatalf("result %+v", res)
	}
	waitFor(t, "two reports", func() bool { return len(e.rc.reports()) == 2 })
	waitFor(t, "product events", func() bool { return len(e.rc.events(t)) == 5 })
	reportIDs := map[string]bool{}
	for i, r := range e.rc.reports() {
		if r.path != "/reports" {
			t.Errorf("report posted to %s, want the global /reports", r.path)
		}
		var rep ReportWire
		if err := json.Unmarshal(r.body, &rep); err != nil {
			t.Fatal(err)
		}
		wantProduct := []string{"pf_checking_account", "pf_credit_card"}[i]
		if rep.ProductName != wantProduct || rep.RequestID != res.RequestID || rep.ProductReportID == "" || rep.Code != 200 {
			t.Errorf("report %d: %s %s %s %d", i, rep.ProductName, rep.RequestID, rep.ProductReportID, rep.Code)
		}
		reportIDs[rep.ProductReportID] = true
		if _, err := time.Parse("2006-01-02T15:04:05", rep.ProductReportTime); err != nil {
			t.Errorf("productReportTime %q", rep.ProductReportTime)
		}
		if len(rep.Links) != 1 || rep.Links[0].LinkID != f.linkID || rep.Links[0].InstitutionCode != "341" ||
			len(rep.Links[0].Consents) != 1 || rep.Links[0].Consents[0].ConsentID != f.created.ConsentID ||
			!rep.Links[0].Consents[0].Permissions["ACCOUNTS_ALL"].PermissionsGranted {
			t.Errorf("links %+v", rep.Links)
		}
		for _, a := range rep.CheckingAccounts {
			if a.CompeCode != "341" {
				t.Errorf("account at %s, want the consented institution 341", a.CompeCode)
			}
		}
		if rep.ExternalInfo["requestTrace"] != "r-1" {
			t.Errorf("externalInfo %v, want the request's", rep.ExternalInfo)
		}
	}
	evs := e.rc.events(t)
	var names []string
	for _, ev := range evs[2:] {
		names = append(names, ev.EventName)
		p := ev.Payload.(map[string]any)
		if p["requestId"] != res.RequestID || p["taxId"] != "52998224725" || p["linkId"] != f.linkID {
			t.Errorf("%s payload %v", ev.EventName, p)
		}
		if ev.EventName == "product_generated_success" && !reportIDs[p["productReportId"].(string)] {
			t.Errorf("product_generated_success names an unknown productReportId")
		}
	}
	if strings.Join(names, ",") != "product_request_received,product_generated_success,product_generated_success" {
		t.Errorf("events %v", names)
	}
}

// Institution level (docs/klavi.md#report-requests): POST /personal/institution-data with the consent's institutionCode
// answers {requestId, message:"ok"} and reports only on the consents at that institution.
func TestInstitutionLevelReportRequestDelivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil) // a consent at 341 (Itaú)
	approve(t, e, f)
	// A second AUTHORISED consent of the same user at another institution, which the request must leave out.
	var other createdConsentWire
	e.mustDo(200, "POST", "/consents", f.linkToken, consentBody(cpfApprove, "", "001"), &other)
	if p := e.walk(newBrowser(t), other.ConsentRedirectURL, "authorise", "accept"); p.status != 302 {
		t.Fatalf("second consent: flow ended with %d", p.status)
	}
	var res reportRequestResult
	body := e.mustDo(200, "POST", "/personal/institution-data", f.access, map[string]any{
		"taxId": cpfApprove, "institutionCode": "341", "products": []string{"pf_checking_account", "pf_credit_card"},
	}, &res)
	sameKeys(t, "report_request_result.json", body)
	if res.RequestID == "" || res.Message != "ok" {
		t.Fatalf("result %+v, want a requestId and message ok", res)
	}
	waitFor(t, "two reports", func() bool { return len(e.rc.reports()) == 2 })
	for i, r := range e.rc.reports() {
		var rep ReportWire
		if err := json.Unmarshal(r.body, &rep); err != nil {
			t.Fatal(err)
		}
		if want := []string{"pf_checking_account", "pf_credit_card"}[i]; rep.ProductName != want || rep.RequestID != res.RequestID {
			t.Errorf("report %d: %s for request %s, want %s for %s", i, rep.ProductName, rep.RequestID, want, res.RequestID)
		}
		if len(rep.Links) != 1 || rep.Links[0].InstitutionCode != "341" || len(rep.Links[0].Consents) != 1 ||
			rep.Links[0].Consents[0].ConsentID != f.created.ConsentID {
			t.Errorf("report %d links %+v, want only the consent at 341", i, rep.Links)
		}
		for _, a := range rep.CheckingAccounts {
			if a.CompeCode != "341" {
				t.Errorf("account at %s, want 341 only", a.CompeCode)
			}
		}
	}
	waitFor(t, "product_generated_success ×2", func() bool {
		n := 0
		for _, name := range e.rc.eventNames(t) {
			if name == "product_generated_success" {
				n++
			}
		}
		return n == 2
	})
	for _, ev := range e.rc.events(t) {
		if ev.EventName != "product_request_received" {
			continue
		}
		p := ev.Payload.(map[string]any)
		if ids, _ := p["consentIds"].([]any); p["requestId"] != res.RequestID || len(ids) != 1 || ids[0] != f.created.ConsentID {
			t.Errorf("product_request_received payload %v, want this request and the 341 consent only", p)
		}
	}
}

func TestReportRouting(t *testing.T) {
	t.Parallel()
	cb := func(e *env, p string) string { return e.rc.srv.URL + p }
	for _, tc := range []struct {
		name       string
		linkMap    func(e *env) map[string]string
		requestMap func(e *env) map[string]string
		wantByProd map[string]string
	}{
		{"request > link > global",
			func(e *env) map[string]string {
				return map[string]string{"pf_credit_card": cb(e, "/link-cc"), "pf_checking_account": cb(e, "/link-checking")}
			},
			func(e *env) map[string]string {
				return map[string]string{"pf_checking_account": cb(e, "/req-checking")}
			},
			map[string]string{"pf_checking_account": "/req-checking", "pf_credit_card": "/link-cc", "pf_savings_account": "/reports"}},
		{"other catches unnamed products",
			func(e *env) map[string]string { return map[string]string{"other": cb(e, "/link-other")} },
			func(e *env) map[string]string { return map[string]string{"pf_credit_card": cb(e, "/req-cc")} },
			map[string]string{"pf_checking_account": "/link-other", "pf_credit_card": "/req-cc", "pf_savings_account": "/link-other"}},
		{"all on the request",
			func(e *env) map[string]string { return map[string]string{"other": cb(e, "/link-other")} },
			func(e *env) map[string]string { return map[string]string{"all": cb(e, "/req-all")} },
			map[string]string{"pf_checking_account": "/req-all", "pf_credit_card": "/req-all", "pf_savings_account": "/req-all"}},
		{"global only",
			func(e *env) map[string]string { return nil },
			func(e *env) map[string]string { return nil },
			map[string]string{"pf_checking_account": "/reports", "pf_credit_card": "/reports", "pf_savings_account": "/reports"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			extra := map[string]any{}
			if m := tc.linkMap(e); m != nil {
				extra["productsCallbackURL"] = m
			}
			f := e.startFlow(cpfApprove, "", extra)
			approve(t, e, f)
			req := map[string]any{"taxId": "52998224725", "products": []string{"pf_checking_account", "pf_credit_card", "pf_savings_account"}}
			if m := tc.requestMap(e); m != nil {
				req["productsCallbackURL"] = m
			}
			e.mustDo(200, "POST", "/personal/user-data", f.access, req, nil)
			waitFor(t, "three reports", func() bool { return len(e.rc.reports()) == 3 })
			got := map[string]string{}
			for _, r := range e.rc.reports() {
				got[strings.TrimPrefix(r.label(t), "report:")] = r.path
			}
			for p, want := range tc.wantByProd {
				if got[p] != want {
					t.Errorf("%s went to %q, want %q", p, got[p], want)
				}
			}
		})
	}
}

func TestResolveCallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		req, link map[string]string
		want      string
	}{
		{"product key", map[string]string{"pf_x": "r1", "other": "r2"}, nil, "r1"},
		{"other before link", map[string]string{"other": "r2"}, map[string]string{"pf_x": "l1"}, "r2"},
		{"link product", nil, map[string]string{"pf_x": "l1", "other": "l2"}, "l1"},
		{"link all", map[string]string{"pf_y": "r1"}, map[string]string{"all": "l3"}, "l3"},
		{"global", nil, nil, "g"},
	} {
		if got := resolveCallback("pf_x", tc.req, tc.link, "g"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAutoReportsBusiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.AutoReports = true })
	f := e.startFlow(cpfApprove, "11.222.333/0001-81", nil)
	approve(t, e, f)
	waitFor(t, "two pj reports", func() bool { return len(e.rc.reports()) == 2 })
	var got []string
	for _, r := range e.rc.reports() {
		got = append(got, r.label(t))
	}
	if strings.Join(got, ",") != "report:pj_checking_account,report:pj_credit_card" {
		t.Errorf("reports %v", got)
	}
	// A business user-level request works with the CNPJ.
	e.mustDo(200, "POST", "/business/user-data", f.access, map[string]any{
		"taxId": "11222333000181", "products": []string{"all"}}, nil)
	e.mustDo(200, "POST", "/business/institution-data", f.access, map[string]any{
		"taxId": "11222333000181", "institutionCode": "341", "products": []string{"pj_credit_card"}}, nil)
	if code, _ := e.do("POST", "/business/institution-data", f.access, map[string]any{
		"taxId": "11222333000181", "institutionCode": "001", "products": []string{"pj_credit_card"}}); code != 416 {
		t.Errorf("institution without consent: %d, want 416", code)
	}
	// The operator's CPF does not open the company's consent to personal requests.
	if code, _ := e.do("POST", "/personal/user-data", f.access, map[string]any{
		"taxId": cpfApprove, "products": []string{"pf_checking_account"}}); code != 416 {
		t.Errorf("personal request over a business consent: %d, want 416/4001", code)
	}
}

// TestWebhookPOSTsInFlightAreBoundedAndReportsBuiltWhenSent: behind a receiver that does not answer, at most
// maxSending POSTs are in flight across links, and a queued report is generated only when its delivery is sent
// (docs/benchmarks.md#200-users-walking-the-flow); the duplicate scenario sends the bytes built once, twice.
func TestWebhookPOSTsInFlightAreBoundedAndReportsBuiltWhenSent(t *testing.T) {
	t.Parallel()
	var inFlight, most, answered atomic.Int64
	release := make(chan struct{})
	bodies := make(chan string, 2*maxSending+2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		b, _ := io.ReadAll(r.Body)
		<-release
		inFlight.Add(-1)
		bodies <- string(b)
		answered.Add(1)
	}))
	s := New(Options{AccessKey: testAccessKey, SecretKey: testSecretKey})
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	var built atomic.Int64
	build := func(i int) func() []byte {
		return func() []byte { built.Add(1); return []byte(`{"n":` + strconv.Itoa(i) + `}`) }
	}
	n := 2 * maxSending
	for i := range n {
		s.queueBuilt("link-"+strconv.Itoa(i), srv.URL, build(i), scenarioApprove)
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < maxSending {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d POSTs in flight after 10 s, want %d", inFlight.Load(), maxSending)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for any POST past the bound to arrive
	if m, b := most.Load(), built.Load(); m != maxSending || b != maxSending {
		t.Errorf("in flight at most %d, reports built %d; want %d of each while the receiver hangs", m, b, maxSending)
	}
	close(release)
	for answered.Load() < int64(n) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("%d of %d deliveries answered", answered.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b := built.Load(); b != int64(n) {
		t.Errorf("%d reports built for %d deliveries", b, n)
	}

	// The duplicate scenario: one build, the same bytes twice.
	built.Store(0)
	d := s.queueBuilt("link-dup", srv.URL, build(-1), scenarioDuplicate)
	<-d.done
	seen := map[string]int{}
	for len(bodies) > 0 {
		seen[<-bodies]++
	}
	if built.Load() != 1 || seen[`{"n":-1}`] != 2 {
		t.Errorf("duplicate: built %d times, its bytes received %d times; want 1 and 2", built.Load(), seen[`{"n":-1}`])
	}
}
