//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// Valid CPFs outside the sandbox's scenario table (it approves them), one per test that needs a consent of its own,
// so that a test's consent is easy to tell apart in the shared portal.
const (
	cpfVisitorView  = "852.741.963-73" // TestVisitorWithoutCookieSeesNothing
	cpfOperatorView = "741.852.963-55" // TestOperatorSignsInSeesEverythingAndSignOutEndsEveryCopy
	cpfScreens      = "147.258.369-82" // TestAccessScreens
)

var consentPath = regexp.MustCompile(`/consents/([0-9a-fA-F-]+)$`)

// consentElsewhere walks the flow in a browser context of its own (another browser than the test's others) up to
// an AUTHORISED consent with its reports, and returns the consent's id and its pf_checking_account report's id.
func consentElsewhere(t *testing.T, taxID, institution string) (consentID, reportID string) {
	t.Helper()
	page := desktop(t)
	authorise(t, page, shared, "personal", taxID, institution)
	expectReports(t, page, 4)
	return consentAndReport(t, page)
}

// consentAndReport reads, on a consent page with its reports, the consent's id and its pf_checking_account
// report's id.
func consentAndReport(t *testing.T, page playwright.Page) (consentID, reportID string) {
	t.Helper()
	m := consentPath.FindStringSubmatch(page.URL())
	if m == nil {
		t.Fatalf("not on a consent page: %s", page.URL())
	}
	href, err := page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_checking_account"}).
		First().GetAttribute("href")
	must(t, err, "the checking account report's link")
	reportID, ok := strings.CutPrefix(href, "/reports/")
	if !ok || reportID == "" {
		t.Fatalf("report link %q, want /reports/{id}", href)
	}
	return m[1], reportID
}

// noTaxIDs fails the test when body carries a CPF/CNPJ in clear.
func noTaxIDs(t *testing.T, what, body string) {
	t.Helper()
	if leaks := unmaskedTaxIDs(body); len(leaks) > 0 {
		t.Errorf("%s carries %d CPF/CNPJ in clear: %v", what, len(leaks), leaks)
	}
}

// fetch GETs path from the page's browser context (its cookies, no redirects followed) and returns the status,
// the headers and the body.
func fetch(t *testing.T, page playwright.Page, path string) (int, map[string]string, string) {
	t.Helper()
	resp, err := page.Request().Get(shared.URL+path, playwright.APIRequestContextGetOptions{MaxRedirects: playwright.Int(0)})
	must(t, err, "GET "+path)
	body, err := resp.Text()
	must(t, err, "read "+path)
	return resp.Status(), resp.Headers(), body
}

