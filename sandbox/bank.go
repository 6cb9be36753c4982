package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
)

// bankCookie binds a bank flow to the browser that opened the
// consentRedirectURL, so a leaked step ticket is useless elsewhere.
const bankCookie = "klavi_sandbox_bank"

type permView struct{ Code, Label string }

// bankView is the view model of the bank and LGPD pages.
type bankView struct {
	InstitutionName string
	InstitutionCode string
	LogoURL         string
	Color           string // validated #rrggbb
	Step            string
	MaskedTaxID     string
	Business        bool
	Permissions     []permView
	Scenarios       []ScenarioRow
	Lang            lang // chosen when the link was opened (i18n.go)
	// ReturnHost is the partner's host (of redirectURL), named while the browser goes back there.
	ReturnHost string
	// AuthoriseReturns and AcceptReturns say whether "Autorizar" and the LGPD page's "Aceitar" send the browser
	// back to the partner (by the scenario) rather than to the next page, so that their wait is named truly.
	AuthoriseReturns, AcceptReturns bool
}

// errorView is the view model of the bank error pages. Title and Message are message keys (i18n.go).
type errorView struct {
	Title, Message, BackURL string
	Lang                    lang
}

// returnHost is the host of a URL back to the partner, or "" when it has none.
func returnHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

var hexColor = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// brandColor returns the institution's colour from the fixture table.
func brandColor(code string) string {
	if f, ok := instByCode[code]; ok && hexColor.MatchString(f.color) {
		return f.color
	}
	return "#1F3B73"
}

// onBrand picks the text colour for the institution's colour: white, or near-black when white would not reach
// WCAG AA's 4.5:1 (Itaú's orange, for one). Written here because the sandbox imports nothing of the portal.
func onBrand(hex string) string {
	if !hexColor.MatchString(hex) {
		return "#ffffff"
	}
	lum := func(c string) float64 {
		v, _ := strconv.ParseUint(c, 16, 8)
		x := float64(v) / 255
		if x <= 0.03928 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	l := 0.2126*lum(hex[1:3]) + 0.7152*lum(hex[3:5]) + 0.0722*lum(hex[5:7])
	if 1.05/(l+0.05) >= 4.5 {
		return "#ffffff"
	}
	return "#111111"
}

func maskTaxID(n string) string {
	switch len(n) {
	case 11:
		return "***." + n[3:6] + "." + n[6:9] + "-**"
	case 14:
		return n[0:2] + "." + n[2:5] + ".***/****-" + n[12:14]
	}
	return "***"
}

func (s *Sandbox) bankViewLocked(c *consent) bankView {
	name := c.institutionCode
	if inst, ok := InstitutionByCode(c.institutionCode); ok {
		name = inst.Name
	}
	taxID := c.personalTaxID
	if c.businessTaxID != "" {
		taxID = c.businessTaxID
	}
	v := bankView{
		InstitutionName:  name,
		InstitutionCode:  c.institutionCode,
		LogoURL:          "/logos/" + url.PathEscape(c.institutionCode) + ".svg",
		Color:            brandColor(c.institutionCode),
		Step:             c.step,
		MaskedTaxID:      maskTaxID(taxID),
		Business:         c.businessTaxID != "",
		Scenarios:        Scenarios(),
		Lang:             c.lang,
		ReturnHost:       returnHost(c.redirectURL),
		AuthoriseReturns: c.scen == scenarioDeny || c.scen == scenarioBankError,
		AcceptReturns:    c.scen != scenarioLGPDNever,
	}
	if v.Lang == "" {
		v.Lang = langPT
	}
	for _, p := range c.permsApply {
		label := tr(c.lang, "perm."+p)
		if label == "perm."+p {
			label = p
		}
		v.Permissions = append(v.Permissions, permView{Code: p, Label: label})
	}
	return v
}

// authorisePending is the wait of "Autorizar": the return to the partner when the scenario ends the flow there.
func (v bankView) authorisePending() string {
	if v.AuthoriseReturns {
		return pendingReturn(v.Lang, v.ReturnHost)
	}
	return tr(v.Lang, "pending.authorise")
}

// acceptPending is the wait of the LGPD page's "Aceitar": the return to the partner, except in the scenario
// whose acceptance is never recorded (it shows a notice instead).
func (v bankView) acceptPending() string {
	if v.AcceptReturns {
		return pendingReturn(v.Lang, v.ReturnHost)
	}
	return tr(v.Lang, "pending.send")
}

// Content-Security-Policies of the sandbox's pages. No form-action: the LGPD form's response redirects to the
// partner's origin, which Chromium checks against form-action. The bank and LGPD pages (cspBank) also run their
// one script, served by the sandbox itself (bankscript.go); the index and the management portal run none.
const (
	cspPage = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
	cspBank = "default-src 'none'; script-src 'self'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
)

// render writes a page without script (the index, the management portal) with security headers and status.
func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	renderWith(w, r, status, cspPage, c)
}

