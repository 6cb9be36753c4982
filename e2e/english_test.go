//go:build e2e

package e2e

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// cpfEnglish is a valid CPF outside the scenario table: the sandbox approves it.
const cpfEnglish = "963.963.963-00"

// The whole flow in English on a phone: every page the user walks says it in English, and a credit card report
// shows its limit and bills with Brazilian money formatting.
func TestEnglishFlowOnAPhone(t *testing.T) {
	t.Parallel()
	page := phone(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	must(t, page.GetByTestId("lang-en").Click(), "switch to English")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "html lang en")
	must(t, expect.Locator(page.GetByTestId("start-submit")).ToContainText("Continue"), "start form in English")
	shot(t, page, "start-en-phone")

	must(t, page.GetByTestId("tax-id").Fill(cpfEnglish), "type the CPF")
	must(t, page.GetByTestId("start-submit").Click(), "submit the start form")
	must(t, page.WaitForURL(regexp.MustCompile(`/institutions`)), "reach the picker")
	must(t, expect.Locator(page.Locator("h1")).ToHaveText("Choose the institution"), "picker in English")
	shot(t, page, "picker-en-phone")
	chooseInstitution(t, page, "341")
	approveAtBank(t, page)
	expectStatus(t, page, "AUTHORISED")
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Authorised"), "status in English")
	expectReports(t, page, 4)
	shot(t, page, "consent-en-phone")

	must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_credit_card"}).First().Click(),
		"open the credit card report")
	visible(t, page.GetByTestId("card").First(), "a credit card")
	must(t, expect.Locator(page.GetByTestId("card-limit-total").First()).ToHaveText(regexp.MustCompile(`^R\$ [0-9.]+,[0-9]{2}$`)),
		"limit in BRL")
	must(t, expect.Locator(page.GetByTestId("card-transactions-table").First()).ToBeVisible(), "bill transactions")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "report page in English")
	shot(t, page, "report-card-en-phone")
}
