package brand

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// declRE matches a colour custom property: "  --name: #rrggbb;".
var declRE = regexp.MustCompile(`(?m)^\s*(--[a-z0-9-]+):\s*(#[0-9a-fA-F]{3,6});`)

// cssVars reads the colour custom properties of the rule that starts with selector in file.
func cssVars(t *testing.T, file, selector string) map[string]Color {
	t.Helper()
	b, err := os.ReadFile("../static/css/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+selector+" {\n")
	if i < 0 {
		t.Fatalf("%s has no %q rule", file, selector)
	}
	block := s[i : i+strings.Index(s[i:], "\n}")]
	vars := map[string]Color{}
	for _, m := range declRE.FindAllStringSubmatch(block, -1) {
		vars[m[1]] = MustHex(m[2])
	}
	return vars
}

// The neutral colours of both themes keep AA for every pair the static CSS paints together (text 4.5:1, the
// boundaries of solid controls 3:1). The brand's own pairs are derived and checked in palette_test.go.
func TestStaticThemesKeepAA(t *testing.T) {
	t.Parallel()
	text := [][2]string{
		{"--text", "--bg"}, {"--text", "--surface"}, {"--text", "--subtle"}, {"--text", "--field-bg"},
		{"--text", "--row-hover"}, {"--muted", "--bg"}, {"--muted", "--surface"}, {"--muted", "--subtle"},
		{"--ok", "--ok-soft"}, {"--ok", "--surface"}, {"--ok-text", "--ok-soft"},
		{"--warn", "--warn-soft"}, {"--warn-text", "--warn-soft"},
		{"--danger", "--danger-soft"}, {"--danger", "--surface"}, {"--danger", "--field-error-bg"}, {"--danger-text", "--danger-soft"},
		{"--info", "--info-soft"}, {"--info-text", "--info-soft"},
		{"--neutral-text", "--neutral-soft"},
		{"--on-solid", "--ok-solid"}, {"--on-solid", "--danger-solid"}, {"--on-solid", "--danger-solid-hover"},
		{"--code-text", "--code-bg"},
	}
	report := [][2]string{
		{"--r-muted", "--surface"}, {"--r-muted", "--bg"}, {"--r-ok", "--surface"}, {"--r-ok", "--r-ok-soft"},
		{"--r-warn", "--r-warn-soft"}, {"--r-debit", "--surface"}, {"--r-info-text", "--r-info-bg"},
		{"--r-notice-text", "--r-notice-bg"}, {"--text", "--r-pre-bg"},
	}
	for _, theme := range []struct {
		name      string
		root, rep map[string]Color
		want      Theme
	}{
		{"light", cssVars(t, "app.css", ":root"), cssVars(t, "report.css", ".report"), Light},
		{"dark", cssVars(t, "dark.css", ":root"), cssVars(t, "dark.css", ".report"), Dark},
	} {
		all := map[string]Color{}
		for k, v := range theme.root {
			all[k] = v
		}
		for k, v := range theme.rep {
			all[k] = v
		}
		check := func(pairs [][2]string, min float64) {
			for _, p := range pairs {
				fg, ok1 := all[p[0]]
				bg, ok2 := all[p[1]]
				if !ok1 || !ok2 {
					t.Errorf("%s: %s or %s is not declared as a colour", theme.name, p[0], p[1])
					continue
				}
				if r := Contrast(fg, bg); r < min {
					t.Errorf("%s: %s %s on %s %s = %.2f:1, want %.1f:1", theme.name, p[0], fg, p[1], bg, r, min)
				}
			}
		}
		check(text, TextAA)
		check(report, TextAA)
		if all["--bg"] != theme.want.Bg || all["--surface"] != theme.want.Surface {
			t.Errorf("%s: --bg %s, --surface %s; brand.%s says %s, %s", theme.name, all["--bg"], all["--surface"],
				theme.name, theme.want.Bg, theme.want.Surface)
		}
	}
}
