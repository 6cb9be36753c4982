package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// TestAccess covers who sees what: a visitor sees only the consents started in this browser, 404 for the rest;
// the operators' pages send a visitor to the sign-in page (or answer 401 to JSON); an operator sees everything.
func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	owner, stranger := e.browser(), e.browser()
	id, _ := e.startFlow(owner, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	body := reportFor("rep-acc", e.linkOf(id), id)
	wantStatus(t, e.postWebhook("/webhooks/klavi/reports", body, klavi.Sign(testSecret, body)), http.StatusOK)
	consentURLs := []string{"/consents/" + id, "/consents/" + id + "/live", "/consents/" + id + "/reports",
		"/reports/rep-acc", "/reports/rep-acc/report.json", "/reports/rep-acc.json", "/reports/rep-acc/transactions.csv",
		"/reports/rep-acc/transactions-br.csv", "/reports/rep-acc/transactions.xlsx"}

	for _, p := range consentURLs {
		wantStatus(t, e.get(owner, p), http.StatusOK)
		r := e.get(stranger, p)
		wantStatus(t, r, http.StatusNotFound)
		if strings.Contains(r.body, "Itaú") || strings.Contains(r.body, "982.247") || strings.Contains(r.body, "pf_checking_account") {
			t.Errorf("%s: the 404 shows the consent's data", p)
		}
	}
	before, _ := e.st.Consent(context.Background(), id)
	wantStatus(t, e.post(stranger, "/consents/"+id+"/revoke", url.Values{"confirm": {"1"}}), http.StatusNotFound)
	if c, _ := e.st.Consent(context.Background(), id); c.Status != before.Status {
		t.Errorf("a stranger's revoke changed the consent to %s", c.Status)
	}

	for _, p := range []string{"/consents", "/webhooks", "/webhooks/1", "/audit", "/consents?holder=x"} {
		r := e.get(owner, p)
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") || strings.Contains(loc, "holder") {
			t.Errorf("%s: Location = %q, want the sign-in page without the query", p, loc)
		}
	}
	r := e.do(owner, http.MethodGet, "/webhooks", nil, map[string]string{"Accept": "application/json"})
	wantStatus(t, r, http.StatusUnauthorized)

	// /me lists this browser's consents only.
	me := e.get(owner, "/me")
	wantStatus(t, me, http.StatusOK)
	if ids := me.doc(t).Find(`[data-testid="me-row"]`); ids.Length() != 1 || ids.AttrOr("data-consent-id", "") != id {
		t.Errorf("owner's /me rows = %d", ids.Length())
	}
	if n := e.get(stranger, "/me").doc(t).Find(`[data-testid="me-row"]`).Length(); n != 0 {
		t.Errorf("stranger's /me rows = %d", n)
	}

	// An operator sees everything, from any browser.
	op := e.operator()
	for _, p := range append(consentURLs, "/consents", "/webhooks", "/audit") {
		wantStatus(t, e.get(op, p), http.StatusOK)
	}

	// Forgetting the browser: its /me is empty and the consent is a stranger's again.
	r = e.post(owner, "/me/forget", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if sc := strings.Join(r.header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "device=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("forget did not clear the device cookie: %q", sc)
	}
	if n := e.get(owner, "/me").doc(t).Find(`[data-testid="me-row"]`).Length(); n != 0 {
		t.Errorf("/me after forget rows = %d", n)
	}
	wantStatus(t, e.get(owner, "/consents/"+id), http.StatusNotFound)
}

