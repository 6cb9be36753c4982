package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// Sign-in throttling (docs/reliability.md#access-model): failures are counted in the database, so every replica
// sees them, per account (a keyed hash of the email typed, known or not, so the answer never tells whether it
// exists) and per client address.
const (
	loginWindow        = 15 * time.Minute
	loginLockFor       = 15 * time.Minute
	loginMaxPerAccount = 5
	loginMaxPerClient  = 20
	setupTokenTTL      = 15 * time.Minute
)

// loginKey is the pseudonym under which sign-in failures are counted ("account:<email>" or "client:<address>").
func (s *Server) loginKey(v string) string {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("login:" + v))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// handleLoginPage answers GET /login: the sign-in form (or, already signed in, the page asked for).
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if s.operator(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: safeNext keeps local paths only
		return nil
	}
	s.page(w, r, http.StatusOK, "title.login", views.StepNone, "", views.LoginPage(views.LoginVM{Next: next, SSO: s.ssoEnabled()}))
	return nil
}

// handleLogin answers POST /login (email, password): on success a new session token bound to the operator and 303
// to next; on failure the form again with one message whether the email exists or not, or "try again in N
// minutes" once the account or the client is locked out.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	email := store.NormalizeEmail(r.PostForm.Get("email"))
	if len(email) > 254 {
		email = email[:254]
	}
	pw := r.PostForm.Get("password")
	vm := views.LoginVM{Email: email, Next: safeNext(r.PostForm.Get("next")), SSO: s.ssoEnabled()}
	accountKey, clientKey := s.loginKey("account:"+email), s.loginKey("client:"+clientIP(r))
	ctx := r.Context()
	for _, k := range []string{accountKey, clientKey} {
		until, err := s.st.LoginLockedUntil(ctx, k)
		if err != nil {
			return err
		}
		if !until.IsZero() {
			s.auditAs(r, auditEmail(email), "signin", "locked", false)
			vm.Error, vm.RetryMinutes = "login.locked", minutesUntil(s.now(), until)
			s.page(w, r, http.StatusTooManyRequests, "title.login", views.StepNone, "", views.LoginPage(vm))
			return nil
		}
	}
	o, err := s.st.OperatorByEmail(ctx, email)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		auth.DummyCheck(pw, s.hashParams) // the same work as for a known email: the answer time tells nothing
	case err != nil:
		return err
	case o.PasswordHash == "":
		// A single sign-on account has no password: the same work again, or a fast answer would tell that the
		// email is an operator's.
		auth.DummyCheck(pw, s.hashParams)
	default:
		ok = auth.CheckPassword(o.PasswordHash, pw)
	}
	if !ok {
		s.auditAs(r, auditEmail(email), "signin", "password", false)
		var until time.Time
		for k, max := range map[string]int{accountKey: loginMaxPerAccount, clientKey: loginMaxPerClient} {
			u, err := s.st.RecordLoginFailure(context.WithoutCancel(ctx), k, loginWindow, max, loginLockFor)
			if err != nil {
				return err
			}
			if u.After(until) {
				until = u
			}
		}
		vm.Error = "login.bad"
		status := http.StatusUnauthorized
		if !until.IsZero() {
			vm.Error, vm.RetryMinutes, status = "login.locked", minutesUntil(s.now(), until), http.StatusTooManyRequests
		}
		s.page(w, r, status, "title.login", views.StepNone, "", views.LoginPage(vm))
		return nil
	}
	if err := s.st.ClearLoginFailures(ctx, accountKey); err != nil {
		return err
	}
	if err := s.signIn(w, r, o); err != nil {
		return err
	}
	s.auditAs(r, o.Email, "signin", "password", true)
	http.Redirect(w, r, vm.Next, http.StatusSeeOther)
	return nil
}

// signIn binds a new session token to the operator (the visitor's token is deleted: session fixation defence).
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, o store.Operator) error {
	ss := sessionFrom(r.Context())
	ss.renew()
	ss.gs.Values[keyOperator] = o.ID
	ss.op, ss.opLoaded = &o, true
	return s.saveSession(w, r, ss)
}

// minutesUntil is the whole number of minutes, at least 1, until t.
func minutesUntil(now, t time.Time) int {
	return max(1, int((t.Sub(now)+time.Minute-time.Second)/time.Minute))
}

