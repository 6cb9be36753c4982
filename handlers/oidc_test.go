// Single sign-on against a real OpenID Connect provider in the test process (oauth2-proxy/mockoidc on loopback):
// the portal discovers it, sends the browser there, exchanges the code and verifies the ID token it signs. The
// refusals are the provider misbehaving: a middleware on its token endpoint re-signs the ID token with the
// provider's own key after changing one claim (nonce, audience, expiry, issuer, email), or breaks its signature;
// one on its authorization endpoint answers error=access_denied.

package handlers

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// testCallbackURL is the redirect URI of the test portal (newEnv's PublicURL + the callback route).
const testCallbackURL = "http://127.0.0.1:8080" + OIDCCallbackPath

// testIDP is a running mockoidc with hooks that make its next answer misbehave, and a record of every secret
// value it handed out or received (codes, tokens, state, nonce, PKCE verifier): none may reach a log line.
type testIDP struct {
	t *testing.T
	m *mockoidc.MockOIDC

	mu       sync.Mutex
	tamper   func(jwt.MapClaims) // changes the claims of the next ID token, which is then re-signed
	breakSig bool                // corrupts the signature of the next ID token
	deny     bool                // the next authorization request answers error=access_denied
	secrets  []string
}

func newIDP(t *testing.T) *testIDP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &testIDP{t: t, m: m, secrets: []string{m.ClientSecret}}
	if err := m.AddMiddleware(p.middleware); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

func (p *testIDP) remember(vs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range vs {
		if v != "" {
			p.secrets = append(p.secrets, v)
		}
	}
}

func (p *testIDP) secretValues() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.secrets...)
}

// tamperNext makes the next ID token carry claims changed by f, signed with the provider's key.
func (p *testIDP) tamperNext(f func(jwt.MapClaims)) { p.mu.Lock(); p.tamper = f; p.mu.Unlock() }

func (p *testIDP) breakNextSignature() { p.mu.Lock(); p.breakSig = true; p.mu.Unlock() }

func (p *testIDP) denyNext() { p.mu.Lock(); p.deny = true; p.mu.Unlock() }

