// Security of the return from the bank and of the session: /callback without a session, with another
// session's track id, with malformed ids or hostile error parameters (refused, logged as security events,
// nothing changed), cross-origin protection of every form, the attributes of every Set-Cookie, session
// fixation with a planted cookie, and the neutral callback page's language switch.

package handlers

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// Callback, session, CSRF and cookie tests; each test names the section of docs/reliability.md it checks.

// consentSnapshot is what a refused callback must leave untouched.
type consentSnapshot struct {
	c  store.Consent
	tl int
}

func snapshot(t *testing.T, e *env, id string) consentSnapshot {
	t.Helper()
	c, err := e.st.Consent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := e.st.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return consentSnapshot{c: c, tl: len(tl)}
}

func (a consentSnapshot) assertUnchanged(t *testing.T, e *env) {
	t.Helper()
	b := snapshot(t, e, a.c.ID)
	if b.c.Status != a.c.Status || (b.c.CallbackAt == nil) != (a.c.CallbackAt == nil) || b.c.ErrorCode != a.c.ErrorCode ||
		b.c.ErrorDescription != a.c.ErrorDescription || (b.c.ReportsRequestedAt == nil) != (a.c.ReportsRequestedAt == nil) || b.tl != a.tl {
		t.Errorf("consent %s changed: %+v (timeline %d) → %+v (timeline %d)", a.c.ID, a.c, a.tl, b.c, b.tl)
	}
}

// newLogLines returns the log lines written since mark (see logMark).
func newLogLines(e *env, mark int) []string {
	s := e.logs.String()[mark:]
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func logMark(e *env) int { return len(e.logs.String()) }

// No session → neutral page, no PII, nothing changed; the webhook still completes the consent
// (docs/reliability.md#callback, step 1).
func TestCallbackWithoutSessionThenWebhookCompletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	id, track := e.startFlow(e.browser(), "52998224725")
	link := e.linkOf(id)
	before := snapshot(t, e, id)
	e.kc.setStatus(id, klavi.StatusAuthorised)
	r := e.get(e.browser(), callbackQuery(id, link, track))
	wantStatus(t, r, http.StatusOK)
	if r.doc(t).Find(`[data-testid="callback-neutral"]`).Length() != 1 {
		t.Error("no callback-neutral")
	}
	for _, leak := range []string{"982.247", id, link, "Itaú"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("neutral page reveals %q", leak)
		}
	}
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Error("neutral page set a cookie")
	}
	before.assertUnchanged(t, e)
	e.runBackground()
	body := consentEvent("ev-nosession", "consent_authorised", id, link)
	wantStatus(t, e.postWebhook(eventsPath, body, klavi.Sign(testSecret, body)), http.StatusOK)
	eventually(t, "webhook completes the consent", func() bool {
		c, _ := e.st.Consent(context.Background(), id)
		return c.Status == "AUTHORISED" && c.ReportRequestID != ""
	})
}

