package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRequestLang(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		query, accept string
		want          lang
	}{
		{"", "", langPT},
		{"ui_locales=en", "", langEN},
		{"ui_locales=en-GB", "pt-BR", langEN},
		{"ui_locales=pt-BR", "en-US,en;q=0.9", langPT},
		{"ui_locales=fr+en", "", langEN}, // the first supported tag of the list
		{"", "en-US,en;q=0.9", langEN},
		{"", "pt-BR,pt;q=0.9,en;q=0.8", langPT},
		{"", "fr-FR", langPT},
		{"ui_locales=%3Cscript%3E", "", langPT},
	} {
		r := httptest.NewRequest(http.MethodGet, "/bank/authorize?"+tt.query, nil)
		if tt.accept != "" {
			r.Header.Set("Accept-Language", tt.accept)
		}
		if got := requestLang(r); got != tt.want {
			t.Errorf("query %q, Accept-Language %q: %s, want %s", tt.query, tt.accept, got, tt.want)
		}
	}
}

// Every key of the catalogue has both languages, and every permission the sandbox grants has a label.
func TestCatalogueIsComplete(t *testing.T) {
	t.Parallel()
	for k, v := range bankMessages {
		if v[0] == "" || v[1] == "" {
			t.Errorf("%s: %q", k, v)
		}
	}
	for _, r := range Scenarios() {
		if scenarioEN[r.TaxID] == "" {
			t.Errorf("scenario %s has no English description", r.TaxID)
		}
	}
	if len(scenarioEN) != len(Scenarios()) {
		t.Errorf("%d English descriptions for %d scenarios", len(scenarioEN), len(Scenarios()))
	}
}

// The consentRedirectURL opened with ui_locales=en gives English bank pages to the end of the flow, whatever the
// browser's Accept-Language; without it, Portuguese.
func TestBankPagesInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	b := newBrowser(t)
	p := b.get(f.created.ConsentRedirectURL + "&ui_locales=en")
	for _, want := range []string{`<html lang="en">`, "Sign in to your account", "Klavi simulation environment", "Test scenarios",
		"Approves (so does any other valid CPF/CNPJ)"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	p = b.post(e.srv.URL+"/bank/login", url.Values{"step": {p.step()}})
	for _, want := range []string{`<html lang="en">`, "Authorise data sharing", "Accounts: balances, limits and statements", ">Decline<"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("permissions page lacks %q", want)
		}
	}
	p = b.post(e.srv.URL+"/bank/authorise", url.Values{"step": {p.step()}, "action": {"authorise"}})
	for _, want := range []string{`<html lang="en">`, "Sharing authorised at Itaú", "Accept and continue"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("LGPD page lacks %q", want)
		}
	}
	// A step that no longer exists: the error speaks the language the form carried.
	p = b.post(e.srv.URL+"/bank/lgpd", url.Values{"step": {"0123"}, "action": {"accept"}, "ui_locales": {"en"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Invalid step") {
		t.Errorf("stale step: %d %s", p.status, p.body)
	}

	f2 := e.startFlow(cpfApprove, "", nil)
	p = newBrowser(t).get(f2.created.ConsentRedirectURL)
	if !strings.Contains(p.body, `<html lang="pt-BR">`) || !strings.Contains(p.body, "Acesse sua conta") {
		t.Errorf("without ui_locales the page is not in Portuguese")
	}
	if p := newBrowser(t).get(e.srv.URL + "/bank/authorize?t=unknown&ui_locales=en"); p.status != 404 || !strings.Contains(p.body, "Invalid link") {
		t.Errorf("unknown link in English: %d", p.status)
	}
}