// Sign-in: one message for a wrong password and an unknown email, a lock after five failures on one account,
// audit rows for each attempt, and sign-out ending every copy of the session.
func TestSignInLockoutAndSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addOperator("ana@example.com")
	b := e.browser()
	bad := e.post(b, "/login", url.Values{"email": {"ana@example.com"}, "password": {"wrong password!"}})
	unknown := e.post(b, "/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password!"}})
	for _, r := range []resp{bad, unknown} {
		wantStatus(t, r, http.StatusUnauthorized)
		if got := r.doc(t).Find(`[data-testid="login-error"]`).Text(); !strings.Contains(got, "E-mail ou senha incorretos.") {
			t.Errorf("login error = %q", got)
		}
	}
	for i := 2; i <= 4; i++ {
		wantStatus(t, e.post(b, "/login", url.Values{"email": {"ana@example.com"}, "password": {"wrong password!"}}), http.StatusUnauthorized)
	}
	// The fifth failure locks the account, even for the right password, with a wait in minutes.
	r := e.post(b, "/login", url.Values{"email": {"ana@example.com"}, "password": {"wrong password!"}})
	wantStatus(t, r, http.StatusTooManyRequests)
	r = e.post(b, "/login", url.Values{"email": {"ANA@example.com"}, "password": {testOperatorPassword}})
	wantStatus(t, r, http.StatusTooManyRequests)
	if got := r.doc(t).Find(`[data-testid="login-error"]`).Text(); !strings.Contains(got, "Tente de novo em 15 minutos") {
		t.Errorf("lock message = %q", got)
	}
	// Another account is not locked by it.
	e.addOperator("bia@example.com")
	op := e.browser()
	wantStatus(t, e.post(op, "/login", url.Values{"email": {"bia@example.com"}, "password": {testOperatorPassword}, "next": {"/webhooks"}}), http.StatusSeeOther)

	// A copy of the signed-in cookie works until sign-out, then no copy does.
	u, _ := url.Parse(e.srv.URL)
	copyJar := e.browser()
	copyJar.Jar.SetCookies(u, op.Jar.Cookies(u))
	wantStatus(t, e.get(copyJar, "/consents"), http.StatusOK)
	wantStatus(t, e.post(op, "/logout", nil), http.StatusSeeOther)
	for _, c := range []*http.Client{op, copyJar} {
		wantStatus(t, e.get(c, "/consents"), http.StatusSeeOther)
	}

	a, err := e.st.Audit(context.Background(), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, row := range a.Rows {
		key := row.Action + map[bool]string{true: " ok", false: " failed"}[row.OK]
		counts[key]++
		if strings.Contains(row.Target+row.Actor, "wrong password") || strings.Contains(row.Target+row.Actor, testOperatorPassword) {
			t.Errorf("audit row holds a password: %+v", row)
		}
	}
	if counts["signin failed"] != 7 || counts["signin ok"] != 1 || counts["signout ok"] != 1 {
		t.Errorf("audit counts = %v, want 7 failed sign-ins (6 wrong, 1 locked), 1 ok, 1 sign-out", counts)
	}
}

