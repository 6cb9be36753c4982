package klavi

import (
	"context"
	"net/http"
	"time"
)

const (
	// refreshMargin: the accessToken is renewed this long before it expires, so that a call started just before expiry
	// does not reach Klavi with a dead token (docs/reliability.md#klavi-calls: renewed 120 s before expiry).
	refreshMargin = 120 * time.Second
	// defaultTokenLifetime is assumed when expireIn is missing or not positive (1800 s in every example).
	defaultTokenLifetime = 1800 * time.Second
)

// tokenResponse is the body of POST /auth and GET /refresh. expireIn is typed "String" in the docs but is
// the number 1800 in every example, so both forms are decoded.
type tokenResponse struct {
	AccessToken string  `json:"accessToken"`
	ExpireIn    flexInt `json:"expireIn"`
}

type authRequest struct {
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
}

// accessToken returns a valid accessToken, fetching one if the cache is empty or within refreshMargin of
// expiry. Concurrent callers share a single fetch (singleflight): 100 cold callers cause exactly one /auth.
// The shared fetch runs on a context detached from any one caller's cancellation, so one impatient caller
// cannot fail the others; each caller still stops waiting when its own ctx is done.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if c.accessKey == "" || c.secretKey == "" {
		return "", ErrNoCredentials
	}
	if tok, ok := c.cachedToken(); ok {
		return tok, nil
	}
	ch := c.tokFlight.DoChan("token", func() (any, error) {
		// A flight that finished between our cache check and DoChan has already stored a fresh token.
		if tok, ok := c.cachedToken(); ok {
			return tok, nil
		}
		timeout := c.callTimeout
		if timeout <= 0 {
			timeout = DefaultCallTimeout
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		return c.fetchToken(fctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctxError("POST /auth", ctx.Err())
	}
}

func (c *Client) cachedToken() (string, bool) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok != "" && c.now().Before(c.tokRefreshAt) {
		return c.tok, true
	}
	return "", false
}

// fetchToken refreshes the current token while it is still valid (GET /refresh), and falls back to POST /auth
// when there is none, it has expired, or the refresh fails for any reason.
func (c *Client) fetchToken(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	old, oldValid := c.tok, c.tok != "" && c.now().Before(c.tokExpiresAt)
	c.tokMu.Unlock()

	if oldValid {
		var tr tokenResponse
		// GET /refresh only issues a new token: repeating it is harmless, so it is retried.
		err := c.do(ctx, call{method: http.MethodGet, path: "/refresh", tmpl: "/refresh",
			auth: authBearer, token: old, out: &tr, retry: true})
		if err == nil && tr.AccessToken != "" {
			c.storeToken(tr)
			return tr.AccessToken, nil
		}
		if ctx.Err() != nil {
			return "", ctxError("GET /refresh", ctx.Err())
		}
	}
	var tr tokenResponse
	// POST /auth is safe to repeat: it has no side effect beyond issuing another token.
	err := c.do(ctx, call{method: http.MethodPost, path: "/auth", tmpl: "/auth", auth: authNone,
		body: authRequest{AccessKey: c.accessKey, SecretKey: c.secretKey}, out: &tr, retry: true})
	if err == nil && tr.AccessToken == "" {
		err = &opError{op: "POST /auth", msg: "response has no accessToken", kinds: []error{ErrBadResponse}}
	}
	if err != nil {
		// Renewing ahead of expiry is an optimisation: while the old token is still valid, a failed renewal
		// must not fail the call. The next call tries again.
		if oldValid && c.stillValid(old) {
			return old, nil
		}
		return "", err
	}
	c.storeToken(tr)
	return tr.AccessToken, nil
}

// stillValid reports whether tok is the cached token and has not expired.
func (c *Client) stillValid(tok string) bool {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	return c.tok == tok && c.now().Before(c.tokExpiresAt)
}

func (c *Client) storeToken(tr tokenResponse) {
	life := time.Duration(tr.ExpireIn) * time.Second
	if life <= 0 || tr.ExpireIn > 1<<31 {
		life = defaultTokenLifetime
	}
	margin := refreshMargin
	if margin > life/2 {
		margin = life / 2 // very short lifetimes (tests, sandbox knobs) still get some use out of a token
	}
	now := c.now()
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	c.tok = tr.AccessToken
	c.tokExpiresAt = now.Add(life)
	c.tokRefreshAt = now.Add(life - margin)
}

// invalidateToken drops tok after Klavi rejected it with 401, unless another goroutine has already replaced
// it. The next call goes straight to POST /auth (a rejected token cannot be refreshed).
func (c *Client) invalidateToken(tok string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok == tok {
		c.tok = ""
		c.tokExpiresAt = time.Time{}
		c.tokRefreshAt = time.Time{}
	}
}
