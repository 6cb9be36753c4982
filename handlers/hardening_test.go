// Abuse limits and edge rules of the HTTP layer: the per-client rate limit on the Klavi-calling form posts
// (window, Retry-After, default and disabled), the client key it counts by, the callback of a consent past its
// maximum age, the webhook receivers' method and Content-Type rules, and the purge after consent_deleted_by_user
// (by webhook and by poll).

package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// testClock is real time plus a manual offset, so the server's clock (Options.Now) can be moved while the
// store (which stamps rows with time.Now in newEnv) keeps real time.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// serveAs sends a request straight to the server with a chosen peer address (httptest's client always
// connects from 127.0.0.1).
func serveAs(s *Server, remote, method, path string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestRateLimitOnFlowPosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.RateLimit = 3 })
	c := e.browser()
	start := url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}

	// The limit is shared by the three Klavi-calling posts of one client.
	wantStatus(t, e.post(c, "/start", start), http.StatusSeeOther)
	wantStatus(t, e.post(c, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}}), http.StatusSeeOther)
	wantStatus(t, e.post(c, "/start", start), http.StatusSeeOther)
	links := e.kc.links

	for _, tc := range []struct {
		name, path string
		form       url.Values
		hdr        map[string]string
	}{
		{"start", "/start", start, nil},
		{"consents", "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}}, nil},
		{"retry", "/consents/consent-1/retry", url.Values{}, nil},
		{"spoofed X-Forwarded-For", "/start", start, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(c, http.MethodPost, tc.path, strings.NewReader(tc.form.Encode()), tc.hdr)
			wantStatus(t, r, http.StatusTooManyRequests)
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > 60 {
				t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
			}
			checkSecurityHeaders(t, r)
			d := r.doc(t)
			if st, _ := d.Find(`[data-testid="error-page"]`).Attr("data-status"); st != "429" {
				t.Errorf("error-page status = %q", st)
			}
			if !strings.Contains(r.body, "Muitas tentativas") {
				t.Error("429 page not in Portuguese")
			}
		})
	}
	if e.kc.links != links {
		t.Error("a refused request reached Klavi")
	}
	// GET pages are not limited.
	wantStatus(t, e.get(c, "/institutions"), http.StatusOK)

	// The page follows the user's language.
	wantStatus(t, e.get(c, "/lang/en?next=/"), http.StatusSeeOther)
	r := e.post(c, "/start", start)
	wantStatus(t, r, http.StatusTooManyRequests)
	if !strings.Contains(r.body, "Too many attempts") {
		t.Error("429 page not in English after the switch")
	}

	// Another peer address has its own budget.
	if rec := serveAs(e.s, "198.51.100.7:5555", http.MethodPost, "/start", start, nil); rec.Code != http.StatusSeeOther {
		t.Errorf("other IP: status %d", rec.Code)
	}
}

// A refused client is served again once the window has slid past its requests. httprate reads the wall clock
// (not Options.Now), so this uses a short window and waits.
func TestRateLimitWindowSlides(t *testing.T) {
	t.Parallel()
	const window = 2 * time.Second
	e := newEnv(t, func(o *envOptions) { o.RateLimit = 1; o.RateWindow = window })
	c := e.browser()
	start := url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}
	wantStatus(t, e.post(c, "/start", start), http.StatusSeeOther)
	wantStatus(t, e.post(c, "/start", start), http.StatusTooManyRequests)
	// Two windows later neither the window of the first post nor the one after it counts.
	time.Sleep(2 * window)
	wantStatus(t, e.post(c, "/start", start), http.StatusSeeOther)
}

func TestRateLimitDisabledAndDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.RateLimit = -1 })
	if e.s.limiter != nil {
		t.Error("negative RateLimit should disable the limiter")
	}
	e = newEnv(t)
	if e.s.limiter == nil || e.s.limiter.limit != 60 || e.s.limiter.window != time.Minute {
		t.Errorf("default limiter = %+v", e.s.limiter)
	}
	// 60 posts pass, the 61st in the same minute does not, whatever X-Forwarded-For says.
	start := url.Values{"person_type": {"personal"}, "tax_id": {"529"}} // invalid CPF: 422-ish page, no Klavi call
	for i := 1; i <= 61; i++ {
		rec := serveAs(e.s, "192.0.2.10:1000", http.MethodPost, "/start", start, map[string]string{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i)})
		if i <= 60 && rec.Code == http.StatusTooManyRequests {
			t.Fatalf("request %d refused", i)
		}
		if i == 61 && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("61st request: status %d, want 429", rec.Code)
		}
	}
}