// The first-run link creates the first operator once; it is refused when used again, forged, or expired.
func TestFirstRunSetup(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t, func(o *envOptions) { o.Now = clk.Now })
	ctx := context.Background()
	link, err := e.s.SetupURL(ctx)
	if err != nil || !strings.HasPrefix(link, "http://127.0.0.1:8080/login/setup?token=") {
		t.Fatalf("SetupURL = %q, %v", link, err)
	}
	path := strings.TrimPrefix(link, "http://127.0.0.1:8080")
	token := strings.TrimPrefix(path, "/login/setup?token=")
	b := e.browser()
	wantStatus(t, e.get(b, path), http.StatusOK)
	wantStatus(t, e.get(b, "/login/setup?token=forged"), http.StatusNotFound)
	r := e.post(b, "/login/setup", url.Values{"token": {token}, "email": {"first@example.com"}, "password": {"twelve chars"}, "password2": {"other"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	r = e.post(b, "/login/setup", url.Values{"token": {token}, "email": {"first@example.com"}, "password": {"short"}, "password2": {"short"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	r = e.post(b, "/login/setup", url.Values{"token": {token}, "email": {"first@example.com"}, "password": {"twelve chars"}, "password2": {"twelve chars"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/consents" {
		t.Errorf("after setup: Location = %q", loc)
	}
	wantStatus(t, e.get(b, "/consents"), http.StatusOK) // signed in
	// Used: the same link no longer works (and offers no dead form), and no second link is made while an operator
	// exists.
	used := e.get(e.browser(), path)
	wantStatus(t, used, http.StatusNotFound)
	if used.doc(t).Find(`[data-testid="setup-form"]`).Length() != 0 || used.doc(t).Find(`[data-testid="setup-error"]`).Length() != 1 {
		t.Error("a used link shows the form, or no explanation")
	}
	r = e.post(e.browser(), "/login/setup", url.Values{"token": {token}, "email": {"second@example.com"}, "password": {"twelve chars"}, "password2": {"twelve chars"}})
	wantStatus(t, r, http.StatusNotFound)
	if link, _ := e.s.SetupURL(ctx); link != "" {
		t.Errorf("a setup link with an operator present: %q", link)
	}
	if n, _ := e.st.CountOperators(ctx); n != 1 {
		t.Errorf("operators = %d", n)
	}
}

// The first-run link works for 15 minutes (server and database on one clock), then no longer, form or post.
func TestFirstRunLinkExpires(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t, func(o *envOptions) { o.Now, o.StoreNow = clk.Now, clk.Now })
	link, err := e.s.SetupURL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(link, "http://127.0.0.1:8080")
	token := strings.TrimPrefix(path, "/login/setup?token=")
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw)*8 < 128 {
		t.Errorf("setup token %q: %d bits, want at least 128", token, len(raw)*8)
	}
	clk.Advance(15*time.Minute - 5*time.Second) // docs/reliability.md#access-model's 15 minutes, not the constant
	wantStatus(t, e.get(e.browser(), path), http.StatusOK)
	clk.Advance(10 * time.Second)
	wantStatus(t, e.get(e.browser(), path), http.StatusNotFound)
	wantStatus(t, e.post(e.browser(), "/login/setup", url.Values{"token": {token}, "email": {"late@example.com"},
		"password": {"twelve chars"}, "password2": {"twelve chars"}}), http.StatusNotFound)
	if n, _ := e.st.CountOperators(context.Background()); n != 0 {
		t.Errorf("operators = %d after an expired link was used", n)
	}
}

// Sessions are cut by their idle timeout on the server, whatever the cookie says.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	b := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if got := sessionExpiry(b, b.Add(time.Hour)); !got.Equal(b.Add(90 * time.Minute)) {
		t.Errorf("idle expiry = %v", got)
	}
	if got := sessionExpiry(b, b.Add(12*time.Hour-time.Minute)); !got.Equal(b.Add(12 * time.Hour)) {
		t.Errorf("absolute expiry = %v", got)
	}
}

// A wrong password for a single sign-on account (no password hash) costs the same argon2id work as for an unknown
// email, so the answer time does not tell that the email is an operator's (docs/reliability.md#access-model). The
// costs are raised so that one check (tens of milliseconds) stands well above the request's own overhead.
func TestPasswordlessAccountAnswersAsSlowlyAsAnUnknownEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PasswordParams = auth.Params{Time: 2, Memory: 16 * 1024, Threads: 1} })
	const rounds = 5 // one email per round on each side: failures per account are counted and would lock it
	for i := range rounds {
		if _, err := e.st.AddOperator(context.Background(), fmt.Sprintf("sso%d@example.com", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(email string) time.Duration {
		start := time.Now()
		r := e.post(e.browser(), "/login", url.Values{"email": {email}, "password": {"some password 123"}})
		wantStatus(t, r, http.StatusUnauthorized)
		return time.Since(start)
	}
	answer("warm-up@example.com") // the first dummy check also makes its fixed hash
	// The fastest of 5 each, taken in turns so that a busy moment of the machine falls on both. Without the dummy
	// check the account would answer in well under a tenth of the time (no argon2 at all); a fifth leaves room for
	// the noise of a shared machine.
	unknown, passwordless := time.Duration(1<<63-1), time.Duration(1<<63-1)
	for i := range rounds {
		unknown = min(unknown, answer(fmt.Sprintf("nobody%d@example.com", i)))
		passwordless = min(passwordless, answer(fmt.Sprintf("sso%d@example.com", i)))
	}
	if passwordless < unknown/5 {
		t.Errorf("a single sign-on account answers in %v, an unknown email in %v: the time tells them apart", passwordless, unknown)
	}
}

// Failures are also counted per client address: twenty wrong sign-ins from one address, each for another email,
// lock that address (even for the right password) while another address signs in as usual.
func TestSignInLockoutPerClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addOperator("ana@example.com")
	const attacker, colleague = "203.0.113.7:40000", "198.51.100.8:40000"
	form := func(email, pw string) url.Values { return url.Values{"email": {email}, "password": {pw}} }
	for i := 1; i < loginMaxPerClient; i++ {
		if rec := serveAs(e.s, attacker, http.MethodPost, "/login", form(fmt.Sprintf("guess%d@example.com", i), "wrong password!"), nil); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d from one address = %d, want 401", i, rec.Code)
		}
	}
	rec := serveAs(e.s, attacker, http.MethodPost, "/login", form("guess20@example.com", "wrong password!"), nil)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("failure %d from one address = %d, want 429", loginMaxPerClient, rec.Code)
	}
	rec = serveAs(e.s, attacker, http.MethodPost, "/login", form("ana@example.com", testOperatorPassword), nil)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "Tente de novo em 15 minutos") {
		t.Errorf("the right password from the locked address = %d, want 429 with the wait in minutes", rec.Code)
	}
	if rec := serveAs(e.s, colleague, http.MethodPost, "/login", form("ana@example.com", testOperatorPassword), nil); rec.Code != http.StatusSeeOther {
		t.Errorf("the right password from another address = %d, want 303", rec.Code)
	}
	a, err := e.st.Audit(context.Background(), 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Rows[1]; r.Action != "signin" || r.Target != "locked" || r.OK || r.IP != "203.0.113.7" {
		t.Errorf("audit of the locked attempt = %+v, want signin locked from 203.0.113.7", r)
	}
}

