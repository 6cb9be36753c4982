//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// Tax ids of the diagnostics and support tests (approve scenario).
const (
	cpfSupport = "963.147.258-28" // TestSupportBundleDownloadsWithoutPersonalData
	cpfBanner  = "258.963.147-28" // TestEnvironmentBannerOnTheStartPage
)

func init() { allTestTaxIDs = append(allTestTaxIDs, cpfSupport, cpfBanner) }

// expectChecks waits for the diagnostics page and checks that every check is ok, the webhook round trip through
// PUBLIC_URL included.
func expectChecks(t *testing.T, page playwright.Page) {
	t.Helper()
	visible(t, page.GetByTestId("diag-checks"), "the diagnostics checks")
	for _, id := range []string{"credentials", "roundtrip", "clock", "breaker", "calls", "inbox", "reconciler", "database"} {
		must(t, expect.Locator(page.GetByTestId("diag-check-"+id)).ToHaveAttribute("data-status", "ok"), id+" is ok")
	}
	must(t, expect.Locator(page.GetByTestId("diag-summary")).ToHaveAttribute("data-status", "ok"), "the summary is ok")
	must(t, expect.Locator(page.GetByTestId("diag-env")).ToHaveAttribute("data-env", "embedded"), "the environment")
	visible(t, page.Locator(`[data-testid="diag-call-row"][data-endpoint="POST /auth"]`), "the POST /auth just made")
}

// An operator opens /diagnostics from the menu and sees every check green against the embedded sandbox, on a
// desktop and on a phone.
func TestDiagnosticsPageAgainstTheEmbeddedSandbox(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	signIn(t, page)
	must(t, page.GetByTestId("nav-diagnostics").Click(), "open Diagnóstico from the menu")
	expectChecks(t, page)
	shot(t, page, "diagnostics-desktop")

	mobile := phone(t)
	signIn(t, mobile)
	_, err := mobile.Goto(shared.URL + "/diagnostics")
	must(t, err, "open /diagnostics on a phone")
	expectChecks(t, mobile)
	fitsTheScreen(t, mobile, "/diagnostics")
	shot(t, mobile, "diagnostics-phone")
	// The calls table, stacked on a phone, is at the bottom of a long page: keep a picture of it alone.
	if _, err := mobile.GetByTestId("diag-calls").Screenshot(playwright.LocatorScreenshotOptions{
		Path: playwright.String(filepath.Join(artifacts, "screens", "diagnostics-phone-calls.png"))}); err != nil {
		t.Logf("screenshot of the calls: %v", err)
	}

	// A visitor is sent to sign in.
	visitor := desktop(t)
	_, err = visitor.Goto(shared.URL + "/diagnostics")
	must(t, err, "open /diagnostics as a visitor")
	visible(t, visitor.GetByTestId("login-form"), "the sign-in form")
}