func (p *testIDP) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case mockoidc.AuthorizationEndpoint:
			q := r.URL.Query()
			p.remember(q.Get("state"), q.Get("nonce"), q.Get("code_challenge"))
			p.mu.Lock()
			deny := p.deny
			p.deny = false
			p.mu.Unlock()
			if deny {
				// What a provider does when the person declines: back to the registered redirect URI with the
				// error and the state.
				if q.Get("redirect_uri") != testCallbackURL {
					http.Error(w, "unregistered redirect_uri", http.StatusBadRequest)
					return
				}
				http.Redirect(w, r, testCallbackURL+"?"+url.Values{"error": {"access_denied"},
					"error_description": {"The user declined"}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			if loc, err := url.Parse(rec.Header().Get("Location")); err == nil {
				p.remember(loc.Query().Get("code"))
			}
			copyRecorded(w, rec, rec.Body.Bytes())
		case mockoidc.TokenEndpoint:
			if err := r.ParseForm(); err == nil {
				p.remember(r.PostForm.Get("code"), r.PostForm.Get("code_verifier"))
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				body = p.rewriteTokens(body)
			}
			copyRecorded(w, rec, body)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// rewriteTokens applies the pending tamper or signature break to the token response's id_token.
func (p *testIDP) rewriteTokens(body []byte) []byte {
	var tr map[string]any
	if err := json.Unmarshal(body, &tr); err != nil {
		p.t.Errorf("token response: %v", err)
		return body
	}
	raw, _ := tr["id_token"].(string)
	access, _ := tr["access_token"].(string)
	refresh, _ := tr["refresh_token"].(string)
	p.remember(raw, access, refresh)
	p.mu.Lock()
	tamper, breakSig := p.tamper, p.breakSig
	p.tamper, p.breakSig = nil, false
	p.mu.Unlock()
	if tamper != nil {
		claims := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return p.m.Keypair.PublicKey, nil },
			jwt.WithoutClaimsValidation()); err != nil {
			p.t.Errorf("parse the provider's ID token: %v", err)
			return body
		}
		tamper(claims)
		var err error
		if raw, err = p.m.Keypair.SignJWT(claims); err != nil {
			p.t.Errorf("re-sign the ID token: %v", err)
			return body
		}
	}
	if breakSig {
		// Another valid base64url signature of the right length: the last byte of the RSA signature changes.
		if raw[len(raw)-2] == 'A' {
			raw = raw[:len(raw)-2] + "B" + raw[len(raw)-1:]
		} else {
			raw = raw[:len(raw)-2] + "A" + raw[len(raw)-1:]
		}
	}
	p.remember(raw)
	tr["id_token"] = raw
	out, err := json.Marshal(tr)
	if err != nil {
		p.t.Errorf("token response: %v", err)
		return body
	}
	return out
}

// ssoEnv is a portal whose operators sign in through p, admitting allowed, with a clock tests can move.
type ssoEnv struct {
	*env
	idp   *testIDP
	shift atomic.Int64 // added to the portal's clock
}

func newSSOEnv(t *testing.T, allowed string) *ssoEnv {
	t.Helper()
	se := &ssoEnv{idp: newIDP(t)}
	se.env = newEnv(t, func(o *envOptions) {
		list, err := auth.ParseAllowList(allowed)
		if err != nil {
			t.Fatal(err)
		}
		o.OIDC, err = auth.NewOIDC(context.Background(), auth.OIDCConfig{Issuer: se.idp.m.Issuer(),
			ClientID: se.idp.m.ClientID, ClientSecret: se.idp.m.ClientSecret,
			RedirectURL: o.PublicURL + OIDCCallbackPath, Allowed: list})
		if err != nil {
			t.Fatalf("NewOIDC: %v", err)
		}
		o.Now = func() time.Time { return time.Now().Add(time.Duration(se.shift.Load())) }
	})
	// Runs before the server closes (registered after it): codes, tokens, state, nonce and verifier stay out of
	// every log line, refusals included.
	t.Cleanup(func() { assertCleanLogs(t, se.logs.String(), se.idp.secretValues()...) })
	return se
}

// startSSO asks the portal for a sign-on from browser b and returns the provider URL it sends the browser to.
func (e *ssoEnv) startSSO(b *http.Client, next string) *url.URL {
	e.t.Helper()
	r := e.get(b, "/login/oidc?next="+url.QueryEscape(next))
	wantStatus(e.t, r, http.StatusSeeOther)
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), e.idp.m.AuthorizationEndpoint()+"?") {
		e.t.Fatalf("Location = %q, want the provider's authorization endpoint", r.header.Get("Location"))
	}
	return u
}

