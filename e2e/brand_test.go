//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// Tax ids of the brand and theme tests (valid CPFs outside the scenario table: the sandbox approves them).
const (
	cpfThemeDesktop = "741.741.741-80"
	cpfThemePhone   = "852.852.852-91"
	cpfBankEnglish  = "369.369.369-20"
)

// The dark theme's page background (static/css/dark.css, brand.Dark.Bg) and the light one's (app.css).
const (
	darkBg  = "rgb(15, 20, 27)"
	lightBg = "rgb(245, 247, 251)"
)

// greenLogo is the second brand's logo, an SVG file the portal reads at start.
const greenLogo = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64"><rect width="64" height="64" rx="14" fill="#1a7f37"/><path d="M16 40c6-16 20-22 32-24-2 16-10 28-24 28-3 0-6-1-8-4z" fill="#fff"/></svg>
`

func bodyBackground(t *testing.T, page playwright.Page) string {
	t.Helper()
	v, err := page.Evaluate(`() => getComputedStyle(document.body).backgroundColor`)
	must(t, err, "read the page background")
	s, _ := v.(string)
	return s
}

func wantBackground(t *testing.T, page playwright.Page, want, what string) {
	t.Helper()
	// The theme switch changes the page in place (app.js), so wait for the computed colour rather than read it once.
	_, err := page.WaitForFunction(`want => getComputedStyle(document.body).backgroundColor === want`, want,
		playwright.PageWaitForFunctionOptions{Timeout: playwright.Float(5000)})
	if err != nil {
		t.Fatalf("%s: page background %s, want %s", what, bodyBackground(t, page), want)
	}
}

// lowContrastJS lists the visible text whose colour, against the first opaque background behind it, is under WCAG
// AA (4.5:1; 3:1 for large text). Text over a gradient or a translucent background is skipped, and so is text
// hidden for screen readers only and that of disabled controls; opacity is applied to the text colour.
const lowContrastJS = `() => {
  const parse = s => { const m = /rgba?\(([^)]+)\)/.exec(s); if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const bgOf = el => {
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage !== 'none') return null;
      const c = parse(cs.backgroundColor);
      if (c && c.a > 0) return c.a < 1 ? null : c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const bad = [], seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || !node.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    const box = el.getBoundingClientRect(), cs = getComputedStyle(el);
    if (box.width <= 1 || box.height <= 1 || cs.visibility === 'hidden') continue;
    if (el.closest(':disabled')) continue; // WCAG 1.4.3 exempts inactive controls
    let op = 1;
    for (let e = el; e; e = e.parentElement) op *= parseFloat(getComputedStyle(e).opacity);
    const fg = parse(cs.color), bg = bgOf(el);
    if (!fg || !bg) continue;
    const a = fg.a * op, mix = (x, y) => x * a + y * (1 - a);
    const eff = {r: mix(fg.r, bg.r), g: mix(fg.g, bg.g), b: mix(fg.b, bg.b)};
    const l1 = lum(eff), l2 = lum(bg), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize), large = size >= 24 || (parseInt(cs.fontWeight, 10) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) bad.push(node.textContent.trim().slice(0, 40) + ' [' + cs.color + ' on ' + cs.backgroundColor + ' → ' + ratio.toFixed(2) + ']');
  }
  return bad;
}`

// readable fails the test when some visible text of the page is under AA contrast.
func readable(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	v, err := page.Evaluate(lowContrastJS)
	must(t, err, "measure the contrast of "+what)
	if bad, _ := v.([]any); len(bad) > 0 {
		t.Errorf("%s: %d text(s) under WCAG AA contrast: %v", what, len(bad), bad)
	}
}

// themeShots saves the page in the light and the dark theme (the system's, emulated), checking each is readable,
// and leaves the page light.
func themeShots(t *testing.T, page playwright.Page, name, size string) {
	t.Helper()
	for _, th := range []struct {
		scheme *playwright.ColorScheme
		name   string
		bg     string
	}{{playwright.ColorSchemeLight, "light", ""}, {playwright.ColorSchemeDark, "dark", darkBg}} {
		must(t, page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: th.scheme}), "emulate "+th.name)
		if th.bg != "" {
			wantBackground(t, page, th.bg, name+" in the dark theme")
		}
		readable(t, page, name+" ("+th.name+", "+size+")")
		shot(t, page, "theme-"+th.name+"-"+name+"-"+size)
	}
	must(t, page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: playwright.ColorSchemeLight}), "back to light")
}

// Every kind of page, light and dark (the system's choice), desktop and phone: start, institutions, the bank,
// the consent, a report, sign-in and an error page. Every text on them reaches AA contrast.
func TestThemeScreens(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		size  string
		page  func(*testing.T) playwright.Page
		taxID string
	}{{"desktop", desktop, cpfThemeDesktop}, {"phone", phone, cpfThemePhone}} {
		t.Run(v.size, func(t *testing.T) {
			t.Parallel()
			page := v.page(t)
			_, err := page.Goto(shared.URL + "/")
			must(t, err, "open /")
			themeShots(t, page, "start", v.size)
			start(t, page, shared, "personal", v.taxID)
			themeShots(t, page, "institutions", v.size)
			must(t, page.GetByTestId("choose-341").Click(), "choose Itaú")
			visible(t, page.GetByTestId("consent-submit"), "consent confirmation")
			themeShots(t, page, "consent-new", v.size)
			must(t, page.GetByTestId("consent-submit").Click(), "create the consent")
			visible(t, page.GetByTestId("bank-page"), "the bank's page")
			themeShots(t, page, "bank", v.size)
			approveAtBank(t, page)
			expectStatus(t, page, "AUTHORISED")
			expectReports(t, page, 4)
			themeShots(t, page, "consent", v.size)
			must(t, page.GetByTestId("report-item").Filter(playwright.LocatorFilterOptions{HasText: "pf_checking_account"}).First().Click(),
				"open the checking account report")
			visible(t, page.GetByTestId("report-product"), "report header")
			themeShots(t, page, "report", v.size)
			_, err = page.Goto(shared.URL + "/login")
			must(t, err, "open /login")
			themeShots(t, page, "login", v.size)
			_, err = page.Goto(shared.URL + "/no-such-page")
			must(t, err, "open a missing page")
			visible(t, page.GetByTestId("error-page"), "the 404 page")
			themeShots(t, page, "error", v.size)
		})
	}
}

// The theme switch: dark, kept across a reload and on the next page, then light against a dark system, then the
// system's again.
func TestThemeSwitchIsRemembered(t *testing.T) {
	t.Parallel()
	page := desktop(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	wantBackground(t, page, lightBg, "light by default (system light)")
	must(t, page.GetByTestId("theme-dark").Click(), "choose dark")
	wantBackground(t, page, darkBg, "after choosing dark")
	must(t, expect.Locator(page.GetByTestId("theme-dark")).ToHaveAttribute("aria-current", "true"), "dark marked current")
	_, err = page.Reload()
	must(t, err, "reload")
	wantBackground(t, page, darkBg, "dark after a reload")
	must(t, expect.Locator(page.Locator("body")).ToHaveAttribute("data-theme", "dark"), "the server renders dark")
	_, err = page.Goto(shared.URL + "/login")
	must(t, err, "open another page")
	wantBackground(t, page, darkBg, "dark on the next page")

	must(t, page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: playwright.ColorSchemeDark}), "system turns dark")
	must(t, page.GetByTestId("theme-light").Click(), "choose light")
	wantBackground(t, page, lightBg, "light chosen on a dark system")
	_, err = page.Reload()
	must(t, err, "reload")
	wantBackground(t, page, lightBg, "light kept after a reload on a dark system")
	must(t, page.GetByTestId("theme-system").Click(), "follow the system again")
	wantBackground(t, page, darkBg, "the system's dark again")
	_, err = page.Reload()
	must(t, err, "reload")
	wantBackground(t, page, darkBg, "still the system's after a reload")
	must(t, expect.Locator(page.GetByTestId("theme-system")).ToHaveAttribute("aria-current", "true"), "system marked current")
}

// Without JavaScript the switch still works: the link sets the cookie on the server and comes back.
func TestThemeSwitchWithoutJavaScript(t *testing.T) {
	t.Parallel()
	page := newPage(t, 1280, 900, func(o *playwright.BrowserNewContextOptions) {
		o.JavaScriptEnabled = playwright.Bool(false)
	})
	_, err := page.Goto(shared.URL + "/me")
	must(t, err, "open /me")
	must(t, page.GetByTestId("theme-dark").Click(), "choose dark")
	must(t, page.WaitForURL(regexp.MustCompile(`/me$`)), "back on /me")
	wantBackground(t, page, darkBg, "dark without JavaScript")
}

// A browser whose system is dark gets the dark theme on its first visit, the sandbox's bank page included.
func TestDarkSystemIsDarkByDefault(t *testing.T) {
	t.Parallel()
	page := newPage(t, 1280, 900, func(o *playwright.BrowserNewContextOptions) {
		o.ColorScheme = playwright.ColorSchemeDark
	})
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	wantBackground(t, page, darkBg, "first visit on a dark system")
	must(t, expect.Locator(page.GetByTestId("theme-system")).ToHaveAttribute("aria-current", "true"), "following the system")
	readable(t, page, "start page, dark by default")
	_, err = page.Goto(shared.SandboxURL + "/bank/authorize?t=unknown")
	must(t, err, "open a bank page")
	visible(t, page.GetByTestId("bank-error"), "the bank's error page")
	wantBackground(t, page, darkBg, "the sandbox's page on a dark system")
	readable(t, page, "the sandbox's error page, dark")
}

// The bank's pages speak the portal's language: switched to English, the portal sends the user to the bank with
// ui_locales=en, and every bank page and the LGPD term are in English, though the browser prefers Portuguese.
func TestBankPagesFollowThePortalsLanguage(t *testing.T) {
	t.Parallel()
	page := phone(t)
	_, err := page.Goto(shared.URL + "/")
	must(t, err, "open /")
	must(t, page.GetByTestId("lang-en").Click(), "switch to English")
	start(t, page, shared, "personal", cpfBankEnglish)
	chooseInstitution(t, page, "341")
	if !strings.Contains(page.URL(), "ui_locales=en") {
		t.Errorf("bank URL %s carries no ui_locales=en", page.URL())
	}
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "bank page lang en")
	must(t, expect.Locator(page.Locator("h1")).ToHaveText("Sign in to your account"), "bank sign-in in English")
	must(t, expect.Locator(page.GetByTestId("bank-login")).ToHaveText("Sign in"), "bank button in English")
	must(t, expect.Locator(page.GetByTestId("scenario-table")).ToContainText("Approves"), "scenarios in English")
	shot(t, page, "bank-en-phone")
	must(t, page.GetByTestId("bank-login").Click(), "log in at the bank")
	must(t, expect.Locator(page.GetByTestId("bank-authorise")).ToHaveText("Authorise"), "permissions in English")
	must(t, expect.Locator(page.GetByTestId("bank-permissions")).ToContainText("Accounts: balances"), "permission labels in English")
	must(t, page.GetByTestId("bank-authorise").Click(), "authorise at the bank")
	must(t, expect.Locator(page.GetByTestId("lgpd-accept")).ToHaveText("Accept and continue"), "LGPD term in English")
	must(t, expect.Locator(page.Locator("html")).ToHaveAttribute("lang", "en"), "LGPD page lang en")
	must(t, page.GetByTestId("lgpd-accept").Click(), "accept the LGPD term")
	must(t, page.WaitForURL(regexp.MustCompile(`/consents/[^/]+$`)), "return to the consent page")
	expectStatus(t, page, "AUTHORISED")

	// In Portuguese (the default) the bank speaks Portuguese.
	pt := phone(t)
	start(t, pt, shared, "personal", cpfBankEnglish)
	chooseInstitution(t, pt, "341")
	must(t, expect.Locator(pt.Locator("h1")).ToHaveText("Acesse sua conta"), "bank sign-in in Portuguese")
	must(t, expect.Locator(pt.Locator("html")).ToHaveAttribute("lang", "pt-BR"), "bank page lang pt-BR")
}

// Two brands side by side: the default (today's Klavi look) and a green one with its own name, logo and help
// link, served by a second portal. Each paints its buttons in its colour, light and dark.
func TestBrandScreens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logo := filepath.Join(dir, "logo.svg")
	must(t, os.WriteFile(logo, []byte(greenLogo), 0o600), "write the logo")
	green, err := startPortal(filepath.Join(dir, "portal"), map[string]string{
		"BRAND_NAME":        "Banco Verde",
		"BRAND_COLOR":       "#1a7f37",
		"BRAND_LOGO":        logo,
		"BRAND_SUPPORT_URL": "https://ajuda.example.com/portal",
	})
	must(t, err, "start the green portal")
	t.Cleanup(func() {
		if err := green.stop(); err != nil {
			t.Errorf("stop the green portal: %v", err)
		}
	})

	for _, b := range []struct {
		name, url, title, button string
		logo, support            bool
	}{
		{"default", shared.URL, "Klavi Link", "rgb(11, 92, 255)", false, false},
		{"green", green.URL, "Banco Verde", "rgb(26, 127, 55)", true, true},
	} {
		for _, v := range []struct {
			size string
			page func(*testing.T) playwright.Page
		}{{"desktop", desktop}, {"phone", phone}} {
			page := v.page(t)
			_, err := page.Goto(b.url + "/")
			must(t, err, "open "+b.name)
			must(t, expect.Locator(page.GetByTestId("brand-name")).ToHaveText(b.title), b.name+": name in the header")
			must(t, expect.Page(page).ToHaveTitle(regexp.MustCompile(regexp.QuoteMeta(" · "+b.title)+"$")), b.name+": tab title")
			bg, err := page.GetByTestId("start-submit").Evaluate(`el => getComputedStyle(el).backgroundColor`, nil)
			must(t, err, "read the button colour")
			if bg != b.button {
				t.Errorf("%s: primary button %v, want %s", b.name, bg, b.button)
			}
			if b.logo {
				visible(t, page.GetByTestId("brand-logo"), b.name+": logo")
				ok, err := page.GetByTestId("brand-logo").Evaluate(`img => img.complete && img.naturalWidth > 0`, nil)
				must(t, err, "logo loaded?")
				if ok != true {
					t.Errorf("%s: the logo did not load", b.name)
				}
			} else {
				must(t, expect.Locator(page.GetByTestId("brand-logo")).ToHaveCount(0), b.name+": letter mark, no logo")
			}
			if b.support {
				must(t, expect.Locator(page.GetByTestId("support-link")).ToHaveAttribute("href", "https://ajuda.example.com/portal"),
					b.name+": help link")
			} else {
				must(t, expect.Locator(page.GetByTestId("support-link")).ToHaveCount(0), b.name+": no help link")
			}
			fitsTheScreen(t, page, b.name+" start page")
			readable(t, page, b.name+" start page, light")
			shot(t, page, fmt.Sprintf("brand-%s-start-%s", b.name, v.size))
			must(t, page.GetByTestId("theme-dark").Click(), "choose dark")
			wantBackground(t, page, darkBg, b.name+" dark")
			readable(t, page, b.name+" start page, dark")
			shot(t, page, fmt.Sprintf("brand-%s-start-%s-dark", b.name, v.size))
		}
	}
	// The brand stylesheet and the logo are content-addressed: cached for a year.
	page := desktop(t)
	_, err = page.Goto(green.URL + "/")
	must(t, err, "open the green portal")
	for _, sel := range []string{`link[href^="/brand/theme.css?v="]`, `img[src^="/brand/logo?v="]`} {
		attr := "href"
		if strings.HasPrefix(sel, "img") {
			attr = "src"
		}
		u, err := page.Locator(sel).First().GetAttribute(attr)
		must(t, err, "find "+sel)
		resp, err := page.Request().Get(green.URL + u)
		must(t, err, "fetch "+u)
		if resp.Status() != 200 || !strings.Contains(resp.Headers()["cache-control"], "immutable") {
			t.Errorf("%s: status %d, Cache-Control %q", u, resp.Status(), resp.Headers()["cache-control"])
		}
	}
}