// The limiter counts by clientKey: addresses inside one IPv6 /64 share a budget, the next /64 has its own, and
// an IPv4-mapped peer counts as its IPv4 address.
func TestRateLimitSharesABudgetPerIPv6Slash64(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.RateLimit = 1 })
	start := url.Values{"person_type": {"personal"}, "tax_id": {"529"}} // invalid CPF: no Klavi call
	for _, tc := range []struct {
		remote  string
		limited bool
	}{
		{"[2001:db8:1:2::1]:1000", false},
		{"[2001:db8:1:2:ffff:ffff:ffff:fffe]:2000", true}, // same /64
		{"[2001:db8:1:3::1]:1000", false},                 // the next /64
		{"192.0.2.20:1000", false},
		{"[::ffff:192.0.2.20]:3000", true}, // the same IPv4 client
	} {
		rec := serveAs(e.s, tc.remote, http.MethodPost, "/start", start, nil)
		if got := rec.Code == http.StatusTooManyRequests; got != tc.limited {
			t.Errorf("%s: status %d, limited %v, want %v", tc.remote, rec.Code, got, tc.limited)
		}
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ remote, xff, want string }{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.5", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "", "192.0.2.1"},
		{"not-an-address", "", "not-an-address"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/start", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientKey(r); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

func TestCallbackForTooOldConsent(t *testing.T) {
	t.Parallel()
	t.Run("first callback after 60 minutes: 400, nothing changed", func(t *testing.T) {
		clk := &testClock{}
		e := newEnv(t, func(o *envOptions) { o.Now = clk.Now; o.PollInterval = time.Hour })
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		before, _ := e.st.Timeline(context.Background(), id)
		clk.Advance(61 * time.Minute)
		r := e.get(b, callbackQuery(id, e.linkOf(id), track))
		wantStatus(t, r, http.StatusBadRequest)
		if st, _ := r.doc(t).Find(`[data-testid="callback-rejected"]`).Attr("data-status"); st != "400" {
			t.Errorf("callback-rejected data-status = %q", st)
		}
		c, _ := e.st.Consent(context.Background(), id)
		if c.CallbackAt != nil || c.Status != "STARTED" || c.ReportsRequestedAt != nil {
			t.Errorf("consent changed: callback %v status %s", c.CallbackAt, c.Status)
		}
		if after, _ := e.st.Timeline(context.Background(), id); len(after) != len(before) {
			t.Errorf("timeline grew: %d → %d", len(before), len(after))
		}
		if n := e.kc.reportCalls.Load(); n != 0 {
			t.Errorf("reports requested %d times", n)
		}
	})
	t.Run("59 minutes: accepted", func(t *testing.T) {
		clk := &testClock{}
		e := newEnv(t, func(o *envOptions) { o.Now = clk.Now })
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		clk.Advance(59 * time.Minute)
		wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), track)), http.StatusSeeOther)
	})
	t.Run("replay of a seen callback stays idempotent after 60 minutes", func(t *testing.T) {
		clk := &testClock{}
		e := newEnv(t, func(o *envOptions) { o.Now = clk.Now })
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		e.kc.setStatus(id, klavi.StatusAuthorised)
		q := callbackQuery(id, e.linkOf(id), track)
		wantStatus(t, e.get(b, q), http.StatusSeeOther)
		clk.Advance(2 * time.Hour)
		wantStatus(t, e.get(b, q), http.StatusSeeOther)
	})
	t.Run("ConsentMaxAge option", func(t *testing.T) {
		clk := &testClock{}
		e := newEnv(t, func(o *envOptions) { o.Now = clk.Now; o.ConsentMaxAge = time.Minute })
		b := e.browser()
		id, track := e.startFlow(b, "52998224725")
		clk.Advance(2 * time.Minute)
		wantStatus(t, e.get(b, callbackQuery(id, e.linkOf(id), track)), http.StatusBadRequest)
	})
}

func TestWebhookMethodAndContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := consentEvent("ev-ct", "consent_authorised", "consent-x", "link-x")
	sig := klavi.Sign(testSecret, body)
	deliveries := func() []store.Delivery {
		ds, err := e.st.Deliveries(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	for _, path := range []string{"/webhooks/klavi/events", "/webhooks/klavi/reports"} {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			t.Run(m+" "+path, func(t *testing.T) {
				r := e.do(http.DefaultClient, m, path, bytes.NewReader(body), map[string]string{"Content-Type": "application/json", klavi.SignatureHeader: sig})
				wantStatus(t, r, http.StatusMethodNotAllowed)
				if r.header.Get("Allow") != http.MethodPost {
					t.Errorf("Allow = %q", r.header.Get("Allow"))
				}
				if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
					t.Errorf("405 Content-Type = %q", r.header.Get("Content-Type"))
				}
				checkSecurityHeaders(t, r)
			})
		}
	}
	if n := len(deliveries()); n != 0 {
		t.Errorf("405s recorded %d deliveries, want 0", n)
	}

	tests := []struct {
		name, path, ct string
		want           int
	}{
		{"text/plain", "/webhooks/klavi/events", "text/plain", http.StatusUnsupportedMediaType},
		{"form", "/webhooks/klavi/events", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"json lookalike", "/webhooks/klavi/events", "application/jsonx", http.StatusUnsupportedMediaType},
		{"json-patch", "/webhooks/klavi/events", "application/json-patch+json", http.StatusUnsupportedMediaType},
		{"unparseable", "/webhooks/klavi/events", "application/", http.StatusUnsupportedMediaType},
		{"report as xml", "/webhooks/klavi/reports", "application/xml", http.StatusUnsupportedMediaType},
		{"json with charset", "/webhooks/klavi/events", "application/json; charset=utf-8", http.StatusOK},
		{"JSON upper case", "/webhooks/klavi/events", "Application/JSON", http.StatusOK},
		{"no Content-Type", "/webhooks/klavi/events", "", http.StatusOK},
	}
	rejected := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{klavi.SignatureHeader: sig, "Content-Type": tt.ct}
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+tt.path, bytes.NewReader(body))
			for k, v := range hdr {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnsupportedMediaType {
				rejected++
				ds := deliveries()
				if len(ds) == 0 || ds[0].Result != consent.R(consent.RMediaType) || ds[0].Body != nil {
					t.Fatalf("415 not recorded as rejected: %+v", ds)
				}
				wantKind := "event"
				if strings.HasSuffix(tt.path, "reports") {
					wantKind = "report"
				}
				if ds[0].Kind != wantKind || ds[0].Size != len(body) || ds[0].BodySHA256 != bodyHash(body) {
					t.Errorf("audit row = %+v", ds[0])
				}
			}
		})
	}
	if n := inboxCount(t, e); n != 1 {
		t.Errorf("inbox rows = %d, want 1 (only the JSON deliveries, deduplicated)", n)
	}
	got := 0
	for _, d := range deliveries() {
		if d.Result == consent.R(consent.RMediaType) {
			got++
		}
	}
	if got != rejected {
		t.Errorf("rejected rows = %d, want %d", got, rejected)
	}
	// The inbox page labels the new result in both languages.
	c := e.operator()
	if r := e.get(c, "/webhooks"); !strings.Contains(r.body, "tipo de conteúdo não suportado") {
		t.Error("inbox does not explain the 415")
	}
}

// reportFor is a minimal signed-able report body for a consent of a link.
func reportFor(reportID, linkID, consentID string) []byte {
	return []byte(`{"code":200,"message":"ok","requestId":"req-1","productName":"pf_savings_account","productVersion":"1",` +
		`"productReportId":"` + reportID + `","productReportTime":"2026-01-01T10:00:00","enquiryCpf":"52998224725",` +
		`"links":[{"linkId":"` + linkID + `","institutionCode":"341","consents":[{"consentId":"` + consentID + `"}]}],"savingsAccounts":[]}`)
}