// The session store ends a session on the server 30 minutes after its last use, and 12 hours after it began however
// busy it is; the cookie's Max-Age never outlives the absolute limit.
func TestSessionsEndWhenIdleAndAtTheAbsoluteLimit(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t, func(o *envOptions) { o.Now, o.StoreNow = clk.Now, clk.Now })

	idle := e.operator()
	clk.Advance(29 * time.Minute)
	wantStatus(t, e.get(idle, "/consents"), http.StatusOK) // used: its 30 minutes start again
	clk.Advance(29 * time.Minute)
	wantStatus(t, e.get(idle, "/consents"), http.StatusOK)
	clk.Advance(31 * time.Minute)
	if r := e.get(idle, "/consents"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("after 31 idle minutes: %d to %q, want 303 to the sign-in page", r.status, r.header.Get("Location"))
	}

	busy := e.operator() // 12 hours as docs/reliability.md#sessions says, not the constant
	for used := 20 * time.Minute; used < 12*time.Hour; used += 20 * time.Minute {
		clk.Advance(20 * time.Minute)
		r := e.get(busy, "/consents")
		wantStatus(t, r, http.StatusOK)
		for _, sc := range r.header.Values("Set-Cookie") {
			if ck, err := http.ParseSetCookie(sc); err == nil && ck.Name == "sid" &&
				time.Duration(ck.MaxAge)*time.Second > 12*time.Hour-used {
				t.Fatalf("after %v the cookie's Max-Age is %ds, beyond the absolute limit", used, ck.MaxAge)
			}
		}
	}
	clk.Advance(20 * time.Minute) // 12 hours after sign-in, used every 20 minutes
	if r := e.get(busy, "/consents"); r.status != http.StatusSeeOther {
		t.Errorf("12 hours after sign-in: %d, want 303 to the sign-in page", r.status)
	}
}

