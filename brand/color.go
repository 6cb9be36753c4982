// Package brand derives the pages' brand colours from one colour (BRAND_COLOR) so that every pair of colours the
// pages put together keeps WCAG 2.x AA contrast, in the light theme and in the dark one. It is pure: colours in,
// colours and CSS text out; no I/O, no project imports.
//
// The colour math is written here rather than taken from a library: it is the two WCAG formulas (relative
// luminance, contrast ratio) plus sRGB↔HSL, some sixty lines, and the colour libraries at hand do not implement
// WCAG contrast, which is the part that matters.
package brand

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Color is an sRGB colour, 8 bits per channel.
type Color struct{ R, G, B uint8 }

var (
	White = Color{255, 255, 255}
	Black = Color{0, 0, 0}
)

// ParseHex reads "#rrggbb" or "#rgb" (any case, surrounding spaces ignored).
func ParseHex(s string) (Color, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("want a hex colour such as #0b5cff or #abc, got %q", s)
	if !strings.HasPrefix(s, "#") {
		return Color{}, bad
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return Color{}, bad
	}
	var v [3]uint8
	for i := range v {
		hi, ok1 := hexDigit(h[2*i])
		lo, ok2 := hexDigit(h[2*i+1])
		if !ok1 || !ok2 {
			return Color{}, bad
		}
		v[i] = hi<<4 | lo
	}
	return Color{v[0], v[1], v[2]}, nil
}

// MustHex is ParseHex for constants; it panics on a malformed value.
func MustHex(s string) Color {
	c, err := ParseHex(s)
	if err != nil {
		panic("brand: " + err.Error())
	}
	return c
}

func hexDigit(b byte) (uint8, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// Hex is the colour as lowercase "#rrggbb".
func (c Color) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func (c Color) String() string { return c.Hex() }

// linear converts one 8-bit sRGB channel to linear light (the sRGB transfer function WCAG uses).
func linear(v uint8) float64 {
	x := float64(v) / 255
	if x <= 0.04045 {
		return x / 12.92
	}
	return math.Pow((x+0.055)/1.055, 2.4)
}

// Luminance is WCAG's relative luminance, 0 (black) to 1 (white).
func (c Color) Luminance() float64 {
	return 0.2126*linear(c.R) + 0.7152*linear(c.G) + 0.0722*linear(c.B)
}

// Contrast is WCAG's contrast ratio of two colours, 1 to 21, in either order.
func Contrast(a, b Color) float64 {
	la, lb := a.Luminance(), b.Luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// Mix returns a moved a fraction t (0..1) of the way towards b, channel by channel in sRGB, rounded.
func Mix(a, b Color, t float64) Color {
	m := func(x, y uint8) uint8 {
		return uint8(math.Round(float64(x) + (float64(y)-float64(x))*t))
	}
	return Color{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B)}
}

// hsl returns hue (0..360), saturation and lightness (0..1).
func (c Color) hsl() (h, s, l float64) {
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	hi, lo := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	l = (hi + lo) / 2
	if hi == lo {
		return 0, 0, l
	}
	d := hi - lo
	if l > 0.5 {
		s = d / (2 - hi - lo)
	} else {
		s = d / (hi + lo)
	}
	switch hi {
	case r:
		h = (g - b) / d
		if g < b {
			h += 6
		}
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	return h * 60, s, l
}

func fromHSL(h, s, l float64) Color {
	if s == 0 {
		v := uint8(math.Round(l * 255))
		return Color{v, v, v}
	}
	var q float64
	if l < 0.5 {
		q = l * (1 + s)
	} else {
		q = l + s - l*s
	}
	p := 2*l - q
	ch := func(t float64) uint8 {
		switch {
		case t < 0:
			t++
		case t > 1:
			t--
		}
		var v float64
		switch {
		case t < 1.0/6:
			v = p + (q-p)*6*t
		case t < 1.0/2:
			v = q
		case t < 2.0/3:
			v = p + (q-p)*(2.0/3-t)*6
		default:
			v = p
		}
		return uint8(math.Round(v * 255))
	}
	hk := h / 360
	return Color{ch(hk + 1.0/3), ch(hk), ch(hk - 1.0/3)}
}

// Lightness is the colour's HSL lightness, 0..1.
func (c Color) Lightness() float64 {
	_, _, l := c.hsl()
	return l
}

// WithLightness returns the colour with the same hue and saturation and HSL lightness l (clamped to 0..1).
func (c Color) WithLightness(l float64) Color {
	h, s, _ := c.hsl()
	return fromHSL(h, s, math.Max(0, math.Min(1, l)))
}

// errUnreachable: no lightness of the colour reaches the wanted contrast (only possible against mid-grey
// backgrounds, which the themes do not have).
var errUnreachable = errors.New("brand: no lightness of this colour reaches the contrast wanted")

// lightnessStep is how far apart the lightnesses tried by adjust are: fine enough that the colour found is the
// nearest 8-bit colour of that hue, or very close to it.
const lightnessStep = 0.002

// adjust returns c unchanged when its contrast against every colour in bgs is at least min; otherwise the colour
// of the same hue and saturation whose lightness is the nearest to c's, going darker (lighter=false) or lighter,
// that reaches min against all of them.
func adjust(c Color, bgs []Color, min float64, lighter bool) (Color, error) {
	ok := func(x Color) bool {
		for _, bg := range bgs {
			if Contrast(x, bg) < min {
				return false
			}
		}
		return true
	}
	if ok(c) {
		return c, nil
	}
	l := c.Lightness()
	step := -lightnessStep
	if lighter {
		step = lightnessStep
	}
	for i := 1; ; i++ {
		nl := l + float64(i)*step
		if nl < 0 || nl > 1 {
			break
		}
		if x := c.WithLightness(nl); ok(x) {
			return x, nil
		}
	}
	end := Black
	if lighter {
		end = White
	}
	if ok(end) {
		return end, nil
	}
	return c, errUnreachable
}
