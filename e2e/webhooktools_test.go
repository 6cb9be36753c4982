//go:build e2e

package e2e

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"
)

const cpfWebhookTools = "369.258.147-55" // TestOperatorReplaysAndSimulatesWebhooks

// An operator opens the inbox, replays the delivery that authorised a consent (nothing changes, and the page says
// so), then simulates consent_revoked on it: the portal signs and posts the webhook to its own PUBLIC_URL, the real
// receiver and worker apply it, and the consent ends REVOKED with both actions on its timeline and in the audit
// trail. Desktop and phone screenshots of every page.
func TestOperatorReplaysAndSimulatesWebhooks(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfWebhookTools, "033")
	id := consentIDOf(t, page)
	signIn(t, page)

	// The inbox: the consent's consent_authorised delivery, linked to the consent.
	_, err := page.Goto(shared.URL + "/webhooks?kind=event")
	must(t, err, "open the inbox")
	row := page.Locator(`[data-testid="webhook-row"]:has([data-testid="webhook-consent-link"][href="/consents/` + id + `"])`).
		Filter(playwright.LocatorFilterOptions{HasText: "consent_authorised"}).First()
	visible(t, row, "the consent's consent_authorised delivery")
	must(t, expect.Locator(row.GetByTestId("webhook-result")).ToHaveText("Processado"), "its result in words")
	shot(t, page, "webhooks-inbox-desktop")
	must(t, row.GetByTestId("webhook-open").Click(), "open the delivery")
	must(t, page.WaitForURL(regexp.MustCompile(`/webhooks/\d+$`)), "the delivery page")
	delivery := page.URL()
	must(t, expect.Locator(page.GetByTestId("result-why")).ToContainText("O evento foi aplicado"), "the result explained")

	// Replay: applied already, so nothing changes.
	must(t, page.GetByTestId("webhook-replay").Click(), "replay the delivery")
	must(t, page.WaitForURL(regexp.MustCompile(`/webhooks/\d+#replay-\d+$`)), "back on the delivery page")
	replay := page.GetByTestId("replay-row").First()
	must(t, expect.Locator(replay).ToHaveAttribute("data-changed", "false"), "the replay changed nothing")
	must(t, expect.Locator(replay.GetByTestId("replay-effect")).ToHaveText("Nada mudou: já tinha sido aplicado"),
		"and says so")
	_, err = page.Evaluate("window.scrollTo(0, 0)") // the #replay anchor scrolled it: shoot the page from its top
	must(t, err, "scroll to the top")
	shot(t, page, "webhook-replayed-desktop")

	// Simulate consent_revoked over real HTTP to PUBLIC_URL.
	_, err = page.Goto(shared.URL + "/webhooks/simulate?consent=" + id)
	must(t, err, "open the simulate page")
	shot(t, page, "webhook-simulate-form-desktop")
	_, err = page.GetByTestId("sim-event").SelectOption(playwright.SelectOptionValues{Values: &[]string{"consent_revoked"}})
	must(t, err, "choose consent_revoked")
	must(t, page.GetByTestId("sim-submit").Click(), "sign and send")
	result := page.GetByTestId("sim-result")
	must(t, expect.Locator(result).ToHaveAttribute("data-ok", "true"), "the round trip succeeded")
	must(t, expect.Locator(page.GetByTestId("sim-status")).ToHaveAttribute("data-status", "200"), "HTTP 200")
	must(t, expect.Locator(page.GetByTestId("sim-consent-status")).ToHaveAttribute("data-after", "REVOKED"),
		"the consent is now REVOKED")
	must(t, expect.Locator(page.GetByTestId("sim-delivery-result")).ToHaveText("Processado"), "the worker applied it")
	shot(t, page, "webhook-simulated-desktop")

	// The consent page shows the new status and both actions on its timeline.
	must(t, page.GetByTestId("sim-consent-link").Click(), "open the consent")
	expectStatus(t, page, "REVOKED")
	timeline := page.GetByTestId("timeline")
	must(t, expect.Locator(timeline).ToContainText("webhook consent_revoked simulado por um operador"), "simulation on the timeline")
	must(t, expect.Locator(timeline).ToContainText("webhook consent_authorised reaplicado por um operador"), "replay on the timeline")
	must(t, expect.Locator(timeline).ToContainText("nada mudou: já tinha sido aplicado"), "what the replay did")
	shot(t, page, "webhook-tools-consent-desktop")

	_, err = page.Goto(shared.URL + "/audit")
	must(t, err, "open the audit trail")
	must(t, expect.Locator(page.Locator(`[data-testid="audit-row"][data-action="webhook_replay"]`).First()).ToBeVisible(), "replay audited")
	must(t, expect.Locator(page.Locator(`[data-testid="audit-row"][data-action="webhook_simulate"]`).First()).ToBeVisible(), "simulation audited")

	// On a phone: the inbox, the replayed delivery and a simulated report.
	ph := phone(t)
	signIn(t, ph)
	_, err = ph.Goto(shared.URL + "/webhooks?kind=event")
	must(t, err, "open the inbox on a phone")
	visible(t, ph.GetByTestId("webhooks-table"), "the inbox on a phone")
	shot(t, ph, "webhooks-inbox-phone")
	_, err = ph.Goto(delivery)
	must(t, err, "open the delivery on a phone")
	visible(t, ph.GetByTestId("replay-row").First(), "the replay on a phone")
	_, err = ph.Evaluate("window.scrollTo(0, 0)")
	must(t, err, "scroll to the top")
	shot(t, ph, "webhook-replayed-phone")
	_, err = ph.Goto(shared.URL + "/webhooks/simulate?consent=" + id)
	must(t, err, "open the simulate page on a phone")
	_, err = ph.GetByTestId("sim-event").SelectOption(playwright.SelectOptionValues{Values: &[]string{"report"}})
	must(t, err, "choose a report")
	_, err = ph.GetByTestId("sim-product").SelectOption(playwright.SelectOptionValues{Values: &[]string{"pf_credit_card"}})
	must(t, err, "choose the product")
	must(t, ph.GetByTestId("sim-submit").Click(), "send the report")
	must(t, expect.Locator(ph.GetByTestId("sim-result")).ToHaveAttribute("data-ok", "true"), "the report round trip")
	must(t, expect.Locator(ph.GetByTestId("sim-delivery-result")).ToHaveText("Relatório armazenado"), "the report stored")
	shot(t, ph, "webhook-simulated-phone")
}