// An operator downloads a consent's support bundle from its page: it names the consent and its Klavi calls and
// holds no CPF/CNPJ, email or phone; "Copiar para o suporte" puts the same JSON on the clipboard.
func TestSupportBundleDownloadsWithoutPersonalData(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	start(t, page, shared, "personal", cpfSupport)
	chooseInstitution(t, page, "260")
	approveAtBank(t, page)
	expectStatus(t, page, "AUTHORISED")
	expectReports(t, page, 4)
	consentID, _ := consentAndReport(t, page)
	if n, err := page.GetByTestId("support-box").Count(); err != nil || n != 0 {
		t.Errorf("the end user is offered the support bundle (%d, %v)", n, err)
	}

	signIn(t, page)
	_, err := page.Goto(shared.URL + "/consents/" + consentID)
	must(t, err, "open the consent as the operator")
	visible(t, page.GetByTestId("support-copy"), "the copy button (JavaScript on)")
	dl, err := page.ExpectDownload(func() error { return page.GetByTestId("support-download").Click() })
	must(t, err, "download the support bundle")
	if name := dl.SuggestedFilename(); name != "support-"+consentID+".json" {
		t.Errorf("download named %q", name)
	}
	path, err := dl.Path()
	must(t, err, "the downloaded file")
	raw, err := os.ReadFile(path)
	must(t, err, "read the support bundle")
	var b struct {
		Consent struct {
			ID string `json:"consentId"`
		} `json:"consent"`
		KlaviCalls []struct {
			Endpoint, RequestID string
		} `json:"klaviCalls"`
		Reports []struct{} `json:"reports"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("the bundle is not JSON: %v", err)
	}
	if b.Consent.ID != consentID || len(b.KlaviCalls) == 0 || len(b.Reports) < 4 {
		t.Errorf("bundle: consent %q, %d calls, %d reports", b.Consent.ID, len(b.KlaviCalls), len(b.Reports))
	}
	noTaxIDs(t, "the support bundle", string(raw))
	for _, p := range []string{"@", "civilName", "transactionName"} {
		if strings.Contains(string(raw), p) {
			t.Errorf("the support bundle holds %q", p)
		}
	}

	must(t, page.Context().GrantPermissions([]string{"clipboard-read", "clipboard-write"},
		playwright.BrowserContextGrantPermissionsOptions{Origin: playwright.String(shared.URL)}), "allow the clipboard")
	must(t, page.GetByTestId("support-copy").Click(), "copy for support")
	must(t, expect.Locator(page.GetByTestId("support-status")).ToHaveText("Copiado. Cole na mensagem ao suporte."),
		"the copy is confirmed")
	copied, err := page.Evaluate(`() => navigator.clipboard.readText()`)
	must(t, err, "read the clipboard")
	if s, _ := copied.(string); !strings.Contains(s, `"consentId": "`+consentID+`"`) {
		t.Errorf("the clipboard holds %.200q", s)
	}
	shot(t, page, "support-consent-desktop")
}

// The environment banner is on the start page, readable and slim, on a desktop and on a phone.
func TestEnvironmentBannerOnTheStartPage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		page func(*testing.T) playwright.Page
	}{{"desktop", desktop}, {"phone", phone}} {
		page := tc.page(t)
		_, err := page.Goto(shared.URL + "/")
		must(t, err, "open /")
		banner := page.GetByTestId("env-banner")
		visible(t, banner, "the environment banner")
		must(t, expect.Locator(banner).ToHaveAttribute("data-env", "embedded"), "the embedded sandbox")
		must(t, expect.Locator(banner).ToContainText("Sandbox embutido"), "the banner's words")
		must(t, expect.Locator(banner).ToBeInViewport(), "the banner on the first screen")
		box, err := banner.BoundingBox()
		must(t, err, "measure the banner")
		if box.Height > 64 {
			t.Errorf("%s: the banner is %.0fpx high, want a slim strip", tc.name, box.Height)
		}
		if tc.name == "phone" {
			fitsTheScreen(t, page, "/ with the banner")
		}
		shot(t, page, "banner-start-"+tc.name)
	}
	// Further into the flow it is still there.
	page := desktop(t)
	start(t, page, shared, "personal", cpfBanner)
	visible(t, page.GetByTestId("env-banner"), "the banner on the institution picker")
}

// With PUBLIC_URL pointing where nothing listens, the webhook round trip fails and says so; the rest stays green.
func TestDiagnosticsRoundTripFailsWhenPublicURLIsUnreachable(t *testing.T) {
	t.Parallel()
	p, err := startPortal(t.TempDir(), map[string]string{"PUBLIC_URL": "http://127.0.0.1:9"})
	must(t, err, "start a portal whose PUBLIC_URL points nowhere")
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	must(t, p.addOperator(operatorEmail, operatorPassword), "add the operator")
	page := desktop(t)
	_, err = page.Goto(p.URL + "/login")
	must(t, err, "open /login")
	must(t, page.GetByTestId("login-email").Fill(operatorEmail), "email")
	must(t, page.GetByTestId("login-password").Fill(operatorPassword), "password")
	must(t, page.GetByTestId("login-submit").Click(), "sign in")
	visible(t, page.GetByTestId("signed-in-as"), "signed in")
	_, err = page.Goto(p.URL + "/diagnostics")
	must(t, err, "open /diagnostics")
	visible(t, page.GetByTestId("diag-checks"), "the checks")
	rt := page.GetByTestId("diag-check-roundtrip")
	must(t, expect.Locator(rt).ToHaveAttribute("data-status", "failing"), "the round trip fails")
	must(t, expect.Locator(rt).ToContainText("127.0.0.1:9"), "it names where it tried")
	must(t, expect.Locator(page.GetByTestId("diag-check-credentials")).ToHaveAttribute("data-status", "ok"), "credentials still ok")
	shot(t, page, "diagnostics-roundtrip-failing-desktop")
}
