package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

type tokenKind int

const (
	accessKind tokenKind = iota + 1
	linkKind
)

type tokenInfo struct {
	kind    tokenKind
	expires time.Time
	linkID  string // linkKind only
}

type ctxKey int

const tokenCtxKey ctxKey = 1

// tokenResponse is the body of POST /auth and GET /refresh (docs/klavi.md#tokens).
type tokenResponse struct {
	AccessToken string `json:"accessToken"`
	ExpireIn    int    `json:"expireIn"`
}

type authRequest struct {
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
}

// jwtHeader is base64url({"alg":"ES256","typ":"JWT"}): tokens look like
// Klavi's JWTs but are opaque random strings checked against a map.
const jwtHeader = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"

func newToken() string {
	p := make([]byte, 24)
	sig := make([]byte, 32)
	_, _ = rand.Read(p)
	_, _ = rand.Read(sig)
	enc := base64.RawURLEncoding
	return jwtHeader + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig)
}

// issueToken stores a new token of kind and returns it. Caller holds no lock.
func (s *Sandbox) issueToken(kind tokenKind, linkID string) (string, time.Time) {
	tok := newToken()
	exp := s.now().Add(s.o.TokenTTL)
	s.mu.Lock()
	s.tokens[tok] = tokenInfo{kind: kind, expires: exp, linkID: linkID}
	s.mu.Unlock()
	return tok, exp
}

func (s *Sandbox) expireInSeconds() int { return int(s.o.TokenTTL / time.Second) }

func equalKey(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// handleAuth: POST /data/v1/auth (docs/klavi.md#tokens).
func (s *Sandbox) handleAuth(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.AccessKey == "" || req.SecretKey == "" {
		badRequest(w, "accessKey and secretKey are required")
		return
	}
	// Evaluate both comparisons so timing does not reveal which key is wrong.
	okA := equalKey(req.AccessKey, s.o.AccessKey)
	okS := equalKey(req.SecretKey, s.o.SecretKey)
	if !okA || !okS || s.o.AccessKey == "" {
		unauthorized(w, "Invalid accessKey or secretKey")
		return
	}
	tok, _ := s.issueToken(accessKind, "")
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, ExpireIn: s.expireInSeconds()})
}

// handleRefresh: GET /data/v1/refresh (docs/klavi.md#tokens). Only a
// still-valid accessToken is accepted (enforced by requireToken); the old
// token stays valid until its own expiry.
func (s *Sandbox) handleRefresh(w http.ResponseWriter, r *http.Request) {
	tok, _ := s.issueToken(accessKind, "")
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, ExpireIn: s.expireInSeconds()})
}

// requireToken accepts only a valid, unexpired bearer token of kind.
func (s *Sandbox) requireToken(kind tokenKind) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || tok == "" {
				unauthorized(w, "Missing bearer token")
				return
			}
			now := s.now()
			s.mu.Lock()
			info, found := s.tokens[tok]
			if found && !now.Before(info.expires) {
				delete(s.tokens, tok)
				found = false
			}
			s.mu.Unlock()
			if !found {
				unauthorized(w, "Invalid or expired token")
				return
			}
			if info.kind != kind {
				unauthorized(w, "Token not valid for this endpoint")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenCtxKey, info)))
		})
	}
}

func tokenFrom(r *http.Request) tokenInfo {
	info, _ := r.Context().Value(tokenCtxKey).(tokenInfo)
	return info
}
