package klavi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults (docs/reliability.md#klavi-calls).
const (
	DefaultMaxAttempts   = 3
	DefaultBackoffBase   = 200 * time.Millisecond
	DefaultBackoffMax    = 5 * time.Second
	DefaultCallTimeout   = 30 * time.Second // whole call, retries and token fetch included
	DefaultMaxRetryAfter = 10 * time.Second // a longer Retry-After fails fast instead of holding a page request
	MaxResponseBytes     = 8 << 20          // bodies of successful responses are read through this limit

	maxErrorBodyBytes = 64 << 10 // error bodies are small; anything beyond is ignored
	userAgent         = "klavi-demo-portal/1 (+go)"
)

// Client calls Klavi's Link API (API Only mode). It is safe for concurrent use; create one per base URL and
// key pair and share it. The accessToken is obtained lazily and managed internally; linkTokens belong to the
// caller (one per link) and are passed to the calls that need them.
type Client struct {
	baseURL   string // absolute, without trailing slash, e.g. https://api-sandbox.klavi.ai/data/v1
	hc        *http.Client
	accessKey string
	secretKey string
	now       func() time.Time
	log       *slog.Logger

	maxAttempts   int
	backoffBase   time.Duration
	backoffMax    time.Duration
	callTimeout   time.Duration
	maxRetryAfter time.Duration
	maxBody       int64

	// Seams for tests: sleep waits between attempts; jitter returns a uniform value in [0, n].
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n int64) int64

	brk       breaker                             // see breaker.go
	observers []func(ctx context.Context, c Call) // see WithObserver

	tokMu        sync.Mutex
	tok          string
	tokRefreshAt time.Time // refresh ahead of expiry from this instant on
	tokExpiresAt time.Time
	tokFlight    singleflight.Group
}

// Option configures a Client.
type Option func(*Client)

// WithCredentials sets the accessKey/secretKey pair used by POST /auth. Without it, every call that needs an
// accessToken fails with ErrNoCredentials (linkToken calls still work).
func WithCredentials(accessKey, secretKey string) Option {
	return func(c *Client) { c.accessKey, c.secretKey = accessKey, secretKey }
}