// auditEmail is an email typed at sign-in as the audit trail records it (masked as a backstop: a CPF typed into
// the email field stays out of the trail).
func auditEmail(email string) string {
	if email == "" {
		return "(empty)"
	}
	return taxid.MaskText(email)
}

// handleLogout answers POST /logout: the session row is deleted, so every copy of the cookie stops working.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if o := s.operator(r); o != nil {
		s.auditAs(r, o.Email, "signout", "", true)
	}
	ss := sessionFrom(r.Context())
	if err := s.endSession(w, r, ss); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// SetupURL is the first-run link that creates the first operator: "" when an operator exists. Each call makes a
// new single-use token valid for 15 minutes; only its hash is stored. main logs the link at start.
func (s *Server) SetupURL(ctx context.Context) (string, error) {
	n, err := s.st.CountOperators(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	token := newToken()
	if err := s.st.CreateSetupToken(ctx, sha256Hex(token), s.now().Add(setupTokenTTL)); err != nil {
		return "", err
	}
	return s.publicURL + "/login/setup?token=" + token, nil
}

// handleSetupPage answers GET /login/setup?token=…: the form that creates the first operator, or a page saying the
// link no longer works.
func (s *Server) handleSetupPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	valid := false
	if validToken(token) {
		var err error
		if valid, err = s.st.SetupTokenValid(r.Context(), sha256Hex(token)); err != nil {
			return err
		}
	}
	if !valid {
		s.page(w, r, http.StatusNotFound, "title.setup", views.StepNone, "", views.SetupPage(views.SetupVM{Error: "setup.expired"}))
		return nil
	}
	s.page(w, r, http.StatusOK, "title.setup", views.StepNone, "", views.SetupPage(views.SetupVM{Token: token}))
	return nil
}

// handleSetup answers POST /login/setup (token, email, password, password2): creates the first operator, spends
// the token and signs the new operator in, in one step.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	token := r.PostForm.Get("token")
	email := store.NormalizeEmail(r.PostForm.Get("email"))
	pw := r.PostForm.Get("password")
	vm := views.SetupVM{Token: token, Email: email}
	switch {
	case !validEmail(email):
		vm.Error = "setup.bad_email"
	case errors.Is(auth.CheckNewPassword(pw), auth.ErrPasswordTooShort):
		vm.Error = "setup.short"
	case auth.CheckNewPassword(pw) != nil:
		vm.Error = "setup.long"
	case pw != r.PostForm.Get("password2"):
		vm.Error = "setup.mismatch"
	}
	// The token first: nothing is hashed for a request that cannot create anyone.
	if valid, err := s.st.SetupTokenValid(r.Context(), sha256Hex(token)); err != nil {
		return err
	} else if !valid || !validToken(token) {
		s.page(w, r, http.StatusNotFound, "title.setup", views.StepNone, "", views.SetupPage(views.SetupVM{Error: "setup.expired"}))
		return nil
	}
	if vm.Error != "" {
		s.page(w, r, http.StatusUnprocessableEntity, "title.setup", views.StepNone, "", views.SetupPage(vm))
		return nil
	}
	hash, err := auth.HashPassword(pw, s.hashParams)
	if err != nil {
		return err
	}
	o, err := s.st.UseSetupToken(r.Context(), sha256Hex(token), email, hash)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		s.page(w, r, http.StatusNotFound, "title.setup", views.StepNone, "", views.SetupPage(views.SetupVM{Error: "setup.expired"}))
		return nil
	}
	if err != nil {
		return err
	}
	s.auditAs(r, o.Email, "operator_added", o.Email+" (first-run setup)", true)
	if err := s.signIn(w, r, o); err != nil {
		return err
	}
	s.auditAs(r, o.Email, "signin", "first-run setup", true)
	http.Redirect(w, r, "/consents", http.StatusSeeOther)
	return nil
}

// validEmail accepts a bare address of at most 254 characters.
func validEmail(v string) bool {
	if v == "" || len(v) > 254 || strings.ContainsAny(v, " <>") {
		return false
	}
	a, err := mail.ParseAddress(v)
	return err == nil && a.Address == v
}
