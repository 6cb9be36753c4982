//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// Test tax ids: the sandbox's scenario catalogue (README) chooses behaviour by them.
const (
	cpfApprove       = "529.982.247-25"
	cpfApprove2      = "456.456.456-00"
	cpfApprove3      = "654.654.654-09"
	cpfDeny          = "111.444.777-35"
	cpfTwice         = "444.555.666-19"
	cpfNoWebhook     = "666.777.888-30"
	cpfBadSignature  = "777.888.999-41"
	cpfLGPDAbandoned = "333.444.555-08"
	cpfEarlyWebhook  = "555.666.777-20"
	cpfProductFails  = "123.123.123-87"
	cnpjApprove      = "11.222.333/0001-81"
	cnpjAlphanumeric = "12.ABC.345/01DE-35"
)

var allTestTaxIDs = []string{cpfApprove, cpfApprove2, cpfApprove3, cpfDeny, cpfTwice, cpfNoWebhook, cpfBadSignature,
	cpfLGPDAbandoned, cpfEarlyWebhook, cpfProductFails, cnpjApprove, cnpjAlphanumeric}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func visible(t *testing.T, l playwright.Locator, what string) {
	t.Helper()
	must(t, expect.Locator(l).ToBeVisible(), what+" visible")
}

// start fills the start form and waits for the institution picker.
func start(t *testing.T, page playwright.Page, p *portal, personType, taxID string) {
	t.Helper()
	_, err := page.Goto(p.URL + "/")
	must(t, err, "open start page")
	must(t, page.GetByTestId("person-type-"+personType).Check(), "choose person type")
	must(t, page.GetByTestId("tax-id").Fill(taxID), "type tax id")
	must(t, page.GetByTestId("start-submit").Click(), "submit start form")
	must(t, page.WaitForURL(regexp.MustCompile(`/institutions`)), "reach the institution picker")
	visible(t, page.GetByTestId("institution-list"), "institution list")
}

// chooseInstitution picks an institution, keeps the default validity and is sent to the sandbox bank.
func chooseInstitution(t *testing.T, page playwright.Page, code string) {
	t.Helper()
	must(t, page.GetByTestId("choose-"+code).Click(), "choose institution "+code)
	visible(t, page.GetByTestId("consent-submit"), "consent confirmation")
	must(t, page.GetByTestId("consent-submit").Click(), "create the consent")
	visible(t, page.GetByTestId("bank-page"), "the bank's page")
}

// approveAtBank walks the sandbox bank: login, authorise, accept the LGPD term; the browser returns to the portal.
func approveAtBank(t *testing.T, page playwright.Page) {
	t.Helper()
	must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, page.GetByTestId("bank-authorise").Click(), "authorise at the bank")
	visible(t, page.GetByTestId("lgpd-page"), "LGPD term")
	must(t, page.GetByTestId("lgpd-accept").Click(), "accept the LGPD term")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "return to the consent page")
}

func expectStatus(t *testing.T, page playwright.Page, status string) {
	t.Helper()
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveAttribute("data-status", status,
		playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(20000)}),
		"consent status "+status)
}

// expectReports waits until at least n reports are listed on the consent page.
func expectReports(t *testing.T, page playwright.Page, n int) {
	t.Helper()
	items := page.GetByTestId("report-item")
	for i := 0; i < n; i++ {
		must(t, expect.Locator(items.Nth(i)).ToBeVisible(playwright.LocatorAssertionsToBeVisibleOptions{
			Timeout: playwright.Float(20000)}), "report arrives")
	}
}

// authorise runs the whole flow up to an AUTHORISED consent page.
func authorise(t *testing.T, page playwright.Page, p *portal, personType, taxID, institution string) {
	t.Helper()
	start(t, page, p, personType, taxID)
	chooseInstitution(t, page, institution)
	approveAtBank(t, page)
	expectStatus(t, page, "AUTHORISED")
}

