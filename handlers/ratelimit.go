package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Defaults for the per-client limit on the routes that call Klavi on a user's behalf (reliability.md §4 test 6:
// the 61st POST /consents in a minute from one IP is refused).
const (
	defaultRateLimit  = 60
	defaultRateWindow = time.Minute
	// maxRateKeys bounds the limiter's memory: at most this many clients are tracked at once, each with at most
	// limit timestamps.
	maxRateKeys = 10000
)

// rateLimiter is an exact sliding-window limiter: a key may make at most limit requests in any window. Each key
// keeps the times of its recent requests (oldest first); keys with nothing inside the window are idle and are
// evicted by a sweep that runs at most once per window, so memory stays bounded by maxKeys·limit timestamps.
type rateLimiter struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	hits      map[string][]time.Time
	lastSweep time.Time
}

func newRateLimiter(limit int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, maxKeys: maxRateKeys, now: now,
		hits: make(map[string][]time.Time)}
}

// allow records a request for key. When the key is over its limit it records nothing and returns false and how
// long until its oldest request leaves the window (at least one second, for Retry-After).
func (l *rateLimiter) allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	cutoff := now.Add(-l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.window || (len(l.hits) >= l.maxKeys && l.hits[key] == nil) {
		l.sweep(cutoff)
		l.lastSweep = now
	}
	ts := l.hits[key]
	// Drop what left the window (timestamps are in order).
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= l.limit {
		l.hits[key] = ts
		wait := ts[0].Add(l.window).Sub(now)
		return false, max(wait, time.Second)
	}
	if ts == nil && len(l.hits) >= l.maxKeys {
		// Still full after the sweep: forget the least recently active key, so a flood of new addresses cannot
		// grow the map (it can only make us forget someone's history early).
		l.evictOldest()
	}
	if cap(ts) == 0 {
		ts = make([]time.Time, 0, min(l.limit, 8))
	}
	l.hits[key] = append(ts, now)
	return true, 0
}

// sweep removes every key whose requests are all outside the window.
func (l *rateLimiter) sweep(cutoff time.Time) {
	for k, ts := range l.hits {
		if len(ts) == 0 || !ts[len(ts)-1].After(cutoff) {
			delete(l.hits, k)
		}
	}
}

// evictOldest removes the key whose latest request is the oldest.
func (l *rateLimiter) evictOldest() {
	var oldestKey string
	var oldest time.Time
	for k, ts := range l.hits {
		last := time.Time{}
		if len(ts) > 0 {
			last = ts[len(ts)-1]
		}
		if oldestKey == "" || last.Before(oldest) {
			oldestKey, oldest = k, last
		}
	}
	delete(l.hits, oldestKey)
}

// size reports how many keys are tracked (tests).
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.hits)
}

// clientKey is the rate-limit key of a request: the TCP peer address from r.RemoteAddr only. We trust no proxy
// headers (X-Forwarded-For, X-Real-IP, Forwarded): anyone can send them, so honouring them would let a client
// pick its own key (reliability.md §0.12). Behind a reverse proxy every client shares the proxy's key; deploy
// with a trusted-proxy policy (chi middleware.ClientIP with explicit proxies) before relying on this limit
// there. IPv6 clients are keyed by their /64, the block one subscriber usually controls, so rotating
// addresses inside it does not reset the limit.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}

// rateLimit refuses a client over its limit with 429, Retry-After and the friendly page in the user's language
// (it runs after the session middleware). Refused requests are not counted.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := s.limiter.allow(clientKey(r))
		if !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.log.WarnContext(r.Context(), "rate limited", "retry_after_s", secs)
			s.errorPage(w, r, http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