// atProvider follows the authorization URL (the provider signs the queued user in at once) and returns the path
// and query of the portal callback the provider sends the browser back to.
func (e *ssoEnv) atProvider(b *http.Client, authURL *url.URL) string {
	e.t.Helper()
	res, err := b.Get(authURL.String())
	if err != nil {
		e.t.Fatalf("provider: %v", err)
	}
	_ = res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), testCallbackURL+"?") {
		e.t.Fatalf("provider answered %d to %q, want 302 to the portal's callback", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.RequestURI()
}

// signOn walks the whole round trip from browser b and returns the portal's answer to the callback.
func (e *ssoEnv) signOn(b *http.Client, next string) resp {
	e.t.Helper()
	return e.get(b, e.atProvider(b, e.startSSO(b, next)))
}

func (e *env) lastAudit() store.AuditEntry {
	e.t.Helper()
	a, err := e.st.Audit(context.Background(), 0, 1)
	if err != nil || len(a.Rows) == 0 {
		e.t.Fatalf("audit: %v, %d rows", err, len(a.Rows))
	}
	return a.Rows[0]
}

func (e *env) operatorCount() int {
	e.t.Helper()
	n, err := e.st.CountOperators(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// wantSignedOut checks that b is not an operator: the operators' list sends it to the sign-in page.
func (e *env) wantSignedOut(b *http.Client) {
	e.t.Helper()
	r := e.get(b, "/consents")
	wantStatus(e.t, r, http.StatusSeeOther)
	if !strings.HasPrefix(r.header.Get("Location"), "/login") {
		e.t.Fatalf("GET /consents → %q, want the sign-in page", r.header.Get("Location"))
	}
}

func ptText(key string) string { return views.T(views.WithLang(context.Background(), views.PT), key) }

func TestSSOSignsInAndCreatesThePasswordlessOperator(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, "@example.com, bia@elsewhere.test")
	e.idp.m.QueueUser(&mockoidc.MockUser{Subject: "ana-1", Email: "Ana@Example.com", EmailVerified: true})
	b := e.browser()

	// The sign-in page offers single sign-on and keeps where the operator was going.
	r := e.get(b, "/login?next="+url.QueryEscape("/webhooks?kind=event&page=2"))
	wantStatus(t, r, http.StatusOK)
	href, _ := r.doc(t).Find(`[data-testid="login-sso"]`).Attr("href")
	if want := "/login/oidc?next=" + url.QueryEscape("/webhooks?kind=event&page=2"); href != want {
		t.Fatalf("SSO button href = %q, want %q", href, want)
	}

	// The authorization request: code flow, the three scopes, PKCE S256, fresh state and nonce, our callback.
	authURL := e.startSSO(b, "/webhooks?kind=event&page=2")
	q := authURL.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": e.idp.m.ClientID,
		"scope": "openid email profile", "code_challenge_method": "S256",
		"redirect_uri": testCallbackURL} {
		if q.Get(k) != want {
			t.Errorf("authorization %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if !validToken(q.Get("state")) || !validToken(q.Get("nonce")) || q.Get("state") == q.Get("nonce") || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %q, nonce %q, code_challenge %q: want distinct random values", q.Get("state"), q.Get("nonce"), q.Get("code_challenge"))
	}
	visitorCookie := cookieValue(b, e.srv.URL)

	r = e.get(b, e.atProvider(b, authURL))
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/webhooks?kind=event&page=2" {
		t.Errorf("after sign-on Location = %q, want next", loc)
	}
	if c := cookieValue(b, e.srv.URL); c == "" || c == visitorCookie {
		t.Error("the session token was not renewed at sign-in")
	}
	r = e.get(b, "/consents")
	wantStatus(t, r, http.StatusOK)
	if got := r.doc(t).Find(`[data-testid="signed-in-as"]`).Text(); !strings.Contains(got, "ana@example.com") {
		t.Errorf("signed-in-as = %q, want the provider's email, lower-cased", got)
	}

	o, err := e.st.OperatorByEmail(context.Background(), "ana@example.com")
	if err != nil {
		t.Fatalf("the operator row: %v", err)
	}
	if o.PasswordHash != "" {
		t.Errorf("password hash = %q, want none: this operator signs in only by single sign-on", o.PasswordHash)
	}
	a, _ := e.st.Audit(context.Background(), 0, 10)
	if len(a.Rows) < 2 || a.Rows[0].Action != "signin_sso" || a.Rows[0].Target != "oidc" || !a.Rows[0].OK ||
		a.Rows[0].Actor != "ana@example.com" || a.Rows[1].Action != "operator_added" {
		t.Errorf("audit = %+v, want operator_added then signin_sso oidc ok by ana@example.com", a.Rows)
	}

	// No password works for a single sign-on account.
	r = e.post(e.browser(), "/login", url.Values{"email": {"ana@example.com"}, "password": {testOperatorPassword}})
	wantStatus(t, r, http.StatusUnauthorized)

	// The next sign-on (another browser) finds the same operator; an exact address on the list works too.
	e.idp.m.QueueUser(&mockoidc.MockUser{Subject: "ana-1", Email: "ana@example.com", EmailVerified: true})
	wantStatus(t, e.signOn(e.browser(), "/"), http.StatusSeeOther)
	e.idp.m.QueueUser(&mockoidc.MockUser{Subject: "bia-1", Email: "bia@elsewhere.test", EmailVerified: true})
	wantStatus(t, e.signOn(e.browser(), "/"), http.StatusSeeOther)
	if n := e.operatorCount(); n != 2 {
		t.Errorf("operators = %d, want 2 (ana once, bia)", n)
	}
}

// An existing password operator may also use single sign-on: the same account, password kept.
func TestSSOSignsInAnExistingOperator(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, "@example.com")
	before := e.addOperator("carla@example.com")
	e.idp.m.QueueUser(&mockoidc.MockUser{Subject: "c", Email: "carla@example.com", EmailVerified: true})
	b := e.browser()
	wantStatus(t, e.signOn(b, "/consents"), http.StatusSeeOther)
	wantStatus(t, e.get(b, "/consents"), http.StatusOK)
	o, err := e.st.OperatorByEmail(context.Background(), "carla@example.com")
	if err != nil || o.ID != before.ID || o.PasswordHash != before.PasswordHash {
		t.Errorf("operator after sign-on = %+v, %v; want the same row, password kept", o, err)
	}
}

