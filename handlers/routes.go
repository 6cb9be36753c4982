package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/static"
)

// routes maps the whole HTTP surface.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	// Headers first so that every response (404, 413, the panic page) carries them.
	r.Use(s.securityHeaders)
	r.Use(s.clientIP) // the client's address (clientAddr), before anything keys on it
	r.Use(ownRequestID, middleware.RequestID)
	r.Use(s.requestLogger)
	r.Use(s.countRequests)
	r.Use(s.recoverer)

	r.NotFound(s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound)
	})).ServeHTTP)
	r.MethodNotAllowed(s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusMethodNotAllowed)
	})).ServeHTTP)

	// Machine endpoints: no session, no CSRF check (Klavi's server-to-server POSTs carry no Origin and are
	// authenticated by their HMAC signature instead).
	r.Get("/healthz", s.handleHealth)
	r.Handle("/static/*", http.StripPrefix("/static/", static.Handler()))
	r.Get(brandCSSPath, s.handleBrandCSS)   // the brand palette (brand.go)
	r.Get(brandLogoPath, s.handleBrandLogo) // BRAND_LOGO's file
	// Every method reaches the receivers so that webhookGuard answers 405 in JSON rather than with an HTML page.
	r.With(s.webhookGuard("event"), limitBody(eventLimit)).HandleFunc("/webhooks/klavi/events", s.handleEventWebhook)
	r.With(s.webhookGuard("report"), limitBody(reportLimit)).HandleFunc("/webhooks/klavi/reports", s.handleReportWebhook)

	// Pages: session + language, and cross-origin protection on every state-changing form.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusForbidden)
	}))
	r.Group(func(r chi.Router) {
		r.Use(s.withSession)
		r.Use(cop.Handler)
		r.Use(limitBody(formLimit))

		// Flow. The posts that call Klavi for the user share one per-client rate limit (ratelimit.go).
		r.Get("/", s.h(s.handleStartPage))
		r.With(s.rateLimit).Post("/start", s.h(s.handleStart))
		r.Get("/start", redirectTo("/")) // a reload or language switch after a failed POST /start
		r.Get("/institutions", s.h(s.handleInstitutions))
		r.Get("/consents/new", s.h(s.handleConsentNew))
		r.With(s.rateLimit).Post("/consents", s.h(s.handleConsentCreate))
		r.Get("/callback", s.h(s.handleCallback))

		// Another bank on the same link, and continuing on a phone (linkstrip.go, handoff.go). /h/{token} is the
		// short URL of the QR code: GET only shows a confirmation, POST spends the single-use code.
		r.Post("/consents/{id}/another", s.h(s.handleConsentAnother))
		r.Get("/institutions/handoff/live", s.h(s.handleHandoffLive))
		r.Get("/institutions/handoff/done", s.h(s.handleHandoffDone))
		r.Get("/h/{token}", s.h(s.handleHandoffPage))
		r.Post("/h/{token}", s.h(s.handleHandoffUse))

		// Consents and reports: the browser that started a consent, or an operator (consentParam and reportParam
		// answer 404 to anyone else).
		r.Get("/consents/{id}", s.h(s.handleConsentPage))
		r.Get("/consents/{id}/live", s.h(s.handleConsentLive))
		r.With(s.rateLimit).Post("/consents/{id}/retry", s.h(s.handleConsentRetry))
		r.Post("/consents/{id}/revoke", s.h(s.handleConsentRevoke))
		r.Get("/consents/{id}/reports", s.h(s.handleConsentReports))
		r.Get("/reports/{id}", s.h(s.handleReport))
		r.Get("/reports/{id}/report.json", s.h(s.handleReportJSON))
		r.Get("/reports/{id}/transactions.csv", s.h(s.handleReportCSV))
		r.Get("/reports/{id}/transactions-br.csv", s.h(s.handleReportCSVBR))
		r.Get("/reports/{id}/transactions.xlsx", s.h(s.handleReportXLSX))

		// This browser's consents.
		r.Get("/me", s.h(s.handleMe))
		r.Post("/me/forget", s.h(s.handleForgetDevice))

		// Sign-in. Failures are throttled per account and per client in handleLogin. Single sign-on (oidc.go):
		// 404 unless configured; the callback is a top-level GET from the provider, so the SameSite=Lax session
		// cookie comes with it.
		r.Get("/login", s.h(s.handleLoginPage))
		r.Post("/login", s.h(s.handleLogin))
		r.Get("/login/oidc", s.h(s.handleOIDCStart))
		r.Get(OIDCCallbackPath, s.h(s.handleOIDCCallback))
		r.Post("/logout", s.h(s.handleLogout))
		r.Get("/login/setup", s.h(s.handleSetupPage))
		r.Post("/login/setup", s.h(s.handleSetup))

		// Operators only.
		r.Group(func(r chi.Router) {
			r.Use(s.requireOperator)
			r.Get("/consents", s.h(s.handleConsentList))
			r.Post("/consents/search", s.h(s.handleConsentSearch)) // the filter form: no CPF/CNPJ in URLs
			r.Get("/consents/search", redirectTo("/consents"))     // a reload or language switch after a failed search
			r.Get("/webhooks", s.h(s.handleWebhookList))
			r.Get("/webhooks/simulate", s.h(s.handleSimulatePage))
			r.Post("/webhooks/simulate", s.h(s.handleSimulate))
			r.Get("/webhooks/{id}", s.h(s.handleWebhookDetail))
			r.Post("/webhooks/{id}/replay", s.h(s.handleWebhookReplay))
			r.Get("/audit", s.h(s.handleAudit))
			r.Get("/diagnostics", s.h(s.handleDiagnostics))                  // diagnostics.go
			r.Get("/consents/{id}/support.json", s.h(s.handleSupportBundle)) // support.go
		})

		// Language switch.
		r.Get("/lang/{code}", s.handleLang)
		// Theme switch: light, dark or system, remembered in this browser (brand.go).
		r.Get("/theme/{mode}", s.handleTheme)
	})
	return r
}

// handleHealth answers GET /healthz: 200 when the database answers, 503 otherwise.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.st.Ping(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "health check failed",
			"err", taxid.MaskErr(err))
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// handleLang answers GET /lang/{code}?next=/path: remembers the language and goes back to a local path.
func (s *Server) handleLang(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	ss.setLang(langCode(chi.URLParam(r, "code")))
	if err := s.saveSession(w, r, ss); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps local paths only
}

// redirectTo answers 303 to a fixed local path.
func redirectTo(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, path, http.StatusSeeOther) }
}
