package handlers

import (
	"github.com/klavi-demo/portal/views"
)

// langCode maps the /lang/{code} parameter to a language (anything unknown → pt-BR).
func langCode(code string) views.Lang {
	if code == "en" {
		return views.EN
	}
	return views.PT
}
