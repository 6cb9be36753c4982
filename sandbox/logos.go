package sandbox

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"
)

// logoCache holds the rendered SVG of every institution; built once because the catalogue is immutable and
// rendering is deterministic.
var logoCache = func() map[string][]byte {
	m := make(map[string][]byte, len(instFixtures))
	for i := range instFixtures {
		m[instFixtures[i].code] = renderLogo(&instFixtures[i])
	}
	return m
}()

// LogoSVG returns the institution's logo: a rounded square in the brand colour with its short name in white
// (viewBox 0 0 64 64, no external references, no scripts). The core serves it at GET /logos/{code}.svg with
// Content-Type image/svg+xml. The returned slice is a copy; false for an unknown code.
func LogoSVG(code string) ([]byte, bool) {
	b, ok := logoCache[code]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// renderLogo draws one logo. The font size shrinks with the label length so that 1–4 characters fit the square.
func renderLogo(f *instFixture) []byte {
	size := 28
	switch n := utf8.RuneCountInString(f.short); {
	case n <= 1:
		size = 34
	case n == 3:
		size = 21
	case n >= 4:
		size = 19
	}
	// Light backgrounds (Will Bank's yellow) need dark text to stay readable.
	fg := "#FFFFFF"
	if logoIsLight(f.color) {
		fg = "#1A1A1A"
	}
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64" role="img"`)
	fmt.Fprintf(&b, ` aria-label="%s">`, html.EscapeString(f.name))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(f.name))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="64" height="64" rx="14" ry="14" fill="%s"/>`, f.color)
	fmt.Fprintf(&b, `<text x="32" y="32" dy="0.35em" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="%d" font-weight="700" fill="%s">%s</text>`,
		size, fg, html.EscapeString(f.short))
	b.WriteString(`</svg>`)
	return []byte(b.String())
}

// logoIsLight reports whether a #rrggbb colour is light enough to need dark text (perceived luminance > 0.6).
func logoIsLight(hexColor string) bool {
	var r, g, bl int
	if _, err := fmt.Sscanf(hexColor, "#%02x%02x%02x", &r, &g, &bl); err != nil {
		return false
	}
	return (299*r+587*g+114*bl)/1000 > 153
}
