package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// Single sign-on for operators (OpenID Connect, authorization code flow with PKCE). The provider says who the
// person is and that the email is theirs; OIDC_ALLOWED_EMAILS says whether that makes them an operator.

// OIDCCallbackPath is the route the provider sends the browser back to; register PUBLIC_URL + this path at the
// provider as the redirect URI.
const OIDCCallbackPath = "/login/oidc/callback"

const (
	// oidcLoginTTL bounds the time between leaving for the provider and coming back.
	oidcLoginTTL = 10 * time.Minute
	// oidcExchangeTimeout bounds the code exchange and the key fetch it may need.
	oidcExchangeTimeout = 15 * time.Second
	// ssoActor is the audit actor of a refused sign-on before the provider's word on the email can be trusted.
	ssoActor = "(single sign-on)"
)

// oidcLogin is a sign-on in progress, kept as JSON in the server-side session under keyOIDC (never in the
// cookie). It is removed when the browser comes back, whatever the outcome: each state works once.
type oidcLogin struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
	Started  int64  `json:"started"` // Unix seconds
}

// ssoEnabled reports whether single sign-on is configured.
func (s *Server) ssoEnabled() bool { return s.sso != nil }

// handleOIDCStart answers GET /login/oidc?next=…: a new state, nonce and PKCE verifier in the session, then 303
// to the provider. 404 when single sign-on is off.
func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request) error {
	if !s.ssoEnabled() {
		s.errorPage(w, r, http.StatusNotFound)
		return nil
	}
	next := safeNext(r.URL.Query().Get("next"))
	if s.operator(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps local paths only
		return nil
	}
	login := oidcLogin{State: newToken(), Nonce: newToken(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Started: s.now().Unix()}
	b, err := json.Marshal(login)
	if err != nil {
		return err
	}
	ss := sessionFrom(r.Context())
	ss.gs.Values[keyOIDC] = string(b)
	if err := s.saveSession(w, r, ss); err != nil {
		return err
	}
	http.Redirect(w, r, s.sso.AuthCodeURL(login.State, login.Nonce, login.Verifier), http.StatusSeeOther)
	return nil
}

// handleOIDCCallback answers GET /login/oidc/callback?code=…&state=…: the state must be this session's (compared
// in constant time, then spent), the code is exchanged with the PKCE verifier, the ID token verified (signature,
// issuer, audience, expiry, nonce) and its verified email must be on the allow-list. The operator is created on
// first sign-on, with no password (they can sign in only this way), and signed in: 303 to next. Any failure: the
// sign-in page again with a message (401, or 403 for an email outside the allow-list), an audit entry and a log
// line naming the reason, never a token or the code.
func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request) error {
	if !s.ssoEnabled() {
		s.errorPage(w, r, http.StatusNotFound)
		return nil
	}
	ss := sessionFrom(r.Context())
	login, ok, present := takeOIDCLogin(ss)
	if present {
		// Spent before anything else: a replayed or concurrent callback finds nothing.
		if err := s.saveSession(w, r, ss); err != nil {
			return err
		}
	}
	q := r.URL.Query()
	switch {
	case !ok || !validToken(q.Get("state")) ||
		subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(login.State)) != 1:
		return s.ssoRefused(w, r, login, "state", nil)
	case s.now().Sub(time.Unix(login.Started, 0)) > oidcLoginTTL:
		return s.ssoRefused(w, r, login, "stale", nil)
	case q.Get("error") != "":
		// The person declined at the provider, or it failed: its error code only (the description is its text).
		return s.ssoRefused(w, r, login, auth.ProviderError(q.Get("error")), nil)
	case q.Get("code") == "":
		return s.ssoRefused(w, r, login, "code", nil)
	}

	ctx, cancel := context.WithTimeout(r.Context(), oidcExchangeTimeout)
	id, err := s.sso.Exchange(ctx, q.Get("code"), login.Verifier, login.Nonce)
	cancel()
	if err != nil {
		var se *auth.SignInError
		if !errors.As(err, &se) {
			return err
		}
		return s.ssoRefused(w, r, login, se.Reason, se.Err)
	}
	if !s.sso.Allowed(id.Email) {
		s.auditAs(r, auditEmail(id.Email), "signin_sso", "oidc: not allowed", false)
		s.log.WarnContext(r.Context(), "single sign-on refused", "reason", "not allowed")
		s.page(w, r, http.StatusForbidden, "title.login", views.StepNone, "",
			views.LoginPage(views.LoginVM{Next: safeNext(login.Next), SSO: true, Error: "login.sso_denied"}))
		return nil
	}

	o, err := s.ssoOperator(r, id.Email)
	if err != nil {
		return err
	}
	if err := s.signIn(w, r, o); err != nil {
		return err
	}
	s.auditAs(r, o.Email, "signin_sso", "oidc", true)
	http.Redirect(w, r, safeNext(login.Next), http.StatusSeeOther)
	return nil
}

// ssoOperator returns the operator with this email, creating it (without a password) on first sign-on.
func (s *Server) ssoOperator(r *http.Request, email string) (store.Operator, error) {
	ctx := r.Context()
	o, err := s.st.OperatorByEmail(ctx, email)
	if !errors.Is(err, store.ErrNotFound) {
		return o, err
	}
	o, err = s.st.AddOperator(context.WithoutCancel(ctx), email, "")
	if errors.Is(err, store.ErrConflict) {
		// Created meanwhile by a concurrent sign-on or `portal operator add`.
		return s.st.OperatorByEmail(ctx, email)
	}
	if err != nil {
		return store.Operator{}, err
	}
	s.auditAs(r, o.Email, "operator_added", o.Email+" (single sign-on)", true)
	return o, nil
}

// ssoRefused records a failed sign-on (audit entry and log line, both with the short reason only) and shows the
// sign-in page again with 401.
func (s *Server) ssoRefused(w http.ResponseWriter, r *http.Request, login oidcLogin, reason string, cause error) error {
	s.auditAs(r, ssoActor, "signin_sso", "oidc: "+reason, false)
	args := []any{"reason", reason}
	if cause != nil {
		args = append(args, "err", taxid.MaskErr(cause))
	}
	s.log.WarnContext(r.Context(), "single sign-on refused", args...)
	s.page(w, r, http.StatusUnauthorized, "title.login", views.StepNone, "",
		views.LoginPage(views.LoginVM{Next: safeNext(login.Next), SSO: true, Error: "login.sso_failed"}))
	return nil
}

// takeOIDCLogin removes the sign-on in progress from the session and returns it; ok is false when there is none
// or it cannot be read, present whether the session held one (and so must be saved by the caller).
func takeOIDCLogin(ss *session) (l oidcLogin, ok, present bool) {
	v, present := ss.gs.Values[keyOIDC].(string)
	if !present {
		return oidcLogin{}, false, false
	}
	delete(ss.gs.Values, keyOIDC)
	if err := json.Unmarshal([]byte(v), &l); err != nil || l.State == "" || l.Verifier == "" || l.Nonce == "" {
		return oidcLogin{}, false, true
	}
	return l, true, true
}