func TestSSORefusals(t *testing.T) {
	t.Parallel()
	outsider := func(e *ssoEnv) {
		e.idp.m.QueueUser(&mockoidc.MockUser{Subject: "m", Email: "mallory@elsewhere.test", EmailVerified: true})
	}
	tamper := func(f func(jwt.MapClaims)) func(*ssoEnv) { return func(e *ssoEnv) { e.idp.tamperNext(f) } }
	tests := []struct {
		name     string
		before   func(*ssoEnv)       // before the round trip
		callback func(string) string // changes the callback path and query the provider sent
		atReturn func(*ssoEnv)       // between the provider and the callback
		status   int
		reason   string
		msg      string
		actor    string
	}{
		{name: "wrong nonce", before: tamper(func(c jwt.MapClaims) { c["nonce"] = "not-the-portals-nonce" }),
			reason: "oidc: nonce"},
		{name: "wrong audience", before: tamper(func(c jwt.MapClaims) { c["aud"] = "another-client" }),
			reason: "oidc: audience"},
		{name: "two audiences without azp", before: tamper(func(c jwt.MapClaims) { c["aud"] = []string{c["aud"].([]any)[0].(string), "another-client"} }),
			reason: "oidc: audience"},
		{name: "expired ID token", before: tamper(func(c jwt.MapClaims) {
			now := time.Now().Unix()
			c["iat"], c["nbf"], c["exp"] = now-900, now-900, now-60
		}), reason: "oidc: expired"},
		{name: "another issuer", before: tamper(func(c jwt.MapClaims) { c["iss"] = "https://idp.evil.test" }),
			reason: "oidc: issuer"},
		{name: "bad signature", before: func(e *ssoEnv) { e.idp.breakNextSignature() }, reason: "oidc: signature"},
		{name: "email not verified", before: tamper(func(c jwt.MapClaims) { c["email_verified"] = false }),
			reason: "oidc: email_verified"},
		{name: "no email", before: tamper(func(c jwt.MapClaims) { delete(c, "email") }), reason: "oidc: email"},
		{name: "email outside the allowed list", before: outsider, status: http.StatusForbidden,
			reason: "oidc: not allowed", msg: "login.sso_denied", actor: "mallory@elsewhere.test"},
		{name: "provider answers error=access_denied", before: func(e *ssoEnv) { e.idp.denyNext() },
			reason: "oidc: access_denied"},
		{name: "state mismatch", callback: func(cb string) string { return withParam(cb, "state", newToken()) },
			reason: "oidc: state"},
		{name: "no state", callback: func(cb string) string { return withParam(cb, "state", "") }, reason: "oidc: state"},
		{name: "code the provider never issued", callback: func(cb string) string { return withParam(cb, "code", "forged-code-7f3a9") },
			reason: "oidc: exchange"},
		{name: "back after more than 10 minutes", atReturn: func(e *ssoEnv) { e.shift.Store(int64(11 * time.Minute)) },
			reason: "oidc: stale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newSSOEnv(t, "@example.com")
			e.idp.remember("forged-code-7f3a9")
			if tt.before != nil {
				tt.before(e)
			}
			b := e.browser()
			cb := e.atProvider(b, e.startSSO(b, "/consents"))
			if tt.callback != nil {
				cb = tt.callback(cb)
			}
			if tt.atReturn != nil {
				tt.atReturn(e)
			}
			status, msg, actor := tt.status, tt.msg, tt.actor
			if status == 0 {
				status, msg, actor = http.StatusUnauthorized, "login.sso_failed", ssoActor
			}
			r := e.get(b, cb)
			wantStatus(t, r, status)
			d := r.doc(t)
			if got := strings.TrimSpace(d.Find(`[data-testid="login-error"]`).Text()); got != ptText(msg) {
				t.Errorf("message = %q, want %q", got, ptText(msg))
			}
			if href, _ := d.Find(`[data-testid="login-sso"]`).Attr("href"); href != "/login/oidc?next=%2Fconsents" {
				t.Errorf("try-again SSO href = %q, want next kept", href)
			}
			a := e.lastAudit()
			if a.Action != "signin_sso" || a.OK || a.Target != tt.reason || a.Actor != actor {
				t.Errorf("audit = %+v, want signin_sso %q by %q, failed", a, tt.reason, actor)
			}
			if !strings.Contains(e.logs.String(), `msg="single sign-on refused" reason="`+strings.TrimPrefix(tt.reason, "oidc: ")+`"`) &&
				!strings.Contains(e.logs.String(), `msg="single sign-on refused" reason=`+strings.TrimPrefix(tt.reason, "oidc: ")) {
				t.Errorf("no log line with the reason; logs:\n%s", e.logs.String())
			}
			if n := e.operatorCount(); n != 0 {
				t.Errorf("operators = %d, want none created", n)
			}
			e.wantSignedOut(b)
		})
	}
}

