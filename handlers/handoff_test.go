package handlers

// Several banks on one link and the hand-off to a phone, against the real sandbox over HTTP (the two-bank strip and
// the phone flow) and against the fake Klavi with a clock (expiry, bad codes, Klavi's fresher statuses).

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/store"
)

// newBrowser is another browser on the same portal: its own cookie jar, redirects followed.
func (e *sandboxEnv) newBrowser() *sandboxEnv {
	jar, _ := cookiejar.New(nil)
	cp := *e
	cp.browser = &http.Client{Jar: jar, Timeout: 20 * time.Second}
	return &cp
}

func (e *sandboxEnv) get(path string) (*http.Response, *goquery.Document) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.portal.URL+path, nil)
	return e.send(req)
}

// cookie is the value of this browser's portal cookie name ("" when none).
func (e *sandboxEnv) cookie(name string) string {
	u, _ := url.Parse(e.portal.URL)
	for _, c := range e.browser.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// approveAt chooses institution code on this browser's picker and approves at the sandbox bank; it returns the
// consent page the browser lands on.
func (e *sandboxEnv) approveAt(code string) (*http.Response, *goquery.Document) {
	e.t.Helper()
	res, d := e.get("/consents/new?institution=" + code)
	if res.StatusCode != http.StatusOK || d.Find(`[data-testid="form-error"]`).Length() != 0 {
		e.t.Fatalf("consents/new for %s: %d %s", code, res.StatusCode, d.Find(`[data-testid="form-error"]`).Text())
	}
	res, d = e.submit(res.Request.URL, d, "consent-submit")
	if d.Find(`[data-testid="bank-page"]`).Length() == 0 {
		e.t.Fatalf("not at the bank: %d %s", res.StatusCode, res.Request.URL)
	}
	res, d = e.submit(res.Request.URL, d, "bank-login")
	res, d = e.submit(res.Request.URL, d, "bank-authorise")
	if d.Find(`[data-testid="lgpd-page"]`).Length() != 0 {
		res, d = e.submit(res.Request.URL, d, "lgpd-accept")
	}
	if !strings.HasPrefix(res.Request.URL.Path, "/consents/") || res.StatusCode != http.StatusOK {
		e.t.Fatalf("after the bank: %d %s", res.StatusCode, res.Request.URL)
	}
	return res, d
}

func attr(s *goquery.Selection, name string) string {
	v, _ := s.Attr(name)
	return v
}

func byTestID(d *goquery.Document, id string) *goquery.Selection {
	return d.Find(`[data-testid="` + id + `"]`)
}

// Two consents on one link: after the first, "connect another bank" leads back to the picker of the same link,
// where the first institution is marked and cannot be chosen again; the second consent's page shows both with their
// statuses, and still does (with a note) when Klavi's status call fails. Another browser sees none of it.
func TestAnotherBankOnTheSameLink(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newSandboxEnv(t, func(s *sandboxSetup) { s.server = func(o *envOptions, _ *klavi.Client) { o.Now = clk.Now } })
	ctx := context.Background()
	res, _ := e.postForm(e.portal.URL+"/start", url.Values{"person_type": {"personal"}, "tax_id": {"529.982.247-25"}})
	if res.Request.URL.Path != "/institutions" {
		t.Fatalf("after start: %s", res.Request.URL)
	}
	res, d := e.approveAt("341")
	firstPath := res.Request.URL.Path
	id1 := strings.TrimPrefix(firstPath, "/consents/")
	item := byTestID(d, "strip-341")
	if item.Length() != 1 || attr(item, "data-status") != "AUTHORISED" || item.Find(`[aria-current="page"]`).Length() != 1 {
		html, _ := byTestID(d, "link-strip").Html()
		t.Fatalf("first consent's strip: %s", html)
	}
	if byTestID(d, "connect-another").Length() != 1 {
		t.Fatal("no connect-another for the consent's owner")
	}

	res, d = e.submit(res.Request.URL, d, "connect-another")
	if res.Request.URL.Path != "/institutions" {
		t.Fatalf("connect another bank led to %s", res.Request.URL)
	}
	if byTestID(d, "choose-341").Length() != 0 || byTestID(d, "taken-341").Length() != 1 ||
		attr(byTestID(d, "linked-status-341"), "data-status") != "AUTHORISED" || byTestID(d, "choose-260").Length() != 1 {
		t.Fatal("the picker does not mark Itaú as taken on this link, or offers nothing else")
	}
	// Checked on the server too, whatever the page showed.
	res, d = e.get("/consents/new?institution=341")
	if res.StatusCode != http.StatusOK || !strings.Contains(byTestID(d, "form-error").Text(), "já tem um consentimento") {
		t.Error("the confirmation page offers a taken institution without saying why")
	}
	res, _ = e.postForm(e.portal.URL+"/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("POST /consents for a taken institution: %d", res.StatusCode)
	}

	res, d = e.approveAt("260")
	secondPath := res.Request.URL.Path
	c1, err1 := e.st.Consent(ctx, id1)
	c2, err2 := e.st.Consent(ctx, strings.TrimPrefix(secondPath, "/consents/"))
	if err1 != nil || err2 != nil || c1.LinkID == "" || c1.LinkID != c2.LinkID || c1.ID == c2.ID {
		t.Fatalf("two consents on one link: %v %v, links %q %q", err1, err2, c1.LinkID, c2.LinkID)
	}
	check := func(d *goquery.Document, wantNote bool) {
		t.Helper()
		items := byTestID(d, "strip-items").Children()
		if items.Length() != 2 || attr(items.Eq(0), "data-testid") != "strip-341" || attr(items.Eq(1), "data-testid") != "strip-260" {
			html, _ := byTestID(d, "link-strip").Html()
			t.Fatalf("strip items: %s", html)
		}
		for _, code := range []string{"341", "260"} {
			if st := attr(byTestID(d, "strip-status-"+code), "data-status"); st != "AUTHORISED" {
				t.Errorf("strip status of %s = %q", code, st)
			}
		}
		if attr(byTestID(d, "strip-link-341"), "href") != firstPath {
			t.Errorf("the first institution does not link to its consent page")
		}
		if got := byTestID(d, "strip-note").Length() == 1; got != wantNote {
			t.Errorf("strip note shown = %v, want %v", got, wantNote)
		}
	}
	check(d, false)

	// Klavi's status call fails (every attempt the client makes): the strip shows what the portal stores, quietly.
	// The page's recent answer is reused for pageStatusTTL, so the reload comes after it.
	e.sb.InjectFaults("GET /links/institutions/status", sandbox.Fault{Status: 503}, sandbox.Fault{Status: 503}, sandbox.Fault{Status: 503})
	clk.Advance(pageStatusTTL)
	check(e.consentPage(secondPath), true)

	// A third browser sees neither consent and cannot add to the link.
	other := e.newBrowser()
	for _, p := range []string{firstPath, secondPath} {
		if res, _ := other.get(p); res.StatusCode != http.StatusNotFound {
			t.Errorf("another browser GET %s: %d", p, res.StatusCode)
		}
	}
	if res, _ := other.postForm(e.portal.URL+firstPath+"/another", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("another browser's connect-another: %d", res.StatusCode)
	}
	if res, _ := other.get("/institutions"); res.Request.URL.Path != "/" {
		t.Errorf("another browser reached the link's picker: %s", res.Request.URL)
	}
}

// The phone hand-off, end to end: the desktop's picker shows a code; the phone opens it (spending nothing), confirms
// (spending it once), gets its own session bound to the same link and finishes at the bank; the desktop follows to
// the consent, which it may see; a replay does nothing; a third browser sees nothing. The pairing is one way.
func TestHandoffToAPhone(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t) // the desktop
	ctx := context.Background()
	res, d := e.postForm(e.portal.URL+"/start", url.Values{"person_type": {"personal"}, "tax_id": {"529.982.247-25"}})
	if res.Request.URL.Path != "/institutions" {
		t.Fatalf("after start: %s", res.Request.URL)
	}
	block := byTestID(d, "handoff")
	handoffURL := attr(block, "data-handoff-url")
	if !strings.HasPrefix(handoffURL, e.portal.URL+"/h/") || len(strings.TrimPrefix(handoffURL, e.portal.URL+"/h/")) != handoffTokenLen {
		t.Fatalf("hand-off URL %q", handoffURL)
	}
	if byTestID(d, "handoff-url").Text() != handoffURL {
		t.Error("the printed URL is not the QR code's")
	}
	qr := byTestID(d, "handoff-qr")
	if qr.Length() != 1 || attr(qr, "role") != "img" || strings.TrimSpace(qr.Find("title").Text()) == "" ||
		!strings.HasPrefix(attr(qr.Find("path"), "d"), "M") {
		t.Error("no accessible QR code")
	}
	path := strings.TrimPrefix(handoffURL, e.portal.URL)
	live := func(b *sandboxEnv) (state, location, xlive string) {
		t.Helper()
		res, d := b.get("/institutions/handoff/live")
		line := d.Find("[data-handoff-state]")
		return attr(line, "data-handoff-state"), attr(line, "data-location"), res.Header.Get("X-Live")
	}
	if st, _, on := live(e); st != handoffWaiting || on != "on" {
		t.Fatalf("desktop follows %q (X-Live %s), want waiting", st, on)
	}
	link, err := e.st.LatestLinkForSession(ctx, mustHandoff(t, e.st, path).SessionID)
	if err != nil {
		t.Fatal(err)
	}

	phone := e.newBrowser()
	res, d = phone.get(path)
	if res.StatusCode != http.StatusOK || byTestID(d, "handoff-continue").Length() != 1 ||
		byTestID(d, "handoff-taxid").Text() != "***.982.247-**" {
		t.Fatalf("the phone's landing page: %d", res.StatusCode)
	}
	if h := mustHandoff(t, e.st, path); h.UsedAt != nil {
		t.Fatal("opening the link spent the code")
	}
	res, d = phone.submit(res.Request.URL, d, "handoff-continue")
	if res.Request.URL.Path != "/institutions" || byTestID(d, "institution-list").Length() != 1 {
		t.Fatalf("after continuing, the phone is at %s", res.Request.URL)
	}
	if byTestID(d, "handoff").Length() != 0 {
		t.Error("the phone is offered a hand-off of its own")
	}
	if ps, ds := phone.cookie("sid"), e.cookie("sid"); ps == "" || ps == ds {
		t.Errorf("phone session %q, desktop session %q: want a new one", ps, ds)
	}
	if pd, dd := phone.cookie("device"), e.cookie("device"); pd == "" || dd == "" || pd == dd {
		t.Error("the phone and the desktop do not have devices of their own")
	}
	if st, _, on := live(e); st != handoffOpened || on != "on" {
		t.Errorf("desktop follows %q (X-Live %s), want opened", st, on)
	}
	spent := mustHandoff(t, e.st, path)

	// Replays do nothing: by the phone itself, and by a third browser (which gets no session on the link).
	third := e.newBrowser()
	for _, b := range []*sandboxEnv{phone, third} {
		res, d := b.postForm(handoffURL, nil)
		if res.StatusCode != http.StatusGone || byTestID(d, "handoff-invalid").Length() != 1 {
			t.Errorf("replayed code: %d", res.StatusCode)
		}
		if res, d := b.get(path); res.StatusCode != http.StatusGone || byTestID(d, "handoff-continue").Length() != 0 {
			t.Errorf("a spent code's page: %d", res.StatusCode)
		}
	}
	if h := mustHandoff(t, e.st, path); h.PhoneDeviceRef != spent.PhoneDeviceRef || !h.UsedAt.Equal(*spent.UsedAt) {
		t.Error("a replay changed the spent code")
	}
	if res, _ := third.get("/institutions"); res.Request.URL.Path != "/" {
		t.Errorf("a replay gave the third browser the link: %s", res.Request.URL)
	}
	if res, _ := phone.get("/institutions"); res.Request.URL.Path != "/institutions" {
		t.Error("the phone's own replay cost it its session")
	}

	// The phone finishes at the bank.
	res, _ = phone.approveAt("341")
	phonePath := res.Request.URL.Path
	pc, err := e.st.Consent(ctx, strings.TrimPrefix(phonePath, "/consents/"))
	if err != nil {
		t.Fatal(err)
	}
	if pc.LinkID != link.ID || pc.SessionID == link.SessionID || pc.DeviceRef != spent.PhoneDeviceRef {
		t.Errorf("the phone's consent: link %q (want %q), session shared %v", pc.LinkID, link.ID, pc.SessionID == link.SessionID)
	}
	st, loc, on := live(e)
	if st != handoffDone || loc != phonePath || on != "off" {
		t.Errorf("desktop follows %q to %q (X-Live %s), want done at %s", st, loc, on, phonePath)
	}
	// Without JavaScript: "I finished on my phone".
	if res, _ := e.get("/institutions/handoff/done"); res.Request.URL.Path != phonePath || res.StatusCode != http.StatusOK {
		t.Errorf("no-JS done: %d %s", res.StatusCode, res.Request.URL)
	}
	if d := e.consentPage(phonePath); attr(byTestID(d, "consent-status"), "data-status") != "AUTHORISED" ||
		byTestID(d, "connect-another").Length() != 1 {
		t.Error("the desktop cannot follow on the phone's consent")
	}
	if _, d := e.get("/me"); d.Find(`a[href="`+phonePath+`"]`).Length() == 0 {
		t.Error("the desktop's /me does not list the phone's consent")
	}
	if _, d := phone.get("/me"); d.Find(`a[href="`+phonePath+`"]`).Length() == 0 {
		t.Error("the phone's /me does not list its consent")
	}
	if res, _ := third.get(phonePath); res.StatusCode != http.StatusNotFound {
		t.Errorf("a third browser sees the phone's consent: %d", res.StatusCode)
	}
	if _, d := third.get("/me"); d.Find(`a[href="`+phonePath+`"]`).Length() != 0 {
		t.Error("a third browser lists the phone's consent")
	}

	// Back on the desktop, another bank on the same link: the phone may not see the desktop's consent (one way), and
	// the strips say so by linking only what each may open.
	_, d = e.get("/institutions")
	if byTestID(d, "taken-341").Length() != 1 {
		t.Error("the desktop's picker offers the institution the phone just connected")
	}
	if byTestID(d, "handoff-previous").Length() != 1 {
		t.Error("the desktop's new code does not mention the phone's consent")
	}
	res, d = e.approveAt("260")
	deskPath := res.Request.URL.Path
	if attr(byTestID(d, "strip-link-341"), "href") != phonePath {
		t.Error("the desktop's strip does not link the phone's consent")
	}
	if res, _ := phone.get(deskPath); res.StatusCode != http.StatusNotFound {
		t.Errorf("the phone sees the desktop's consent: %d", res.StatusCode)
	}
	_, d = phone.get(phonePath)
	if byTestID(d, "strip-260").Length() != 1 || byTestID(d, "strip-link-260").Length() != 0 {
		t.Error("the phone's strip lists the desktop's bank with a link it may not open")
	}
}