// renderBank writes a bank or LGPD page, which loads bank.js.
func renderBank(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	renderWith(w, r, status, cspBank, c)
}

func renderWith(w http.ResponseWriter, r *http.Request, status int, csp string, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		http.Error(w, "Erro interno", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// bankError renders an error page in v.Lang, or else in the request's language.
func (s *Sandbox) bankError(w http.ResponseWriter, r *http.Request, status int, v errorView) {
	if v.Lang == "" {
		v.Lang = requestLang(r)
	}
	renderBank(w, r, status, bankErrorPage(v))
}

var (
	errBadLink     = errorView{Title: "err.bad_link.title", Message: "err.bad_link.msg"}
	errUsedLink    = errorView{Title: "err.used_link.title", Message: "err.used_link.msg"}
	errExpiredLink = errorView{Title: "err.expired_link.title", Message: "err.expired_link.msg"}
	errStep        = errorView{Title: "err.step.title", Message: "err.step.msg"}
)

// returnURLLocked builds the redirect back to the partner
// (docs/klavi.md#return-from-the-bank): link_id, consent_id, external_info
// (URL-encoded JSON of the link's externalInfo), external_track_id, plus
// error and error_description on failure. Query parameters already on
// redirectURL are kept. Caller holds s.mu.
func (s *Sandbox) returnURLLocked(c *consent, errCode, errDesc string) string {
	u, err := url.Parse(c.redirectURL)
	if err != nil { // validated at creation; defensive only
		return c.redirectURL
	}
	ext := map[string]any{}
	if l := s.links[c.linkID]; l != nil && l.externalInfo != nil {
		ext = l.externalInfo
	}
	extJSON, _ := json.Marshal(ext)
	q := u.Query()
	q.Set("link_id", c.linkID)
	q.Set("consent_id", c.id)
	q.Set("external_info", string(extJSON))
	q.Set("external_track_id", c.trackID)
	if errCode != "" {
		q.Set("error", errCode)
		q.Set("error_description", errDesc)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newStepLocked issues the next step ticket for stage. Caller holds s.mu.
func (s *Sandbox) newStepLocked(c *consent, stage string) {
	if c.step != "" {
		delete(s.steps, c.step)
	}
	c.step = randomHex(16)
	c.stage = stage
	s.steps[c.step] = c.id
}

// handleBankOpen: GET /bank/authorize?t=... — the consentRedirectURL.
func (s *Sandbox) handleBankOpen(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("t")
	now := s.now()
	s.mu.Lock()
	tk := s.tickets[t]
	if tk == nil || t == "" {
		s.mu.Unlock()
		s.bankError(w, r, http.StatusNotFound, errBadLink)
		return
	}
	c := s.consents[tk.consentID]
	if tk.used {
		s.mu.Unlock()
		s.bankError(w, r, http.StatusGone, errUsedLink)
		return
	}
	tk.used = true
	if !now.Before(tk.issued.Add(s.o.RedirectTTL)) {
		ev := errExpiredLink
		if c.status == statusStarted {
			s.setStatusLocked(c, statusRejected)
		}
		ev.BackURL = s.returnURLLocked(c, "access_denied", "consent redirect URL expired")
		s.mu.Unlock()
		s.bankError(w, r, http.StatusGone, ev)
		return
	}
	if c.status != statusStarted {
		s.mu.Unlock()
		s.bankError(w, r, http.StatusConflict, errStep)
		return
	}
	s.setStatusLocked(c, statusAwaitingAuthorisation)
	c.lang = requestLang(r)
	c.browser = randomHex(16)
	s.newStepLocked(c, stageLogin)
	v := s.bankViewLocked(c)
	browser := c.browser
	s.mu.Unlock()

	//nolint:gosec // G124: Secure whenever served over TLS; the fake bank mostly runs on plain-http loopback
	http.SetCookie(w, &http.Cookie{Name: bankCookie, Value: browser, Path: "/bank", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	renderBank(w, r, http.StatusOK, bankLoginPage(v))
}

// takeStepLocked validates and consumes the posted step ticket for stage.
// It returns nil when the request may not proceed. Caller holds s.mu.
func (s *Sandbox) takeStepLocked(r *http.Request, stage string) *consent {
	step := r.PostForm.Get("step")
	if step == "" {
		return nil
	}
	c := s.consents[s.steps[step]]
	if c == nil || c.step != step || c.stage != stage || terminal(c.status) {
		return nil
	}
	ck, err := r.Cookie(bankCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.browser)) != 1 {
		return nil
	}
	if status, due := s.dueTransitionLocked(c, s.now()); due {
		s.setStatusLocked(c, status) // idle timeout or the 60-minute rule
		return nil
	}
	delete(s.steps, step)
	c.step = ""
	c.activity = s.now()
	return c
}

func parseBankForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	return r.ParseForm() == nil
}

// handleBankLogin: POST /bank/login → permissions page.
func (s *Sandbox) handleBankLogin(w http.ResponseWriter, r *http.Request) {
	if !parseBankForm(w, r) {
		s.bankError(w, r, http.StatusBadRequest, errStep)
		return
	}
	s.mu.Lock()
	c := s.takeStepLocked(r, stageLogin)
	if c == nil {
		s.mu.Unlock()
		s.bankError(w, r, http.StatusBadRequest, errStep)
		return
	}
	s.newStepLocked(c, stageAuthorise)
	v := s.bankViewLocked(c)
	s.mu.Unlock()
	renderBank(w, r, http.StatusOK, bankPermissionsPage(v))
}

// handleBankAuthorise: POST /bank/authorise with action=authorise|deny.
func (s *Sandbox) handleBankAuthorise(w http.ResponseWriter, r *http.Request) {
	if !parseBankForm(w, r) {
		s.bankError(w, r, http.StatusBadRequest, errStep)
		return
	}
	s.mu.Lock()
	c := s.takeStepLocked(r, stageAuthorise)
	if c == nil {
		s.mu.Unlock()
		s.bankError(w, r, http.StatusBadRequest, errStep)
		return
	}
	var back string
	var d *delivery
	switch {
	case r.PostForm.Get("action") != "authorise" || c.scen == scenarioDeny:
		d = s.setStatusLocked(c, statusRejected)
		back = s.returnURLLocked(c, "access_denied", "O usuário recusou o compartilhamento na instituição")
	case c.scen == scenarioBankError:
		d = s.setStatusLocked(c, statusError)
		back = s.returnURLLocked(c, "server_error", "A instituição não conseguiu processar a autorização")
	default:
		s.setStatusLocked(c, statusAwaitingLGPD)
		s.newStepLocked(c, stageLGPD)
		v := s.bankViewLocked(c)
		s.mu.Unlock()
		renderBank(w, r, http.StatusOK, lgpdPage(v))
		return
	}
	scen := c.scen
	s.mu.Unlock()
	s.redirectBack(w, r, back, scen, d)
}

// redirectBack sends the browser back to the partner with a 302. In the
// "webhook first" scenario it first waits until the consent event d has
// been delivered (acknowledged, or abandoned after its retries), whatever
// the outcome of the flow, but at most webhookFirstWait: a receiver that
// hangs would otherwise hold the 302 for the whole retry schedule (6 × 10 s
// plus backoff, ≈68 s), past a server's WriteTimeout, and the browser would
// get no answer at all. After the cap the browser is redirected anyway and
// the delivery goes on in the background.
func (s *Sandbox) redirectBack(w http.ResponseWriter, r *http.Request, back string, scen scenario, d *delivery) {
	if scen == scenarioWebhookFirst && d != nil {
		t := time.NewTimer(s.webhookFirstWait)
		defer t.Stop()
		select {
		case <-d.done:
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	http.Redirect(w, r, back, http.StatusFound)
}

// handleBankLGPD: POST /bank/lgpd with action=accept|decline.
func (s *Sandbox) handleBankLGPD(w http.ResponseWriter, r *http.Request) {
	if !parseBankForm(w, r) {
		s.bankError(w, r, http.StatusBadRequest, errStep)
		return
	}
	s.mu.Lock()
	c := s.takeStepLocked(r, stageLGPD)
	if c == nil {
		s.mu.Unlock()
		s.bankError(w, r, http.StatusBadRequest, errStep)
		return
	}
	if r.PostForm.Get("action") != "accept" {
		d := s.setStatusLocked(c, statusRejected)
		back := s.returnURLLocked(c, "access_denied", "O usuário não aceitou o termo de compartilhamento (LGPD)")
		scen := c.scen
		s.mu.Unlock()
		s.redirectBack(w, r, back, scen, d)
		return
	}
	if c.scen == scenarioLGPDNever {
		// The scenario simulates a user who leaves without accepting: the
		// consent stays AWAITING_LGPD_AUTHORISATION until the idle timeout.
		c.stage = stageDone
		c.activity = c.updatedAt // acceptance is not activity
		v := errorView{Title: "err.lgpd_never.title", Message: "err.lgpd_never.msg",
			BackURL: s.returnURLLocked(c, "", ""), Lang: c.lang}
		s.mu.Unlock()
		renderBank(w, r, http.StatusOK, lgpdAbandonedPage(v))
		return
	}
	c.permsGranted = append([]string{}, c.permsApply...)
	d := s.setStatusLocked(c, statusAuthorised)
	if s.o.AutoReports {
		kind := personType
		taxID := c.personalTaxID
		if c.businessTaxID != "" {
			kind, taxID = businessType, c.businessTaxID
		}
		s.startReportsLocked(s.jobForLocked([]*consent{c}, taxID, autoProducts[kind]))
	}
	back := s.returnURLLocked(c, "", "")
	scen := c.scen
	s.mu.Unlock()
	s.redirectBack(w, r, back, scen, d)
}

// handleLogo: GET /logos/{code}.svg.
func (s *Sandbox) handleLogo(w http.ResponseWriter, r *http.Request) {
	code, ok := strings.CutSuffix(chi.URLParam(r, "file"), ".svg")
	svg, found := LogoSVG(code)
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(svg)
}

// handleIndex: GET / — what this server is, a link to the management
// portal, plus the scenario table.
func (s *Sandbox) handleIndex(w http.ResponseWriter, r *http.Request) {
	render(w, r, http.StatusOK, indexPage(Scenarios(), Institutions(s.o.PublicURL)))
}

// handleWhiteLabel: GET /whitelabel — linkURL target. The hosted WhiteLabel
// flow is not simulated (API Only mode only).
func (s *Sandbox) handleWhiteLabel(w http.ResponseWriter, r *http.Request) {
	s.bankError(w, r, http.StatusNotImplemented, errorView{Title: "err.whitelabel.title", Message: "err.whitelabel.msg"})
}