// The state works once: a replayed callback, after success or failure, is refused, and a browser that never
// started a sign-on cannot finish one.
func TestSSOStateIsSingleUse(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, "@example.com")
	b := e.browser()
	cb := e.atProvider(b, e.startSSO(b, "/consents"))
	wantStatus(t, e.get(b, cb), http.StatusSeeOther)

	other := e.browser()
	r := e.get(other, cb)
	wantStatus(t, r, http.StatusUnauthorized)
	if a := e.lastAudit(); a.Target != "oidc: state" || a.OK {
		t.Errorf("audit = %+v, want oidc: state", a)
	}
	e.wantSignedOut(other)
	wantStatus(t, e.get(b, cb), http.StatusUnauthorized) // the same browser, replaying

	// A failed return spends the state too: coming back again with the right one does not work.
	c := e.browser()
	cb = e.atProvider(c, e.startSSO(c, "/consents"))
	wantStatus(t, e.get(c, withParam(cb, "state", newToken())), http.StatusUnauthorized)
	wantStatus(t, e.get(c, cb), http.StatusUnauthorized)
	e.wantSignedOut(c)
	if n := e.operatorCount(); n != 1 {
		t.Errorf("operators = %d, want 1", n)
	}
}

// PKCE binds a code to the sign-on that asked for it: a code intercepted on its way back to one browser, replayed
// through another browser's own sign-on (its state is good), is refused by the provider at the exchange, because
// that sign-on's verifier does not answer the code's challenge. Without PKCE the exchange would succeed and only
// the nonce would catch it.
func TestSSOCodeWorksOnlyWithItsOwnVerifier(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, "@example.com")
	victim, attacker := e.browser(), e.browser()
	e.idp.m.QueueUser(&mockoidc.MockUser{Subject: "ana-1", Email: "ana@example.com", EmailVerified: true})
	stolen, err := url.Parse(e.atProvider(victim, e.startSSO(victim, "/consents")))
	if err != nil {
		t.Fatal(err)
	}
	own := e.atProvider(attacker, e.startSSO(attacker, "/consents"))
	wantStatus(t, e.get(attacker, withParam(own, "code", stolen.Query().Get("code"))), http.StatusUnauthorized)
	if a := e.lastAudit(); a.Action != "signin_sso" || a.OK || a.Target != "oidc: exchange" {
		t.Errorf("audit = %+v, want signin_sso refused at the exchange", a)
	}
	e.wantSignedOut(attacker)
	if n := e.operatorCount(); n != 0 {
		t.Errorf("operators = %d, want none created", n)
	}
}

func TestSSOOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	r := e.get(b, "/login")
	wantStatus(t, r, http.StatusOK)
	if r.doc(t).Find(`[data-testid="login-sso"]`).Length() != 0 {
		t.Error("the sign-in page offers single sign-on that is not configured")
	}
	wantStatus(t, e.get(b, "/login/oidc?next=/consents"), http.StatusNotFound)
	wantStatus(t, e.get(b, OIDCCallbackPath+"?code=x&state=y"), http.StatusNotFound)
}

// withParam sets (or, with "", removes) one query parameter of a path and query.
func withParam(pathQuery, k, v string) string {
	u, _ := url.Parse(pathQuery)
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// cookieValue is the portal's session cookie in b's jar ("" when none).
func cookieValue(b *http.Client, base string) string {
	u, _ := url.Parse(base)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "sid" {
			return c.Value
		}
	}
	return ""
}