// WithHTTPClient replaces the default *http.Client (15 s timeout, 5 s dial and TLS handshake, 10 s response
// header timeout). nil is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithNow sets the clock used for token expiry, link expiry and Retry-After dates. nil is ignored.
func WithNow(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger enables one log line per HTTP attempt with method, path template (never the concrete path or
// query, which may hold ids or a tax id), status, attempt and duration. Nothing else is ever logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) { c.log = l }
}

// WithRetry sets the retry policy for idempotent calls: at most maxAttempts attempts (values < 1 mean 1),
// full-jitter exponential backoff rand(0, min(max, base·2ⁿ)). Defaults: 3, 200ms, 5s.
func WithRetry(maxAttempts int, base, max time.Duration) Option {
	return func(c *Client) {
		if maxAttempts < 1 {
			maxAttempts = 1
		}
		if base < 0 {
			base = 0
		}
		if max < base {
			max = base
		}
		c.maxAttempts, c.backoffBase, c.backoffMax = maxAttempts, base, max
	}
}

// WithCallTimeout bounds each public method call as a whole (token fetch and retries included) when the
// caller's context has no earlier deadline. Default 30s; d <= 0 means "the caller's context only".
func WithCallTimeout(d time.Duration) Option {
	return func(c *Client) { c.callTimeout = d }
}

// WithMaxRetryAfter caps how long a 429's Retry-After is honoured; a longer wait fails fast with
// ErrRateLimited instead of sleeping. Default 10s.
func WithMaxRetryAfter(d time.Duration) Option {
	return func(c *Client) { c.maxRetryAfter = d }
}

// New returns a Client for baseURL, which must be an absolute http(s) URL including the API prefix, e.g.
// "https://api-sandbox.klavi.ai/data/v1" or "http://127.0.0.1:8090/data/v1".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: base URL must be an absolute http(s) URL without query", ErrInvalidArgument)
	}
	c := &Client{
		baseURL:       strings.TrimRight(u.String(), "/"),
		hc:            defaultHTTPClient(),
		now:           time.Now,
		maxAttempts:   DefaultMaxAttempts,
		backoffBase:   DefaultBackoffBase,
		backoffMax:    DefaultBackoffMax,
		callTimeout:   DefaultCallTimeout,
		maxRetryAfter: DefaultMaxRetryAfter,
		maxBody:       MaxResponseBytes,
		sleep:         sleepCtx,
		jitter:        func(n int64) int64 { return rand.Int64N(n + 1) }, //nolint:gosec // G404: jitter spreads retries, it guards no secret
		brk:           breaker{threshold: DefaultBreakerFailures, cooldown: DefaultBreakerCooldown},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	return &http.Client{Timeout: 15 * time.Second, Transport: t}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// authKind says which token a call carries in Authorization (docs/klavi.md#tokens).
type authKind int

const (
	authNone   authKind = iota // POST /auth: keys in the body
	authAccess                 // managed accessToken; a 401 triggers one re-auth and one retry
	authLink                   // caller's linkToken; a 401 is returned as is (the link must be recreated)
	authBearer                 // explicit token (GET /refresh with the current accessToken)
)

// call describes one API operation.
type call struct {
	method string
	path   string // escaped concrete path below baseURL, e.g. /consents/abc
	tmpl   string // path template for logs and errors, e.g. /consents/{consentId}
	query  url.Values
	auth   authKind
	token  string // linkToken (authLink) or explicit bearer (authBearer)
	body   any    // JSON-encoded when non-nil
	out    any    // decoded from a 2xx body when non-nil
	// retry marks the call idempotent: it may be repeated on network errors, 429 and 5xx. Each endpoint
	// states why it is or is not safe to repeat.
	retry bool
	// redact lists request values (tax ids) that must never reach an error text, whatever form the server
	// echoes them in; the regular expressions of sanitize only catch the usual shapes.
	redact []string
}

func (cl *call) op() string { return cl.method + " " + cl.tmpl }

// taxIDForms returns the spellings of the given tax ids a server might echo: as sent, with the punctuation
// removed, and upper- and lower-cased (alphanumeric CNPJ). Values shorter than 4 characters are left out, like
// sanitize does.
func taxIDForms(ids ...string) []string {
	var out []string
	add := func(v string) {
		if len(v) < 4 {
			return
		}
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	for _, id := range ids {
		plain := strings.Map(func(r rune) rune {
			switch r {
			case '.', '/', '-', ' ':
				return -1
			}
			return r
		}, id)
		for _, v := range []string{id, plain} {
			add(v)
			add(strings.ToUpper(v))
			add(strings.ToLower(v))
		}
	}
	return out
}

// do runs one API call: circuit breaker, per-call timeout, token, transport retries, and one
// re-authentication on a 401.
func (c *Client) do(ctx context.Context, cl call) error {
	if c.brk.blocked(c.now()) {
		return openError(cl.op()) // before fetching a token: an open breaker means no network I/O at all
	}
	if c.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.callTimeout)
		defer cancel()
	}
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return &opError{op: cl.op(), msg: "encoding request", kinds: []error{ErrInvalidArgument}}
		}
	}
	reauthed := false
	for {
		token := cl.token
		if cl.auth == authAccess {
			var err error
			if token, err = c.accessToken(ctx); err != nil {
				return err
			}
		}
		ok, probe := c.brk.allow(c.now())
		if !ok {
			return openError(cl.op())
		}
		err := c.send(ctx, &cl, payload, token)
		c.brk.record(c.now(), probe, classify(ctx, err))
		// A 401 means Klavi refused the token before doing anything, so repeating the call once with a fresh
		// token cannot duplicate a side effect, not even for POST /links, POST /consents or report requests.
		// Only once: a second 401 is returned, never looped on.
		var ae *APIError
		if cl.auth == authAccess && !reauthed && errors.As(err, &ae) && ae.HTTPStatus == http.StatusUnauthorized {
			c.invalidateToken(token)
			reauthed = true
			continue
		}
		return err
	}
}

// send performs the HTTP attempts of one call with the retry policy.
func (c *Client) send(ctx context.Context, cl *call, payload []byte, token string) error {
	attempts := 1
	if cl.retry {
		attempts = c.maxAttempts
	}
	secrets := append([]string{c.accessKey, c.secretKey, token}, cl.redact...)
	for attempt := 1; ; attempt++ {
		start, wall := time.Now(), c.now()
		reqID := newRequestID()
		status, header, body, err := c.attempt(ctx, cl, payload, token, reqID)
		d := time.Since(start)
		c.logAttempt(ctx, cl, status, attempt, d)
		c.observe(ctx, cl, attempt, status, wall, d, reqID, header)
		var retryErr error
		delay := c.backoff(attempt)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctxError(cl.op(), ctx.Err())
		case errors.Is(err, ErrTooLarge):
			return &opError{op: cl.op(), msg: fmt.Sprintf("response body exceeds %d bytes", c.maxBody),
				kinds: []error{ErrBadResponse, ErrTooLarge}}
		case err != nil:
			// Network error (refused, reset, client timeout). It may have happened after the server acted,
			// which is why only idempotent calls come back here.
			retryErr = &opError{op: cl.op(), msg: "request failed: " + describeNetErr(err, secrets),
				kinds: []error{ErrUnavailable, netCause(err)}}
		case status >= 200 && status <= 299:
			if cl.out == nil {
				return nil
			}
			if err := json.Unmarshal(body, cl.out); err != nil {
				return &opError{op: cl.op(), msg: "decoding response: " + jsonErrKind(err),
					kinds: []error{ErrBadResponse}}
			}
			return nil
		default:
			apiErr := newAPIError(cl.op(), status, body, secrets)
			if !retryableStatus(cl.method, status) {
				return apiErr
			}
			retryErr = apiErr
			// Retry-After is expected on 429 and allowed on 503 (RFC 9110); honour it wherever it comes.
			if ra, ok := parseRetryAfter(header.Get("Retry-After"), c.now()); ok {
				if ra > c.maxRetryAfter {
					return apiErr // fail fast: not worth holding the caller
				}
				delay = ra
			}
		}
		if attempt >= attempts || !fits(ctx, delay) {
			return retryErr
		}
		if err := c.sleep(ctx, delay); err != nil {
			return retryErr
		}
	}
}