// Missing / wrong / foreign / consumed track ids and an attacker's own valid callback URL opened in the victim's
// session → refused, nothing changed, one security event with hashed ids only (docs/reliability.md#callback,
// steps 3 and 5).
func TestCallbackRefusalsAreSecurityEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	victim, attacker := e.browser(), e.browser()
	vid, vtrack := e.startFlow(victim, "52998224725")
	aid, atrack := e.startFlow(attacker, "11144477735")
	vlink, alink := e.linkOf(vid), e.linkOf(aid)
	e.kc.setStatus(vid, klavi.StatusAuthorised)
	e.kc.setStatus(aid, klavi.StatusAuthorised)

	refuse := func(t *testing.T, c *http.Client, q string, want int, reason, track string, unchanged ...string) {
		t.Helper()
		var snaps []consentSnapshot
		for _, id := range unchanged {
			snaps = append(snaps, snapshot(t, e, id))
		}
		mark := logMark(e)
		r := e.get(c, q)
		wantStatus(t, r, want)
		if st, _ := r.doc(t).Find(`[data-testid="callback-rejected"]`).Attr("data-status"); st != strconv.Itoa(want) {
			t.Errorf("callback-rejected data-status = %q", st)
		}
		for _, s := range snaps {
			s.assertUnchanged(t, e)
		}
		events := 0
		for _, l := range newLogLines(e, mark) {
			if strings.Contains(l, "callback refused") {
				events++
				if !strings.Contains(l, "reason="+reason) || (track != "" && !strings.Contains(l, "track_ref="+logRef(track))) {
					t.Errorf("security event lacks reason %s or the hashed track id: %s", reason, l)
				}
				if track != "" && strings.Contains(l, track) {
					t.Errorf("security event holds the raw track id: %s", l)
				}
			}
		}
		if events != 1 {
			t.Errorf("security events = %d, want 1", events)
		}
	}

	t.Run("missing", func(t *testing.T) {
		q := "/callback?" + url.Values{"consent_id": {vid}, "link_id": {vlink}}.Encode()
		refuse(t, victim, q, http.StatusBadRequest, "malformed", "", vid)
	})
	t.Run("empty", func(t *testing.T) {
		refuse(t, victim, callbackQuery(vid, vlink, ""), http.StatusBadRequest, "malformed", "", vid)
	})
	t.Run("wrong", func(t *testing.T) {
		wrong := newTrackID()
		refuse(t, victim, callbackQuery(vid, vlink, wrong), http.StatusForbidden, "mismatch", wrong, vid)
	})
	t.Run("foreign: the victim's URL in the attacker's session", func(t *testing.T) {
		refuse(t, attacker, callbackQuery(vid, vlink, vtrack), http.StatusForbidden, "mismatch", vtrack, vid, aid)
	})
	t.Run("attacker's valid URL in the victim's session", func(t *testing.T) {
		refuse(t, victim, callbackQuery(aid, alink, atrack), http.StatusForbidden, "mismatch", atrack, vid, aid)
	})
	t.Run("own track id with another consent's id", func(t *testing.T) {
		refuse(t, victim, callbackQuery(aid, alink, vtrack), http.StatusForbidden, "mismatch", vtrack, vid, aid)
	})
	t.Run("consumed by the victim, replayed in the attacker's session", func(t *testing.T) {
		wantStatus(t, e.get(victim, callbackQuery(vid, vlink, vtrack)), http.StatusSeeOther)
		refuse(t, attacker, callbackQuery(vid, vlink, vtrack), http.StatusForbidden, "mismatch", vtrack, vid, aid)
	})
	t.Run("the refused attempts did not burn the attacker's own state", func(t *testing.T) {
		wantStatus(t, e.get(attacker, callbackQuery(aid, alink, atrack)), http.StatusSeeOther)
	})
}

// Malformed ids in any of the three parameters → 400, nothing changed, one log line that holds no part of the
// value (docs/reliability.md#callback, step 2).
func TestCallbackMalformedIDsInEveryParameter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	id, track := e.startFlow(b, "52998224725")
	link := e.linkOf(id)
	e.kc.setStatus(id, klavi.StatusAuthorised)
	before := snapshot(t, e, id)
	// Raw query-string encodings, so the server decodes them itself.
	bad := map[string]string{
		"65 chars":       strings.Repeat("a", 65),
		"NUL":            "ab%00cd",
		"CR LF":          "ab%0D%0AInjected-Header:%20x",
		"LF":             "ab%0Ainjected",
		"unicode":        "consent-%C3%A9",
		"homoglyph":      "c%D0%BEnsent-1", // Cyrillic o
		"invalid UTF-8":  "ab%FFcd",
		"space":          "a%20b",
		"path traversal": "..%2F..%2Fetc",
		"markup":         "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"double encoded": "ab%2500cd",
		"quote":          "a%22b",
	}
	params := []string{"consent_id", "link_id", "external_track_id"}
	for name, raw := range bad {
		for _, p := range params {
			t.Run(p+" "+name, func(t *testing.T) {
				v := map[string]string{"consent_id": id, "link_id": link, "external_track_id": track}
				v[p] = raw
				q := "/callback?consent_id=" + v["consent_id"] + "&link_id=" + v["link_id"] + "&external_track_id=" + v["external_track_id"]
				mark := logMark(e)
				r := e.get(b, q)
				wantStatus(t, r, http.StatusBadRequest)
				if r.doc(t).Find(`[data-testid="callback-rejected"]`).Length() != 1 {
					t.Error("no callback-rejected page")
				}
				before.assertUnchanged(t, e)
				lines := newLogLines(e, mark)
				refused := 0
				for _, l := range lines {
					if !strings.HasPrefix(l, "time=") {
						t.Errorf("log line split by the input: %q", l)
					}
					for _, frag := range []string{"Injected", "injected", "alert", "etc%", "/etc", "\u00e9"} {
						if strings.Contains(l, frag) {
							t.Errorf("log holds input text %q: %s", frag, l)
						}
					}
					if strings.Contains(l, "callback refused: malformed ids") {
						refused++
					}
				}
				if refused != 1 {
					t.Errorf("refusal log lines = %d, want 1", refused)
				}
			})
		}
	}
	// A 36-character UUID, as Klavi's ids are, is a valid shape.
	if !consent.ValidID("ac246093-353b-4310-bd9c-c6ce0b278de8") || !consent.ValidID(strings.Repeat("a", consent.MaxIDLen)) {
		t.Error("valid id shapes refused")
	}
	wantStatus(t, e.get(b, callbackQuery(id, link, track)), http.StatusSeeOther)
}

