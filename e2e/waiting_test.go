//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// cpfSlowReports is the sandbox's "slow reports" scenario (~5 s): the consent page is sure to be waiting for them.
const cpfSlowReports = "888.999.000-78"

func init() { allTestTaxIDs = append(allTestTaxIDs, cpfSlowReports) }

// holdingProxy stands in front of a server (as a site's reverse proxy would) and forwards every request to it,
// except that, between arm and open, the requests hold picks wait: the server is slow for as long as a test looks.
// Unarmed it holds nothing, so a flow gone wrong elsewhere fails at once instead of waiting on the proxy.
type holdingProxy struct {
	srv  *httptest.Server
	hold func(*http.Request) bool
	held chan string
	mu   sync.Mutex
	gate chan struct{} // closed (unarmed): requests pass
}

func newHoldingProxy(t *testing.T, target string, hold func(*http.Request) bool) *holdingProxy {
	t.Helper()
	u, err := url.Parse(target)
	must(t, err, "parse "+target)
	h := &holdingProxy{hold: hold, held: make(chan string, 8), gate: make(chan struct{})}
	close(h.gate)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the proxy's host is the public one
		},
		FlushInterval: -1, // the consent page's long poll streams
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		gate := h.gate
		h.mu.Unlock()
		if h.hold(r) && !isClosed(gate) {
			select {
			case h.held <- r.Method + " " + r.URL.Path:
			default:
			}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(h.open) // before closing: a failed test leaves nothing held
	return h
}

// wait returns the next held request ("METHOD /path").
func (h *holdingProxy) wait(t *testing.T, what string) string {
	t.Helper()
	select {
	case r := <-h.held:
		return r
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no request held within 15 s", what)
		return ""
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// arm holds the next requests that hold picks.
func (h *holdingProxy) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if isClosed(h.gate) {
		h.gate = make(chan struct{})
	}
}

// open lets the held requests through, and holds no more.
func (h *holdingProxy) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !isClosed(h.gate) {
		close(h.gate)
	}
}

// While a navigation is in flight, Playwright runs no script in the page: its evaluations, locators, media
// emulation and screenshots wait for the navigation to end. So the wait is measured with script while the post is
// kept from leaving (keepForm), and what the page shows in flight is taken over the DevTools protocol (cdpShot).

// keepForm makes the next submission of the page's form stay (a listener after bank.js's cancels it), so that the
// wait bank.js shows can be read with script; sendForm then posts it as it is.
func keepForm(t *testing.T, page playwright.Page) {
	t.Helper()
	_, err := page.Evaluate(`() => document.addEventListener("submit", e => e.preventDefault(), {once: true})`)
	must(t, err, "keep the form from leaving")
}

// sendForm posts the form with what bank.js prepared: the pressed button's name and value travel in a hidden copy
// (a disabled button is left out of a form's data). Had it been lost, the sandbox would take the post for a refusal.
func sendForm(t *testing.T, page playwright.Page, action string) {
	t.Helper()
	_, err := page.Evaluate(`a => HTMLFormElement.prototype.submit.call(document.querySelector('form[action="' + a + '"]'))`, action)
	must(t, err, "post "+action)
}

// cdpShot saves what the page shows now under artifacts/screens, over CDP (Page.captureScreenshot is served
// by the browser without running the page's script).
func cdpShot(t *testing.T, cdp playwright.CDPSession, name string) {
	t.Helper()
	type result struct {
		raw any
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := cdp.Send("Page.captureScreenshot", map[string]any{"format": "png"})
		done <- result{raw, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("screenshot %s: no answer within 15 s", name)
	}
	must(t, r.err, "screenshot "+name)
	m, _ := r.raw.(map[string]any)
	data, _ := m["data"].(string)
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(png) == 0 {
		t.Fatalf("screenshot %s: %d bytes, %v", name, len(png), err)
	}
	dir := filepath.Join(artifacts, "screens")
	must(t, os.MkdirAll(dir, 0o750), "screenshots directory")
	must(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o600), "save "+name)
}

// pendingJS reads the wait's state from the page.
const pendingJS = `([pressed, other]) => {
  const q = id => document.querySelector('[data-testid="' + id + '"]');
  const b = q(pressed), o = q(other), st = q("bank-pending"), spin = st && st.querySelector(".spin");
  const shown = el => !!el && el.getBoundingClientRect().height > 0 && getComputedStyle(el).visibility !== "hidden";
  return [b && b.disabled, o && o.disabled, b && b.getAttribute("aria-busy"), st && st.textContent.trim(),
    st && st.getAttribute("role"), st && st.getAttribute("aria-live"), shown(st), shown(spin),
    spin && spin.getAttribute("aria-hidden")].map(String).join("|");
}`

// wantPending checks the pressed button's wait: it and the form's other button are disabled, it is busy, and the
// status line, a polite live region, shows a spinner (hidden from screen readers) and says what is happening.
func wantPending(t *testing.T, page playwright.Page, pressed, other, text string) {
	t.Helper()
	want := "true|true|true|" + text + "|status|polite|true|true|true"
	got, err := page.Evaluate(pendingJS, []string{pressed, other})
	must(t, err, "read the wait of "+pressed)
	if got != want {
		t.Errorf("the wait of %s: got %v\n  want %s\n  (pressed disabled|other disabled|aria-busy|text|role|aria-live|text shown|spinner shown|spinner aria-hidden)",
			pressed, got, want)
	}
}