// A request without any cookie (Go's client, no jar, and a fresh browser context) reaches none of the operators'
// pages and none of another browser's consent, report or downloads, and no answer carries a tax id in clear.
func TestVisitorWithoutCookieSeesNothing(t *testing.T) {
	t.Parallel()
	consentID, reportID := consentElsewhere(t, cpfVisitorView, "341")

	client := &http.Client{Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// get answers the status, the Location header and the body of GET path, and checks the body for tax ids.
	get := func(path string) (status int, location, body string) {
		t.Helper()
		resp, err := client.Get(shared.URL + path)
		must(t, err, "GET "+path)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		must(t, err, "read "+path)
		noTaxIDs(t, "GET "+path, string(b))
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}

	for _, path := range []string{"/consents", "/webhooks", "/audit"} {
		status, location, _ := get(path)
		want := "/login?next=" + strings.ReplaceAll(path, "/", "%2F")
		if status != http.StatusSeeOther || location != want {
			t.Errorf("GET %s without a cookie = %d to %q, want 303 to %q", path, status, location, want)
		}
	}
	for _, path := range []string{"/consents/" + consentID, "/consents/" + consentID + "/live", "/reports/" + reportID,
		"/reports/" + reportID + "/transactions.csv", "/reports/" + reportID + "/report.json",
		"/reports/" + reportID + "/transactions-br.csv", "/reports/" + reportID + "/transactions.xlsx",
		"/reports/" + reportID + "/report.json?original=1"} {
		if status, _, _ := get(path); status != http.StatusNotFound {
			t.Errorf("GET %s of another browser's consent without a cookie = %d, want 404", path, status)
		}
	}
	if status, _, body := get("/me"); status != http.StatusOK || strings.Contains(body, consentID) {
		t.Errorf("GET /me without a cookie = %d, listing the other browser's consent: %v", status, strings.Contains(body, consentID))
	}

	// The same in a fresh browser: the 404 page, which says nothing about the consent.
	page := desktop(t)
	resp, err := page.Goto(shared.URL + "/consents/" + consentID)
	must(t, err, "open another browser's consent")
	if resp.Status() != http.StatusNotFound {
		t.Fatalf("another browser's consent page = %d, want 404", resp.Status())
	}
	must(t, expect.Locator(page.GetByTestId("error-page")).ToHaveAttribute("data-status", "404"), "the 404 page")
	html, err := page.Content()
	must(t, err, "read the 404 page")
	noTaxIDs(t, "the 404 page", html)
	if strings.Contains(html, "963-73") || strings.Contains(html, ".741.963") {
		t.Error("the 404 page shows the consent's CPF, even masked")
	}
	resp, err = page.Goto(shared.URL + "/audit")
	must(t, err, "open /audit")
	must(t, page.WaitForURL(regexp.MustCompile(`/login\?next=%2Faudit$`)), "sent to the sign-in page")
	if resp.Status() != http.StatusOK {
		t.Fatalf("/audit in a fresh browser ends with %d, want the sign-in page (200)", resp.Status())
	}
	visible(t, page.GetByTestId("login-form"), "the sign-in form")
}

// Browser A owns what it started: the consent, its reports and downloads (JSON masked), its /me, the revoke.
// Browser B sees none of it; once A forgets this browser, A no longer sees it either.
func TestConsentBelongsToTheBrowserThatStartedIt(t *testing.T) {
	t.Parallel()
	a := desktop(t)
	authorise(t, a, shared, "personal", cpfApprove, "341")
	expectReports(t, a, 4)
	consentURL := a.URL()
	consentID, reportID := consentAndReport(t, a)

	must(t, a.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_checking_account"}).First().Click(),
		"open the checking account report")
	visible(t, a.GetByTestId("report-product"), "the report")
	csvHref, err := a.GetByTestId("download-csv").GetAttribute("href")
	must(t, err, "CSV link")
	jsonHref, err := a.GetByTestId("download-json").GetAttribute("href")
	must(t, err, "JSON link")
	status, headers, csv := fetch(t, a, csvHref)
	if status != http.StatusOK || !strings.Contains(headers["content-type"], "text/csv") || strings.Count(csv, "\n") < 10 {
		t.Fatalf("CSV download: status %d, type %q, %d lines", status, headers["content-type"], strings.Count(csv, "\n"))
	}
	noTaxIDs(t, "the CSV", csv)
	status, headers, js := fetch(t, a, jsonHref)
	if status != http.StatusOK || !strings.Contains(headers["content-type"], "application/json") {
		t.Fatalf("JSON download: status %d, type %q", status, headers["content-type"])
	}
	noTaxIDs(t, "the JSON download", js)
	if !strings.Contains(js, "***.982.247-**") {
		t.Error("the JSON download does not carry the holder's CPF masked (***.982.247-**)")
	}
	// The original is the operators' alone.
	if status, _, _ := fetch(t, a, jsonHref+"?original=1"); status != http.StatusNotFound {
		t.Errorf("the original JSON for the browser that started the consent = %d, want 404 (operators only)", status)
	}

	_, err = a.Goto(shared.URL + "/me")
	must(t, err, "open /me")
	row := a.Locator(`[data-testid="me-row"][data-consent-id="` + consentID + `"]`)
	visible(t, row, "the consent on /me")
	must(t, expect.Locator(row).ToContainText("***.982.247-**"), "the CPF masked on /me")

	// Browser B: nothing of A's (a download URL answers with the 404 page, not a file), not even a revoke.
	b := desktop(t)
	for _, path := range []string{"/consents/" + consentID, "/reports/" + reportID, csvHref, jsonHref} {
		resp, err := b.Goto(shared.URL + path)
		must(t, err, "B opens "+path)
		if resp.Status() != http.StatusNotFound {
			t.Errorf("browser B: GET %s = %d, want 404", path, resp.Status())
		}
		html, err := b.Content()
		must(t, err, "read B's page")
		noTaxIDs(t, "B's "+path, html)
	}
	revoke, err := b.Request().Post(shared.URL+"/consents/"+consentID+"/revoke",
		playwright.APIRequestContextPostOptions{MaxRedirects: playwright.Int(0)})
	must(t, err, "B posts a revoke of A's consent")
	if revoke.Status() != http.StatusNotFound {
		t.Errorf("browser B: POST revoke of A's consent = %d, want 404", revoke.Status())
	}
	_, err = b.Goto(shared.URL + "/me")
	must(t, err, "B opens /me")
	visible(t, b.GetByTestId("me-empty"), "B's /me is empty")
	must(t, expect.Locator(b.GetByTestId("me-row")).ToHaveCount(0), "no consent on B's /me")

	// A revokes its consent (B's attempt changed nothing: it is still AUTHORISED).
	must(t, row.GetByTestId("me-open").Click(), "open it from /me")
	must(t, a.WaitForURL(consentURL), "the consent page")
	expectStatus(t, a, "AUTHORISED")
	must(t, a.GetByTestId("revoke-button").Click(), "ask to revoke")
	must(t, a.GetByTestId("revoke-confirm").Click(), "confirm")
	expectStatus(t, a, "REVOKED")

	// A forgets this browser: /me empties and the consent is A's no more.
	_, err = a.Goto(shared.URL + "/me")
	must(t, err, "A opens /me")
	must(t, a.GetByTestId("me-forget").Click(), "forget this browser")
	must(t, a.WaitForURL(regexp.MustCompile(`/me$`)), "back on /me")
	visible(t, a.GetByTestId("flash"), "the browser was forgotten")
	visible(t, a.GetByTestId("me-empty"), "A's /me is empty")
	must(t, expect.Locator(a.GetByTestId("me-row")).ToHaveCount(0), "no consent on A's /me")
	resp, err := a.Goto(consentURL)
	must(t, err, "A reopens the consent")
	if resp.Status() != http.StatusNotFound {
		t.Fatalf("A after forgetting this browser: the consent page = %d, want 404", resp.Status())
	}
	visible(t, a.GetByTestId("error-page"), "the 404 page")
}

// An operator signs in (a wrong password and an unknown email get the same answer), sees and opens the consents of
// other browsers, downloads a report's original JSON, finds it all in the audit trail; signing out ends every copy
// of the session cookie.
func TestOperatorSignsInSeesEverythingAndSignOutEndsEveryCopy(t *testing.T) {
	t.Parallel()
	consentID, reportID := consentElsewhere(t, cpfOperatorView, "260")

	page := desktop(t)
	_, err := page.Goto(shared.URL + "/login")
	must(t, err, "open /login")
	visible(t, page.GetByTestId("nav-login"), "the visitor's sign-in link")
	must(t, expect.Locator(page.GetByTestId("nav-consents")).ToHaveCount(0), "no operator nav for a visitor")
	failWith := func(email, password string) string {
		t.Helper()
		must(t, page.GetByTestId("login-email").Fill(email), "type the email")
		must(t, page.GetByTestId("login-password").Fill(password), "type the password")
		must(t, page.GetByTestId("login-submit").Click(), "sign in")
		visible(t, page.GetByTestId("login-error"), "the sign-in error")
		msg, err := page.GetByTestId("login-error").InnerText()
		must(t, err, "read the sign-in error")
		return msg
	}
	wrongPassword := failWith(operatorEmail, "not-the-operator-password")
	must(t, expect.Locator(page.GetByTestId("signed-in-as")).ToHaveCount(0), "not signed in")
	shot(t, page, "login-error-desktop")
	unknownEmail := failWith("nobody@e2e.test", operatorPassword)
	if wrongPassword != unknownEmail || wrongPassword == "" {
		t.Errorf("sign-in errors differ: wrong password %q, unknown email %q", wrongPassword, unknownEmail)
	}

	signIn(t, page)
	for _, id := range []string{"nav-consents", "nav-webhooks", "nav-audit", "logout"} {
		visible(t, page.GetByTestId(id), id+" for an operator")
	}
	must(t, expect.Locator(page.GetByTestId("nav-login")).ToHaveCount(0), "no sign-in link once signed in")

	_, err = page.Goto(shared.URL + "/consents")
	must(t, err, "open the consent list")
	row := page.Locator(`[data-testid="consent-row"][data-consent-id="` + consentID + `"]`)
	visible(t, row, "another browser's consent in the list")
	must(t, expect.Locator(row).ToContainText("***.852.963-**"), "its CPF masked")
	html, err := page.Content()
	must(t, err, "read the consent list")
	noTaxIDs(t, "the consent list", html)
	must(t, row.GetByTestId("consent-open").Click(), "open it")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/`+regexp.QuoteMeta(consentID)+`$`)), "its page")
	expectStatus(t, page, "AUTHORISED")
	expectReports(t, page, 4)

	status, headers, original := fetch(t, page, "/reports/"+reportID+"/report.json?original=1")
	if status != http.StatusOK || !strings.Contains(headers["content-type"], "application/json") {
		t.Fatalf("original JSON for an operator: status %d, type %q", status, headers["content-type"])
	}
	if !strings.Contains(original, "74185296355") && !strings.Contains(original, cpfOperatorView) {
		t.Error("the original JSON does not carry the holder's CPF: it is not the original")
	}
	_, _, masked := fetch(t, page, "/reports/"+reportID+"/report.json")
	noTaxIDs(t, "the operator's default (masked) JSON", masked)
	// The operator revokes another browser's consent.
	must(t, page.GetByTestId("revoke-button").Click(), "ask to revoke")
	must(t, page.GetByTestId("revoke-confirm").Click(), "confirm")
	expectStatus(t, page, "REVOKED")

	_, err = page.Goto(shared.URL + "/audit")
	must(t, err, "open the audit trail")
	visible(t, page.GetByTestId("audit-table"), "the audit table")
	rows := func(action, ok, text string) playwright.Locator {
		return page.Locator(`[data-testid="audit-row"][data-action="` + action + `"][data-ok="` + ok + `"]`).
			Filter(playwright.LocatorFilterOptions{HasText: text})
	}
	visible(t, rows("signin", "true", operatorEmail).First(), "a successful sign-in")
	visible(t, rows("signin", "false", operatorEmail).First(), "the wrong password")
	visible(t, rows("signin", "false", "nobody@e2e.test").First(), "the unknown email")
	visible(t, rows("download_original", "true", reportID).First(), "the original download")
	must(t, expect.Locator(rows("download_original", "true", reportID).First()).ToContainText(operatorEmail), "by the operator")
	visible(t, rows("revoke", "true", consentID).First(), "the revoke")
	must(t, expect.Locator(rows("revoke", "true", consentID).First()).ToContainText(operatorEmail), "by the operator")
	html, err = page.Content()
	must(t, err, "read the audit trail")
	noTaxIDs(t, "the audit trail", html)

	// A copy of the cookies in another context works until the operator signs out; then it is worthless.
	state, err := page.Context().StorageState()
	must(t, err, "copy the cookies")
	thief := newPage(t, 1280, 900, func(o *playwright.BrowserNewContextOptions) { o.StorageState = state.ToOptionalStorageState() })
	if status, _, _ := fetch(t, thief, "/consents"); status != http.StatusOK {
		t.Fatalf("the copied cookie before sign-out: GET /consents = %d, want 200", status)
	}
	must(t, page.GetByTestId("logout").Click(), "sign out")
	must(t, page.WaitForURL(shared.URL+"/"), "back on the start page")
	visible(t, page.GetByTestId("nav-login"), "signed out")
	status, headers, _ = fetch(t, thief, "/consents")
	if status != http.StatusSeeOther || !strings.HasPrefix(headers["location"], "/login?next=") {
		t.Fatalf("the copied cookie after sign-out: GET /consents = %d to %q, want 303 to /login", status, headers["location"])
	}
	_, err = thief.Goto(shared.URL + "/consents")
	must(t, err, "the copy opens /consents")
	must(t, thief.WaitForURL(regexp.MustCompile(`/login\?next=%2Fconsents$`)), "the copy is sent to the sign-in page")
	if status, _, _ := fetch(t, page, "/consents/"+consentID); status != http.StatusNotFound {
		t.Errorf("after sign-out the other browser's consent = %d, want 404", status)
	}

	// The sign-out is in the trail too.
	signIn(t, page)
	_, err = page.Goto(shared.URL + "/audit")
	must(t, err, "open the audit trail again")
	visible(t, rows("signout", "true", operatorEmail).First(), "the sign-out")
}

var setupLink = regexp.MustCompile(`level=WARN .*url="?(http://[^"\s]+/login/setup\?token=[A-Za-z0-9_-]+)`)

// A portal with no operator logs a one-time link at its first start: it creates the first operator (after a
// mismatch is explained) and signs them in; used once, it no longer works.
func TestFirstRunSetupLinkCreatesTheFirstOperatorOnce(t *testing.T) {
	t.Parallel()
	p, err := startPortal(t.TempDir(), nil)
	must(t, err, "start a portal with a fresh database")
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	m := setupLink.FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatalf("no WARN line with the setup URL in the logs:\n%s", p.logs.String())
	}
	link := m[1]
	if !strings.HasPrefix(link, p.URL+"/login/setup?token=") {
		t.Fatalf("setup link %q is not on the portal at %s", link, p.URL)
	}

	// Opening it is not using it: the phone sees the form too.
	mobile := phone(t)
	_, err = mobile.Goto(link)
	must(t, err, "open the setup link on a phone")
	visible(t, mobile.GetByTestId("setup-submit"), "the setup form on a phone")
	shot(t, mobile, "setup-phone")

	page := desktop(t)
	resp, err := page.Goto(link)
	must(t, err, "open the setup link")
	if resp.Status() != http.StatusOK {
		t.Fatalf("setup link = %d, want 200", resp.Status())
	}
	visible(t, page.GetByTestId("setup-form"), "the setup form")
	shot(t, page, "setup-desktop")
	must(t, page.GetByTestId("setup-email").Fill("first@e2e.test"), "type the email")
	must(t, page.GetByTestId("setup-password").Fill("first-operator-passphrase"), "type the password")
	must(t, page.GetByTestId("setup-password2").Fill("first-operator-passphrase-typo"), "type another password")
	must(t, page.GetByTestId("setup-submit").Click(), "submit")
	visible(t, page.GetByTestId("setup-error"), "the mismatch is explained")
	must(t, expect.Locator(page.GetByTestId("setup-email")).ToHaveValue("first@e2e.test"), "the form keeps the email")
	shot(t, page, "setup-mismatch-desktop")

	must(t, page.GetByTestId("setup-password").Fill("first-operator-passphrase"), "type the password")
	must(t, page.GetByTestId("setup-password2").Fill("first-operator-passphrase"), "type it again")
	must(t, page.GetByTestId("setup-submit").Click(), "create the operator")
	must(t, page.WaitForURL(p.URL+"/consents"), "signed in on the consent list")
	must(t, expect.Locator(page.GetByTestId("signed-in-as")).ToContainText("first@e2e.test"), "signed in as the new operator")
	visible(t, page.GetByTestId("nav-audit"), "the operators' nav")

	resp, err = page.Goto(link)
	must(t, err, "open the setup link again")
	if resp.Status() != http.StatusNotFound {
		t.Errorf("a used setup link = %d, want 404", resp.Status())
	}
	visible(t, page.GetByTestId("setup-error"), "the link no longer works")
	shot(t, page, "setup-used-desktop")
	// The phone still has the form of the used link: submitting it creates nobody.
	must(t, mobile.GetByTestId("setup-email").Fill("second@e2e.test"), "type another email")
	must(t, mobile.GetByTestId("setup-password").Fill("second-operator-passphrase"), "type a password")
	must(t, mobile.GetByTestId("setup-password2").Fill("second-operator-passphrase"), "type it again")
	must(t, mobile.GetByTestId("setup-submit").Click(), "submit the used link's form")
	visible(t, mobile.GetByTestId("setup-error"), "the used link's form is refused")
	must(t, expect.Locator(mobile.GetByTestId("signed-in-as")).ToHaveCount(0), "nobody signed in")

	// Operators added and removed with the command line are in the trail, as is the first one.
	must(t, p.addOperator("second@e2e.test", "second-operator-passphrase"), "portal operator add")
	must(t, p.operatorCommand("", "remove", "--email", "second@e2e.test"), "portal operator remove")
	_, err = page.Goto(p.URL + "/audit")
	must(t, err, "open the audit trail")
	row := func(action, text string) playwright.Locator {
		return page.Locator(`[data-testid="audit-row"][data-action="` + action + `"][data-ok="true"]`).
			Filter(playwright.LocatorFilterOptions{HasText: text})
	}
	visible(t, row("operator_added", "first-run setup"), "the first operator, made by the setup link")
	visible(t, row("signin", "first@e2e.test"), "their sign-in")
	for _, action := range []string{"operator_added", "operator_removed"} {
		visible(t, row(action, "second@e2e.test"), action+" from the command line")
		must(t, expect.Locator(row(action, "second@e2e.test")).ToContainText("cli"), action+" by cli")
	}
	shot(t, page, "audit-operators-desktop")

	if logs := p.logs.String(); strings.Contains(logs, "operator-passphrase") {
		t.Error("the portal logged a password typed on the setup page")
	}
}

// Screenshots of the access pages at desktop and phone widths: /login, /me with a consent, /audit (the setup page
// is shot by TestFirstRunSetupLinkCreatesTheFirstOperatorOnce). On a phone the header, with the operator's
// links, must fit the screen.
func TestAccessScreens(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	_, err := page.Goto(shared.URL + "/login")
	must(t, err, "open /login")
	visible(t, page.GetByTestId("login-form"), "the sign-in form")
	shot(t, page, "login-desktop")
	authorise(t, page, shared, "personal", cpfScreens, "260")
	_, err = page.Goto(shared.URL + "/me")
	must(t, err, "open /me")
	visible(t, page.GetByTestId("me-row"), "the consent on /me")
	shot(t, page, "me-desktop")

	// The phone gets this browser's device cookie (not its session), so its /me lists the same consent.
	state, err := page.Context().StorageState()
	must(t, err, "copy the device cookie")
	var device []playwright.Cookie
	for _, c := range state.Cookies {
		if c.Name == "device" {
			device = append(device, c)
		}
	}
	if len(device) != 1 {
		t.Fatalf("%d device cookies after a consent, want 1", len(device))
	}
	state.Cookies = device
	mobile := newPage(t, 390, 844, func(o *playwright.BrowserNewContextOptions) {
		o.IsMobile, o.HasTouch = playwright.Bool(true), playwright.Bool(true)
		o.StorageState = state.ToOptionalStorageState()
	})
	_, err = mobile.Goto(shared.URL + "/login")
	must(t, err, "open /login on a phone")
	visible(t, mobile.GetByTestId("login-submit"), "the sign-in button on a phone")
	fitsTheScreen(t, mobile, "/login")
	shot(t, mobile, "login-phone")
	_, err = mobile.Goto(shared.URL + "/me")
	must(t, err, "open /me on a phone")
	visible(t, mobile.GetByTestId("me-row"), "the consent on /me on a phone")
	visible(t, mobile.GetByTestId("me-forget"), "the forget button on a phone")
	fitsTheScreen(t, mobile, "/me")
	shot(t, mobile, "me-phone")

	signIn(t, page)
	_, err = page.Goto(shared.URL + "/audit")
	must(t, err, "open /audit")
	visible(t, page.GetByTestId("audit-row").First(), "audit rows")
	shot(t, page, "audit-desktop")
	signIn(t, mobile)
	_, err = mobile.Goto(shared.URL + "/audit")
	must(t, err, "open /audit on a phone")
	visible(t, mobile.GetByTestId("audit-row").First(), "audit rows on a phone")
	shot(t, mobile, "audit-phone")
	fitsTheScreen(t, mobile, "/audit")
	for _, id := range []string{"nav-start", "nav-me", "nav-consents", "nav-webhooks", "nav-audit", "logout"} {
		must(t, expect.Locator(mobile.GetByTestId(id)).ToBeInViewport(), id+" on the phone's screen")
	}
}

// fitsTheScreen fails the test when the page, or its header nav, is wider than the screen (a sideways scroll).
func fitsTheScreen(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	v, err := page.Evaluate(`() => {
		const nav = document.querySelector('.site-header nav');
		return [document.documentElement.scrollWidth, window.innerWidth, nav ? nav.scrollWidth - nav.clientWidth : 0];
	}`)
	must(t, err, "measure "+what)
	w, ok := v.([]any)
	if !ok || len(w) != 3 {
		t.Fatalf("measure %s: got %v", what, v)
	}
	num := func(x any) int {
		switch n := x.(type) {
		case int:
			return n
		case float64:
			return int(n)
		}
		return -1
	}
	if page, screen, navOverflow := num(w[0]), num(w[1]), num(w[2]); page > screen || navOverflow > 0 {
		t.Errorf("%s on a phone: page %dpx wide on a %dpx screen, header nav overflows by %dpx", what, page, screen, navOverflow)
	}
}