// Hostile error and error_description → stored cut and cleaned, rendered escaped, and exactly one log line (the
// sanitised error code) besides the access log (docs/reliability.md#callback).
func TestCallbackHostileErrorParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	cases := []struct {
		name, errCode, desc, wantCode string
	}{
		{"script", "access_denied", `<script>alert(1)</script>`, "access_denied"},
		{"attribute break-out", "access_denied", `"><img src=x onerror=alert(1)>`, "access_denied"},
		{"javascript URL", "access_denied", `javascript:alert(1)`, "access_denied"},
		{"100 KB", "access_denied", strings.Repeat("A", 100_000), "access_denied"},
		{"CRLF", "access_denied", "line1\r\nX-Injected: 1\r\n\r\n<b>body</b>", "access_denied"},
		{"hostile error code", "access_denied\r\nX-Injected: 1", "x", "other"},
		{"markup error code", `<script>alert(1)</script>`, "x", "other"},
		{"100 KB error code", strings.Repeat("e", 100_000), "x", "other"},
		{"CPF in the description", "access_denied", "cpf 529.982.247-25 negado", "access_denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			id, track := e.startFlow(b, "52998224725")
			e.kc.setStatus(id, klavi.StatusRejected)
			mark := logMark(e)
			r := e.get(b, callbackQuery(id, e.linkOf(id), track, "error", tc.errCode, "error_description", tc.desc))
			wantStatus(t, r, http.StatusSeeOther)
			if loc := r.header.Get("Location"); loc != "/consents/"+id {
				t.Errorf("Location = %q", loc)
			}
			c, _ := e.st.Consent(context.Background(), id)
			if c.ErrorCode != tc.wantCode {
				t.Errorf("stored error = %q, want %q", c.ErrorCode, tc.wantCode)
			}
			if len(c.ErrorDescription) > maxErrorDescLen || strings.ContainsAny(c.ErrorDescription, "\r\n\x00") {
				t.Errorf("description not cut/cleaned: %d bytes %q…", len(c.ErrorDescription), c.ErrorDescription[:min(40, len(c.ErrorDescription))])
			}
			lines := newLogLines(e, mark)
			errLines := 0
			for _, l := range lines {
				if !strings.HasPrefix(l, "time=") {
					t.Errorf("log line split by the input: %.120q", l)
				}
				if strings.Contains(l, "callback with error") {
					errLines++
					if !strings.Contains(l, "error="+tc.wantCode) {
						t.Errorf("error log line lacks the sanitised code: %s", l)
					}
				}
				for _, frag := range []string{"alert", "onerror", "javascript", "Injected", "AAAA", "eeee", "line1", "negado"} {
					if strings.Contains(l, frag) {
						t.Errorf("log holds input text %q: %.200s", frag, l)
					}
				}
			}
			if errLines != 1 {
				t.Errorf("error log lines = %d, want 1; lines: %q", errLines, lines)
			}
			page := e.get(b, "/consents/"+id)
			wantStatus(t, page, http.StatusOK)
			for _, raw := range []string{"<script>alert", "<img src=x", "<b>body</b>", "529.982.247-25"} {
				if strings.Contains(page.body, raw) {
					t.Errorf("consent page renders %q unescaped or unmasked", raw)
				}
			}
		})
	}
}