// wantSpin checks the spinner's animation: "spin", or "none" for people who ask for less motion.
func wantSpin(t *testing.T, page playwright.Page, want string) {
	t.Helper()
	got, err := page.Evaluate(`() => getComputedStyle(document.querySelector('[data-testid="bank-pending"] .spin')).animationName`)
	must(t, err, "read the spinner's animation")
	if got != want {
		t.Errorf("spinner animation %v, want %s", got, want)
	}
}

// At the bank, the buttons that lead to a wait show it (docs/architecture.md#the-sandboxs-bank-pages): the
// authorisation, and above all the return to the portal, whose callback confirms the consent with Klavi before it
// answers. The portal sits behind a proxy that holds GET /callback, so the return is slow for as long as the test
// looks at the bank's page; then the flow completes, and the consent page arrives already showing its own wait (the
// reports, slow in this scenario). Desktop in Portuguese, phone in English, each in the light and the dark theme.
func TestBankShowsTheWaitOfTheReturn(t *testing.T) {
	t.Parallel()
	portalPort, err := freePort()
	must(t, err, "a free port")
	front := newHoldingProxy(t, fmt.Sprintf("http://127.0.0.1:%d", portalPort), func(r *http.Request) bool {
		return r.URL.Path == "/callback"
	})
	p, err := startPortal(t.TempDir(), map[string]string{
		"ADDR":       fmt.Sprintf("127.0.0.1:%d", portalPort),
		"PUBLIC_URL": front.srv.URL,
	})
	must(t, err, "start a portal behind the holding proxy")
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("stop the portal: %v", err)
		}
		if leaks := p.leakedTaxIDs(); len(leaks) > 0 {
			t.Errorf("the portal logged tax ids in clear: %v", leaks)
		}
	})
	pu, err := url.Parse(front.srv.URL)
	must(t, err, "parse the portal's URL")

	for _, v := range []struct {
		size                   string
		width, height          int
		english                bool
		authorising, returning string
	}{
		{"desktop", 1280, 900, false, "Autorizando…", "Voltando para " + pu.Host + "…"},
		{"phone", 390, 844, true, "Authorising…", "Returning to " + pu.Host + "…"},
	} {
		for _, scheme := range []*playwright.ColorScheme{playwright.ColorSchemeLight, playwright.ColorSchemeDark} {
			name := v.size + "-" + string(*scheme)
			// One after the other: the proxy holds one flow's return at a time.
			t.Run(name, func(t *testing.T) {
				defer front.open()
				page := newPage(t, v.width, v.height, func(o *playwright.BrowserNewContextOptions) {
					o.ColorScheme = scheme
					if v.width < 600 {
						o.IsMobile, o.HasTouch = playwright.Bool(true), playwright.Bool(true)
					}
				})
				cdp, err := page.Context().NewCDPSession(page)
				must(t, err, "open a DevTools session")
				if v.english {
					_, err := page.Goto(front.srv.URL + "/")
					must(t, err, "open /")
					must(t, page.GetByTestId("lang-en").Click(), "switch to English")
				}
				start(t, page, &portal{URL: front.srv.URL}, "personal", cpfSlowReports)
				chooseInstitution(t, page, "341")
				must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
				axeDone(t, page, "the permissions page")

				keepForm(t, page)
				must(t, page.GetByTestId("bank-authorise").Click(), "authorise at the bank")
				wantPending(t, page, "bank-authorise", "bank-deny", v.authorising)
				sendForm(t, page, "/bank/authorise")
				visible(t, page.GetByTestId("lgpd-page"), "LGPD term")
				axeDone(t, page, "the LGPD term")

				keepForm(t, page)
				must(t, page.GetByTestId("lgpd-accept").Click(), "accept the LGPD term")
				wantPending(t, page, "lgpd-accept", "lgpd-decline", v.returning)
				readable(t, page, "the bank's wait ("+name+")")
				wantSpin(t, page, "spin")
				must(t, page.EmulateMedia(playwright.PageEmulateMediaOptions{ReducedMotion: playwright.ReducedMotionReduce}), "ask for less motion")
				wantSpin(t, page, "none")
				must(t, page.EmulateMedia(playwright.PageEmulateMediaOptions{ReducedMotion: playwright.ReducedMotionNoPreference}), "motion again")
				axeNow(t, page, "the bank's wait ("+name+")")
				again, err := page.Evaluate(`() => { const f = document.querySelector('form[action="/bank/lgpd"]');
  const e = new SubmitEvent("submit", {cancelable: true, bubbles: true}); f.dispatchEvent(e); return e.defaultPrevented; }`)
				must(t, err, "submit the LGPD form again")
				if again != true {
					t.Error("a second submission of the LGPD form was not refused")
				}
				// The return: the portal answers only when the test has seen the page wait for it.
				front.arm()
				sendForm(t, page, "/bank/lgpd")
				front.wait(t, "the return to the portal")
				cdpShot(t, cdp, "bank-pending-"+name)
				front.open()

				must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "return to the consent page")
				expectStatus(t, page, "AUTHORISED")
				visible(t, page.GetByTestId("reports-pending"), "the consent page's own wait")
				expectReports(t, page, 4)
			})
		}
	}
}
