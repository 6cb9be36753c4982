package brand

import (
	"fmt"
	"math"
	"strings"
)

// Defaults: the portal's own look when BRAND_NAME and BRAND_COLOR are not set.
const (
	DefaultName  = "Klavi Link"
	DefaultColor = "#0b5cff"
)

// defaultMarkEnd is where the default header mark's gradient ends (Klavi's violet); a custom brand's mark ends on
// its own hover shade.
var defaultMarkEnd = MustHex("#6b4dff")

// WCAG 2.x AA minimums: text (1.4.3) and user-interface components such as a focus ring (1.4.11).
const (
	TextAA    = 4.5
	NonTextAA = 3.0
)

// Theme is the pair of neutral backgrounds a theme's pages are painted on. They are the --bg and --surface of
// static/css/app.css (light) and static/css/dark.css (dark); a test keeps the two in step.
type Theme struct{ Bg, Surface Color }

var (
	Light = Theme{Bg: MustHex("#f5f7fb"), Surface: White}
	Dark  = Theme{Bg: MustHex("#0f141b"), Surface: MustHex("#171e28")}
)

// Set is one theme's brand colours.
type Set struct {
	Primary   Color // filled buttons, the current step, accents
	Hover     Color // a filled button under the pointer
	OnPrimary Color // text on Primary and on Hover
	Ring      Color // the keyboard focus ring
	Link      Color // brand-coloured text: links, the current menu item
	LinkHover Color // a link under the pointer, emphasised brand text
	Soft      Color // a faint brand tint behind the current menu item, a chosen option
}

// Palette is what the pages use of the brand colour, for both themes.
type Palette struct {
	Base        Color
	Light, Dark Set
	MarkEnd     Color // the header mark is a gradient from Light.Primary to this, under white text
}

// Pair is two colours the pages put together and the contrast they need.
type Pair struct {
	Name   string
	Fg, Bg Color
	Min    float64
}

// Pairs lists every pair of s's colours the pages use on theme t's backgrounds, with its AA minimum.
func (s Set) Pairs(t Theme) []Pair {
	ps := []Pair{
		{"text on primary", s.OnPrimary, s.Primary, TextAA},
		{"text on primary hover", s.OnPrimary, s.Hover, TextAA},
		{"button on page", s.Primary, t.Bg, NonTextAA},
		{"button on card", s.Primary, t.Surface, NonTextAA},
		{"focus ring on page", s.Ring, t.Bg, NonTextAA},
		{"focus ring on card", s.Ring, t.Surface, NonTextAA},
	}
	for _, bg := range []struct {
		name string
		c    Color
	}{{"page", t.Bg}, {"card", t.Surface}, {"brand tint", s.Soft}} {
		ps = append(ps,
			Pair{"link on " + bg.name, s.Link, bg.c, TextAA},
			Pair{"link hover on " + bg.name, s.LinkHover, bg.c, TextAA})
	}
	return ps
}

// Pairs lists every pair of both themes, names prefixed with the theme.
func (p Palette) Pairs() []Pair {
	var ps []Pair
	for _, x := range p.Light.Pairs(Light) {
		x.Name = "light: " + x.Name
		ps = append(ps, x)
	}
	for _, x := range p.Dark.Pairs(Dark) {
		x.Name = "dark: " + x.Name
		ps = append(ps, x)
	}
	return append(ps,
		Pair{"header mark", White, p.Light.Primary, TextAA},
		Pair{"header mark gradient end", White, p.MarkEnd, TextAA})
}

// ContrastError says why a brand colour is refused: white text on it does not reach AA. Suggestion is the
// nearest darker shade of the same hue that does.
type ContrastError struct {
	Color, Suggestion Color
	Ratio             float64
}

func (e *ContrastError) Error() string {
	return fmt.Sprintf("white text on it has contrast %s:1, AA needs %.1f:1; a darker shade such as %s would do",
		ratio(e.Ratio), TextAA, e.Suggestion.Hex())
}

// ratio prints a contrast ratio cut (not rounded) to two decimals, so a ratio just under a minimum never prints as
// the minimum itself.
func ratio(r float64) string { return fmt.Sprintf("%.2f", math.Floor(r*100)/100) }