// Cross-origin protection on every state-changing form, and a header-less POST still needs a session
// (docs/reliability.md#csrf).
func TestCrossOriginProtectionOnEveryForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour; o.RateLimit = -1 })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusRejected)
	before := snapshot(t, e, id)
	links, consents := e.kc.links, len(e.kc.consentReqs)
	forms := []struct{ path, form string }{
		{"/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}.Encode()},
		{"/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}}.Encode()},
		{"/consents/" + id + "/retry", ""},
		{"/consents/" + id + "/revoke", "confirm=1"},
		{"/consents/search", url.Values{"tax_id": {"52998224725"}}.Encode()},
	}
	for _, f := range forms {
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site"},
			{"Sec-Fetch-Site": "same-site"},
			{"Origin": "https://attacker.example"},
			{"Origin": "null"},
			{"Sec-Fetch-Site": "cross-site", "Origin": e.srv.URL},
			{"Origin": strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)},
		} {
			t.Run(f.path+" "+strconv.Quote(hdr["Sec-Fetch-Site"]+hdr["Origin"]), func(t *testing.T) {
				r := e.do(b, http.MethodPost, f.path, strings.NewReader(f.form), hdr)
				wantStatus(t, r, http.StatusForbidden)
				checkSecurityHeaders(t, r)
				if r.doc(t).Find(`[data-testid="error-page"]`).Length() != 1 {
					t.Error("403 without the error page")
				}
			})
		}
	}
	if e.kc.links != links || len(e.kc.consentReqs) != consents {
		t.Error("a refused cross-origin post reached Klavi")
	}
	before.assertUnchanged(t, e)
	t.Run("same-origin passes", func(t *testing.T) {
		r := e.do(b, http.MethodPost, "/consents/"+id+"/revoke", strings.NewReader(""), map[string]string{"Sec-Fetch-Site": "same-origin"})
		wantStatus(t, r, http.StatusOK) // the confirmation page
	})
	t.Run("no headers and no session: back to the start, nothing created", func(t *testing.T) {
		r := e.post(e.browser(), "/consents", url.Values{"institution_code": {"341"}})
		wantStatus(t, r, http.StatusSeeOther)
		if loc := r.header.Get("Location"); loc != "/" {
			t.Errorf("Location = %q, want /", loc)
		}
		r = e.post(e.browser(), "/consents/"+id+"/retry", url.Values{})
		wantStatus(t, r, http.StatusNotFound)
		if len(e.kc.consentReqs) != consents {
			t.Error("a session-less post created a consent")
		}
	})
}

// cookieClient is a browser that keeps cookies by hand, so Secure and __Host- cookies set for an https
// PUBLIC_URL still travel over the plain-http test server. It records every Set-Cookie it receives.
type cookieClient struct {
	e       *env
	jar     map[string]string
	seen    []string
	noRedir *http.Client
}

func newCookieClient(e *env) *cookieClient {
	return &cookieClient{e: e, jar: map[string]string{}, noRedir: e.browser()}
}