func TestStartPageShowsTheFormInPortuguese(t *testing.T) {
	page := desktop(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "pt-BR"), "html lang")
	visible(t, page.GetByTestId("start-form"), "start form")
	visible(t, page.GetByTestId("tax-id"), "tax id field")
	must(t, expect.Locator(page.GetByTestId("start-form")).ToContainText("CPF"), "CPF label")
	shot(t, page, "start-desktop")

	mobile := phone(t)
	_, err = mobile.Goto(shared.URL + "/")
	must(t, err, "open / on a phone")
	visible(t, mobile.GetByTestId("start-submit"), "submit button on a phone")
	shot(t, mobile, "start-phone")
}

func TestInvalidCPFIsExplainedNextToTheField(t *testing.T) {
	page := desktop(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	must(t, page.GetByTestId("person-type-personal").Check(), "personal")
	must(t, page.GetByTestId("tax-id").Fill("529.982.247-24"), "type a CPF with a wrong check digit")
	must(t, page.GetByTestId("start-submit").Click(), "submit")
	visible(t, page.GetByTestId("tax-id-error"), "field error")
	must(t, expect.Locator(page.GetByTestId("tax-id-error")).ToContainText("CPF"), "error names the CPF")
	must(t, expect.Locator(page.GetByTestId("tax-id")).ToHaveValue("529.982.247-24"), "form keeps what was typed")
	shot(t, page, "start-invalid-cpf-desktop")

	must(t, page.GetByTestId("lang-en").Click(), "switch to English")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "html lang en")
	must(t, page.GetByTestId("person-type-personal").Check(), "personal")
	must(t, page.GetByTestId("tax-id").Fill("111.111.111-11"), "type a repeated-digit CPF")
	must(t, page.GetByTestId("start-submit").Click(), "submit")
	must(t, expect.Locator(page.GetByTestId("tax-id-error")).ToContainText(regexp.MustCompile(`(?i)invalid|not valid`)),
		"English error")
}

func TestPersonalHappyPathEndsWithReadableReports(t *testing.T) {
	page := desktop(t)
	start(t, page, shared, "personal", "52998224725")
	shot(t, page, "picker-desktop")

	// Search ignores accents and case: "itau" finds Itaú and hides the others.
	must(t, page.GetByTestId("institution-search").Fill("itau"), "search")
	must(t, page.GetByTestId("institution-search").Press("Enter"), "submit search")
	visible(t, page.GetByTestId("institution-341"), "Itaú")
	must(t, expect.Locator(page.GetByTestId("institution-260")).ToBeHidden(), "Nubank filtered out")

	must(t, page.GetByTestId("choose-341").Click(), "choose Itaú")
	visible(t, page.GetByTestId("consent-submit"), "consent confirmation")
	shot(t, page, "consent-new-desktop")
	must(t, page.GetByTestId("consent-submit").Click(), "create the consent")
	visible(t, page.GetByTestId("bank-page"), "the bank's page")
	if !strings.HasPrefix(page.URL(), shared.SandboxURL) {
		t.Fatalf("bank page URL = %s, want the sandbox at %s", page.URL(), shared.SandboxURL)
	}
	shot(t, page, "bank-desktop")
	approveAtBank(t, page)
	expectStatus(t, page, "AUTHORISED")
	expectReports(t, page, 4)
	shot(t, page, "consent-authorised-desktop")

	must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_checking_account"}).First().Click(),
		"open the checking account report")
	visible(t, page.GetByTestId("report-product"), "report header")
	balance := page.GetByTestId("account-balance").First()
	must(t, expect.Locator(balance).ToHaveText(regexp.MustCompile(`R\$\s?-?[\d.]+,\d{2}`)), "balance in BRL")
	rows := page.GetByTestId("transaction-row")
	must(t, expect.Locator(rows.First()).ToBeVisible(), "transactions listed")
	must(t, expect.Locator(page.GetByTestId("transactions-table")).ToContainText(regexp.MustCompile(`PIX|TED|BOLETO|Pix|Boleto`)),
		"transactions carry their types")
	checkKnownBalance(t, page, "pf_checking_account", "52998224725", "341")
	shot(t, page, "report-desktop")
	visible(t, page.GetByTestId("download-csv"), "CSV download")
	visible(t, page.GetByTestId("raw-json"), "raw JSON")

	href, err := page.GetByTestId("download-csv").GetAttribute("href")
	must(t, err, "CSV link")
	csv, err := page.Request().Get(shared.URL + href)
	must(t, err, "download the CSV")
	body, err := csv.Text()
	must(t, err, "read the CSV")
	if csv.Status() != 200 || !strings.Contains(csv.Headers()["content-type"], "text/csv") || strings.Count(body, "\n") < 10 {
		t.Fatalf("CSV download: status %d, type %q, %d lines", csv.Status(), csv.Headers()["content-type"], strings.Count(body, "\n"))
	}
	if strings.Contains(body, "529.982.247-25") || strings.Contains(body, "52998224725") {
		t.Fatal("the CSV carries the CPF in clear")
	}
}