// mustHandoff loads the hand-off of a /h/<token> path.
func mustHandoff(t *testing.T, st *store.Store, path string) store.Handoff {
	t.Helper()
	h, err := st.HandoffByToken(context.Background(), handoffHash(strings.TrimPrefix(path, "/h/")))
	if err != nil {
		t.Fatalf("hand-off: %v", err)
	}
	return h
}

// An expired code, and unknown or malformed ones, answer a clear page in the desktop's language (410, never 500) and
// change nothing; a code typed in capitals works.
func TestHandoffExpiryAndBadCodes(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t, func(o *envOptions) { o.Now = clk.Now })
	desk := e.browser()
	wantStatus(t, e.post(desk, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	wantStatus(t, e.get(desk, "/lang/en?next=/institutions"), http.StatusSeeOther)
	pick := func() string {
		t.Helper()
		r := e.get(desk, "/institutions")
		wantStatus(t, r, http.StatusOK)
		u := attr(r.doc(t).Find(`[data-testid="handoff"]`), "data-handoff-url")
		if !strings.HasPrefix(u, "http://127.0.0.1:8080/h/") {
			t.Fatalf("hand-off URL %q", u)
		}
		return strings.TrimPrefix(u, "http://127.0.0.1:8080")
	}
	old := pick()
	// "Show a new code": the old one stops working.
	r := e.get(desk, "/institutions?handoff=new")
	if wantStatus(t, r, http.StatusSeeOther); r.header.Get("Location") != "/institutions" {
		t.Fatalf("after ?handoff=new: %s", r.header.Get("Location"))
	}
	path := pick()
	if path == old {
		t.Fatal("?handoff=new kept the code")
	}
	phone := e.browser()
	r = e.get(phone, old)
	wantStatus(t, r, http.StatusGone)

	clk.Advance(handoffTTL)
	for _, r := range []resp{e.get(phone, path), e.post(phone, path, nil)} {
		wantStatus(t, r, http.StatusGone)
		d := r.doc(t)
		if d.Find(`[data-testid="handoff-invalid"]`).Length() != 1 || attr(d.Find("html"), "lang") != "en" ||
			!strings.Contains(d.Find("h1").Text(), "no longer valid") {
			t.Errorf("expired code's page: lang %q, %q", attr(d.Find("html"), "lang"), d.Find("h1").Text())
		}
	}
	if h, err := e.st.HandoffByToken(context.Background(), handoffHash(strings.TrimPrefix(path, "/h/"))); err != nil || h.UsedAt != nil {
		t.Errorf("an expired code was spent: %+v, %v", h, err)
	}
	r = e.get(desk, "/institutions/handoff/live")
	wantStatus(t, r, http.StatusOK)
	if attr(r.doc(t).Find("[data-handoff-state]"), "data-handoff-state") != handoffExpired || r.header.Get("X-Live") != "off" {
		t.Error("the desktop does not say the code expired")
	}
	r = e.get(desk, "/institutions/handoff/done")
	if wantStatus(t, r, http.StatusSeeOther); r.header.Get("Location") != "/institutions" {
		t.Errorf("no-JS done with nothing done: %s", r.header.Get("Location"))
	}

	for _, p := range []string{"/h/abc", "/h/" + strings.Repeat("a", handoffTokenLen), "/h/" + strings.Repeat("1", handoffTokenLen),
		"/h/" + strings.Repeat("a", handoffTokenLen+1), "/h/%00"} {
		r := e.get(phone, p)
		wantStatus(t, r, http.StatusGone)
		if r.doc(t).Find(`[data-testid="handoff-invalid"]`).Length() != 1 || attr(r.doc(t).Find("html"), "lang") != "pt-BR" {
			t.Errorf("%s: not the invalid page in Portuguese", p)
		}
		wantStatus(t, e.post(phone, p, nil), http.StatusGone)
	}

	// Typed in capitals, a fresh code still works; the phone's session takes the desktop's language.
	path = pick()
	r = e.post(phone, path[:3]+strings.ToUpper(path[3:]), nil)
	wantStatus(t, r, http.StatusSeeOther)
	if r.header.Get("Location") != "/institutions" {
		t.Errorf("after the code: %s", r.header.Get("Location"))
	}
	r = e.get(phone, "/institutions")
	wantStatus(t, r, http.StatusOK)
	if attr(r.doc(t).Find("html"), "lang") != "en" {
		t.Error("the phone's session is not in the desktop's language")
	}
}

// The picker shows the session's code again, without writing anything, while it is unused, unexpired and for the
// same link, with the minutes it still has; a language switch keeps it (the phone's pages follow the new language).
// A new one replaces it when asked (?handoff=new, then a redirect so that a reload keeps that one), when it expired,
// when it was spent, and when it no longer matches its stored hash (a changed key). Another session never gets it.
func TestHandoffCodeShownAgain(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	// The store's clock too: the phone's consent must be made after the code was spent, on one clock.
	e := newEnv(t, func(o *envOptions) { o.Now, o.StoreNow = clk.Now, clk.Now })
	db := rawDB(t, e)
	rows := func() (n, maxID int64) {
		t.Helper()
		if err := db.QueryRow(`SELECT count(*), coalesce(max(id), 0) FROM handoffs`).Scan(&n, &maxID); err != nil {
			t.Fatal(err)
		}
		return n, maxID
	}
	desk := e.browser()
	wantStatus(t, e.post(desk, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	// pick loads the picker and returns the code's path and the line saying how long it is valid.
	pick := func(c *http.Client) (path, valid string) {
		t.Helper()
		r := e.get(c, "/institutions")
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		u := attr(d.Find(`[data-testid="handoff"]`), "data-handoff-url")
		if !strings.HasPrefix(u, "http://127.0.0.1:8080/h/") || d.Find(`[data-testid="handoff-url"]`).Text() != u ||
			d.Find(`[data-testid="handoff-qr"] path`).Length() != 1 {
			t.Fatalf("hand-off URL %q", u)
		}
		return strings.TrimPrefix(u, "http://127.0.0.1:8080"), strings.TrimSpace(d.Find(`[data-testid="handoff-valid"]`).Text())
	}

	first, valid := pick(desk)
	if valid != "Vale por 10 minutos, uma única vez." {
		t.Errorf("a new code says %q", valid)
	}
	n, id := rows()
	clk.Advance(3*time.Minute + 30*time.Second)
	for range 3 {
		if again, valid := pick(desk); again != first || valid != "Vale por 7 minutos, uma única vez." {
			t.Fatalf("a reload shows %s (%q), want %s with 7 minutes left", again, valid, first)
		}
	}
	if n2, id2 := rows(); n2 != n || id2 != id || n != 1 {
		t.Errorf("reloads wrote hand-offs: %d rows up to id %d, then %d up to %d", n, id, n2, id2)
	}
	// Without JavaScript, "I finished on my phone" comes back to the picker, which still shows the same code.
	r := e.get(desk, "/institutions/handoff/done")
	if wantStatus(t, r, http.StatusSeeOther); r.header.Get("Location") != "/institutions" {
		t.Fatalf("no-JS done: %s", r.header.Get("Location"))
	}
	if again, _ := pick(desk); again != first {
		t.Error("\"I finished on my phone\" replaced the code")
	}
	// A language switch keeps the code; the phone's page follows the new language.
	wantStatus(t, e.get(desk, "/lang/en?next=/institutions"), http.StatusSeeOther)
	if again, valid := pick(desk); again != first || valid != "Valid for 7 minutes, once." {
		t.Errorf("after switching to English: %s (%q)", again, valid)
	}
	phone := e.browser()
	r = e.get(phone, first)
	wantStatus(t, r, http.StatusOK)
	if lang := attr(r.doc(t).Find("html"), "lang"); lang != "en" {
		t.Errorf("the phone's page is in %q, want the desktop's new language", lang)
	}
	clk.Advance(6 * time.Minute) // 30 s left
	if again, valid := pick(desk); again != first || valid != "Valid for less than a minute, once." {
		t.Errorf("with 30 s left: %s (%q)", again, valid)
	}

	// Another browser, its own flow: its own code, and this one's still works.
	other := e.browser()
	wantStatus(t, e.post(other, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
	theirs, _ := pick(other)
	if theirsAgain, _ := pick(other); theirs == first || theirsAgain != theirs {
		t.Errorf("another session got %s, then %s (this one's is %s)", theirs, theirsAgain, first)
	}
	if again, _ := pick(desk); again != first {
		t.Error("another session's views replaced this one's code")
	}

	// Expired: a new code, shown again on the next reload.
	clk.Advance(time.Minute)
	expiredPath := first
	first, valid = pick(desk)
	if first == expiredPath || valid != "Valid for 10 minutes, once." {
		t.Errorf("after the expiry: %s (%q)", first, valid)
	}
	if again, _ := pick(desk); again != first {
		t.Error("the new code was not shown again")
	}

	// Asked for: ?handoff=new replaces it once and redirects, keeping the picker's other parameters.
	r = e.get(desk, "/institutions?q=ita&handoff=new")
	if wantStatus(t, r, http.StatusSeeOther); r.header.Get("Location") != "/institutions?q=ita" {
		t.Errorf("?handoff=new goes to %s", r.header.Get("Location"))
	}
	asked, _ := pick(desk)
	if asked == first {
		t.Fatal("?handoff=new kept the code")
	}
	wantStatus(t, e.get(phone, first), http.StatusGone)
	if again, _ := pick(desk); again != asked {
		t.Error("a reload after ?handoff=new made yet another code")
	}

	// A code whose stored hash is not the one derived now (the key changed) cannot be shown again: a new one.
	if _, err := db.Exec(`UPDATE handoffs SET token_hash = 'not-derived' WHERE token_hash = ?`,
		handoffHash(strings.TrimPrefix(asked, "/h/"))); err != nil {
		t.Fatal(err)
	}
	clk.Advance(pageCacheTTL) // a write behind the server's back shows once the cached picker has expired
	rekeyed, _ := pick(desk)
	if rekeyed == asked {
		t.Error("a code that no longer matches its hash was shown")
	}

	// Spent: the desktop follows the phone; once the phone made a consent, the picker shows a new code.
	wantStatus(t, e.post(phone, rekeyed, nil), http.StatusSeeOther)
	r = e.get(desk, "/institutions")
	wantStatus(t, r, http.StatusOK)
	if d := r.doc(t); attr(d.Find("[data-handoff-state]"), "data-handoff-state") != handoffOpened ||
		d.Find(`[data-testid="handoff-url"]`).Length() != 0 {
		t.Error("the desktop does not follow the spent code")
	}
	wantStatus(t, e.post(phone, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}}), http.StatusSeeOther)
	r = e.get(desk, "/institutions")
	wantStatus(t, r, http.StatusOK)
	afterSpent := attr(r.doc(t).Find(`[data-testid="handoff"]`), "data-handoff-url")
	if afterSpent == "" || strings.HasSuffix(afterSpent, rekeyed) || r.doc(t).Find(`[data-testid="handoff-previous"]`).Length() != 1 {
		t.Errorf("after the phone's consent: %q", afterSpent)
	}
	if again, _ := pick(desk); "http://127.0.0.1:8080"+again != afterSpent {
		t.Error("the code made after the spent one was not shown again")
	}
	if h := mustHandoff(t, e.st, rekeyed); h.UsedAt == nil {
		t.Error("the spent code is gone")
	}
}

// Statuses: Klavi's wins when it is further along (the fake's consent is AWAITING_AUTHORISATION while the portal still
// has STARTED). When the link's token has expired, the strip says so, offers to start again, and "connect another
// bank" answers the same.
func TestLinkStripFresherStatusAndExpiredLink(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t, func(o *envOptions) { o.Now = clk.Now; o.PollInterval = time.Hour })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	r := e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	if st := attr(d.Find(`[data-testid="strip-status-341"]`), "data-status"); st != "AWAITING_AUTHORISATION" {
		t.Errorf("strip status %q, want Klavi's AWAITING_AUTHORISATION", st)
	}
	if d.Find(`[data-testid="connect-another"]`).Length() != 1 || d.Find(`[data-testid="strip-expired"]`).Length() != 0 {
		t.Error("a fresh link cannot take another bank")
	}
	// The strip is part of the live fragment, so that it follows the page; a live refresh reuses Klavi's recent answer
	// (no call per poll), a full page load reuses only an answer younger than pageStatusTTL, and the cache ends after
	// its TTL.
	liveStatus := func(path string) string {
		t.Helper()
		r := e.get(b, path)
		wantStatus(t, r, http.StatusOK)
		return attr(r.doc(t).Find(`[data-testid="strip-status-341"]`), "data-status")
	}
	e.kc.setStatus(id, "AWAITING_LGPD_AUTHORISATION")
	if st := liveStatus("/consents/" + id + "/live"); st != "AWAITING_AUTHORISATION" {
		t.Errorf("live strip %q, want the cached AWAITING_AUTHORISATION", st)
	}
	if st := liveStatus("/consents/" + id); st != "AWAITING_AUTHORISATION" {
		t.Errorf("page strip at once %q, want the answer of a moment ago, AWAITING_AUTHORISATION", st)
	}
	clk.Advance(pageStatusTTL)
	if st := liveStatus("/consents/" + id); st != "AWAITING_LGPD_AUTHORISATION" {
		t.Errorf("page strip %q, want Klavi's fresh AWAITING_LGPD_AUTHORISATION", st)
	}
	e.kc.setStatus(id, "AUTHORISED")
	if st := liveStatus("/consents/" + id + "/live"); st != "AWAITING_LGPD_AUTHORISATION" {
		t.Errorf("live strip %q, want the page's cached AWAITING_LGPD_AUTHORISATION", st)
	}
	clk.Advance(statusCacheTTL)
	if st := liveStatus("/consents/" + id + "/live"); st != "AUTHORISED" {
		t.Errorf("live strip after the cache's TTL %q, want AUTHORISED", st)
	}
	// An operator sees the strip, but may not add to someone else's link.
	op := e.operator()
	r = e.get(op, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	if d := r.doc(t); d.Find(`[data-testid="link-strip"]`).Length() != 1 || d.Find(`[data-testid="connect-another"]`).Length() != 0 {
		t.Error("an operator's view of the strip")
	}
	wantStatus(t, e.post(op, "/consents/"+id+"/another", nil), http.StatusForbidden)

	clk.Advance(29*time.Minute - statusCacheTTL) // the fake's link token lives 30 minutes; under 2 left counts as expired
	r = e.get(b, "/consents/"+id)
	wantStatus(t, r, http.StatusOK)
	d = r.doc(t)
	if d.Find(`[data-testid="strip-expired"]`).Length() != 1 || d.Find(`[data-testid="connect-another"]`).Length() != 0 ||
		d.Find(`[data-testid="strip-341"]`).Length() != 1 || d.Find(`[data-testid="strip-note"]`).Length() != 1 {
		t.Error("an expired link's strip")
	}
	r = e.post(b, "/consents/"+id+"/another", nil)
	wantStatus(t, r, http.StatusGone)
	if r.doc(t).Find(`[data-testid="link-expired-start"]`).Length() != 1 {
		t.Error("no way to start again")
	}
}

// qrPath draws exactly the library's modules: reading the path back gives its bitmap, quiet zone included.
func TestQRPathDrawsTheBitmap(t *testing.T) {
	t.Parallel()
	text := "http://127.0.0.1:8080/h/" + strings.ToLower(rand.Text()) // 26 characters, like a hand-off token
	path, size, err := qrPath(text)
	if err != nil {
		t.Fatal(err)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	want := q.Bitmap()
	if size != len(want) || size < 21+8 {
		t.Fatalf("size %d, bitmap %d", size, len(want))
	}
	got := make([][]bool, size)
	for i := range got {
		got[i] = make([]bool, size)
	}
	for _, sub := range strings.Split(strings.TrimSuffix(path, "z"), "z") {
		var x, y, n, back int
		if _, err := fmt.Sscanf(sub, "M%d %dh%dv1h-%d", &x, &y, &n, &back); err != nil || n != back || n < 1 {
			t.Fatalf("subpath %q: %v", sub, err)
		}
		for i := x; i < x+n; i++ {
			if got[y][i] {
				t.Fatalf("module %d,%d drawn twice", i, y)
			}
			got[y][i] = true
		}
	}
	for y := range want {
		for x := range want[y] {
			if got[y][x] != want[y][x] {
				t.Fatalf("module %d,%d = %v, want %v", x, y, got[y][x], want[y][x])
			}
		}
	}
	if !want[4][4] || want[0][0] {
		t.Error("no quiet zone around the finder pattern")
	}
}
