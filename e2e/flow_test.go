//go:build e2e

package e2e

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
	"github.com/xuri/excelize/v2"
)

// Test tax ids: the sandbox's scenario catalogue (README) chooses behaviour by them.
const (
	cpfApprove       = "529.982.247-25"
	cpfApprove2      = "456.456.456-00"
	cpfApprove3      = "654.654.654-09"
	cpfHolderDeletes = "147.147.147-08"
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

var allTestTaxIDs = []string{cpfApprove, cpfApprove2, cpfApprove3, cpfHolderDeletes, cpfDeny, cpfTwice, cpfNoWebhook, cpfBadSignature,
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	page := desktop(t)
	start(t, page, shared, "personal", "52998224725")
	shot(t, page, "picker-desktop")
	// A partial outage is offered with a warning; a full outage is not offered.
	visible(t, page.GetByTestId("institution-104").GetByTestId("badge-degraded"), "CAIXA's partial-outage badge")
	visible(t, page.GetByTestId("choose-104"), "CAIXA still choosable")
	must(t, expect.Locator(page.GetByTestId("choose-212")).ToHaveCount(0), "Banco Original (full outage) not choosable")

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
	checkCharts(t, page, "the checking account report")
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
	checkSpreadsheetDownloads(t, page, strings.Count(body, "\n"))

	// On a phone the summary and charts come first and fit the screen.
	must(t, page.SetViewportSize(390, 844), "phone width")
	shot(t, page, "report-phone")
	must(t, page.SetViewportSize(1280, 900), "desktop width")

	// The card report: the open bill by category and the bills over time, newest bill first below.
	_, err = page.GoBack()
	must(t, err, "back to the consent")
	must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_credit_card"}).First().Click(),
		"open the credit card report")
	cards := page.GetByTestId("card-insights").First()
	visible(t, cards, "card insights")
	if _, err := cards.Screenshot(playwright.LocatorScreenshotOptions{
		Path: playwright.String(filepath.Join(artifacts, "screens", "card-insights-desktop.png"))}); err != nil {
		t.Logf("card insights screenshot: %v", err)
	}
	n, err := cards.GetByTestId("chart-bars").Count()
	must(t, err, "count the card charts")
	if n < 1 {
		t.Error("the card report has no chart")
	}
	must(t, expect.Locator(cards.GetByTestId("chart-bars").First().Locator("li").First()).ToContainText("R$"),
		"bars carry their amounts as text")
	shot(t, page, "report-card-desktop")
	must(t, page.SetViewportSize(390, 844), "phone width")
	shot(t, page, "report-card-phone")
}

// checkCharts: the report's insights show money in and out and at least one chart, each with an SVG title and
// description (line) or readable bars, and its data as a table that opens.
func checkCharts(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	ins := page.GetByTestId("insights").First()
	visible(t, ins, "insights of "+what)
	must(t, expect.Locator(ins.GetByTestId("insight-in")).ToHaveText(regexp.MustCompile(`R\$`)), "money in of "+what)
	must(t, expect.Locator(ins.GetByTestId("insight-out")).ToHaveText(regexp.MustCompile(`R\$`)), "money out of "+what)
	line := ins.GetByTestId("chart-line").First()
	visible(t, line, "balance chart of "+what)
	svg := line.GetByTestId("chart-svg")
	must(t, expect.Locator(svg).ToHaveAttribute("role", "img"), "the chart is an image to assistive technology")
	title, err := svg.Locator("title").TextContent()
	must(t, err, "chart title")
	desc, err := svg.Locator("desc").TextContent()
	must(t, err, "chart description")
	if title == "" || !strings.Contains(desc, "R$") {
		t.Errorf("%s: chart title %q, description %q", what, title, desc)
	}
	data := line.GetByTestId("chart-data")
	must(t, data.Locator("summary").Click(), "open the chart's data")
	rows, err := data.Locator("tbody tr").Count()
	must(t, err, "count the chart's data rows")
	must(t, data.Locator("summary").Click(), "close the chart's data")
	if _, err := ins.Screenshot(playwright.LocatorScreenshotOptions{
		Path: playwright.String(filepath.Join(artifacts, "screens", "insights-"+strconv.Itoa(page.ViewportSize().Width)+".png"))}); err != nil {
		t.Logf("insights screenshot: %v", err)
	}
	if rows < 2 {
		t.Errorf("%s: the chart's data table has %d rows", what, rows)
	}
}