func TestBusinessPathWithAlphanumericCNPJ(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "business", cnpjApprove, "341")
	expectReports(t, page, 2)
	must(t, expect.Locator(page.GetByTestId("reports-section")).ToContainText("pj_checking_account"), "pj report")
	must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pj_checking_account"}).First().Click(),
		"open the business checking report")
	visible(t, page.GetByTestId("account-balance").First(), "business balance")

	other := desktop(t)
	start(t, other, shared, "business", strings.ToLower(cnpjAlphanumeric))
}

func TestDenyAtTheBankShowsWhyAndTryAgainWorks(t *testing.T) {
	page := desktop(t)
	start(t, page, shared, "personal", cpfDeny)
	chooseInstitution(t, page, "001")
	must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, page.GetByTestId("bank-deny").Click(), "refuse at the bank")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "back at the portal")
	expectStatus(t, page, "REJECTED")
	visible(t, page.GetByTestId("consent-error"), "the reason")
	shot(t, page, "consent-rejected-desktop")
	must(t, page.GetByTestId("try-again").Click(), "try again")
	visible(t, page.GetByTestId("bank-page"), "a new consent at the bank")
}

func TestWebhookDeliveredTwiceIsProcessedOnce(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfTwice, "260")
	expectReports(t, page, 4)
	entries := page.GetByTestId("timeline-entry").Filter(playwright.LocatorFilterOptions{HasText: "consent_authorised"})
	must(t, expect.Locator(entries).ToHaveCount(1), "one timeline entry for the duplicated consent_authorised webhook")
	// Four distinct reports, each delivered twice, are listed once each.
	must(t, expect.Locator(page.GetByTestId("report-item")).ToHaveCount(4), "reports listed once")

	_, err := page.Goto(shared.URL + "/webhooks")
	must(t, err, "open the webhook inbox")
	must(t, expect.Locator(page.Locator(`[data-testid="webhook-row"][data-duplicate="true"]`).First()).ToBeVisible(),
		"duplicates are marked")
	shot(t, page, "webhooks-desktop")
}

func TestConsentWebhookNeverSentStillEndsAuthorised(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfNoWebhook, "237")
	expectReports(t, page, 1)
}

func TestBadSignatureIsRejectedAndShownInTheInbox(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfBadSignature, "033")
	_, err := page.Goto(shared.URL + "/webhooks")
	must(t, err, "open the webhook inbox")
	must(t, expect.Locator(page.Locator(`[data-testid="webhook-row"][data-signature="invalid"]`).First()).ToBeVisible(),
		"rejected delivery listed")
}

func TestRevokeAfterConfirmation(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfApprove2, "104")
	must(t, page.GetByTestId("revoke-button").Click(), "ask to revoke")
	visible(t, page.GetByTestId("revoke-confirm"), "confirmation")
	shot(t, page, "revoke-confirm-desktop")
	must(t, page.GetByTestId("revoke-confirm").Click(), "confirm")
	expectStatus(t, page, "REVOKED")

	_, err := page.Goto(shared.URL + "/consents")
	must(t, err, "open the consent list")
	visible(t, page.GetByTestId("consents-table"), "consent table")
	must(t, expect.Locator(page.GetByTestId("consents-table")).Not().ToContainText(cpfApprove2), "tax ids are masked")
	shot(t, page, "consents-desktop")
}

