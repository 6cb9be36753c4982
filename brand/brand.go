package brand

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Brand is the portal's configured identity (BRAND_* settings): the name in the header and the tab title, the
// palette, an optional logo and an optional help link.
type Brand struct {
	Name    string
	Palette Palette
	// Logo and LogoType: a logo file's bytes and media type, served by the portal. LogoURL: an https logo the
	// pages reference directly. At most one of the two is set; neither means the letter mark.
	Logo       []byte
	LogoType   string
	LogoURL    string
	SupportURL string // "": no help link
}

// Default is the portal's own look: DefaultName, DefaultColor, the letter mark, no help link.
func Default() Brand {
	p, err := Derive(MustHex(DefaultColor))
	if err != nil {
		panic("brand: the default colour does not derive: " + err.Error())
	}
	return Brand{Name: DefaultName, Palette: p}
}

// MaxNameLen is the longest BRAND_NAME, in characters: it has to fit the header on a phone.
const MaxNameLen = 40

// CheckName accepts a printable name of 1 to MaxNameLen characters.
func CheckName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("want 1 to %d characters, got %d", MaxNameLen, n)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%q holds a control or invisible character", name)
		}
	}
	return nil
}

// Mark is the letter of the header mark when there is no logo: the name's first letter or digit, upper case.
func Mark(name string) string {
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return string(unicode.ToUpper(r))
		}
	}
	return "·"
}

// MaxLogoBytes is the largest logo file accepted: a header logo is 32 pixels high, and the file is held in memory.
const MaxLogoBytes = 512 << 10

// LogoType returns the media type of a logo file's content: PNG, JPEG, WebP (sniffed by net/http's rules) or SVG
// (an XML document whose root is <svg>). Anything else, an empty file or one over MaxLogoBytes is an error.
func LogoType(b []byte) (string, error) {
	switch {
	case len(b) == 0:
		return "", errors.New("the file is empty")
	case len(b) > MaxLogoBytes:
		return "", fmt.Errorf("%d KiB, at most %d KiB", (len(b)+1023)>>10, MaxLogoBytes>>10)
	}
	switch t := http.DetectContentType(b); t {
	case "image/png", "image/jpeg", "image/webp":
		return t, nil
	}
	if isSVG(b) {
		return "image/svg+xml", nil
	}
	return "", errors.New("not a PNG, SVG, JPEG or WebP image")
}

// isSVG: after an optional byte-order mark, XML declaration, comments and doctype, the first element is <svg.
func isSVG(b []byte) bool {
	s := bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	for {
		s = bytes.TrimLeft(s, " \t\r\n")
		switch {
		case bytes.HasPrefix(s, []byte("<?")):
			i := bytes.Index(s, []byte("?>"))
			if i < 0 {
				return false
			}
			s = s[i+2:]
		case bytes.HasPrefix(s, []byte("<!--")):
			i := bytes.Index(s, []byte("-->"))
			if i < 0 {
				return false
			}
			s = s[i+3:]
		case bytes.HasPrefix(s, []byte("<!DOCTYPE")), bytes.HasPrefix(s, []byte("<!doctype")):
			i := bytes.IndexByte(s, '>')
			if i < 0 {
				return false
			}
			s = s[i+1:]
		default:
			return bytes.HasPrefix(s, []byte("<svg")) && len(s) > 4 && strings.ContainsRune(" \t\r\n>", rune(s[4]))
		}
	}
}

// IsURL says whether a BRAND_LOGO value is meant as a URL rather than a file path.
func IsURL(v string) bool { return strings.Contains(v, "://") }

// CheckHTTPSURL accepts an absolute https URL with a host and no user info (BRAND_LOGO as a URL,
// BRAND_SUPPORT_URL).
func CheckHTTPSURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("want an https URL, got %q", v)
	}
	return nil
}