// checkSpreadsheetDownloads downloads the "Excel (Brasil)" CSV and the .xlsx through the browser's own download
// (a click, as a user does) and opens both: the same number of lines as the standard CSV, Brazilian number and
// date formats, typed cells in the workbook.
func checkSpreadsheetDownloads(t *testing.T, page playwright.Page, lines int) {
	t.Helper()
	save := func(testID string) []byte {
		d, err := page.ExpectDownload(func() error { return page.GetByTestId(testID).Click() })
		must(t, err, "download "+testID)
		path, err := d.Path()
		must(t, err, "downloaded file of "+testID)
		b, err := os.ReadFile(path)
		must(t, err, "read "+testID)
		return b
	}
	br := string(save("download-csv-br"))
	if !strings.HasPrefix(br, "\ufeffproduto;conta;data;") || strings.Count(br, "\n") != lines {
		t.Fatalf("Excel (Brasil) CSV: starts %q, %d lines, want %d", br[:min(len(br), 30)], strings.Count(br, "\n"), lines)
	}
	if !regexp.MustCompile(`;\d{2}/\d{2}/\d{4};`).MatchString(br) || !regexp.MustCompile(`;-?\d+,\d{2,4}(;|\r?\n)`).MatchString(br) {
		t.Error("Excel (Brasil) CSV: no dd/mm/aaaa date or decimal-comma amount")
	}
	f, err := excelize.OpenReader(bytes.NewReader(save("download-xlsx")))
	must(t, err, "open the xlsx")
	defer func() { _ = f.Close() }()
	sheet := f.GetSheetList()[0]
	rows, err := f.GetRows(sheet)
	must(t, err, "read the xlsx rows")
	if len(rows) != lines || len(rows[0]) != 8 {
		t.Fatalf("xlsx: %d rows of %d columns, want %d rows of 8", len(rows), len(rows[0]), lines)
	}
	if typ, _ := f.GetCellType(sheet, "G2"); typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
		t.Errorf("xlsx: the first amount is of type %v, want a number", typ)
	}
	if shown, _ := f.GetCellValue(sheet, "C2"); !regexp.MustCompile(`^\d{2}/\d{2}/\d{4}$`).MatchString(shown) {
		t.Errorf("xlsx: the first date shows %q, want dd/mm/yyyy", shown)
	}
}

func TestBusinessPathWithAlphanumericCNPJ(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "business", cnpjApprove, "341")
	expectReports(t, page, 2)
	must(t, expect.Locator(page.GetByTestId("reports-section")).ToContainText("pj_checking_account"), "pj report")
	must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pj_checking_account"}).First().Click(),
		"open the business checking report")
	visible(t, page.GetByTestId("account-balance").First(), "business balance")

	other := desktop(t)
	start(t, other, shared, "business", strings.ToLower(cnpjAlphanumeric))
	// A company sees the institutions that serve companies: Mercado Pago serves individuals only.
	must(t, expect.Locator(other.GetByTestId("institution-323")).ToBeHidden(), "individuals-only institution hidden")
	visible(t, other.GetByTestId("institution-290"), "companies-only institution shown")
	_, err := other.GetByTestId("filter-person").SelectOption(playwright.SelectOptionValues{Values: &[]string{"all"}})
	must(t, err, "show every customer type")
	visible(t, other.GetByTestId("institution-323"), "individuals-only institution shown on request")
	must(t, expect.Locator(other.GetByTestId("other-person-323")).ToHaveText("Atende apenas pessoas físicas."),
		"why it cannot be chosen")
}