func TestEnglishSwitchIsRemembered(t *testing.T) {
	page := desktop(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	must(t, page.GetByTestId("lang-en").Click(), "switch to English")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "html lang en")
	_, err = page.Goto(shared.URL + "/consents")
	must(t, err, "open another page")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "still English")
	must(t, page.GetByTestId("lang-pt").Click(), "back to Portuguese")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "pt-BR"), "Portuguese again")
}

func TestHappyPathWithJavaScriptDisabled(t *testing.T) {
	page := newPage(t, 1280, 900, func(o *playwright.BrowserNewContextOptions) {
		o.JavaScriptEnabled = playwright.Bool(false)
	})
	authorise(t, page, shared, "personal", cpfApprove3, "341")
	expectReports(t, page, 4)
	must(t, page.GetByTestId("report-item").First().Click(), "open a report")
	visible(t, page.GetByTestId("report-product"), "report without JavaScript")
}

func TestForgedCallbackFromAnotherSessionIsRefused(t *testing.T) {
	// The attacker completes a consent; the callback URL its browser was sent to, with the attacker's
	// external_track_id, consent_id and link_id, is recorded.
	attacker := desktop(t)
	captured := make(chan string, 1)
	attacker.OnRequest(func(r playwright.Request) {
		if strings.Contains(r.URL(), "/callback?") {
			select {
			case captured <- r.URL():
			default:
			}
		}
	})
	authorise(t, attacker, shared, "personal", cpfApprove, "341")
	var callbackURL string
	select {
	case callbackURL = <-captured:
	default:
		t.Fatal("the attacker's browser never requested /callback")
	}

	// The victim has a session of their own with a pending consent, and is lured to the attacker's URL.
	victim := desktop(t)
	start(t, victim, shared, "personal", cpfApprove2)
	chooseInstitution(t, victim, "260")
	resp, err := victim.Goto(callbackURL)
	must(t, err, "victim opens the forged callback")
	if resp.Status() != 403 && resp.Status() != 400 {
		t.Fatalf("forged callback status = %d, want 403 or 400", resp.Status())
	}
	visible(t, victim.GetByTestId("callback-rejected"), "refusal page")
	must(t, expect.Locator(victim.Locator("body")).Not().ToContainText("982.247"), "no personal data")
	shot(t, victim, "callback-rejected-desktop")

	// A browser with no session at all sees a neutral page that reveals nothing.
	stranger := desktop(t)
	resp, err = stranger.Goto(callbackURL)
	must(t, err, "stranger opens the callback")
	if resp.Status() != 200 {
		t.Fatalf("no-session callback status = %d, want 200", resp.Status())
	}
	visible(t, stranger.GetByTestId("callback-neutral"), "neutral page")
	must(t, expect.Locator(stranger.Locator("body")).Not().ToContainText("982.247"), "no personal data")

	// The attacker replaying its own callback is harmless: same consent, same status.
	_, err = attacker.Goto(callbackURL)
	must(t, err, "attacker replays its callback")
	expectStatus(t, attacker, "AUTHORISED")
}

