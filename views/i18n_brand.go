package views

// Texts of the theme switch and the help link (layout).
func init() {
	register(map[string][2]string{
		"layout.theme":        {"Tema", "Theme"},
		"layout.theme.light":  {"Tema claro", "Light theme"},
		"layout.theme.dark":   {"Tema escuro", "Dark theme"},
		"layout.theme.system": {"Tema do sistema", "System theme"},
		"layout.support":      {"Ajuda e suporte", "Help and support"},
	})
}