func TestDenyAtTheBankShowsWhyAndTryAgainWorks(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	start(t, page, shared, "personal", cpfDeny)
	chooseInstitution(t, page, "001")
	must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, page.GetByTestId("bank-deny").Click(), "refuse at the bank")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "back at the portal")
	expectStatus(t, page, "REJECTED")
	visible(t, page.GetByTestId("consent-error"), "the reason")
	// The user reads why, in Portuguese: the message for access_denied (not the one for an expired link).
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Recusado"), "status badge in Portuguese")
	must(t, expect.Locator(page.GetByTestId("consent-error")).ToContainText(msgAccessDenied), "the access_denied message")
	must(t, expect.Locator(page.GetByTestId("consent-error")).Not().ToContainText(msgLinkExpired), "not the expired-link message")
	shot(t, page, "consent-rejected-desktop")
	must(t, page.GetByTestId("try-again").Click(), "try again")
	visible(t, page.GetByTestId("bank-page"), "a new consent at the bank")
}

func TestWebhookDeliveredTwiceIsProcessedOnce(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfTwice, "260")
	expectReports(t, page, 4)
	entries := page.GetByTestId("timeline-entry").Filter(playwright.LocatorFilterOptions{HasText: "consent_authorised"})
	must(t, expect.Locator(entries).ToHaveCount(1), "one timeline entry for the duplicated consent_authorised webhook")
	// Four distinct reports, each delivered twice, are listed once each.
	must(t, expect.Locator(page.GetByTestId("report-item")).ToHaveCount(4), "reports listed once")

	signIn(t, page) // the webhook inbox is the operators'
	_, err := page.Goto(shared.URL + "/webhooks")
	must(t, err, "open the webhook inbox")
	must(t, expect.Locator(page.Locator(`[data-testid="webhook-row"][data-duplicate="true"]`).First()).ToBeVisible(),
		"duplicates are marked")
	shot(t, page, "webhooks-desktop")
}