func (c *cookieClient) do(method, path, form string, hdr map[string]string) resp {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.e.srv.URL+path, strings.NewReader(form))
	if err != nil {
		c.e.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for k, v := range c.jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	client := &http.Client{CheckRedirect: c.noRedir.CheckRedirect, Timeout: 20 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assertNoTaxIDInResponse(c.e.t, method, path, []byte(form), res.StatusCode, res.Header, body)
	for _, sc := range res.Header.Values("Set-Cookie") {
		c.seen = append(c.seen, sc)
		if ck, err := http.ParseSetCookie(sc); err == nil {
			if ck.MaxAge < 0 {
				delete(c.jar, ck.Name)
			} else {
				c.jar[ck.Name] = ck.Value
			}
		}
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(body), closed: res.Close}
}

// Every Set-Cookie of a whole flow has the required attributes, over http and https PUBLIC_URLs
// (docs/reliability.md#sessions).
func TestEverySetCookie(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[secure]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *envOptions) {
				if secure {
					o.PublicURL = "https://portal.example"
				}
			})
			c := newCookieClient(e)
			step := func(method, path, form string, want int) resp {
				t.Helper()
				r := c.do(method, path, form, nil)
				wantStatus(t, r, want)
				return r
			}
			step("GET", "/lang/en?next=/", "", http.StatusSeeOther)
			step("POST", "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}, "email": {"ana@example.com"}}.Encode(), http.StatusSeeOther)
			step("GET", "/institutions", "", http.StatusOK)
			r := step("POST", "/consents", url.Values{"institution_code": {"341"}}.Encode(), http.StatusSeeOther)
			id := strings.TrimPrefix(strings.SplitN(r.header.Get("Location"), "?", 2)[0], "http://localhost:1/bank/")
			e.kc.setStatus(id, klavi.StatusAuthorised)
			step("GET", callbackQuery(id, e.linkOf(id), e.kc.lastTrack()), "", http.StatusSeeOther)
			step("POST", "/consents/"+id+"/revoke", "confirm=1", http.StatusSeeOther) // sets a flash
			step("GET", "/consents/"+id, "", http.StatusOK)                           // pops it
			step("GET", "/lang/pt?next=/consents", "", http.StatusSeeOther)
			step("GET", "/no/such/page", "", http.StatusNotFound)
			if len(c.seen) < 4 {
				t.Fatalf("only %d Set-Cookie headers over the flow: %q", len(c.seen), c.seen)
			}
			// Two cookies: the session, and the device cookie naming the browser that started a consent.
			prefix := map[bool]string{false: "", true: "__Host-"}[secure]
			maxAge := map[string]int{prefix + "sid": sessionMaxAge, prefix + "device": int(deviceMaxAge / time.Second)}
			deviceFor30Days := false
			for _, sc := range c.seen {
				ck, err := http.ParseSetCookie(sc)
				if err != nil {
					t.Errorf("unparseable Set-Cookie %q: %v", sc, err)
					continue
				}
				if _, ok := maxAge[ck.Name]; !ok {
					t.Errorf("cookie name = %q, want %ssid or %sdevice", ck.Name, prefix, prefix)
				}
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" ||
					strings.Contains(strings.ToLower(sc), "domain=") {
					t.Errorf("Set-Cookie lacks HttpOnly/SameSite=Lax/Path=/ or has a Domain: %q", sc)
				}
				if ck.Secure != secure {
					t.Errorf("Secure = %v on %s: %q", ck.Secure, name, sc)
				}
				if ck.MaxAge <= 0 || ck.MaxAge > maxAge[ck.Name] {
					t.Errorf("%s Max-Age = %d, want 1..%d", ck.Name, ck.MaxAge, maxAge[ck.Name])
				}
				deviceFor30Days = deviceFor30Days || ck.Name == prefix+"device" && ck.MaxAge == 30*24*60*60
				if len(sc) > 4096 {
					t.Errorf("Set-Cookie is %d bytes", len(sc))
				}
				for _, leak := range []string{"52998224725", "ana@example.com", "token-"} {
					if strings.Contains(sc, leak) {
						t.Errorf("cookie carries %q", leak)
					}
				}
			}
			if !deviceFor30Days {
				t.Errorf("no %sdevice cookie for 30 days in %q", prefix, c.seen)
			}

			// "Forget this browser" clears the device cookie under the same name and attributes.
			c.seen = nil
			step("POST", "/me/forget", "", http.StatusSeeOther)
			cleared := false
			for _, sc := range c.seen {
				ck, err := http.ParseSetCookie(sc)
				if err != nil || ck.Name != prefix+"device" {
					continue
				}
				cleared = ck.MaxAge < 0 && ck.Value == "" && ck.HttpOnly && ck.Secure == secure &&
					ck.SameSite == http.SameSiteLaxMode && ck.Path == "/"
			}
			if !cleared {
				t.Errorf("forget did not clear %sdevice with its attributes: %q", prefix, c.seen)
			}
			if _, ok := c.jar[prefix+"device"]; ok {
				t.Error("the device cookie is still in the jar after forget")
			}
		})
	}
}

// sessionIDOf decodes the session id from a cookie value the way the server does.
func sessionIDOf(e *env, name, value string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	return e.s.loadSession(req).ID()
}

