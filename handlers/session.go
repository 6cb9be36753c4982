package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// Sessions live in the database (docs/reliability.md#sessions): the cookie holds only a random 256-bit token,
// and the row is keyed by its SHA-256. Deleting the row (sign-out, a password change, rotation) makes every copy
// of the cookie worthless at once. A session ends 30 minutes after it was last used, or 12 hours after it began.
// SameSite=Lax, not Strict, because the return from the bank is a cross-site top-level GET that must carry the
// cookie, or the state check on /callback would always fail.
const (
	sessionIdle     = 30 * time.Minute
	sessionAbsolute = 12 * time.Hour
	sessionMaxAge   = int(sessionAbsolute / time.Second) // the cookie's Max-Age, in seconds
	// sessionTouchEvery bounds the writes that keep an active session alive: at most one a minute per session.
	sessionTouchEvery = time.Minute
	// sessionCacheTTL is how long a visitor's session row read or written here is used without reading it again,
	// and sessionCacheSize how many are kept (docs/reliability.md#sessions). An operator's session is always read.
	sessionCacheTTL  = time.Second
	sessionCacheSize = 4096
)

// Session values. keyOperator is stored in its own column (so that an operator's sessions can be ended
// together), the others as strings.
const (
	keySID      = "sid"
	keyLang     = "lang"
	keyFlash    = "flash"
	keyOperator = "operator"
	keyOIDC     = "oidc" // state, nonce and PKCE verifier of a single sign-on in progress
	// keyLink pins the flow to one link (its Klavi linkId): set by "connect another bank" and by a phone hand-off,
	// so that the picker adds institutions to that link rather than the session's latest (handoff.go).
	keyLink = "link"
	// keyHandoff is the id of the hand-off code the institution step shows this desktop session (handoff.go).
	keyHandoff = "handoff"
	// keyHandedOff marks a session a phone got by spending a hand-off code: it is not offered one itself.
	keyHandedOff = "handed_off"
)

// metaKey keys the values the store keeps beside the session data (never written as data).
type metaKey int

const (
	metaCreated metaKey = iota // time.Time the session began
	metaSeen                   // time.Time it was last used
)

// dbSessions is a gorilla/sessions Store over store.Sessions.
type dbSessions struct {
	st      *store.Store
	now     func() time.Time
	options sessions.Options
	// recent keeps the visitors' session rows this replica read or wrote in the last sessionCacheTTL, by id hash:
	// a page and the requests that follow it read the row once. Rows this replica deletes leave it at once; a row
	// deleted by another replica is used here for at most sessionCacheTTL more (a visitor's session grants only
	// his flow; an operator's session, which grants more, is never kept).
	recent *lru.Cache[string, recentSession]
	// deletes counts the rows this replica deleted: a row read while one was deleted is not kept, since it may be
	// that very row, read just before its deletion. keepMu makes "check the count, keep the row" one step.
	deletes atomic.Uint64
	keepMu  sync.Mutex
}

type recentSession struct {
	row store.Session
	at  time.Time
}

// session returns the row of idHash, from recent when it is young enough.
func (d *dbSessions) session(ctx context.Context, idHash string) (store.Session, error) {
	now := d.now()
	if rs, ok := d.recent.Get(idHash); ok {
		if now.Sub(rs.at) < sessionCacheTTL && now.Before(rs.row.ExpiresAt) {
			return rs.row, nil
		}
		d.recent.Remove(idHash)
	}
	deletes := d.deletes.Load()
	row, err := d.st.Session(ctx, idHash)
	if err == nil {
		d.keepMu.Lock()
		if d.deletes.Load() == deletes {
			d.keep(row, now)
		}
		d.keepMu.Unlock()
	}
	return row, err
}

// keep remembers a visitor's row read or written at now; an operator's row is dropped instead.
func (d *dbSessions) keep(row store.Session, now time.Time) {
	if row.OperatorID != 0 {
		d.recent.Remove(row.IDHash)
		return
	}
	d.recent.Add(row.IDHash, recentSession{row: row, at: now})
}

// deleteSession deletes the row of idHash here and in the database.
func (d *dbSessions) deleteSession(ctx context.Context, idHash string) error {
	d.recent.Remove(idHash)
	err := d.st.DeleteSession(ctx, idHash)
	d.keepMu.Lock()
	d.deletes.Add(1)
	d.recent.Remove(idHash) // kept by a read that ended before the count moved
	d.keepMu.Unlock()
	return err
}

// Get returns the request's session, cached for the request by gorilla's registry.
func (d *dbSessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(d, name)
}

