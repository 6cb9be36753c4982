package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klavi-demo/portal/brand"
	"github.com/klavi-demo/portal/views"
)

// brandAssets is what the pages need of the configured brand: the generated stylesheet of its palette and the
// logo, each served content-addressed (a ?v=<hash> URL cached for a year), like the static files. Serving the
// palette as a stylesheet of our own origin keeps the CSP strict: no inline style, no nonce.
type brandAssets struct {
	b               brand.Brand
	css             []byte
	cssHash         string
	cssURL, logoURL string // logoURL: "" for the letter mark, ours for a file, else the configured https URL
	logoHash        string
}

func newBrandAssets(b brand.Brand) brandAssets {
	if b.Name == "" {
		b = brand.Default()
	}
	a := brandAssets{b: b, css: []byte(b.Palette.CSS())}
	a.cssHash = shortHash(a.css)
	a.cssURL = brandCSSPath + "?v=" + a.cssHash
	switch {
	case len(b.Logo) > 0:
		a.logoHash = shortHash(b.Logo)
		a.logoURL = brandLogoPath + "?v=" + a.logoHash
	case b.LogoURL != "":
		// Referenced directly: the CSP's img-src already allows https images (bank logos come from several
		// origins), so nothing is added for it.
		a.logoURL = b.LogoURL
	}
	return a
}

const (
	brandCSSPath  = "/brand/theme.css"
	brandLogoPath = "/brand/logo"
	themeCookie   = "theme"
)

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// setMeta fills the layout's brand and theme fields.
func (a brandAssets) setMeta(m *views.Meta, r *http.Request) {
	m.BrandName = a.b.Name
	m.BrandMark = brand.Mark(a.b.Name)
	m.LogoURL = a.logoURL
	m.SupportURL = a.b.SupportURL
	m.BrandCSS = a.cssURL
	m.Theme = themeOf(r)
}

// serveAsset writes content-addressed bytes: cached for a year when the request names the current hash, else
// revalidated (an old page asking for an old hash gets the current bytes, never cached as the old ones).
func serveAsset(w http.ResponseWriter, r *http.Request, body []byte, hash, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", `"`+hash+`"`)
	if r.URL.Query().Get("v") == hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// handleBrandCSS answers GET /brand/theme.css: the brand palette as custom properties (brand.Palette.CSS).
func (s *Server) handleBrandCSS(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, s.brand.css, s.brand.cssHash, "text/css; charset=utf-8")
}

// handleBrandLogo answers GET /brand/logo: the BRAND_LOGO file read at start; 404 when the logo is a URL or there
// is none. An SVG opened on its own gets a policy that runs nothing.
func (s *Server) handleBrandLogo(w http.ResponseWriter, r *http.Request) {
	if len(s.brand.b.Logo) == 0 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	serveAsset(w, r, s.brand.b.Logo, s.brand.logoHash, s.brand.b.LogoType)
}

// themeOf reads the theme the browser chose (the theme cookie, also written by app.js); anything else follows
// the system.
func themeOf(r *http.Request) string {
	if c, err := r.Cookie(themeCookie); err == nil && (c.Value == views.ThemeLight || c.Value == views.ThemeDark) {
		return c.Value
	}
	return views.ThemeSystem
}

// handleTheme answers GET /theme/{mode}?next=/path: remembers light or dark in this browser (system forgets the
// choice) and goes back. The cookie is not HttpOnly: app.js writes the same cookie to switch without a reload.
// It holds no secret, only the word light or dark.
func (s *Server) handleTheme(w http.ResponseWriter, r *http.Request) {
	mode := chi.URLParam(r, "mode")
	//nolint:gosec // G124: readable by app.js on purpose (not HttpOnly); it holds only "light" or "dark"
	c := &http.Cookie{Name: themeCookie, Path: "/", SameSite: http.SameSiteLaxMode, Secure: s.secure}
	switch mode {
	case views.ThemeLight, views.ThemeDark:
		c.Value, c.MaxAge = mode, 365*24*3600
	case views.ThemeSystem:
		c.MaxAge = -1
	default:
		s.errorPage(w, r, http.StatusNotFound)
		return
	}
	http.SetCookie(w, c)
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps local paths only
}
