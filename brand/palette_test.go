package brand

import (
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
)

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

// Known WCAG ratios (checked against the WCAG definition and common contrast checkers).
func TestContrastKnownValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#777777", "#ffffff", 4.48},
		{"#767676", "#ffffff", 4.54},
		{"#ffff00", "#ffffff", 1.07},
		{"#0b5cff", "#ffffff", 5.26},
		{"#ff0000", "#000000", 5.25},
	}
	for _, tt := range tests {
		got := Contrast(MustHex(tt.a), MustHex(tt.b))
		if !near(got, tt.want, 0.01) {
			t.Errorf("Contrast(%s, %s) = %.3f, want %.2f", tt.a, tt.b, got, tt.want)
		}
		if back := Contrast(MustHex(tt.b), MustHex(tt.a)); back != got {
			t.Errorf("Contrast is not symmetric for %s, %s: %v vs %v", tt.a, tt.b, got, back)
		}
	}
}

func TestParseHex(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"#0B5CFF": "#0b5cff", "#abc": "#aabbcc", " #123456 ": "#123456"} {
		c, err := ParseHex(in)
		if err != nil || c.Hex() != want {
			t.Errorf("ParseHex(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	for _, bad := range []string{"", "0b5cff", "#0b5cf", "#ggg", "#0b5cff0", "blue", "#12345g", "rgb(1,2,3)"} {
		if _, err := ParseHex(bad); err == nil {
			t.Errorf("ParseHex(%q) accepted", bad)
		}
	}
}

func TestHSLRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		c := Color{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256))}
		if got := c.WithLightness(c.Lightness()); got != c {
			t.Fatalf("%s → HSL → %s", c, got)
		}
	}
}

// The default colour gives exactly the portal's original palette (static/css/app.css before branding).
func TestDefaultPaletteIsTheOriginalLook(t *testing.T) {
	t.Parallel()
	p, err := Derive(MustHex(DefaultColor))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]Color{"primary": p.Light.Primary, "hover": p.Light.Hover, "link": p.Light.Link,
		"link hover": p.Light.LinkHover, "soft": p.Light.Soft, "mark end": p.MarkEnd, "on primary": p.Light.OnPrimary} {
		want := map[string]string{"primary": "#0b5cff", "hover": "#0842b8", "link": "#0b5cff", "link hover": "#0842b8",
			"soft": "#e8f0ff", "mark end": "#6b4dff", "on primary": "#ffffff"}[name]
		if got.Hex() != want {
			t.Errorf("default %s = %s, want %s", name, got, want)
		}
	}
}

// checkPalette recomputes every pair's contrast from the colours themselves.
func checkPalette(t *testing.T, base Color, p Palette) {
	t.Helper()
	pairs := p.Pairs()
	if len(pairs) < 26 {
		t.Fatalf("%s: only %d pairs checked", base, len(pairs))
	}
	for _, x := range pairs {
		if r := Contrast(x.Fg, x.Bg); r < x.Min {
			t.Errorf("%s: %s: %s on %s = %.2f:1 < %.1f:1", base, x.Name, x.Fg, x.Bg, r, x.Min)
		}
	}
	// The light theme keeps the brand colour itself; the dark one only ever lightens it.
	if p.Light.Primary != base {
		t.Errorf("%s: light primary %s is not the brand colour", base, p.Light.Primary)
	}
	if p.Dark.Primary.Lightness() < base.Lightness()-1e-9 {
		t.Errorf("%s: dark primary %s is darker than the brand colour", base, p.Dark.Primary)
	}
	if p.Light.Hover == p.Light.Primary || p.Dark.Hover == p.Dark.Primary {
		t.Errorf("%s: a hover colour equals its primary (%+v)", base, p)
	}
}

func TestBrandsKeepAAInBothThemes(t *testing.T) {
	t.Parallel()
	for _, h := range []string{DefaultColor, "#1a7f37", "#6f42c1", "#7c3aed", "#0a0a40", "#b42318", "#000000", "#767676",
		"#005a9c", "#c2185b", "#00695c", "#5d4037", "#123", "#a0522d"} {
		c := MustHex(h)
		p, err := Derive(c)
		if err != nil {
			t.Errorf("Derive(%s): %v", h, err)
			continue
		}
		checkPalette(t, c, p)
	}
}