// Derive works out the palette of brand colour c. The colour itself is kept as the primary (button) colour in
// both themes, so it must carry white text at AA: a lighter colour is refused with a *ContrastError rather than
// silently changed. Every other colour is derived by moving lightness only (same hue and saturation) just as
// far as AA needs against the theme's backgrounds: darker in the light theme, lighter in the dark one.
func Derive(c Color) (Palette, error) {
	if r := Contrast(White, c); r < TextAA {
		sug, err := adjust(c, []Color{White}, TextAA, false)
		if err != nil {
			sug = Black
		}
		return Palette{}, &ContrastError{Color: c, Ratio: r, Suggestion: sug}
	}
	p := Palette{Base: c, MarkEnd: defaultMarkEnd}
	var err error
	if p.Light, err = lightSet(c); err != nil {
		return Palette{}, err
	}
	if p.Dark, err = darkSet(c); err != nil {
		return Palette{}, err
	}
	if c != MustHex(DefaultColor) {
		p.MarkEnd = p.Light.Hover
	}
	for _, x := range p.Pairs() {
		if r := Contrast(x.Fg, x.Bg); r < x.Min {
			// Derivation keeps every pair by construction; this guards the construction.
			return Palette{}, fmt.Errorf("brand: %s: %s on %s has contrast %s:1, AA needs %.1f:1",
				x.Name, x.Fg.Hex(), x.Bg.Hex(), ratio(r), x.Min)
		}
	}
	return p, nil
}

// lightSet: the hover is the colour 28% of the way to black and the tint 9.3% of the way from white to it (with
// the default colour these give exactly the portal's original #0842b8 and #e8f0ff).
func lightSet(c Color) (Set, error) {
	s := Set{Primary: c, OnPrimary: White, Hover: Mix(c, Black, 0.28), Soft: Mix(White, c, 0.093)}
	if s.Hover == c { // black, or nearly: a hover must look different, so it goes lighter instead
		s.Hover = lighterHover(c, c)
	}
	bgs := []Color{Light.Bg, Light.Surface, s.Soft}
	var err error
	if s.Link, err = adjust(c, bgs, TextAA, false); err != nil {
		return Set{}, err
	}
	if s.LinkHover, err = adjust(s.Hover, bgs, TextAA, false); err != nil {
		return Set{}, err
	}
	if s.Ring, err = adjust(c, []Color{Light.Bg, Light.Surface}, NonTextAA, false); err != nil {
		return Set{}, err
	}
	return s, nil
}

// darkSet: a colour too dark to see on the dark card (under 3:1) is lightened until it is, never so far that
// white text on it drops under AA (both fit: the dark card's luminance leaves a window); the hover is lighter (as
// far as 20% towards white while white text keeps AA, else darker); the tint is 20% of the colour over the dark
// card; links and the ring are lightened until they stand out on the dark backgrounds, and a hovered link is a
// step lighter still.
func darkSet(c Color) (Set, error) {
	s := Set{Primary: c, OnPrimary: White}
	for l := c.Lightness(); l <= 1 && (Contrast(s.Primary, Dark.Surface) < NonTextAA || Contrast(s.Primary, Dark.Bg) < NonTextAA); l += lightnessStep {
		x := c.WithLightness(l)
		if Contrast(White, x) < TextAA {
			break
		}
		s.Primary = x
	}
	s.Soft = Mix(Dark.Surface, s.Primary, 0.2)
	s.Hover = lighterHover(s.Primary, Mix(s.Primary, Black, 0.2))
	bgs := []Color{Dark.Bg, Dark.Surface, s.Soft}
	var err error
	if s.Link, err = adjust(s.Primary, bgs, TextAA, true); err != nil {
		return Set{}, err
	}
	if s.LinkHover, err = adjust(s.Link.WithLightness(s.Link.Lightness()+0.1), bgs, TextAA, true); err != nil {
		return Set{}, err
	}
	if s.Ring, err = adjust(s.Primary, []Color{Dark.Bg, Dark.Surface}, NonTextAA, true); err != nil {
		return Set{}, err
	}
	return s, nil
}

// lighterHover returns c moved as far as 20% of the way to white as white text on it keeps AA, or else (c is
// already at the limit) fallback.
func lighterHover(c, fallback Color) Color {
	for t := 0.20; t > 0.005; t -= 0.01 {
		if h := Mix(c, White, t); h != c && Contrast(White, h) >= TextAA {
			return h
		}
	}
	return fallback
}

// CSS is the stylesheet that hands the palette to the static CSS: custom properties on :root, --bl-* for the
// light theme and --bd-* for the dark one (static/css/app.css and dark.css pick theirs).
func (p Palette) CSS() string {
	var b strings.Builder
	b.WriteString("/* Brand palette, generated from BRAND_COLOR " + p.Base.Hex() + " (brand/palette.go). */\n:root {\n")
	for _, s := range []struct {
		prefix string
		set    Set
	}{{"--bl-", p.Light}, {"--bd-", p.Dark}} {
		for _, v := range []struct {
			name string
			c    Color
		}{
			{"primary", s.set.Primary}, {"hover", s.set.Hover}, {"on", s.set.OnPrimary}, {"ring", s.set.Ring},
			{"link", s.set.Link}, {"link-hover", s.set.LinkHover}, {"soft", s.set.Soft},
		} {
			fmt.Fprintf(&b, "  %s%s: %s;\n", s.prefix, v.name, v.c.Hex())
		}
	}
	fmt.Fprintf(&b, "  --b-mark-end: %s;\n}\n", p.MarkEnd.Hex())
	return b.String()
}
