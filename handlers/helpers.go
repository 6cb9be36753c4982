package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/views"
)

// reqID is the request id set by middleware.RequestID.
func reqID(r *http.Request) string { return middleware.GetReqID(r.Context()) }

// langCode maps the /lang/{code} parameter to a language (anything unknown → pt-BR).
func langCode(code string) views.Lang {
	if code == "en" {
		return views.EN
	}
	return views.PT
}