// Every colour that carries white text at AA gives a palette whose every pair keeps AA; every other colour is
// refused with its real ratio and a suggestion that itself passes.
func TestRandomColoursEitherPassEverywhereOrAreRefused(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	accepted, refused := 0, 0
	for range 3000 {
		c := Color{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256))}
		p, err := Derive(c)
		white := Contrast(White, c)
		if err != nil {
			ce, ok := err.(*ContrastError)
			if !ok {
				t.Fatalf("Derive(%s): unexpected error %v", c, err)
			}
			if white >= TextAA || ce.Ratio != white {
				t.Fatalf("Derive(%s) refused with ratio %.3f; white contrast is %.3f", c, ce.Ratio, white)
			}
			if s := Contrast(White, ce.Suggestion); s < TextAA {
				t.Fatalf("Derive(%s) suggests %s, whose white contrast is %.2f", c, ce.Suggestion, s)
			}
			refused++
			continue
		}
		if white < TextAA {
			t.Fatalf("Derive(%s) accepted a colour with white contrast %.2f", c, white)
		}
		checkPalette(t, c, p)
		accepted++
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("accepted %d, refused %d: the sample should have both", accepted, refused)
	}
}

func TestRefusalSaysWhy(t *testing.T) {
	t.Parallel()
	_, err := Derive(MustHex("#ffff00"))
	if err == nil {
		t.Fatal("#ffff00 accepted")
	}
	want := "white text on it has contrast 1.07:1, AA needs 4.5:1; a darker shade such as #"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start %q", err, want)
	}
	// Just under the limit: the ratio is cut, never rounded up to the minimum.
	_, err = Derive(MustHex("#777777"))
	if err == nil || !strings.Contains(err.Error(), "4.47:1") {
		t.Errorf("#777777: error = %v, want 4.47:1", err)
	}
}

func TestCSSNamesEveryColour(t *testing.T) {
	t.Parallel()
	p, err := Derive(MustHex("#1a7f37"))
	if err != nil {
		t.Fatal(err)
	}
	css := p.CSS()
	for _, v := range []string{"primary", "hover", "on", "ring", "link", "link-hover", "soft"} {
		for _, pre := range []string{"--bl-", "--bd-"} {
			if !regexp.MustCompile(`(?m)^  ` + pre + v + `: #[0-9a-f]{6};$`).MatchString(css) {
				t.Errorf("CSS lacks %s%s:\n%s", pre, v, css)
			}
		}
	}
	if !strings.Contains(css, "--bl-primary: #1a7f37;") || !strings.Contains(css, "--b-mark-end: "+p.MarkEnd.Hex()) {
		t.Errorf("CSS:\n%s", css)
	}
}

// The themes' backgrounds here are the ones the static CSS paints, and every --bl-/--bd- variable the static CSS
// uses is one that CSS() defines.
func TestThemesMatchTheStaticCSS(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := os.ReadFile("../static/css/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	app, dark := read("app.css"), read("dark.css")
	for _, w := range []struct {
		css, decl string
	}{
		{app, "--bg: " + Light.Bg.Hex() + ";"}, {app, "--surface: " + Light.Surface.Hex() + ";"},
		{dark, "--bg: " + Dark.Bg.Hex() + ";"}, {dark, "--surface: " + Dark.Surface.Hex() + ";"},
	} {
		if !strings.Contains(w.css, w.decl) {
			t.Errorf("static CSS lacks %q", w.decl)
		}
	}
	p, _ := Derive(MustHex(DefaultColor))
	defined := p.CSS()
	for _, m := range regexp.MustCompile(`var\((--b[ld]?-[a-z-]+)`).FindAllStringSubmatch(app+dark, -1) {
		if !strings.Contains(defined, m[1]+":") {
			t.Errorf("static CSS uses %s, which the brand stylesheet does not define", m[1])
		}
	}
}