// attempt sends one HTTP request and reads the response body within the limits.
func (c *Client) attempt(ctx context.Context, cl *call, payload []byte, token, reqID string) (int, http.Header, []byte, error) {
	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Request-Id", reqID)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	limit := c.maxBody
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, resp.Header, nil, err
	}
	if int64(len(body)) > limit {
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return resp.StatusCode, resp.Header, nil, ErrTooLarge
		}
		body = body[:limit] // error bodies: the start is enough
	}
	return resp.StatusCode, resp.Header, body, nil
}

func (c *Client) logAttempt(ctx context.Context, cl *call, status, attempt int, d time.Duration) {
	if c.log == nil {
		return
	}
	level := slog.LevelDebug
	if status == 0 || status >= 400 {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(ctx, level, "klavi call",
		slog.String("method", cl.method), slog.String("path", cl.tmpl), slog.Int("status", status),
		slog.Int("attempt", attempt), slog.Duration("duration", d))
}

// backoff returns the full-jitter delay before attempt+1: rand(0, min(max, base·2^(attempt-1))).
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.backoffBase
	for i := 1; i < attempt && ceil < c.backoffMax; i++ {
		ceil *= 2
	}
	if ceil > c.backoffMax {
		ceil = c.backoffMax
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(c.jitter(int64(ceil)))
}

// fits reports whether waiting d still leaves the context's deadline in the future; there is no point sleeping
// into a deadline only to fail with a less useful error.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

// retryableStatus: 429, 502, 503, 504 always (the request was not processed or the gateway failed), and 500 on
// GETs only (a 500 on a write may have happened after the write).
func retryableStatus(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusInternalServerError:
		return method == http.MethodGet
	}
	return false
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110, section 10.2.3). A date in the past means 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// newAPIError decodes Klavi's error body {statusCode, error, message}; a body that is not that JSON still
// yields an APIError with the HTTP status.
func newAPIError(op string, status int, body []byte, secrets []string) *APIError {
	var w struct {
		StatusCode flexInt `json:"statusCode"`
		Error      any     `json:"error"`
		Message    any     `json:"message"`
	}
	e := &APIError{HTTPStatus: status, op: op}
	if json.Unmarshal(body, &w) == nil {
		e.Code = int(w.StatusCode)
		e.ErrorText = sanitize(textOf(w.Error), secrets...)
		e.Message = sanitize(textOf(w.Message), secrets...)
	}
	if e.ErrorText == "" {
		e.ErrorText = http.StatusText(status)
	}
	return e
}

// textOf renders an error/message field that may be a string or (as some gateways do) a list of strings.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			if s, ok := p.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func ctxError(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &opError{op: op, msg: "deadline exceeded", kinds: []error{ErrUnavailable, context.DeadlineExceeded}}
	}
	return &opError{op: op, msg: "canceled", kinds: []error{err}}
}

// describeNetErr strips *url.Error, whose text contains the full URL (and so a tax id in a query string).
func describeNetErr(err error, secrets []string) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return sanitize(err.Error(), secrets...)
}

// netCause keeps the cause for errors.Is/As (e.g. syscall.ECONNREFUSED) without the *url.Error wrapper,
// whose Error() would print the URL.
func netCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// jsonErrKind describes a JSON decoding error without quoting the body.
func jsonErrKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "invalid JSON"
}

// flexInt decodes a JSON number or a numeric string ("1800" or 1800); null and "" are 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*f = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*f = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Accept an integral value written with a zero fraction ("1800.0"), still without floats.
		if i := strings.IndexByte(s, '.'); i > 0 && i < len(s)-1 && strings.Trim(s[i+1:], "0") == "" {
			n, err = strconv.ParseInt(s[:i], 10, 64)
		}
	}
	if err != nil {
		return fmt.Errorf("klavi: expected an integer")
	}
	*f = flexInt(n)
	return nil
}