// New loads the session named by the request's cookie; a missing, unknown or expired one yields a fresh, empty
// session (IsNew). A database error is returned with the fresh session.
func (d *dbSessions) New(r *http.Request, name string) (*sessions.Session, error) {
	gs := sessions.NewSession(d, name)
	opts := d.options
	gs.Options = &opts
	gs.IsNew = true
	c, err := r.Cookie(name)
	if err != nil || !validToken(c.Value) {
		return gs, nil
	}
	row, err := d.session(r.Context(), sha256Hex(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return gs, nil
	}
	if err != nil {
		return gs, err
	}
	gs.ID, gs.IsNew = c.Value, false
	for k, v := range row.Data {
		gs.Values[k] = v
	}
	if row.OperatorID != 0 {
		gs.Values[keyOperator] = row.OperatorID
	}
	gs.Values[metaCreated], gs.Values[metaSeen] = row.CreatedAt, row.SeenAt
	return gs, nil
}

// Save writes the session row and the cookie; MaxAge < 0 deletes both.
func (d *dbSessions) Save(r *http.Request, w http.ResponseWriter, gs *sessions.Session) error {
	if gs.Options.MaxAge < 0 {
		if gs.ID != "" {
			if err := d.deleteSession(r.Context(), sha256Hex(gs.ID)); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(gs.Name(), "", gs.Options))
		return nil
	}
	now := d.now()
	if gs.ID == "" {
		gs.ID = newToken()
		delete(gs.Values, metaCreated)
	}
	created, ok := gs.Values[metaCreated].(time.Time)
	if !ok {
		created = now
		gs.Values[metaCreated] = now
	}
	gs.Values[metaSeen] = now
	row := store.Session{IDHash: sha256Hex(gs.ID), Data: map[string]string{}, CreatedAt: created, SeenAt: now,
		ExpiresAt: sessionExpiry(created, now)}
	for k, v := range gs.Values {
		ks, kok := k.(string)
		switch {
		case ks == keyOperator:
			row.OperatorID, _ = v.(int64)
		case kok:
			if vs, ok := v.(string); ok {
				row.Data[ks] = vs
			}
		}
	}
	d.recent.Remove(row.IDHash)
	if err := d.st.SaveSession(r.Context(), row); err != nil {
		return err
	}
	d.keep(row, now)
	opts := *gs.Options
	opts.MaxAge = max(1, int(created.Add(sessionAbsolute).Sub(now)/time.Second))
	http.SetCookie(w, sessions.NewCookie(gs.Name(), gs.ID, &opts))
	return nil
}

// sessionExpiry is when a session used at seen ends: idle timeout or absolute limit, whichever comes first.
func sessionExpiry(created, seen time.Time) time.Time {
	idle, absolute := seen.Add(sessionIdle), created.Add(sessionAbsolute)
	if idle.Before(absolute) {
		return idle
	}
	return absolute
}

// newToken returns a fresh 256-bit session token, base64url without padding (43 characters).
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validToken accepts exactly what newToken makes.
func validToken(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

func (s *Server) initSessions() {
	s.cookieName = "sid"
	if s.secure {
		// __Host- forces Secure, Path=/ and no Domain in the browser (RFC 6265bis).
		s.cookieName = "__Host-sid"
	}
	recent, _ := lru.New[string, recentSession](sessionCacheSize) // a positive size: no error
	s.sessions = &dbSessions{st: s.st, now: s.now, recent: recent, options: sessions.Options{
		Path:     "/",
		MaxAge:   sessionMaxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}}
}

// session is the per-request view of the session.
type session struct {
	gs *sessions.Session
	// oldID is the token the session had before renew, deleted when the session is saved.
	oldID string
	// op caches the signed-in operator for the request (loaded on first use).
	op       *store.Operator
	opLoaded bool
}

type sessionCtxKey struct{}

// loadSession reads the request's session; on a database error it logs and carries on with a fresh one (a page
// that needs the session then behaves as for a new visitor).
func (s *Server) loadSession(r *http.Request) *session {
	gs, err := s.sessions.New(r, s.cookieName)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load session failed", "err", taxid.MaskErr(err))
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

// ID returns the flow's session id (the value links and consents are bound to), or "" when there is none yet.
func (ss *session) ID() string {
	v, _ := ss.gs.Values[keySID].(string)
	return v
}

// Lang returns the remembered UI language (pt-BR by default).
func (ss *session) Lang() views.Lang {
	v, _ := ss.gs.Values[keyLang].(string)
	return views.ParseLang(v)
}

// rotate starts a new flow: a new flow id and a new session token (session fixation defence: a planted cookie
// is worthless after it).
func (ss *session) rotate() string {
	ss.renew()
	id := randomHex(16)
	ss.gs.Values[keySID] = id
	delete(ss.gs.Values, keyLink)
	delete(ss.gs.Values, keyHandoff)
	delete(ss.gs.Values, keyHandedOff)
	return id
}

// pinnedLink is the link the flow is pinned to (keyLink), "" when it follows the session's latest link.
func (ss *session) pinnedLink() string {
	v, _ := ss.gs.Values[keyLink].(string)
	return v
}

// renew gives the session a new token; the old row is deleted when the session is saved.
func (ss *session) renew() {
	if ss.oldID == "" {
		ss.oldID = ss.gs.ID
	}
	ss.gs.ID = ""
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

// operatorID returns the signed-in operator's id, 0 for a visitor.
func (ss *session) operatorID() int64 {
	id, _ := ss.gs.Values[keyOperator].(int64)
	return id
}

// saveSession writes the session and its cookie. It must run before the response body is written.
func (s *Server) saveSession(w http.ResponseWriter, r *http.Request, ss *session) error {
	if ss.oldID != "" {
		if err := s.sessions.deleteSession(r.Context(), sha256Hex(ss.oldID)); err != nil {
			return err
		}
		ss.oldID = ""
	}
	return s.sessions.Save(r, w, ss.gs)
}

// endSession deletes the session (every copy of its cookie stops working) and clears the cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, ss *session) error {
	ss.gs.Options.MaxAge = -1
	ss.op, ss.opLoaded = nil, true
	return s.saveSession(w, r, ss)
}

// withSession loads the session once per request and puts it, and the UI language, in the context. A session in
// use is kept alive (its idle timeout moved) at most once a minute, without a new cookie.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.loadSession(r)
		if seen, ok := ss.gs.Values[metaSeen].(time.Time); ok && !ss.gs.IsNew && s.now().Sub(seen) >= sessionTouchEvery {
			if err := s.saveSession(w, r, ss); err != nil {
				s.log.WarnContext(r.Context(), "keep session alive failed", "err", taxid.MaskErr(err))
			}
		}
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
