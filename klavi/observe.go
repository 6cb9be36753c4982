package klavi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
)

// Call describes one HTTP attempt to Klavi. Observers (metrics, the diagnostics page, the support bundle's call
// log) receive one per attempt, retries included. It carries no body, no token and no concrete path: Endpoint is
// the path template ("/consents/{consentId}"), so nothing in it identifies a person.
type Call struct {
	Method    string
	Endpoint  string        // path template, e.g. "/links/{linkId}/consents"
	Status    int           // HTTP status; 0 when no response came (network error, timeout)
	Attempt   int           // 1 for the first attempt of a call
	Start     time.Time     // when the attempt started (the client's clock, see WithNow)
	Duration  time.Duration // until the response body was read or the attempt failed
	RequestID string        // the X-Request-Id sent with the attempt, or the one Klavi answered with
	Date      time.Time     // the response's Date header (for clock skew); zero when absent or unparsable
}

// Failed reports whether the attempt failed on Klavi's side or on the way: no response, a 5xx or a 429.
func (c Call) Failed() bool {
	return c.Status == 0 || c.Status >= 500 || c.Status == http.StatusTooManyRequests
}

// WithObserver adds fn, called synchronously after every HTTP attempt with the caller's context (so an observer
// can read values the caller put there, such as the consent a call is made for). It may be given several
// times; observers run in order. They must be quick and must not call the client.
func WithObserver(fn func(ctx context.Context, c Call)) Option {
	return func(c *Client) {
		if fn != nil {
			c.observers = append(c.observers, fn)
		}
	}
}

// newRequestID returns a random id sent as X-Request-Id with each attempt, so one attempt can be named in a
// support request to Klavi and found in our own logs and call log (docs/klavi.md#request-ids).
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *Client) observe(ctx context.Context, cl *call, attempt, status int, start time.Time, d time.Duration,
	reqID string, header http.Header) {
	if len(c.observers) == 0 {
		return
	}
	o := Call{Method: cl.method, Endpoint: cl.tmpl, Status: status, Attempt: attempt, Start: start, Duration: d,
		RequestID: reqID}
	if header != nil {
		if v := header.Get("X-Request-Id"); validRequestID(v) {
			o.RequestID = v
		}
		if t, err := http.ParseTime(header.Get("Date")); err == nil {
			o.Date = t
		}
	}
	for _, fn := range c.observers {
		fn(ctx, o)
	}
}

// validRequestID accepts an answered request id only when it is short and plain, so a strange header cannot
// smuggle text into logs or pages.
func validRequestID(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// BreakerState is the circuit breaker's state: "closed", "open" or "half-open" (docs/reliability.md#circuit-breaker).
// A disabled breaker is always "closed".
func (c *Client) BreakerState() string {
	b := &c.brk
	if b.threshold <= 0 {
		return "closed"
	}
	now := c.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return "closed"
	case now.Before(b.openUntil):
		return "open"
	}
	return "half-open"
}

// TokenExpiry returns when the cached accessToken expires; zero when there is none.
func (c *Client) TokenExpiry() time.Time {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok == "" {
		return time.Time{}
	}
	return c.tokExpiresAt
}

// CheckCredentials performs a real POST /auth with the configured keys, whatever the cached token, and keeps the
// new token. It returns the new token's expiry. For the diagnostics page: it proves the keys work now.
func (c *Client) CheckCredentials(ctx context.Context) (time.Time, error) {
	if c.accessKey == "" || c.secretKey == "" {
		return time.Time{}, ErrNoCredentials
	}
	var tr tokenResponse
	err := c.do(ctx, call{method: http.MethodPost, path: "/auth", tmpl: "/auth", auth: authNone,
		body: authRequest{AccessKey: c.accessKey, SecretKey: c.secretKey}, out: &tr, retry: false})
	if err == nil && tr.AccessToken == "" {
		err = &opError{op: "POST /auth", msg: "response has no accessToken", kinds: []error{ErrBadResponse}}
	}
	if err != nil {
		return time.Time{}, err
	}
	c.storeToken(tr)
	return c.TokenExpiry(), nil
}
