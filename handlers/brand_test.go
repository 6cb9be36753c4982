package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/brand"
)

func greenBrand(t *testing.T) brand.Brand {
	t.Helper()
	p, err := brand.Derive(brand.MustHex("#1a7f37"))
	if err != nil {
		t.Fatal(err)
	}
	return brand.Brand{Name: "Banco Verde", Palette: p, SupportURL: "https://ajuda.example.com/x?y=1",
		Logo:     []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>`),
		LogoType: "image/svg+xml"}
}

// Without BRAND_* the pages look as they always did: the name, the letter mark, the default palette.
func TestDefaultBrandOnPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.get(e.browser(), "/")
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	if got := d.Find(`[data-testid="brand-name"]`).Text(); got != "Klavi Link" {
		t.Errorf("brand name = %q", got)
	}
	if got := d.Find("title").Text(); !strings.HasSuffix(got, " · Klavi Link") {
		t.Errorf("title = %q", got)
	}
	if d.Find(".brand-mark").Text() != "K" || d.Find(`[data-testid="brand-logo"]`).Length() != 0 ||
		d.Find(`[data-testid="support-link"]`).Length() != 0 {
		t.Error("the default brand has the K mark, no logo and no help link")
	}
	href, _ := d.Find(`link[href^="/brand/theme.css"]`).Attr("href")
	css := e.get(e.browser(), href)
	wantStatus(t, css, http.StatusOK)
	for _, want := range []string{"--bl-primary: #0b5cff;", "--bl-hover: #0842b8;", "--bl-soft: #e8f0ff;", "--b-mark-end: #6b4dff;"} {
		if !strings.Contains(css.body, want) {
			t.Errorf("brand CSS lacks %q:\n%s", want, css.body)
		}
	}
	if ct := css.header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := css.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("the hashed URL is not cached for long: %q", cc)
	}
	if cc := e.get(e.browser(), "/brand/theme.css?v=old").header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("an old hash is cached: %q", cc)
	}
	wantStatus(t, e.get(e.browser(), "/brand/logo"), http.StatusNotFound)
}

func TestCustomBrandOnPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.Brand = greenBrand(t) })
	c := e.browser()
	for _, path := range []string{"/", "/login", "/no-such-page"} {
		r := e.get(c, path)
		d := r.doc(t)
		if got := d.Find(`[data-testid="brand-name"]`).Text(); got != "Banco Verde" {
			t.Errorf("%s: brand name = %q", path, got)
		}
		if got := d.Find("title").Text(); !strings.HasSuffix(got, " · Banco Verde") {
			t.Errorf("%s: title = %q", path, got)
		}
		if href, _ := d.Find(`[data-testid="support-link"]`).Attr("href"); href != "https://ajuda.example.com/x?y=1" {
			t.Errorf("%s: help link = %q", path, href)
		}
		if src, _ := d.Find(`[data-testid="brand-logo"]`).Attr("src"); !strings.HasPrefix(src, "/brand/logo?v=") {
			t.Errorf("%s: logo src = %q", path, src)
		}
	}
	src, _ := e.get(c, "/").doc(t).Find(`[data-testid="brand-logo"]`).Attr("src")
	logo := e.get(c, src)
	wantStatus(t, logo, http.StatusOK)
	if logo.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(logo.body, "<svg") {
		t.Errorf("logo: %q %q", logo.header.Get("Content-Type"), logo.body)
	}
	// An SVG opened on its own runs nothing.
	if csp := logo.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
		t.Errorf("logo CSP = %q", csp)
	}
	href, _ := e.get(c, "/").doc(t).Find(`link[href^="/brand/theme.css"]`).Attr("href")
	if css := e.get(c, href).body; !strings.Contains(css, "--bl-primary: #1a7f37;") {
		t.Errorf("brand CSS:\n%s", css)
	}
}

// A logo given as an https URL is linked as it is; the CSP allows https images.
func TestBrandLogoURL(t *testing.T) {
	t.Parallel()
	b := greenBrand(t)
	b.Logo, b.LogoType, b.LogoURL = nil, "", "https://cdn.example.com/logo.png"
	e := newEnv(t, func(o *envOptions) { o.Brand = b })
	r := e.get(e.browser(), "/")
	if src, _ := r.doc(t).Find(`[data-testid="brand-logo"]`).Attr("src"); src != b.LogoURL {
		t.Errorf("logo src = %q", src)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https:") {
		t.Errorf("CSP %q does not allow the logo", csp)
	}
	wantStatus(t, e.get(e.browser(), "/brand/logo"), http.StatusNotFound)
}

// The theme switch: a cookie, remembered across pages, rendered by the server; "system" forgets it.
func TestThemeSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	theme := func(path string) (body, media, scheme, current string) {
		t.Helper()
		d := e.get(c, path).doc(t)
		body, _ = d.Find("body").Attr("data-theme")
		media, _ = d.Find("link[data-dark-css]").Attr("media")
		scheme, _ = d.Find(`meta[name="color-scheme"]`).Attr("content")
		current, _ = d.Find(`[data-theme-choice][aria-current]`).Attr("data-theme-choice")
		return
	}
	check := func(path, want, wantMedia, wantScheme string) {
		t.Helper()
		b, m, s, cur := theme(path)
		if b != want || m != wantMedia || s != wantScheme || cur != want {
			t.Errorf("%s: theme %q, dark media %q, color-scheme %q, current %q; want %q, %q, %q", path, b, m, s, cur,
				want, wantMedia, wantScheme)
		}
	}
	check("/", "system", "(prefers-color-scheme: dark)", "light dark")

	r := e.get(c, "/theme/dark?next=/me")
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); loc != "/me" {
		t.Errorf("Location = %q", loc)
	}
	ck := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "theme=dark;") || !strings.Contains(ck, "Path=/") || !strings.Contains(ck, "SameSite=Lax") ||
		!strings.Contains(ck, "Max-Age=31536000") {
		t.Errorf("Set-Cookie = %q", ck)
	}
	check("/me", "dark", "all", "dark")
	check("/login", "dark", "all", "dark")

	wantStatus(t, e.get(c, "/theme/light?next=/"), http.StatusSeeOther)
	check("/", "light", "not all", "light")

	wantStatus(t, e.get(c, "/theme/system?next=/"), http.StatusSeeOther)
	check("/", "system", "(prefers-color-scheme: dark)", "light dark")

	// Anything else: 404, and the next path is never taken from outside.
	wantStatus(t, e.get(c, "/theme/purple?next=/"), http.StatusNotFound)
	if loc := e.get(c, "/theme/dark?next=//evil.example").header.Get("Location"); loc != "/" {
		t.Errorf("open redirect: Location = %q", loc)
	}
	// Any other cookie value follows the system.
	r = e.do(e.browser(), http.MethodGet, "/", nil, map[string]string{"Cookie": "theme=purple"})
	if got, _ := r.doc(t).Find("body").Attr("data-theme"); got != "system" {
		t.Errorf("theme=purple: data-theme %q, want system", got)
	}
}

// The language of the portal goes to the bank as ui_locales, added to Klavi's URL without touching its own
// parameters.
func TestBankURLCarriesTheLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct{ lang, want string }{{"pt", "ui_locales=pt-BR"}, {"en", "ui_locales=en"}} {
		c := e.browser()
		wantStatus(t, e.get(c, "/lang/"+tt.lang+"?next=/"), http.StatusSeeOther)
		wantStatus(t, e.post(c, "/start", url.Values{"person_type": {"personal"}, "tax_id": {"52998224725"}}), http.StatusSeeOther)
		r := e.post(c, "/consents", url.Values{"institution_code": {"341"}, "validity_period": {"12"}})
		wantStatus(t, r, http.StatusSeeOther)
		loc := r.header.Get("Location")
		if !strings.HasPrefix(loc, "http://localhost:1/bank/consent-") || !strings.HasSuffix(loc, "?one-time=secret&"+tt.want) {
			t.Errorf("%s: Location = %q", tt.lang, loc)
		}
	}
}

func TestWithUILocales(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://bank.example/auth":                                  "https://bank.example/auth?ui_locales=en",
		"https://bank.example/auth?scope=openid%20consent%3Aurn&x=1": "https://bank.example/auth?scope=openid%20consent%3Aurn&x=1&ui_locales=en",
		"https://bank.example/auth?":                                 "https://bank.example/auth?ui_locales=en",
		"https://bank.example/auth?a=1#frag":                         "https://bank.example/auth?a=1&ui_locales=en#frag",
		"https://bank.example/auth?ui_locales=pt-BR":                 "https://bank.example/auth?ui_locales=pt-BR",
	} {
		if got := withUILocales(in, "en"); got != want {
			t.Errorf("withUILocales(%q) = %q, want %q", in, got, want)
		}
	}
}
