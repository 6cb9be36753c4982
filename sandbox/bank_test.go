package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

// parseReturn checks the redirect back to the partner and returns its query.
func parseReturn(t *testing.T, p htmlPage, f flow) url.Values {
	t.Helper()
	if p.status != 302 {
		t.Fatalf("status %d, want 302 back to the partner", p.status)
	}
	u, err := url.Parse(p.location)
	if err != nil || !strings.HasPrefix(p.location, "https://portal.example/callback?") {
		t.Fatalf("Location %q", p.location)
	}
	q := u.Query()
	if q.Get("keep") != "1" {
		t.Errorf("existing query parameter lost: %q", p.location)
	}
	if q.Get("link_id") != f.linkID || q.Get("consent_id") != f.created.ConsentID || q.Get("external_track_id") == "" {
		t.Errorf("return parameters %v", q)
	}
	var ext map[string]any
	if err := json.Unmarshal([]byte(q.Get("external_info")), &ext); err != nil || ext["myTraceId"] != "yourTraceId-1" {
		t.Errorf("external_info %q: %v", q.Get("external_info"), err)
	}
	return q
}

func TestBankFlowStateMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		cpf             string
		authorise, lgpd string
		wantStatus      string
		wantError       string
		wantEvent       string
	}{
		{"approve", cpfApprove, "authorise", "accept", statusAuthorised, "", "consent_authorised"},
		{"deny at the bank", cpfApprove, "deny", "", statusRejected, "access_denied", "consent_rejected"},
		{"LGPD declined", cpfApprove, "authorise", "decline", statusRejected, "access_denied", "consent_rejected"},
		{"bank error scenario", "222.333.444-05", "authorise", "", statusError, "server_error", "consent_error"},
		{"deny scenario even when authorising", "111.444.777-35", "authorise", "", statusRejected, "access_denied", "consent_rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.startFlow(tc.cpf, "", nil)
			b := newBrowser(t)
			p := b.get(f.created.ConsentRedirectURL)
			if !p.has("bank-page") || !p.has("bank-institution-name") || !p.has("scenario-table") || !strings.Contains(p.body, "Itaú") {
				t.Fatalf("login page lacks branding or scenario table")
			}
			if strings.Contains(p.body, "529.982.247-25") && tc.cpf == cpfApprove && !strings.Contains(p.body, "***.982.247-**") {
				t.Errorf("login page should mask the user's CPF")
			}
			if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAwaitingAuthorisation {
				t.Fatalf("after open: %s, want AWAITING_AUTHORISATION", c.Status)
			}
			p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}})
			if !p.has("bank-authorise") || !strings.Contains(p.body, "ACCOUNTS_ALL") {
				t.Fatalf("permissions page missing")
			}
			p = b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {p.step()}, "action": {tc.authorise}})
			if tc.lgpd != "" {
				if !p.has("lgpd-page") || !p.has("lgpd-accept") || !p.has("lgpd-decline") {
					t.Fatalf("LGPD page missing (status %d)", p.status)
				}
				if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAwaitingLGPD {
					t.Fatalf("after authorise: %s, want AWAITING_LGPD_AUTHORISATION", c.Status)
				}
				p = b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {p.step()}, "action": {tc.lgpd}})
			}
			q := parseReturn(t, p, f)
			if q.Get("error") != tc.wantError {
				t.Errorf("error=%q, want %q", q.Get("error"), tc.wantError)
			}
			if tc.wantError != "" && q.Get("error_description") == "" {
				t.Errorf("error_description missing")
			}
			c := e.consent(f.access, f.created.ConsentID)
			if c.Status != tc.wantStatus {
				t.Errorf("status %s, want %s", c.Status, tc.wantStatus)
			}
			if tc.wantStatus == statusAuthorised && len(c.PermissionsGranted) != len(c.PermissionsApply) {
				t.Errorf("granted %v, apply %v", c.PermissionsGranted, c.PermissionsApply)
			}
			if tc.wantStatus != statusAuthorised && len(c.PermissionsGranted) != 0 {
				t.Errorf("granted %v on a failed consent", c.PermissionsGranted)
			}
			waitFor(t, tc.wantEvent, func() bool { return len(e.rc.events(t)) == 2 })
			evs := e.rc.events(t)
			if evs[0].EventName != "link_created" || evs[1].EventName != tc.wantEvent {
				t.Errorf("events %s, %s", evs[0].EventName, evs[1].EventName)
			}
			// The flow is finished: replaying the last step fails.
			p = b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {"00"}, "action": {"accept"}})
			if !p.has("bank-error") {
				t.Errorf("replay after the end: want bank-error")
			}
		})
	}
}

func TestBankStepsCannotBeSkippedOrReplayed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	b := newBrowser(t)
	p := b.get(f.created.ConsentRedirectURL)
	loginStep := p.step()
	// Skipping: the login ticket is not valid for the authorise or LGPD step.
	for _, path := range []string{"/bank/authorise", "/bank/lgpd"} {
		if q := b.post(e.srv.URL+path, url.Values{"step": {loginStep}, "action": {"accept"}}); !q.has("bank-error") || q.status != 400 {
			t.Errorf("%s with the login ticket: status %d, want 400 bank-error", path, q.status)
		}
	}
	// Another browser (no cookie) cannot use the ticket.
	if q := newBrowser(t).post(e.srv.URL+"/bank/login", url.Values{"step": {loginStep}}); !q.has("bank-error") {
		t.Errorf("login from another browser: want bank-error")
	}
	p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {loginStep}})
	if !p.has("bank-authorise") {
		t.Fatal("login with the right ticket failed")
	}
	// Replaying the consumed login ticket fails.
	if q := b.post(e.srv.URL+"/bank/login", url.Values{"step": {loginStep}}); !q.has("bank-error") {
		t.Errorf("login replay: want bank-error")
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAwaitingAuthorisation {
		t.Errorf("status %s after rejected attempts", c.Status)
	}
}

func TestRedirectURLSingleUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	b := newBrowser(t)
	if p := b.get(f.created.ConsentRedirectURL); !p.has("bank-login") {
		t.Fatal("first open should show the login page")
	}
	for _, br := range []*browser{b, newBrowser(t)} {
		p := br.get(f.created.ConsentRedirectURL)
		if p.status != 410 || !p.has("bank-error") || p.has("bank-login") {
			t.Errorf("second open: status %d, want 410 bank-error", p.status)
		}
	}
	if p := b.get(e.srv.URL + "/bank/authorize?t=unknown"); p.status != 404 || !p.has("bank-error") {
		t.Errorf("unknown ticket: status %d", p.status)
	}
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusAwaitingAuthorisation {
		t.Errorf("status %s, want AWAITING_AUTHORISATION (the first open still counts)", c.Status)
	}
}

func TestRedirectURLExpiresAfter60s(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		advance time.Duration
		ok      bool
	}{
		{"at 59 s", 59 * time.Second, true},
		{"at 61 s", 61 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.startFlow(cpfApprove, "", nil)
			e.clock.Advance(tc.advance)
			p := newBrowser(t).get(f.created.ConsentRedirectURL)
			c := e.consent(f.access, f.created.ConsentID)
			if tc.ok {
				if !p.has("bank-login") || c.Status != statusAwaitingAuthorisation {
					t.Fatalf("status %d, consent %s", p.status, c.Status)
				}
				return
			}
			if !p.has("bank-error") || p.has("bank-login") {
				t.Fatalf("late open: status %d, want bank-error", p.status)
			}
			if !strings.Contains(p.body, "error=access_denied") {
				t.Errorf("late open page should link back with error=access_denied")
			}
			if c.Status != statusRejected {
				t.Errorf("consent %s, want REJECTED", c.Status)
			}
			waitFor(t, "consent_rejected", func() bool { return len(e.rc.events(t)) == 2 })
			if n := e.rc.eventNames(t); n[1] != "consent_rejected" {
				t.Errorf("events %v", n)
			}
		})
	}
}

func TestSweepRejectsUnusedRedirectAndExpiresIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 10 * time.Minute })
	unused := e.startFlow(cpfApprove, "", nil)
	idle := e.startFlow(cpfApprove, "", nil)
	b := newBrowser(t)
	p := b.get(idle.created.ConsentRedirectURL)
	e.clock.Advance(61 * time.Second)
	e.sb.Sweep()
	if c := e.consent(unused.access, unused.created.ConsentID); c.Status != statusRejected {
		t.Errorf("unused redirect after 61 s: %s, want REJECTED", c.Status)
	}
	if c := e.consent(idle.access, idle.created.ConsentID); c.Status != statusAwaitingAuthorisation {
		t.Errorf("opened consent after 61 s: %s", c.Status)
	}
	e.clock.Advance(10 * time.Minute)
	e.sb.Sweep()
	if c := e.consent(idle.access, idle.created.ConsentID); c.Status != statusExpired {
		t.Errorf("idle consent: %s, want EXPIRED", c.Status)
	}
	// The expired flow cannot continue.
	if q := b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}}); !q.has("bank-error") {
		t.Errorf("login after expiry: want bank-error")
	}
}

func TestAuthorisedConsentExpiresAtValidityEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	parseReturn(t, e.walk(newBrowser(t), f.created.ConsentRedirectURL, "authorise", "accept"), f)
	e.clock.Advance(366 * 24 * time.Hour)
	e.sb.Sweep()
	if c := e.consent(e.accessToken(), f.created.ConsentID); c.Status != statusExpired {
		t.Errorf("status %s, want EXPIRED after validity end", c.Status)
	}
}

// TestOnBrandKeepsAAContrast: every institution's page text reaches 4.5:1 on its colour.
func TestOnBrandKeepsAAContrast(t *testing.T) {
	lum := func(hex string) float64 {
		var r, g, b uint8
		if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b); err != nil {
			t.Fatalf("%q: %v", hex, err)
		}
		f := func(v uint8) float64 {
			x := float64(v) / 255
			if x <= 0.03928 {
				return x / 12.92
			}
			return math.Pow((x+0.055)/1.055, 2.4)
		}
		return 0.2126*f(r) + 0.7152*f(g) + 0.0722*f(b)
	}
	for code := range instByCode {
		bg := brandColor(code)
		fg := onBrand(bg)
		l1, l2 := lum(bg), lum(fg)
		if l1 < l2 {
			l1, l2 = l2, l1
		}
		if ratio := (l1 + 0.05) / (l2 + 0.05); ratio < 4.5 {
			t.Errorf("%s: %s on %s has contrast %.2f:1", code, fg, bg, ratio)
		}
	}
}
