//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// cpfOutOfOrder is the sandbox's "eventos fora de ordem" scenario (sandbox/README.md): consent_authorised is held
// back and delivered right after the consent's next event, consent_revoked, with its original, earlier eventTime.
const cpfOutOfOrder = "258.258.258-19"

// consent_revoked (eventTime T2) processed before consent_authorised (T1 < T2) ends REVOKED
// (docs/reliability.md#forward-only-status). The portal learns AUTHORISED from the callback's GET /consents/{id};
// the user revokes; the sandbox then delivers consent_revoked and, after it, the held consent_authorised, which
// must not bring the consent back.
func TestEventsOutOfOrderEndRevoked(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	authorise(t, page, shared, "personal", cpfOutOfOrder, "341")
	expectReports(t, page, 4)
	webhooks := page.Locator(`[data-testid="timeline-entry"][data-kind="webhook"]`)
	authorised := webhooks.Filter(playwright.LocatorFilterOptions{HasText: "webhook consent_authorised, assinatura válida"})
	revoked := webhooks.Filter(playwright.LocatorFilterOptions{HasText: "webhook consent_revoked, assinatura válida"})
	must(t, expect.Locator(authorised).ToHaveCount(0), "consent_authorised is held back by the sandbox")

	must(t, page.GetByTestId("revoke-button").Click(), "ask to revoke")
	visible(t, page.GetByTestId("revoke-confirm"), "confirmation")
	must(t, page.GetByTestId("revoke-confirm").Click(), "confirm")
	expectStatus(t, page, "REVOKED")
	must(t, expect.Locator(page.GetByTestId("flash")).ToContainText("Consentimento revogado."), "the revocation is confirmed")

	// Both webhooks arrive in the background and a REVOKED page no longer refreshes itself: reload until the late
	// consent_authorised (delivered after consent_revoked) is on the timeline.
	openTech(t, page)
	visibleAfterReloads(t, page, authorised.First(), "the late consent_authorised webhook on the timeline", 20*time.Second)
	must(t, expect.Locator(revoked).ToHaveCount(1), "the consent_revoked webhook is on the timeline once")
	must(t, expect.Locator(authorised).ToHaveCount(1), "the consent_authorised webhook is on the timeline once")
	texts, err := webhooks.AllInnerTexts()
	must(t, err, "read the webhook timeline entries")
	iRev, iAuth := -1, -1
	for i, s := range texts {
		switch {
		case strings.Contains(s, "consent_revoked") && iRev < 0:
			iRev = i
		case strings.Contains(s, "consent_authorised") && iAuth < 0:
			iAuth = i
		}
	}
	if iRev < 0 || iAuth < 0 || iRev > iAuth {
		t.Fatalf("webhook timeline %q: want consent_revoked processed before consent_authorised", texts)
	}

	expectStatus(t, page, "REVOKED")
	must(t, expect.Locator(page.GetByTestId("consent-status")).ToHaveText("Revogado"),
		"still Revogado after the late consent_authorised")
	must(t, expect.Locator(page.GetByTestId("revoke-button")).ToHaveCount(0), "nothing left to revoke")
	shot(t, page, "consent-out-of-order-desktop")

	logs := shared.logs.String()
	if strings.Contains(logs, cpfOutOfOrder) || strings.Contains(logs, "25825825819") {
		t.Error("the portal logged the CPF in clear")
	}
}