// /audit (operators only) pages through the trail 50 rows at a time, newest first; a row says who, what, on what
// and from which address, and a tax id typed as a sign-in email is masked.
func TestAuditTrailPageIsPagedAndHoldsNoTaxID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	owner := e.browser()
	id, _ := e.startFlow(owner, "52998224725")
	e.kc.setStatus(id, klavi.StatusAuthorised)
	wantStatus(t, e.post(owner, "/consents/"+id+"/revoke", url.Values{"confirm": {"1"}}), http.StatusSeeOther)
	wantStatus(t, e.post(e.browser(), "/login", url.Values{"email": {"529.982.247-25"}, "password": {"wrong password!"}}),
		http.StatusUnauthorized)
	for i := range 55 {
		if err := e.st.AddAudit(context.Background(), store.AuditEntry{Actor: "cli", Action: "operator_added",
			Target: fmt.Sprintf("filler%02d@example.com", i), OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	op := e.operator() // its sign-in is the newest row

	first := e.get(op, "/audit")
	wantStatus(t, first, http.StatusOK)
	d := first.doc(t)
	rows := d.Find(`[data-testid="audit-row"]`)
	if rows.Length() != 50 || d.Find(`[data-testid="pager-newer"]`).Length() != 0 {
		t.Fatalf("first page: %d rows, newer link %d; want 50 and none", rows.Length(), d.Find(`[data-testid="pager-newer"]`).Length())
	}
	if a, _ := rows.First().Attr("data-action"); a != "signin" || !strings.Contains(rows.First().Text(), "127.0.0.1") {
		t.Errorf("newest row = %s %q, want the operator's sign-in from 127.0.0.1", a, rows.First().Text())
	}
	older, ok := d.Find(`[data-testid="pager-older"]`).Attr("href")
	if !ok || !strings.HasPrefix(older, "/audit?before=") {
		t.Fatalf("older link = %q", older)
	}

	second := e.get(op, older)
	wantStatus(t, second, http.StatusOK)
	d = second.doc(t)
	rows = d.Find(`[data-testid="audit-row"]`)
	if rows.Length() != 8 || d.Find(`[data-testid="pager-older"]`).Length() != 0 || d.Find(`[data-testid="pager-newer"]`).Length() != 1 {
		t.Fatalf("second page: %d rows; want the 8 oldest, a newer link and no older one", rows.Length())
	}
	var revoke, typed string
	rows.Each(func(_ int, r *goquery.Selection) {
		switch a, _ := r.Attr("data-action"); a {
		case "revoke":
			revoke = r.Text()
		case "signin":
			typed = r.Text()
		}
	})
	if !strings.Contains(revoke, "visitor") || !strings.Contains(revoke, "consent "+id) || !strings.Contains(revoke, "127.0.0.1") {
		t.Errorf("revoke row = %q, want the visitor, the consent and the address", revoke)
	}
	if !strings.Contains(typed, "***.982.247-**") {
		t.Errorf("failed sign-in row = %q, want the typed CPF masked", typed)
	}
	for _, page := range []resp{first, second} {
		if strings.Contains(page.body, "52998224725") || strings.Contains(page.body, "529.982.247-25") {
			t.Error("the audit page shows a CPF in clear")
		}
	}
}

// Signing in rotates the session: a copy of the cookie taken before (or planted by someone else) does not become
// the operator's session, and the old token no longer names any session at all.
func TestSignInRotatesTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addOperator("ana@example.com")
	b := e.browser()
	wantStatus(t, e.get(b, "/lang/en?next=/login"), http.StatusSeeOther) // a visitor's session row exists
	u, _ := url.Parse(e.srv.URL)
	before := e.browser()
	before.Jar.SetCookies(u, b.Jar.Cookies(u))
	old := cookieValue(b, e.srv.URL)
	if old == "" {
		t.Fatal("no session cookie before sign-in")
	}
	wantStatus(t, e.post(b, "/login", url.Values{"email": {"ana@example.com"}, "password": {testOperatorPassword}}), http.StatusSeeOther)
	if now := cookieValue(b, e.srv.URL); now == "" || now == old {
		t.Fatal("the session token was not renewed at sign-in")
	}
	wantStatus(t, e.get(b, "/consents"), http.StatusOK)
	wantStatus(t, e.get(before, "/consents"), http.StatusSeeOther)
	if _, err := e.st.Session(context.Background(), sha256Hex(old)); err == nil {
		t.Error("the pre-sign-in session row still exists")
	}
}
