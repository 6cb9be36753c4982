package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/klavi-demo/portal/views"
)

// The session cookie carries only an opaque random id, the UI language and a one-shot flash message
// (style.md item 10): never a tax id or a token. It is authenticated and encrypted by gorilla/securecookie.
// SameSite=Lax, not Strict, because the return from the bank is a cross-site top-level GET that must carry the
// cookie, or the state check on /callback would always fail (reliability.md §0.5).
const sessionMaxAge = 3600 // seconds

const (
	keySID   = "sid"
	keyLang  = "lang"
	keyFlash = "flash"
)

func (s *Server) initSessions(key []byte) {
	cs := sessions.NewCookieStore(key[:32], key[32:])
	cs.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   sessionMaxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}
	cs.MaxAge(sessionMaxAge) // also bounds the signed timestamp inside the cookie
	s.sessions = cs
	s.cookieName = "sid"
	if s.secure {
		// __Host- forces Secure, Path=/ and no Domain in the browser (RFC 6265bis).
		s.cookieName = "__Host-sid"
	}
}

// session is the per-request view of the cookie session.
type session struct {
	gs *sessions.Session
}

type sessionCtxKey struct{}

// loadSession decodes the cookie; a missing, expired or tampered cookie yields a fresh, empty session.
func (s *Server) loadSession(r *http.Request) *session {
	gs, err := s.sessions.New(r, s.cookieName)
	if err != nil || gs == nil { // tampered or expired: start over with nothing from the old cookie
		gs = sessions.NewSession(s.sessions, s.cookieName)
		opts := *s.sessions.Options
		gs.Options = &opts
		gs.IsNew = true
	}
	return &session{gs: gs}
}

// sessionFrom returns the request's session (loaded by the withSession middleware).
func sessionFrom(ctx context.Context) *session {
	if ss, ok := ctx.Value(sessionCtxKey{}).(*session); ok {
		return ss
	}
	return &session{gs: &sessions.Session{Values: map[any]any{}}}
}

// ID returns the opaque session id, or "" when the browser has none yet.
func (ss *session) ID() string {
	v, _ := ss.gs.Values[keySID].(string)
	return v
}

// Lang returns the remembered UI language (pt-BR by default).
func (ss *session) Lang() views.Lang {
	v, _ := ss.gs.Values[keyLang].(string)
	return views.ParseLang(v)
}

// rotate gives the session a new random id (at the start of a flow: session fixation defence).
func (ss *session) rotate() string {
	id := randomHex(16)
	ss.gs.Values[keySID] = id
	return id
}

func (ss *session) setLang(l views.Lang) { ss.gs.Values[keyLang] = string(l) }

func (ss *session) setFlash(key string) { ss.gs.Values[keyFlash] = key }

// popFlash returns and clears the flash key; the caller must save the session.
func (ss *session) popFlash() string {
	v, _ := ss.gs.Values[keyFlash].(string)
	if v != "" {
		delete(ss.gs.Values, keyFlash)
	}
	return v
}

// save writes the cookie. It must run before the response body is written.
func (s *Server) saveSession(w http.ResponseWriter, r *http.Request, ss *session) error {
	return s.sessions.Save(r, w, ss.gs)
}

// withSession loads the session once per request and puts it, and the UI language, in the context.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.loadSession(r)
		ctx := context.WithValue(r.Context(), sessionCtxKey{}, ss)
		ctx = views.WithLang(ctx, ss.Lang())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sessionRef is what Klavi sees of a session (externalInfo.portalSession): a hash, never the id itself.
func sessionRef(id string) string {
	sum := sha256.Sum256([]byte("portal-session:" + id))
	return hex.EncodeToString(sum[:16])
}

// randomHex returns n random bytes as hex (crypto/rand never fails on supported platforms).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sha256Hex is the lowercase hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
