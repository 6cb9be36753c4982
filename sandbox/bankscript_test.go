package sandbox

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// The bank and LGPD pages run one script, the sandbox's own bank.js, and nothing else: their policy allows
// scripts from the sandbox only and keeps every other directive; the index and the management portal run none.
func TestBankPagesRunOnlyTheSandboxScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t)
	pages := map[string]htmlPage{}
	f := e.startFlow(cpfApprove, "", nil)
	p := b.get(f.created.ConsentRedirectURL)
	pages["login"] = p
	p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}})
	pages["permissions"] = p
	pages["lgpd"] = b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {p.step()}, "action": {"authorise"}})
	pages["error"] = b.get(e.srv.URL + "/bank/authorize?t=unknown")
	lf := e.startFlow("333.444.555-08", "", nil) // the LGPD terms are never accepted: a notice page
	pages["lgpd abandoned"] = e.walk(newBrowser(t), lf.created.ConsentRedirectURL, "authorise", "accept")

	for name, p := range pages {
		if got := p.header.Get("Content-Security-Policy"); got != cspBank {
			t.Errorf("%s: Content-Security-Policy %q, want %q", name, got, cspBank)
		}
		d := doc(t, p)
		scripts := d.Find("script")
		if src, _ := scripts.Attr("src"); scripts.Length() != 1 || src != bankJSURL || strings.TrimSpace(scripts.Text()) != "" {
			t.Errorf("%s: %d scripts, src %q; want only %s, with no inline code", name, scripts.Length(), src, bankJSURL)
		}
	}
	// Only script-src differs from the policy of the pages without script.
	if strings.Replace(cspBank, "script-src 'self'; ", "", 1) != cspPage {
		t.Errorf("cspBank %q is not cspPage %q plus script-src 'self'", cspBank, cspPage)
	}
	for _, path := range []string{"/", "/manage", "/manage?taxId=529.982.247-25"} {
		p := b.get(e.srv.URL + path)
		if got := p.header.Get("Content-Security-Policy"); got != cspPage || strings.Contains(got, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q, want %q", path, got, cspPage)
		}
		if strings.Contains(p.body, "<script") {
			t.Errorf("%s links a script", path)
		}
	}
}

func TestBankScriptIsServedAsJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ path, cache string }{
		{bankJSURL, "public, max-age=31536000, immutable"},
		{"/bank/static/bank.js", "no-cache"}, // no or another version: the browser asks again
		{"/bank/static/bank.js?v=000000000000", "no-cache"},
	} {
		resp, err := http.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, bankJS) {
			t.Errorf("%s: status %d, %d bytes; want 200 and the embedded script (%d bytes)", tc.path, resp.StatusCode, len(body), len(bankJS))
		}
		h := resp.Header
		if h.Get("Content-Type") != "text/javascript; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Content-Type %q, X-Content-Type-Options %q", tc.path, h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
		}
		if h.Get("Cache-Control") != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tc.path, h.Get("Cache-Control"), tc.cache)
		}
	}
	if !strings.HasPrefix(bankJSURL, "/bank/static/bank.js?v=") || len(bankJSVersion) != 12 {
		t.Errorf("script URL %q", bankJSURL)
	}
}

