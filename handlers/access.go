package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// Who sees what (docs/reliability.md#access-model): a visitor sees the consents started in this browser (the
// device cookie) and nothing else; a signed-in operator sees everything. Anything a visitor may not see answers
// 404, never 403, so that its existence is not confirmed.

// The device cookie names this browser for 30 days: a random value whose keyed hash (the device ref) is stored on
// the consents it starts. It is separate from the session, which ends after 30 idle minutes.
const (
	deviceMaxAge = 30 * 24 * time.Hour
	deviceRefLen = 32
)

func (s *Server) deviceCookieName() string {
	if s.secure {
		return "__Host-device"
	}
	return "device"
}

// deviceRef is the keyed pseudonym of the request's device cookie, "" when it has none (or a malformed one).
func (s *Server) deviceRef(r *http.Request) string {
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil || !validToken(c.Value) {
		return ""
	}
	return s.deviceRefOf(c.Value)
}

func (s *Server) deviceRefOf(token string) string {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("device:" + token))
	return hex.EncodeToString(m.Sum(nil))[:deviceRefLen]
}

// ensureDevice returns the request's device ref, giving the browser a device cookie first when it has none. The
// cookie is (re)sent with a fresh 30-day life each time a flow starts.
func (s *Server) ensureDevice(w http.ResponseWriter, r *http.Request) string {
	token := ""
	if c, err := r.Cookie(s.deviceCookieName()); err == nil && validToken(c.Value) {
		token = c.Value
	} else {
		token = newToken()
	}
	http.SetCookie(w, &http.Cookie{Name: s.deviceCookieName(), Value: token, Path: "/", MaxAge: int(deviceMaxAge / time.Second), //nolint:gosec // G124: Secure follows PUBLIC_URL's scheme (plain http only for a local demo)
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return s.deviceRefOf(token)
}

// forgetDevice clears the device cookie: the consents started in this browser are no longer listed in it.
func (s *Server) forgetDevice(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.deviceCookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, //nolint:gosec // G124: as above
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// operator returns the signed-in operator, or nil for a visitor. It is loaded once per request; an operator removed
// meanwhile is a visitor.
func (s *Server) operator(r *http.Request) *store.Operator {
	ss := sessionFrom(r.Context())
	if ss.opLoaded {
		return ss.op
	}
	ss.opLoaded = true
	id := ss.operatorID()
	if id == 0 {
		return nil
	}
	o, err := s.st.Operator(r.Context(), id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(r.Context(), "load operator failed", "err", taxid.MaskErr(err))
		}
		return nil
	}
	ss.op = &o
	return ss.op
}

// canSee reports whether the request may see consent c: a signed-in operator, or a browser that owns it
// (ownsConsent).
func (s *Server) canSee(r *http.Request, c store.Consent) bool {
	if s.operator(r) != nil {
		return true
	}
	return s.ownsConsent(r, c)
}

// ownsConsent reports whether the request's browser owns consent c: it started it (its device ref is the
// consent's), or it handed its flow off to the phone that started it on that link (a spent hand-off pairs the two
// devices on the link: docs/reliability.md#hand-off). The pairing is one way: the phone sees only what it started.
func (s *Server) ownsConsent(r *http.Request, c store.Consent) bool {
	ref := s.deviceRef(r)
	if ref == "" || c.DeviceRef == "" {
		return false
	}
	if hmac.Equal([]byte(ref), []byte(c.DeviceRef)) {
		return true
	}
	paired, err := s.st.HandoffPaired(r.Context(), c.LinkID, ref, c.DeviceRef)
	if err != nil {
		s.log.ErrorContext(r.Context(), "hand-off pairing lookup failed", "err", taxid.MaskErr(err))
		return false
	}
	return paired
}

// requireOperator guards the operators' pages: a visitor is sent to the sign-in page (HTML) or answered 401
// (JSON and CSV downloads).
func (s *Server) requireOperator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.operator(r) != nil {
			next.ServeHTTP(w, r)
			return
		}
		if p := r.URL.Path; strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".csv") ||
			strings.Contains(r.Header.Get("Accept"), "application/json") {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "sign in as an operator"})
			return
		}
		next := "/"
		if r.Method == http.MethodGet {
			next = safeNext(r.URL.Path)
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	})
}

// audit appends an entry to the audit trail, with the signed-in operator (or "visitor") as the actor and the TCP
// peer as the address; a failure is logged, never shown.
func (s *Server) audit(r *http.Request, action, target string, ok bool) {
	actor := "visitor"
	if o := s.operator(r); o != nil {
		actor = o.Email
	}
	s.auditAs(r, actor, action, target, ok)
}

func (s *Server) auditAs(r *http.Request, actor, action, target string, ok bool) {
	err := s.st.AddAudit(context.WithoutCancel(r.Context()), store.AuditEntry{Actor: actor, Action: action,
		Target: taxid.MaskText(target), IP: clientIP(r), OK: ok})
	if err != nil {
		s.log.ErrorContext(r.Context(), "audit write failed", "action", action, "err", taxid.MaskErr(err))
	}
}

// clientIP is the client's address as text (clientAddr: the TCP peer, or what Options.TrustedProxies forwarded).
func clientIP(r *http.Request) string {
	_, raw, _ := clientAddr(r)
	return raw
}