func TestConsentDeletedByUserPurges(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"webhook", "poll"} {
		t.Run(via, func(t *testing.T) {
			poll := time.Hour
			if via == "poll" {
				poll = 10 * time.Millisecond
			}
			e := newEnv(t, func(o *envOptions) { o.PollInterval = poll })
			ctx := context.Background()
			b := e.browser()
			wantStatus(t, e.post(b, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"},
				"email": {"ana@example.com"}, "phone": {"11999998888"}}), http.StatusSeeOther)
			r := e.post(b, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}})
			wantStatus(t, r, http.StatusSeeOther)
			id := strings.TrimPrefix(strings.SplitN(r.header.Get("Location"), "?", 2)[0], "http://localhost:1/bank/")
			track := e.kc.lastTrack()
			link := e.linkOf(id)
			if c, _ := e.st.Consent(ctx, id); c.HolderRef != e.flow.HolderRef("52998224725") {
				t.Fatalf("consent holder ref = %q before the purge", c.HolderRef)
			}
			e.kc.setStatus(id, klavi.StatusAuthorised)
			wantStatus(t, e.get(b, callbackQuery(id, link, track)), http.StatusSeeOther)
			rep := reportFor("rep-del-1", link, id)
			wantStatus(t, e.postWebhook("/webhooks/klavi/reports", rep, klavi.Sign(testSecret, rep)), http.StatusOK)
			if _, err := e.st.Report(ctx, "rep-del-1"); err != nil {
				t.Fatalf("report not stored: %v", err)
			}

			e.kc.setStatus(id, klavi.StatusDeletedByUser)
			if via == "webhook" {
				ev := consentEvent("ev-del", "consent_deleted_by_user", id, link)
				wantStatus(t, e.postWebhook("/webhooks/klavi/events", ev, klavi.Sign(testSecret, ev)), http.StatusOK)
			}
			e.runBackground()
			eventually(t, "purge after consent_deleted_by_user via "+via, func() bool {
				tl, _ := e.st.Timeline(ctx, id)
				for _, en := range tl {
					if en.Title.Key == consent.TLPurgedByHolder {
						return true
					}
				}
				return false
			})

			c, _ := e.st.Consent(ctx, id)
			if c.Status != "DELETED_BY_USER" || c.PersonalTaxID != "" || c.BusinessTaxID != "" || c.HolderRef != "" {
				t.Errorf("consent after purge: status %s, tax ids %q %q, holder ref %q", c.Status, c.PersonalTaxID,
					c.BusinessTaxID, c.HolderRef)
			}
			// The pseudonym went with the tax id: searching for the CPF finds nothing.
			if r := e.get(e.operator(), "/consents?holder="+e.flow.HolderRef("52998224725")); r.doc(t).Find(`[data-testid="consent-row"]`).Length() != 0 ||
				r.doc(t).Find(`[data-testid="consents-holder-none"]`).Length() != 1 {
				t.Error("the purged consent is still found by its holder ref")
			}
			l, _ := e.st.Link(ctx, link)
			if l.PersonalTaxID != "" || l.Email != "" || l.Phone != "" || l.LinkToken != "" {
				t.Errorf("link keeps personal data: %+v", l)
			}
			if reps, _ := e.st.ReportsForConsent(ctx, id); len(reps) != 0 {
				t.Errorf("reports left: %d", len(reps))
			}
			wantStatus(t, e.get(b, "/reports/rep-del-1"), http.StatusNotFound)
			tl, _ := e.st.Timeline(ctx, id)
			for _, en := range tl {
				if strings.Contains(enText(en.Title)+enText(en.Detail), "52998224725") || strings.Contains(enText(en.Title)+enText(en.Detail), "982.247") {
					t.Errorf("timeline entry holds the CPF: %+v", en)
				}
			}
			// No page or stored webhook body shows the CPF any more, masked or not.
			page := e.get(b, "/consents/"+id)
			wantStatus(t, page, http.StatusOK)
			if strings.Contains(page.body, "982.247") {
				t.Error("consent page still shows the CPF")
			}
			if !strings.Contains(page.body, "dados apagados a pedido do titular") {
				t.Error("consent page does not show the audit entry")
			}
			ds, _ := e.st.Deliveries(ctx, 100)
			for _, d := range ds {
				if bytes.Contains(d.Body, []byte("52998224725")) {
					t.Errorf("delivery %d keeps a body with the CPF", d.ID)
				}
			}
			// A report that arrives afterwards is acknowledged but not kept.
			late := reportFor("rep-del-2", link, id)
			wantStatus(t, e.postWebhook("/webhooks/klavi/reports", late, klavi.Sign(testSecret, late)), http.StatusOK)
			if _, err := e.st.Report(ctx, "rep-del-2"); err == nil {
				t.Error("a report for a deleted consent was stored")
			}
			if strings.Contains(e.logs.String(), "52998224725") {
				t.Error("the CPF was logged")
			}
		})
	}
}

