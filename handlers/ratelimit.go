package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// Defaults for the per-client limit on the routes that call Klavi on a user's behalf: the 61st POST /consents
// in a minute from one IP is refused.
const (
	defaultRateLimit  = 60
	defaultRateWindow = time.Minute
)

// rateLimiter is the one limit shared by the Klavi-calling form posts: at most limit requests per window per
// client (clientKey). It is httprate's sliding window counter, which weights the previous window's count by how
// much of it still overlaps the last window: bursts and steady traffic are cut at limit, but a client that
// spends its budget at the very end of one window and keeps going can get up to about twice the limit through
// across the boundary. That is good enough for a brake on abuse in front of Klavi, and httprate's in-memory
// counter forgets every key after two windows, so memory is bounded by the clients seen in that time.
type rateLimiter struct {
	limit  int
	window time.Duration
	*httprate.RateLimiter
}

// newRateLimiter returns the limiter; over the limit it answers with s.rateLimited. Refused requests are not
// counted.
func (s *Server) newRateLimiter(limit int, window time.Duration) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, RateLimiter: httprate.NewRateLimiter(limit, window,
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) { return clientKey(r), nil }),
		// Only Retry-After, set by rateLimited: no X-RateLimit-* headers on every form post.
		httprate.WithResponseHeaders(httprate.ResponseHeaders{}),
		httprate.WithLimitHandler(s.rateLimited),
		// Neither clientKey nor the in-memory counter returns errors; should one appear, it is a generic 500.
		httprate.WithErrorHandler(s.fail),
	)}
}

// rateLimit applies the limiter to next (the identity when the limit is disabled). It runs after the session
// middleware, so the 429 page is in the user's language.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return s.limiter.Handler(next)
}

// rateLimited answers a client over its limit: 429, Retry-After (the window, at least one second) and the
// friendly page.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request) {
	secs := max(1, int((s.limiter.window+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.log.WarnContext(r.Context(), "rate limited", "retry_after_s", secs)
	s.errorPage(w, r, http.StatusTooManyRequests)
}

// clientAddr is the address of the client that sent r: the one the router's client-IP middleware found (the TCP
// peer, or behind Options.TrustedProxies the address they forwarded), else the TCP peer (a handler served without
// the router). X-Forwarded-For, X-Real-IP and Forwarded from anyone else are ignored: anyone can send them, so
// honouring them would let a client pick its own rate-limit bucket or lockout key. ok is false, and raw the peer
// as given, when no address can be read.
func clientAddr(r *http.Request) (addr netip.Addr, raw string, ok bool) {
	if a := middleware.GetClientIPAddr(r.Context()); a.IsValid() {
		return a.Unmap(), a.Unmap().String(), true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, host, false
	}
	return a.Unmap(), a.Unmap().String(), true
}

// clientKey is the rate-limit key of a request: its client address (clientAddr). Behind a reverse proxy that is
// not in Options.TrustedProxies every client shares the proxy's key. IPv6 clients are keyed by their /64, the
// block one subscriber usually controls, so rotating addresses inside it does not reset the limit.
func clientKey(r *http.Request) string {
	addr, raw, ok := clientAddr(r)
	if !ok {
		return raw
	}
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}