func TestConsentWebhookNeverSentStillEndsAuthorised(t *testing.T) {
	t.Parallel()
	// Context A starts the consent in the portal, but the user finishes at the bank in another browser (B,
	// no portal session): B's return only shows the neutral page and changes nothing, and the sandbox sends
	// no consent webhook in this scenario, so only the reconciler's polling can make A's consent AUTHORISED.
	page := desktop(t)
	start(t, page, shared, "personal", cpfNoWebhook)
	must(t, page.GetByTestId("choose-237").Click(), "choose institution 237")
	visible(t, page.GetByTestId("consent-submit"), "consent confirmation")
	bankURL := createConsentNoFollow(t, page, shared, "237")

	other := desktop(t)
	callbacks := make(chan string, 4)
	other.OnRequest(func(r playwright.Request) {
		if strings.Contains(r.URL(), "/callback?") {
			select {
			case callbacks <- r.URL():
			default:
			}
		}
	})
	_, err := other.Goto(bankURL)
	must(t, err, "open the bank link in another browser")
	visible(t, other.GetByTestId("bank-page"), "the bank's page in the other browser")
	must(t, other.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, other.GetByTestId("bank-authorise").Click(), "authorise at the bank")
	visible(t, other.GetByTestId("lgpd-page"), "LGPD term")
	must(t, other.GetByTestId("lgpd-accept").Click(), "accept the LGPD term")
	must(t, other.WaitForURL(regexp.MustCompile(`/callback\?`)), "the other browser returns to the portal")
	visible(t, other.GetByTestId("callback-neutral"), "neutral \"authorisation received\" page")
	must(t, expect.Locator(other.GetByTestId("callback-neutral")).ToContainText("Autorização recebida"), "neutral page title")
	body := other.Locator("body")
	for _, leak := range []string{"777.888", "66677788830", "***."} {
		must(t, expect.Locator(body).Not().ToContainText(leak), "the neutral page reveals no CPF ("+leak+")")
	}
	shot(t, other, "callback-neutral-desktop")
	var consentID string
	select {
	case cb := <-callbacks:
		consentID = queryParam(t, cb, "consent_id")
	default:
		t.Fatal("the other browser never requested /callback")
	}

	// Back in A: the consent list (tax id filter) leads to the consent, which the reconciler completes. The list
	// is the operators': A signs in first (an operator sees every consent, its own included).
	signIn(t, page)
	_, err = page.Goto(shared.URL + "/consents")
	must(t, err, "open the consent list")
	must(t, page.GetByTestId("filter-taxid").Fill(cpfNoWebhook), "filter by tax id")
	must(t, page.GetByTestId("consents-filter-submit").Click(), "apply the filter")
	// The filter is a POST answered with 303 to a holder ref: the CPF never goes into the URL (ASVS 14.2.1).
	must(t, page.WaitForURL(regexp.MustCompile(`/consents\?holder=[0-9a-f]{32}$`)), "the list filtered by holder ref")
	for _, leak := range []string{"tax_id", "66677788830", "666.777", "777.888", "888-30", "77788830"} {
		if u := page.URL(); strings.Contains(u, leak) {
			t.Fatalf("the filtered list's URL %q carries the CPF (%s)", u, leak)
		}
	}
	must(t, expect.Locator(page.GetByTestId("consents-filtered-by")).ToContainText("***.777.888-**"), "the masked CPF filtered by")
	rows := page.GetByTestId("consent-row")
	must(t, expect.Locator(rows).ToHaveCount(1), "one consent for this CPF")
	must(t, expect.Locator(rows.First()).ToHaveAttribute("data-consent-id", consentID), "the consent finished in the other browser")
	must(t, rows.First().GetByTestId("consent-open").Click(), "open the consent")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/`+regexp.QuoteMeta(consentID)+`$`)), "the consent page")
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveAttribute("data-status", "AUTHORISED",
		playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(30000)}), "the reconciler authorises the consent")
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Autorizado"), "status badge in Portuguese")
	poll := page.Locator(`[data-testid="timeline-entry"][data-kind="poll"]`).Filter(playwright.LocatorFilterOptions{HasText: "AUTHORISED"})
	openTech(t, page)
	must(t, expect.Locator(poll.First()).ToBeVisible(), "the timeline shows the poll that saw AUTHORISED")
	must(t, expect.Locator(poll.First()).ToContainText("consulta: GET /consents/{id}"), "the poll entry in Portuguese")
	must(t, expect.Locator(page.Locator(`[data-testid="timeline-entry"][data-kind="callback"]`)).ToHaveCount(0),
		"no callback was processed for this consent")
	must(t, expect.Locator(page.GetByTestId("timeline-entry").Filter(playwright.LocatorFilterOptions{HasText: "consent_authorised"})).
		ToHaveCount(0), "no consent_authorised webhook arrived")
	expectStatus(t, page, "AUTHORISED")
	expectReports(t, page, 1)
	shot(t, page, "consent-authorised-by-poll-desktop")
}

func TestBadSignatureIsRejectedAndShownInTheInbox(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfBadSignature, "033")
	signIn(t, page) // the webhook inbox is the operators'
	_, err := page.Goto(shared.URL + "/webhooks")
	must(t, err, "open the webhook inbox")
	must(t, expect.Locator(page.Locator(`[data-testid="webhook-row"][data-signature="invalid"]`).First()).ToBeVisible(),
		"rejected delivery listed")
}

func TestRevokeAfterConfirmation(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfApprove2, "104")
	must(t, page.GetByTestId("revoke-button").Click(), "ask to revoke")
	visible(t, page.GetByTestId("revoke-confirm"), "confirmation")
	shot(t, page, "revoke-confirm-desktop")
	must(t, page.GetByTestId("revoke-confirm").Click(), "confirm")
	expectStatus(t, page, "REVOKED")
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Revogado"), "status badge in Portuguese")
	must(t, expect.Locator(page.GetByTestId("flash")).ToContainText("Consentimento revogado."), "the revocation is confirmed")
	must(t, expect.Locator(page.Locator(`[data-testid="timeline-entry"][data-kind="revoke"]`).First()).
		ToContainText("revogado pelo usuário no portal"), "the revoke call is on the timeline")
	// The consent_revoked webhook arrives asynchronously and a REVOKED page no longer refreshes itself: the
	// user reloads until the timeline shows it.
	revoked := page.Locator(`[data-testid="timeline-entry"][data-kind="webhook"]`).
		Filter(playwright.LocatorFilterOptions{HasText: "webhook consent_revoked, assinatura válida"})
	openTech(t, page) // stays open across the reloads (app.js remembers it for this page)
	visibleAfterReloads(t, page, revoked.First(), "the consent_revoked webhook on the timeline", 20*time.Second)
	must(t, expect.Locator(revoked).ToHaveCount(1), "the consent_revoked webhook is on the timeline once")
	expectStatus(t, page, "REVOKED")
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Revogado"), "still Revogado after the webhook")
	must(t, expect.Locator(page.GetByTestId("revoke-button")).ToHaveCount(0), "nothing left to revoke")
	shot(t, page, "consent-revoked-desktop")

	signIn(t, page) // the consent list is the operators'
	_, err := page.Goto(shared.URL + "/consents")
	must(t, err, "open the consent list")
	visible(t, page.GetByTestId("consents-table"), "consent table")
	must(t, expect.Locator(page.GetByTestId("consents-table")).Not().ToContainText(cpfApprove2), "tax ids are masked")
	shot(t, page, "consents-desktop")
}

func TestEnglishSwitchIsRemembered(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	must(t, page.GetByTestId("lang-en").Click(), "switch to English")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "html lang en")
	// /me, not /consents: the consent list is the operators' now and would send this visitor to /login.
	_, err = page.Goto(shared.URL + "/me")
	must(t, err, "open another page")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "still English")
	must(t, page.GetByTestId("lang-pt").Click(), "back to Portuguese")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "pt-BR"), "Portuguese again")
}

func TestHappyPathWithJavaScriptDisabled(t *testing.T) {
	t.Parallel()
	page := newPage(t, 1280, 900, func(o *playwright.BrowserNewContextOptions) {
		o.JavaScriptEnabled = playwright.Bool(false)
	})
	authorise(t, page, shared, "personal", cpfApprove3, "341")
	expectReports(t, page, 4)
	must(t, page.GetByTestId("report-item").First().Click(), "open a report")
	visible(t, page.GetByTestId("report-product"), "report without JavaScript")
}

func TestForgedCallbackFromAnotherSessionIsRefused(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	bankURL := createConsentNoFollow(t, page, p, "341")
	time.Sleep(1600 * time.Millisecond)
	_, err = page.Goto(bankURL)
	must(t, err, "open the bank link late")
	visible(t, page.GetByTestId("bank-error"), "the bank refuses the expired link")
	must(t, expect.Locator(page.GetByTestId("bank-error")).ToContainText("Link expirado"), "the bank says the link expired")
	shot(t, page, "bank-expired-desktop")

	// Single use: opening the same link again (here in a second tab, so the first keeps its way back) is
	// refused too.
	again, err := page.Context().NewPage()
	must(t, err, "second tab")
	_, err = again.Goto(bankURL)
	must(t, err, "reopen the link")
	visible(t, again.GetByTestId("bank-error"), "the bank refuses a reused link")
	must(t, again.Close(), "close the second tab")

	// The bank's way back leads to the portal, which explains in Portuguese that the link expired.
	must(t, page.GetByTestId("bank-back").Click(), "back to the portal from the bank's error page")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "the consent page")
	oldConsent := page.URL()
	expectStatus(t, page, "REJECTED")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "pt-BR"), "html lang pt-BR")
	// Klavi says REJECTED, but nobody declined: the badge says the link expired.
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Link expirado"), "status badge: the link expired")
	visible(t, page.GetByTestId("consent-error"), "the reason")
	must(t, expect.Locator(page.GetByTestId("consent-error")).ToContainText(msgLinkExpired), "the expired-link message")
	must(t, expect.Locator(page.GetByTestId("consent-error")).Not().ToContainText(msgAccessDenied),
		"not \"you declined\": the user never saw the bank")
	must(t, expect.Locator(page.GetByTestId("consent-tip")).ToContainText("60 segundos"), "a tip for this failure")
	visible(t, page.GetByTestId("choose-another"), "a way to another bank")
	shot(t, page, "consent-link-expired-desktop")
	must(t, page.SetViewportSize(390, 844), "phone width")
	shot(t, page, "consent-link-expired-phone")
	must(t, page.SetViewportSize(1280, 900), "desktop width")

	// Try again: a new consent, a new 303, and the bank's login page (not its error page) this time.
	must(t, page.GetByTestId("try-again").Click(), "try again")
	visible(t, page.GetByTestId("bank-page"), "a new consent at the bank")
	visible(t, page.GetByTestId("bank-login"), "the bank's login button")
	must(t, expect.Locator(page.GetByTestId("bank-error")).ToHaveCount(0), "no bank error this time")
	if u := page.URL(); !strings.HasPrefix(u, p.SandboxURL+"/bank/") || u == bankURL {
		t.Fatalf("after try again the browser is at %q, want a new sandbox bank link (the old one was %q)", u, bankURL)
	}
	_, err = page.Goto(oldConsent)
	must(t, err, "reopen the expired consent")
	must(t, expect.Locator(page.GetByTestId("timeline")).ToContainText("nova tentativa"), "the retry is on the old consent's timeline")

	// Choose another bank: back to the picker of the same flow, and on to a different institution.
	must(t, page.GetByTestId("choose-another").Click(), "choose another bank")
	visible(t, page.GetByTestId("institution-260"), "the institution picker")
	must(t, page.GetByTestId("choose-260").Click(), "choose Nubank instead")
	visible(t, page.GetByTestId("consent-submit"), "the consent confirmation for the other bank")
	must(t, expect.Locator(page.GetByTestId("consent-submit")).ToBeEnabled(), "ready to go to the other bank")
}

func TestPhoneScreens(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfEarlyWebhook, "077")
	expectReports(t, page, 4)
	entries := page.GetByTestId("timeline-entry").Filter(playwright.LocatorFilterOptions{HasText: "consent_authorised"})
	must(t, expect.Locator(entries).ToHaveCount(1), "the early webhook is on the timeline once")
}

func TestOneFailingProductIsVisible(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfProductFails, "336")
	expectReports(t, page, 3)
	must(t, expect.Locator(page.GetByTestId("timeline")).ToContainText("product_generated_failed",
		playwright.LocatorAssertionsToContainTextOptions{Timeout: playwright.Float(20000)}), "the failure is on the timeline")
	must(t, expect.Locator(page.GetByTestId("reports-section")).Not().ToContainText("pf_credit_card"),
		"no credit card report")
}

func TestLGPDNeverAcceptedLeavesTheConsentWaiting(t *testing.T) {
	t.Parallel()
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

// pt-BR messages the consent page shows (views/i18n_portal.go cerr.*), as the user reads them.
const (
	msgAccessDenied = "Você recusou o compartilhamento no banco. Nenhum dado foi compartilhado."
	msgLinkExpired  = "O link de autorização expirou antes de ser aberto"
)

// createConsentNoFollow submits the consent form for institution from the page's own cookie jar without
// following the 303, and returns the bank link (consentRedirectURL) it points to, still unopened.
func createConsentNoFollow(t *testing.T, page playwright.Page, p *portal, institution string) string {
	t.Helper()
	resp, err := page.Request().Post(p.URL+"/consents", playwright.APIRequestContextPostOptions{
		Form:         map[string]interface{}{"institution_code": institution, "validity_period": "12"},
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
	return bankURL
}

// queryParam returns one query parameter of a URL the browser requested.
// openTech unfolds the consent page's "Detalhes técnicos" (folded for end users), where the timeline is.
func openTech(t *testing.T, page playwright.Page) {
	t.Helper()
	tech := page.GetByTestId("tech-details")
	open, err := tech.GetAttribute("open")
	must(t, err, "read the technical details' state")
	if open == "" {
		if ok, _ := tech.Evaluate("d => d.open", nil); ok != true {
			must(t, tech.Locator("summary").Click(), "open the technical details")
		}
	}
	must(t, expect.Locator(page.GetByTestId("timeline")).ToBeVisible(), "the timeline is shown")
}

func queryParam(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	must(t, err, "parse "+name+" URL")
	v := u.Query().Get(name)
	if v == "" {
		t.Fatalf("URL has no %s", name)
	}
	return v
}

// visibleAfterReloads reloads the page until l is visible, for what arrives in the background on a page that
// no longer refreshes itself.
func visibleAfterReloads(t *testing.T, page playwright.Page, l playwright.Locator, what string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := expect.Locator(l).ToBeVisible(playwright.LocatorAssertionsToBeVisibleOptions{Timeout: playwright.Float(1000)})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not visible after %s of reloads: %v", what, within, err)
		}
		_, rerr := page.Reload()
		must(t, rerr, "reload")
	}
}

// The holder deletes their data in Klavi's management portal (simulated by the sandbox): the portal receives
// consent_deleted_by_user, shows the status and erases the reports it kept.
func TestHolderDeletesTheirDataAtKlavi(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfHolderDeletes, "001")
	expectReports(t, page, 4)
	consentURL := page.URL()

	_, err := page.Goto(shared.SandboxURL + "/manage")
	must(t, err, "open the sandbox's management portal")
	must(t, page.GetByTestId("manage-taxid").Fill(cpfHolderDeletes), "type the CPF")
	must(t, page.GetByTestId("manage-search").Click(), "look the consents up")
	row := page.GetByTestId("manage-consent-row").Filter(playwright.LocatorFilterOptions{HasText: "Banco do Brasil"})
	must(t, expect.Locator(row).ToHaveCount(1), "the consent is listed at Klavi")
	must(t, expect.Locator(page.GetByTestId("manage-consents")).Not().ToContainText(cpfHolderDeletes), "the CPF is masked there")
	must(t, row.GetByTestId("manage-delete").Click(), "delete my data")
	visible(t, page.GetByTestId("manage-notice"), "deletion confirmed")
	shot(t, page, "manage-deleted-desktop")

	_, err = page.Goto(consentURL)
	must(t, err, "back to the portal's consent page")
	visibleAfterReloads(t, page, page.Locator(`[data-testid="consent-status"][data-status="DELETED_BY_USER"]`),
		"status DELETED_BY_USER", 20*time.Second)
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Excluído pelo usuário"), "status in Portuguese")
	must(t, expect.Locator(page.GetByTestId("report-item")).ToHaveCount(0), "the reports were erased")
	visible(t, page.GetByTestId("reports-erased"), "the page says why there are no reports")
	must(t, expect.Locator(page.GetByTestId("timeline")).ToContainText("consent_deleted_by_user"), "the webhook is on the timeline")
	must(t, expect.Locator(page.GetByTestId("timeline")).ToContainText("dados apagados"), "the erasure is on the timeline")
	shot(t, page, "consent-deleted-by-user-desktop")
}