// Each button that leads to a wait carries the text of that wait in the page's language, naming the partner's
// host when the button sends the browser back there; each such page has the empty polite status line.
func TestPendingTextsNameTheWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pending := func(t *testing.T, p htmlPage, testID string) string {
		t.Helper()
		d := doc(t, p)
		st := d.Find(`[data-testid="bank-pending"]`)
		if role, _ := st.Attr("role"); st.Length() != 1 || role != "status" || st.AttrOr("aria-live", "") != "polite" || st.Text() != "" {
			t.Errorf("status line: %d, role %q, aria-live %q, text %q", st.Length(), role, st.AttrOr("aria-live", ""), st.Text())
		}
		v, ok := d.Find(`[data-testid="` + testID + `"]`).Attr("data-pending")
		if !ok {
			t.Errorf("%s has no data-pending", testID)
		}
		return v
	}
	want := func(t *testing.T, what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	walkTo := func(t *testing.T, cpf, query string) (*browser, htmlPage, htmlPage) {
		t.Helper()
		f := e.startFlow(cpf, "", nil)
		b := newBrowser(t)
		login := b.get(f.created.ConsentRedirectURL + query)
		return b, login, b.post(e.srv.URL+"/bank/login", url.Values{"step": {login.step()}})
	}

	t.Run("approve, Portuguese", func(t *testing.T) {
		b, login, perms := walkTo(t, cpfApprove, "")
		want(t, "Entrar", pending(t, login, "bank-login"), "Entrando…")
		want(t, "Recusar", pending(t, perms, "bank-deny"), "Voltando para portal.example…")
		want(t, "Autorizar", pending(t, perms, "bank-authorise"), "Autorizando…")
		lgpd := b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {perms.step()}, "action": {"authorise"}})
		want(t, "Aceitar", pending(t, lgpd, "lgpd-accept"), "Voltando para portal.example…")
		want(t, "Recusar (LGPD)", pending(t, lgpd, "lgpd-decline"), "Voltando para portal.example…")
	})
	t.Run("approve, English", func(t *testing.T) {
		b, login, perms := walkTo(t, cpfApprove, "&ui_locales=en")
		want(t, "Sign in", pending(t, login, "bank-login"), "Signing in…")
		want(t, "Decline", pending(t, perms, "bank-deny"), "Returning to portal.example…")
		want(t, "Authorise", pending(t, perms, "bank-authorise"), "Authorising…")
		lgpd := b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {perms.step()}, "action": {"authorise"}})
		want(t, "Accept", pending(t, lgpd, "lgpd-accept"), "Returning to portal.example…")
	})
	t.Run("the bank refuses: Autorizar returns", func(t *testing.T) {
		_, _, perms := walkTo(t, "111.444.777-35", "")
		want(t, "Autorizar", pending(t, perms, "bank-authorise"), "Voltando para portal.example…")
	})
	t.Run("bank error: Autorizar returns", func(t *testing.T) {
		_, _, perms := walkTo(t, "222.333.444-05", "")
		want(t, "Autorizar", pending(t, perms, "bank-authorise"), "Voltando para portal.example…")
	})
	t.Run("LGPD never accepted: Aceitar stays, then the notice's way back returns", func(t *testing.T) {
		b, _, perms := walkTo(t, "333.444.555-08", "")
		lgpd := b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {perms.step()}, "action": {"authorise"}})
		want(t, "Aceitar", pending(t, lgpd, "lgpd-accept"), "Enviando…")
		notice := b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {lgpd.step()}, "action": {"accept"}})
		want(t, "Voltar", pending(t, notice, "bank-back"), "Voltando para portal.example…")
	})
	t.Run("expired link: the way back names the partner", func(t *testing.T) {
		ee := newEnv(t)
		f := ee.startFlow(cpfApprove, "", nil)
		ee.clock.Advance(61 * time.Second)
		p := newBrowser(t).get(f.created.ConsentRedirectURL)
		want(t, "Voltar", pending(t, p, "bank-back"), "Voltando para portal.example…")
	})
	t.Run("an error page without a way back has no status line", func(t *testing.T) {
		d := doc(t, newBrowser(t).get(e.srv.URL+"/bank/authorize?t=unknown"))
		if n := d.Find(`[data-pending], [data-testid="bank-pending"]`).Length(); n != 0 {
			t.Errorf("%d pending elements on a page with nothing to wait for", n)
		}
	})
	if got := pendingReturn(langEN, ""); got != "Returning to the site you came from…" {
		t.Errorf("no host: %q", got)
	}
}

func doc(t *testing.T, p htmlPage) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