// TestTrustedProxies: behind a load balancer named in Options.TrustedProxies the client is the address it forwards
// (X-Forwarded-For), for the rate limit, the sign-in lockout per address, the audit trail and the webhook
// allow-list; the same header from any other peer changes nothing (docs/reliability.md#replicas).
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	const lb = "192.0.2.1:40000" // the load balancer's side of the connection
	e := newEnv(t, func(o *envOptions) {
		o.RateLimit = 1
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}
		o.WebhookAllowlist = []netip.Prefix{netip.MustParsePrefix("18.231.92.86/32")}
	})
	start := url.Values{"person_type": {"personal"}, "tax_id": {"529"}} // invalid CPF: no Klavi call
	via := func(client string) map[string]string { return map[string]string{"X-Forwarded-For": client} }
	limited := func(remote string, hdr map[string]string) bool {
		return serveAs(e.s, remote, http.MethodPost, "/start", start, hdr).Code == http.StatusTooManyRequests
	}

	// Two clients behind the balancer each have their own budget; a hop list names the client left of the proxy.
	if limited(lb, via("203.0.113.5")) || !limited(lb, via("203.0.113.5")) {
		t.Error("client 203.0.113.5 behind the balancer: want its first post served and its second refused")
	}
	if limited(lb, via("203.0.113.6, 192.0.2.1")) {
		t.Error("client 203.0.113.6 behind the balancer shares another client's budget")
	}
	// A peer that is not the balancer is the client, whatever it forwards.
	if limited("198.51.100.7:1", via("203.0.113.77")) || !limited("198.51.100.7:1", via("203.0.113.78")) {
		t.Error("an untrusted peer chose its own bucket with X-Forwarded-For")
	}

	// Sign-in: the per-address lockout locks the forwarded client, not everyone behind the balancer.
	login := func(client, email string) int {
		return serveAs(e.s, lb, http.MethodPost, "/login", url.Values{"email": {email}, "password": {"wrong password!"}},
			via(client)).Code
	}
	for i := range loginMaxPerClient - 1 {
		if code := login("203.0.113.20", fmt.Sprintf("n%d@example.com", i)); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, code)
		}
	}
	if code := login("203.0.113.20", "another@example.com"); code != http.StatusTooManyRequests {
		t.Errorf("the failing client's %dth failure: status %d, want 429 (locked)", loginMaxPerClient, code)
	}
	if code := login("203.0.113.21", "another@example.com"); code != http.StatusUnauthorized {
		t.Errorf("another client behind the balancer: status %d, want 401 (not locked out)", code)
	}
	page, err := e.st.Audit(t.Context(), 0, 5)
	if err != nil || len(page.Rows) == 0 || page.Rows[0].IP != "203.0.113.21" {
		t.Errorf("newest audit row = %+v, %v; want the forwarded client's address", page.Rows, err)
	}

	// Webhooks: the allow-list checks the forwarded address when the balancer forwards.
	body := consentEvent("ev-proxy", "consent_authorised", "consent-x", "link-x")
	post := func(remote, client string) int {
		req := httptest.NewRequest(http.MethodPost, eventsPath, bytes.NewReader(body))
		req.RemoteAddr = remote
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(klavi.SignatureHeader, klavi.Sign(testSecret, body))
		req.Header.Set("X-Forwarded-For", client)
		rec := httptest.NewRecorder()
		e.s.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post(lb, "203.0.113.5"); code != http.StatusForbidden {
		t.Errorf("a webhook forwarded for an unlisted address: status %d, want 403", code)
	}
	if code := post("203.0.113.5:4000", "18.231.92.86"); code != http.StatusForbidden {
		t.Errorf("a webhook from an untrusted peer claiming Klavi's address: status %d, want 403", code)
	}
	if code := post(lb, "18.231.92.86"); code != http.StatusOK {
		t.Errorf("Klavi's webhook through the balancer: status %d, want 200", code)
	}
}
