//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// stripStatus waits until the strip shows institution code with status.
func stripStatus(t *testing.T, page playwright.Page, code, status string) {
	t.Helper()
	must(t, expect.Locator(page.GetByTestId("strip-status-"+code)).ToHaveAttribute("data-status", status,
		playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(20000)}),
		"strip shows "+code+" "+status)
}

// Another bank on the same link: after a first consent, "Conectar outro banco" goes back to the picker of the same
// link (the first bank marked and not choosable), a second consent is made, and the strip shows both.
func TestAnotherBankAddedToTheLink(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfApprove2, "341")
	visible(t, page.GetByTestId("link-strip"), "the link's strip")
	stripStatus(t, page, "341", "AUTHORISED")
	first := page.URL()

	must(t, page.GetByTestId("connect-another").Click(), "connect another bank")
	must(t, page.WaitForURL(regexp.MustCompile(`/institutions$`)), "back at the picker")
	visible(t, page.GetByTestId("taken-341"), "Itaú marked as taken")
	must(t, expect.Locator(page.GetByTestId("choose-341")).ToHaveCount(0), "Itaú cannot be chosen again")
	visible(t, page.GetByTestId("linked-status-341"), "Itaú's status on this link")
	shot(t, page, "picker-another-bank-desktop")

	chooseInstitution(t, page, "260")
	approveAtBank(t, page)
	expectStatus(t, page, "AUTHORISED")
	stripStatus(t, page, "341", "AUTHORISED")
	stripStatus(t, page, "260", "AUTHORISED")
	href, err := page.GetByTestId("strip-link-341").GetAttribute("href")
	must(t, err, "the first bank's link")
	if !strings.HasSuffix(first, href) {
		t.Errorf("the strip links %q, want the first consent %s", href, first)
	}
	shot(t, page, "link-strip-desktop")
	must(t, page.SetViewportSize(390, 844), "phone width")
	visible(t, page.GetByTestId("strip-260"), "the strip at phone width")
	shot(t, page, "link-strip-phone")

	must(t, page.GetByTestId("strip-link-341").Click(), "open the first bank from the strip")
	must(t, page.WaitForURL(first), "the first consent's page")
	expectStatus(t, page, "AUTHORISED")
}

// Continue on the phone: the desktop reaches the institution step and reads the hand-off URL; a second browser
// context with a phone viewport opens it and finishes at the sandbox bank; the desktop page moves to the result by
// itself, without a reload.
func TestPhoneHandoffFinishesOnThePhone(t *testing.T) {
	t.Parallel()
	desk := desktop(t)
	start(t, desk, shared, "personal", cpfApprove3)
	block := desk.GetByTestId("handoff")
	visible(t, block, "the hand-off block")
	visible(t, desk.GetByTestId("handoff-qr"), "the QR code")
	must(t, expect.Locator(desk.GetByTestId("handoff-status")).ToContainText("Aguardando"), "waiting for the phone")
	url, err := block.GetAttribute("data-handoff-url")
	must(t, err, "read the hand-off URL")
	printed, err := desk.GetByTestId("handoff-url").TextContent()
	must(t, err, "read the printed URL")
	if !strings.HasPrefix(url, shared.URL+"/h/") || printed != url {
		t.Fatalf("hand-off URL %q, printed %q", url, printed)
	}
	shot(t, desk, "handoff-qr-desktop")

	mobile := phone(t)
	_, err = mobile.Goto(url)
	must(t, err, "open the hand-off URL on the phone")
	visible(t, mobile.GetByTestId("handoff-continue"), "the phone's confirmation")
	must(t, expect.Locator(mobile.GetByTestId("handoff-taxid")).ToHaveText("***.654.654-**"), "the flow's CPF, masked")
	shot(t, mobile, "handoff-landing-phone")
	must(t, mobile.GetByTestId("handoff-continue").Click(), "continue on the phone")
	must(t, mobile.WaitForURL(regexp.MustCompile(`/institutions$`)), "the phone's picker")
	visible(t, mobile.GetByTestId("institution-list"), "institutions on the phone")
	must(t, expect.Locator(mobile.GetByTestId("handoff")).ToHaveCount(0), "no hand-off offered on the phone")
	shot(t, mobile, "handoff-picker-phone")

	must(t, expect.Locator(desk.GetByTestId("handoff-status")).ToContainText("Aberto no celular"), "the desktop sees the phone opened it")
	must(t, expect.Locator(desk.GetByTestId("handoff-qr")).ToBeHidden(), "the used code is no longer shown")
	shot(t, desk, "handoff-opened-desktop")

	chooseInstitution(t, mobile, "341")
	shot(t, mobile, "handoff-bank-phone")
	approveAtBank(t, mobile)
	expectStatus(t, mobile, "AUTHORISED")
	shot(t, mobile, "handoff-consent-phone")
	result := mobile.URL()[strings.Index(mobile.URL(), "/consents/"):]

	// The desktop was never reloaded by the test: its page follows to the consent.
	must(t, desk.WaitForURL(regexp.MustCompile(regexp.QuoteMeta(result)+`$`)), "the desktop moves to the phone's consent")
	expectStatus(t, desk, "AUTHORISED")
	visible(t, desk.GetByTestId("link-strip"), "the strip on the desktop")
	stripStatus(t, desk, "341", "AUTHORISED")
	shot(t, desk, "handoff-result-desktop")

	// The same code again: a clear page, in Portuguese, and nothing else.
	again := phone(t)
	_, err = again.Goto(url)
	must(t, err, "open the used URL")
	visible(t, again.GetByTestId("handoff-invalid"), "the used-code page")
	must(t, expect.Locator(again.Locator("h1")).ToContainText("não vale mais"), "says it in Portuguese")
	shot(t, again, "handoff-used-phone")
	_, err = again.Goto(shared.URL + result)
	must(t, err, "open the phone's consent in a third browser")
	visible(t, again.GetByTestId("error-page"), "a third browser gets the 404 page")
}

// At phone widths the picker has no QR block (the CSS hides it); without JavaScript the block stays usable: the URL
// is printed and "Terminei no celular" asks the server, coming back to the same code.
func TestHandoffBlockOnPhonesAndWithoutJavaScript(t *testing.T) {
	t.Parallel()
	mobile := phone(t)
	start(t, mobile, shared, "personal", cpfApprove)
	must(t, expect.Locator(mobile.GetByTestId("handoff")).ToBeHidden(), "no QR block on a phone")
	shot(t, mobile, "handoff-hidden-picker-phone")

	page := newPage(t, 1280, 900, func(o *playwright.BrowserNewContextOptions) {
		o.JavaScriptEnabled = playwright.Bool(false)
	})
	start(t, page, shared, "personal", cpfApprove)
	visible(t, page.GetByTestId("handoff-qr"), "the QR code without JavaScript")
	visible(t, page.GetByTestId("handoff-url"), "the printed URL without JavaScript")
	code, err := page.GetByTestId("handoff-url").TextContent()
	must(t, err, "read the printed URL")
	must(t, page.GetByTestId("handoff-done").Click(), "I finished on my phone")
	must(t, page.WaitForURL(regexp.MustCompile(`/institutions$`)), "back at the picker")
	must(t, expect.Locator(page.GetByTestId("flash")).ToContainText("ainda não criou"), "not yet, says the page")
	visible(t, page.GetByTestId("handoff-qr"), "the code, still shown")
	// The phone may be scanning it right now: coming back (or reloading) shows the same code.
	must(t, expect.Locator(page.GetByTestId("handoff-url")).ToHaveText(code), "the same code after coming back")
}
