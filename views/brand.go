package views

// Brand and theme helpers of the layout (handlers/brand.go fills the Meta fields).

// Themes the visitor can choose with the theme switch; ThemeSystem follows prefers-color-scheme.
const (
	ThemeLight  = "light"
	ThemeDark   = "dark"
	ThemeSystem = "system"
)

// Themes is the order of the theme switch.
var Themes = []string{ThemeLight, ThemeDark, ThemeSystem}

// defaultBrandName is shown when a Meta carries no name (components rendered alone, as in tests).
const defaultBrandName = "Klavi Link"

func (m Meta) brandName() string {
	if m.BrandName != "" {
		return m.BrandName
	}
	return defaultBrandName
}

func (m Meta) brandMark() string {
	if m.BrandMark != "" {
		return m.BrandMark
	}
	return "K"
}

func (m Meta) theme() string {
	switch m.Theme {
	case ThemeLight, ThemeDark:
		return m.Theme
	default:
		return ThemeSystem
	}
}

// darkMedia is the media attribute of the dark stylesheet's link: always, never, or when the system is dark.
func (m Meta) darkMedia() string {
	switch m.theme() {
	case ThemeDark:
		return "all"
	case ThemeLight:
		return "not all"
	default:
		return "(prefers-color-scheme: dark)"
	}
}

// colorScheme is the color-scheme meta tag's content (form controls and scroll bars before CSS arrives).
func (m Meta) colorScheme() string {
	switch m.theme() {
	case ThemeDark:
		return "dark"
	case ThemeLight:
		return "light"
	default:
		return "light dark"
	}
}
