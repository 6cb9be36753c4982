package brand

import (
	"bytes"
	"strings"
	"testing"
)

func TestLogoType(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR":                                                      "image/png",
		"\xff\xd8\xff\xe0\x00\x10JFIF\x00":                                                         "image/jpeg",
		"RIFF\x24\x00\x00\x00WEBPVP8 ":                                                             "image/webp",
		`<svg xmlns="http://www.w3.org/2000/svg"/>`:                                                "image/svg+xml",
		"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- logo -->\n<svg>":                                "image/svg+xml",
		"<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n<svg viewBox=\"0 0 1 1\"></svg>": "image/svg+xml",
	}
	for in, want := range ok {
		got, err := LogoType([]byte(in))
		if err != nil || got != want {
			t.Errorf("LogoType(%.20q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"GIF89a", "<html><svg></svg></html>", "<svgfoo/>", "plain text", "<?xml version=\"1.0\"?><rss/>",
		"<!-- unterminated"} {
		if got, err := LogoType([]byte(in)); err == nil {
			t.Errorf("LogoType(%q) = %q, want an error", in, got)
		}
	}
	if _, err := LogoType(nil); err == nil || err.Error() != "the file is empty" {
		t.Errorf("empty: %v", err)
	}
	big := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, MaxLogoBytes)...)
	if _, err := LogoType(big); err == nil || !strings.Contains(err.Error(), "at most 512 KiB") {
		t.Errorf("too big: %v", err)
	}
}

func TestNameAndMark(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", strings.Repeat("é", MaxNameLen+1), "a\nb", "a\u200bb", "\x00"} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
	for _, good := range []string{"Klavi Link", "Banco São João", strings.Repeat("é", MaxNameLen), "C6"} {
		if err := CheckName(good); err != nil {
			t.Errorf("CheckName(%q): %v", good, err)
		}
	}
	for name, want := range map[string]string{"Klavi Link": "K", "  élan": "É", "(c6) bank": "C", "!!!": "·"} {
		if got := Mark(name); got != want {
			t.Errorf("Mark(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCheckHTTPSURL(t *testing.T) {
	t.Parallel()
	for _, good := range []string{"https://ajuda.example.com", "https://cdn.example.com/logo.png?v=2"} {
		if err := CheckHTTPSURL(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"http://x.example", "https://", "https://user:pw@x.example/", "javascript:alert(1)", "//x.example", "ajuda"} {
		if CheckHTTPSURL(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !IsURL("https://x") || IsURL("/etc/portal/logo.svg") {
		t.Error("IsURL")
	}
}

func TestDefaultBrand(t *testing.T) {
	t.Parallel()
	b := Default()
	if b.Name != DefaultName || b.Palette.Light.Primary.Hex() != DefaultColor {
		t.Errorf("Default() = %+v", b)
	}
}
