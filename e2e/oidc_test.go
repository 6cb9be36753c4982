//go:build e2e

package e2e

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
)

// startIDP runs an OpenID Connect provider (mockoidc) in the test process. It listens on 127.0.0.1 but calls
// itself "localhost" (its issuer and endpoints), so the browser's trip portal → provider → portal crosses sites
// as with a real provider, and the return must carry the SameSite=Lax session cookie.
func startIDP(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	must(t, err, "mockoidc")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err, "listen for the provider")
	must(t, m.Start(ln, nil), "start the provider")
	// Server.Addr only names the provider (Issuer and the endpoints are built from it); Serve already has ln.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	m.Server.Addr = "localhost:" + port
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// TestOIDCSignInForOperators: an operator follows the sign-in page's single sign-on button to the provider and
// lands signed in on the page they asked for; a person the provider knows but the allow-list does not is told so.
func TestOIDCSignInForOperators(t *testing.T) {
	t.Parallel()
	idp := startIDP(t)
	p, err := startPortal(t.TempDir(), map[string]string{
		"OIDC_ISSUER":         idp.Issuer(),
		"OIDC_CLIENT_ID":      idp.ClientID,
		"OIDC_CLIENT_SECRET":  idp.ClientSecret,
		"OIDC_ALLOWED_EMAILS": "@ops.example.com",
	})
	must(t, err, "start a portal with single sign-on")
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
		if logs := p.logs.String(); strings.Contains(logs, idp.ClientSecret) {
			t.Error("the portal logged the client secret")
		}
	})

	page := desktop(t)
	_, err = page.Goto(p.URL + "/consents")
	must(t, err, "open the operators' consents page")
	must(t, page.WaitForURL(regexp.MustCompile(`/login\?next=%2Fconsents$`)), "sent to the sign-in page")
	visible(t, page.GetByTestId("login-sso"), "the single sign-on button")
	must(t, expect.Locator(page.GetByTestId("login-sso")).ToHaveText("Entrar com login único (SSO)"), "button label")
	shot(t, page, "login-sso-desktop")

	idp.QueueUser(&mockoidc.MockUser{Subject: "ana-1", Email: "Ana@Ops.Example.com", EmailVerified: true})
	must(t, page.GetByTestId("login-sso").Click(), "sign in with single sign-on")
	must(t, page.WaitForURL(p.URL+"/consents"), "back on the consents page")
	must(t, expect.Locator(page.GetByTestId("signed-in-as")).ToContainText("ana@ops.example.com"), "signed in as the provider's email")
	visible(t, page.GetByTestId("consents-filter"), "the operators' consents list")

	other := desktop(t)
	idp.QueueUser(&mockoidc.MockUser{Subject: "m-1", Email: "mallory@elsewhere.example", EmailVerified: true})
	_, err = other.Goto(p.URL + "/login")
	must(t, err, "open the sign-in page")
	must(t, other.GetByTestId("login-sso").Click(), "single sign-on as someone not on the list")
	visible(t, other.GetByTestId("login-error"), "the refusal")
	must(t, expect.Locator(other.GetByTestId("login-error")).ToHaveText("Este e-mail não tem acesso de operador."), "the denial message")
	must(t, expect.Locator(other.GetByTestId("signed-in-as")).ToHaveCount(0), "not signed in")
	_, err = other.Goto(p.URL + "/consents")
	must(t, err, "try the consents page anyway")
	must(t, other.WaitForURL(regexp.MustCompile(`/login\?next=`)), "still sent to the sign-in page")
	visible(t, other.GetByTestId("login-sso"), "the sign-in page again")
}
