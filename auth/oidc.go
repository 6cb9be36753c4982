package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures single sign-on for operators with an OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL exactly as its discovery document states it.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the portal's callback as registered at the provider (PUBLIC_URL + the callback route).
	RedirectURL string
	// Allowed lists who may sign in; the provider vouches for the email, the allow-list grants access.
	Allowed AllowList
	// HTTPClient makes the discovery, token and key requests. Nil: a client with a 10-second timeout.
	HTTPClient *http.Client
	// Now is the clock ID token expiry is checked against. Nil: time.Now.
	Now func() time.Time
}

// OIDC is the portal's OpenID Connect client: the authorization code flow with PKCE, the ID token verifier and
// the allow-list. It is safe for concurrent use.
type OIDC struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	allowed  AllowList
	client   *http.Client
}

// oidcTimeout bounds each request to the provider (discovery, token, keys) when no HTTP client is given.
const oidcTimeout = 10 * time.Second

// NewOIDC discovers the provider (one GET of Issuer/.well-known/openid-configuration, bounded by ctx) and builds
// the client. A discovery failure is returned as a one-line error without the response body.
func NewOIDC(ctx context.Context, c OIDCConfig) (*OIDC, error) {
	if c.Issuer == "" || c.ClientID == "" || c.RedirectURL == "" {
		return nil, errors.New("auth: oidc: issuer, client id and redirect URL are required")
	}
	if c.Allowed.Empty() {
		return nil, errors.New("auth: oidc: the allow-list is empty, so nobody could sign in")
	}
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: oidcTimeout}
	}
	// The provider keeps this client for its key set, so key refreshes are bounded too.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: oidc discovery: %s", oneLine(err.Error()))
	}
	return &OIDC{
		oauth: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint:     p.Endpoint(),
			RedirectURL:  c.RedirectURL,
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: c.Now}),
		allowed:  c.Allowed,
		client:   client,
	}, nil
}

// oneLine keeps the first line of s, at most 200 bytes: a provider's error page never floods a log or the
// one-line start failure.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// AuthCodeURL is the provider's authorization URL for one sign-in: the state and nonce echoed back, and the S256
// challenge of the PKCE verifier (oauth2.GenerateVerifier) that Exchange later proves.
func (o *OIDC) AuthCodeURL(state, nonce, verifier string) string {
	return o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
}

// Allowed reports whether email may sign in.
func (o *OIDC) Allowed(email string) bool { return o.allowed.Allows(email) }

// Identity is who the provider says signed in, from a verified ID token.
type Identity struct {
	Email   string // lower-case, the provider did not say it is unverified
	Subject string
}

// SignInError says why a single sign-on was refused. Reason is a short label safe for the audit trail and logs
// ("exchange", "signature", "issuer", "audience", "expired", "nonce", "email", "email_verified", ...); Err,
// when set, is the underlying error, which never holds a token or a code.
type SignInError struct {
	Reason string
	Err    error
}

func (e *SignInError) Error() string {
	if e.Err == nil {
		return "auth: single sign-on refused: " + e.Reason
	}
	return "auth: single sign-on refused: " + e.Reason + ": " + e.Err.Error()
}

func (e *SignInError) Unwrap() error { return e.Err }

func refuse(reason string, err error) error { return &SignInError{Reason: reason, Err: err} }

// Exchange redeems the authorization code with its PKCE verifier, verifies the ID token (signature, issuer,
// audience = client id, expiry), checks that it carries nonce and reads its email, which must be present and
// not marked unverified. Every error is a *SignInError. It does not consult the allow-list.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, refuse("exchange", safeExchangeErr(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refuse("id_token", errors.New("the token response has no id_token"))
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, refuse(verifyReason(err), err)
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, refuse("nonce", errors.New("the ID token's nonce is not the one sent"))
	}
	var claims struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		AZP           string          `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, refuse("id_token", err)
	}
	// With several audiences the token must name the portal as the party it was issued to (OIDC Core 3.1.3.7).
	if len(idt.Audience) > 1 && claims.AZP != o.oauth.ClientID {
		return Identity{}, refuse("audience", errors.New("several audiences and azp is not the client id"))
	}
	if v := strings.ReplaceAll(string(claims.EmailVerified), " ", ""); v == "false" || v == `"false"` {
		return Identity{}, refuse("email_verified", nil)
	}
	email := normalizeEmail(claims.Email)
	if !validAddress(email) {
		return Identity{}, refuse("email", errors.New("no usable email claim"))
	}
	return Identity{Email: email, Subject: idt.Subject}, nil
}

// verifyReason labels a verifier error. go-oidc types only the expiry error; the issuer and audience checks are
// told apart by their messages (a test pins them), anything else is a bad signature or a malformed token.
func verifyReason(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "expired"
	case strings.Contains(msg, "expected audience"):
		return "audience"
	case strings.Contains(msg, "issued by a different provider"):
		return "issuer"
	case strings.Contains(msg, "signature"):
		return "signature"
	default:
		return "id_token"
	}
}

// safeExchangeErr keeps what may be logged of a failed code exchange: the provider's error code and status, never
// its description or body (providers echo the code there).
func safeExchangeErr(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err // a transport error names the token endpoint, not the code (it travels in the body)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code := re.ErrorCode
	if !safeLabel(code) {
		code = "?"
	}
	return fmt.Errorf("token endpoint answered %d %s", status, code)
}

// safeLabel accepts an OAuth error code as RFC 6749 shapes them (e.g. access_denied), short enough to record.
func safeLabel(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// ProviderError is the label to record for an error parameter the provider sent back instead of a code:
// the code itself when it looks like an OAuth error code, otherwise "error".
func ProviderError(code string) string {
	if safeLabel(code) {
		return code
	}
	return "error"
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// validAddress accepts a bare address of at most 254 bytes (no display name, no angle brackets).
func validAddress(v string) bool {
	if v == "" || len(v) > 254 || strings.ContainsAny(v, " <>") {
		return false
	}
	a, err := mail.ParseAddress(v)
	return err == nil && a.Address == v
}

// AllowList admits emails by exact address ("ana@example.com") or by domain ("@example.com", that domain only,
// not its subdomains), case-insensitively. The zero value admits nobody.
type AllowList struct {
	addrs, domains map[string]bool
}

// ParseAllowList reads comma-separated entries; blanks are skipped. An entry that is neither an address nor an
// @domain is an error naming it.
func ParseAllowList(s string) (AllowList, error) {
	a := AllowList{addrs: map[string]bool{}, domains: map[string]bool{}}
	for _, item := range strings.Split(s, ",") {
		item = normalizeEmail(item)
		switch {
		case item == "":
		case strings.HasPrefix(item, "@") && validDomain(item[1:]):
			a.domains[item[1:]] = true
		case validAddress(item):
			a.addrs[item] = true
		default:
			return AllowList{}, fmt.Errorf("%q is neither an email address nor an @domain", item)
		}
	}
	return a, nil
}

// validDomain accepts a host name: dot-separated labels of letters, digits and hyphens.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// Empty reports whether the list admits nobody.
func (a AllowList) Empty() bool { return len(a.addrs) == 0 && len(a.domains) == 0 }

// Allows reports whether email is listed, or its domain is.
func (a AllowList) Allows(email string) bool {
	email = normalizeEmail(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return false
	}
	return a.addrs[email] || a.domains[email[at+1:]]
}