func TestExpiredBankRedirectIsRefused(t *testing.T) {
	p, err := startPortal(t.TempDir(), map[string]string{"SANDBOX_REDIRECT_TTL": "1s"})
	must(t, err, "start a portal whose bank links live 1s")
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	page := desktop(t)
	start(t, page, p, "personal", cpfApprove)
	// Submit the consent form from this browser's own cookie jar without following the 303, wait longer than
	// the bank link lives, then open it: the user who comes back to the tab too late.
	resp, err := page.Request().Post(p.URL+"/consents", playwright.APIRequestContextPostOptions{
		Form:         map[string]interface{}{"institution_code": "341", "validity_period": "12"},
		MaxRedirects: playwright.Int(0),
	})
	must(t, err, "create the consent")
	if resp.Status() != 303 {
		t.Fatalf("POST /consents = %d, want 303", resp.Status())
	}
	bankURL := resp.Headers()["location"]
	if !strings.HasPrefix(bankURL, p.SandboxURL+"/bank/") {
		t.Fatalf("303 to %q, want the sandbox bank", bankURL)
	}
	time.Sleep(1600 * time.Millisecond)
	_, err = page.Goto(bankURL)
	must(t, err, "open the bank link late")
	visible(t, page.GetByTestId("bank-error"), "the bank refuses the expired link")
	shot(t, page, "bank-expired-desktop")

	// Single use: opening the same link again is refused too.
	_, err = page.Goto(bankURL)
	must(t, err, "reopen the link")
	visible(t, page.GetByTestId("bank-error"), "the bank refuses a reused link")
}

func TestPhoneScreens(t *testing.T) {
	page := phone(t)
	start(t, page, shared, "personal", cpfApprove)
	shot(t, page, "picker-phone")
	must(t, page.GetByTestId("choose-260").Click(), "choose Nubank")
	visible(t, page.GetByTestId("consent-submit"), "consent confirmation")
	must(t, page.GetByTestId("consent-submit").Click(), "create the consent")
	visible(t, page.GetByTestId("bank-page"), "bank")
	shot(t, page, "bank-phone")
	approveAtBank(t, page)
	expectStatus(t, page, "AUTHORISED")
	expectReports(t, page, 4)
	shot(t, page, "consent-phone")
	must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_checking_account"}).First().Click(),
		"open the checking account report")
	visible(t, page.GetByTestId("transactions-table"), "transactions on a phone")
	shot(t, page, "report-phone")
}

func TestBankLinkIsSingleUse(t *testing.T) {
	page := desktop(t)
	start(t, page, shared, "personal", cpfApprove3)
	chooseInstitution(t, page, "104")
	bankURL := page.URL()
	again, err := page.Context().NewPage()
	must(t, err, "second tab")
	_, err = again.Goto(bankURL)
	must(t, err, "reopen the bank link")
	visible(t, again.GetByTestId("bank-error"), "a reused link is refused")
	shot(t, again, "bank-reused-desktop")
}

func TestConsentWebhookBeforeTheBrowserReturns(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfEarlyWebhook, "077")
	expectReports(t, page, 4)
	entries := page.GetByTestId("timeline-entry").Filter(playwright.LocatorFilterOptions{HasText: "consent_authorised"})
	must(t, expect.Locator(entries).ToHaveCount(1), "the early webhook is on the timeline once")
}

func TestOneFailingProductIsVisible(t *testing.T) {
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfProductFails, "336")
	expectReports(t, page, 3)
	must(t, expect.Locator(page.GetByTestId("timeline")).ToContainText("product_generated_failed",
		playwright.LocatorAssertionsToContainTextOptions{Timeout: playwright.Float(20000)}), "the failure is on the timeline")
	must(t, expect.Locator(page.GetByTestId("reports-section")).Not().ToContainText("pf_credit_card"),
		"no credit card report")
}

func TestLGPDNeverAcceptedLeavesTheConsentWaiting(t *testing.T) {
	page := desktop(t)
	start(t, page, shared, "personal", cpfLGPDAbandoned)
	chooseInstitution(t, page, "380")
	must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, page.GetByTestId("bank-authorise").Click(), "authorise at the bank")
	visible(t, page.GetByTestId("lgpd-page"), "LGPD term")
	must(t, page.GetByTestId("lgpd-accept").Click(), "try to accept the LGPD term")
	visible(t, page.GetByTestId("lgpd-abandoned"), "the sandbox says the term was not accepted")
	must(t, page.GetByTestId("bank-back").Click(), "back to the portal")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "the consent page")
	expectStatus(t, page, "AWAITING_LGPD_AUTHORISATION")
	must(t, expect.Locator(page.GetByTestId("reports-section")).Not().ToContainText("pf_checking_account"),
		"no reports without authorisation")
}