// A session cookie planted by an attacker (a valid one, from the attacker's own visit) is replaced when the victim
// starts a flow; the planted id reaches none of the victim's data (docs/reliability.md#sessions).
func TestSessionFixationWithPlantedCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PublicURL = "https://portal.example"; o.PollInterval = time.Hour })
	attacker := newCookieClient(e)
	wantStatus(t, attacker.do("POST", "/start", url.Values{"person_type": {"personal"}, "tax_id": {"11144477735"}}.Encode(), nil), http.StatusSeeOther)
	planted := attacker.jar["__Host-sid"]
	plantedSID := sessionIDOf(e, "__Host-sid", planted)
	if plantedSID == "" {
		t.Fatal("attacker got no session id")
	}

	victim := newCookieClient(e)
	victim.jar["__Host-sid"] = planted
	wantStatus(t, victim.do("POST", "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}.Encode(), nil), http.StatusSeeOther)
	victimSID := sessionIDOf(e, "__Host-sid", victim.jar["__Host-sid"])
	if victimSID == "" || victimSID == plantedSID {
		t.Fatalf("session id not replaced at flow start (planted %s, now %s)", logRef(plantedSID), logRef(victimSID))
	}
	l, err := e.st.LatestLinkForSession(context.Background(), victimSID)
	if err != nil || l.PersonalTaxID != "52998224725" {
		t.Fatalf("victim's link not bound to the new id: %v", err)
	}
	if l, err := e.st.LatestLinkForSession(context.Background(), plantedSID); err != nil || l.PersonalTaxID != "11144477735" {
		t.Fatalf("planted id sees another link: %v", err)
	}
	r := victim.do("POST", "/consents", url.Values{"institution_code": {"341"}}.Encode(), nil)
	wantStatus(t, r, http.StatusSeeOther)
	id := strings.TrimPrefix(strings.SplitN(r.header.Get("Location"), "?", 2)[0], "http://localhost:1/bank/")
	track := e.kc.lastTrack()
	before := snapshot(t, e, id)
	// The attacker, still holding the planted cookie, cannot complete (or spoil) the victim's callback: the
	// victim's flow start ended the planted session itself (sessions live server-side), so the attacker's
	// browser is a stranger to the callback and gets the neutral page.
	cb := attacker.do("GET", callbackQuery(id, e.linkOf(id), track), "", nil)
	wantStatus(t, cb, http.StatusOK)
	if !strings.Contains(cb.body, `data-testid="callback-neutral"`) {
		t.Error("the planted cookie still reaches a session")
	}
	wantStatus(t, attacker.do("POST", "/consents/"+id+"/retry", "", nil), http.StatusNotFound) // not its consent
	before.assertUnchanged(t, e)
	e.kc.setStatus(id, klavi.StatusAuthorised)
	wantStatus(t, victim.do("GET", callbackQuery(id, e.linkOf(id), track), "", nil), http.StatusSeeOther)
}

// The language switch on the neutral page drops the query (ids are never echoed into links): the page it leads
// to is the same neutral page in the other language, not a "malformed return" error.
func TestCallbackNeutralPageSurvivesTheLanguageSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	id, track := e.startFlow(e.browser(), "52998224725")
	stranger := e.browser()
	r := e.get(stranger, callbackQuery(id, e.linkOf(id), track))
	wantStatus(t, r, http.StatusOK)
	href, ok := r.doc(t).Find(`[data-testid="lang-en"]`).Attr("href")
	if !ok {
		t.Fatal("no English link on the neutral page")
	}
	if strings.Contains(href, id) || strings.Contains(href, track) {
		t.Errorf("language link %q carries the callback's ids", href)
	}
	r = e.get(stranger, href)
	wantStatus(t, r, http.StatusSeeOther)
	r = e.get(stranger, r.header.Get("Location"))
	wantStatus(t, r, http.StatusOK)
	if r.doc(t).Find(`[data-testid="callback-neutral"]`).Length() != 1 {
		t.Error("after the language switch: no neutral page")
	}
	if !strings.Contains(r.body, `lang="en"`) {
		t.Error("after the language switch the page is not in English")
	}
}
