package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/brand"
)

func TestBrandDefaultsAreTodaysLook(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Brand
	if b.Name != "Klavi Link" || b.Palette.Base.Hex() != "#0b5cff" || b.Logo != nil || b.LogoURL != "" || b.SupportURL != "" {
		t.Errorf("default brand = %+v", b)
	}
}

func TestBrandSettingsAreRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	png := filepath.Join(dir, "logo.png")
	// The PNG signature and an IHDR chunk are what the type check reads.
	if err := os.WriteFile(png, append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(envFrom(map[string]string{"BRAND_NAME": "Banco Roxo", "BRAND_COLOR": "#6F42C1",
		"BRAND_LOGO": png, "BRAND_SUPPORT_URL": "https://ajuda.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Brand
	if b.Name != "Banco Roxo" || b.Palette.Light.Primary.Hex() != "#6f42c1" || b.LogoType != "image/png" || len(b.Logo) != 80 ||
		b.SupportURL != "https://ajuda.example.com" {
		t.Errorf("brand = %+v", b)
	}
	c, err = loadConfig(envFrom(map[string]string{"BRAND_LOGO": "https://cdn.example.com/logo.svg", "BRAND_COLOR": "#063"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Brand.LogoURL != "https://cdn.example.com/logo.svg" || c.Brand.Logo != nil || c.Brand.Palette.Base.Hex() != "#006633" {
		t.Errorf("brand = %+v", c.Brand)
	}
}

// Each bad BRAND_* value is refused in one line that names the variable and says why.
func TestBrandErrorsSayWhy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gif := write("logo.gif", []byte("GIF89a\x01\x00\x01\x00"))
	huge := write("huge.svg", append([]byte(`<svg xmlns="http://www.w3.org/2000/svg">`), bytes.Repeat([]byte(" "), brand.MaxLogoBytes)...))
	empty := write("empty.png", nil)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"too light", map[string]string{"BRAND_COLOR": "#ffff00"},
			"BRAND_COLOR #ffff00: white text on it has contrast 1.07:1, AA needs 4.5:1; a darker shade such as #7a7a00 would do"},
		{"not hex", map[string]string{"BRAND_COLOR": "green"}, `BRAND_COLOR: want a hex colour such as #0b5cff or #abc, got "green"`},
		{"short hex", map[string]string{"BRAND_COLOR": "#12345"}, "BRAND_COLOR: want a hex colour"},
		{"long name", map[string]string{"BRAND_NAME": strings.Repeat("x", 41)}, "BRAND_NAME: want 1 to 40 characters, got 41"},
		{"control in name", map[string]string{"BRAND_NAME": "Banco\tVerde"}, "BRAND_NAME: \"Banco\\tVerde\" holds a control"},
		{"gif logo", map[string]string{"BRAND_LOGO": gif}, "BRAND_LOGO " + gif + ": not a PNG, SVG, JPEG or WebP image"},
		{"huge logo", map[string]string{"BRAND_LOGO": huge}, "BRAND_LOGO " + huge + ": 513 KiB, at most 512 KiB"},
		{"empty logo", map[string]string{"BRAND_LOGO": empty}, "BRAND_LOGO " + empty + ": the file is empty"},
		{"missing logo", map[string]string{"BRAND_LOGO": filepath.Join(dir, "nope.png")}, "nope.png: no such file or directory"},
		{"logo directory", map[string]string{"BRAND_LOGO": dir}, "is a directory"},
		{"http logo", map[string]string{"BRAND_LOGO": "http://cdn.example.com/logo.png"}, `BRAND_LOGO: want an https URL, got "http://cdn.example.com/logo.png" (or a file path)`},
		{"http support", map[string]string{"BRAND_SUPPORT_URL": "http://ajuda.example.com"}, `BRAND_SUPPORT_URL: want an https URL, got "http://ajuda.example.com"`},
		{"support not a URL", map[string]string{"BRAND_SUPPORT_URL": "ajuda"}, "BRAND_SUPPORT_URL: want an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(envFrom(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error spans several lines: %q", err)
			}
		})
	}
}

// A bad brand stops the start: one line on stderr and an error from run (main exits non-zero with it).
func TestRunRefusesABadBrandColour(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	env := map[string]string{"BRAND_COLOR": "#ffff00", "DATABASE_PATH": filepath.Join(t.TempDir(), "p.db")}
	err := run(t.Context(), nil, envFrom(env), nil, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "BRAND_COLOR #ffff00: white text on it has contrast 1.07:1") {
		t.Fatalf("run: %v", err)
	}
}
