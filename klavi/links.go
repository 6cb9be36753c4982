package klavi

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// LinkRequest is the body of POST /links (docs/klavi.md#links). Every field is optional; empty ones are not sent.
// ProductsCallbackURL maps product names, or the reserved keys "other" and "all", to report webhook URLs;
// "all" cannot be combined with any other key. AppRedirectURLKey is required whenever AppLink is set.
type LinkRequest struct {
	PersonalTaxID, BusinessTaxID, Email, Phone, InstitutionCode, RedirectURL string
	ProductsCallbackURL                                                      map[string]string
	ExternalInfo                                                             map[string]any
	ConnectionKey, AppLink, AppRedirectURLKey                                string
}

// Link is Klavi's answer to POST /links. LinkToken authorises the "front-end" calls (institutions, consent
// creation) and must stay server-side. ExpireIn is the value as sent (0 when missing); ExpiresAt is the
// client's clock at reception plus ExpireIn seconds (1800 when missing).
type Link struct {
	LinkID, LinkURL, LinkToken string
	ExpireIn                   int
	ExpiresAt                  time.Time
}

type linkRequestWire struct {
	PersonalTaxID       string            `json:"personalTaxId,omitempty"`
	BusinessTaxID       string            `json:"businessTaxId,omitempty"`
	Email               string            `json:"email,omitempty"`
	Phone               string            `json:"phone,omitempty"`
	InstitutionCode     string            `json:"institutionCode,omitempty"`
	RedirectURL         string            `json:"redirectURL,omitempty"`
	ProductsCallbackURL map[string]string `json:"productsCallbackURL,omitempty"`
	ExternalInfo        map[string]any    `json:"externalInfo,omitempty"`
	ConnectionKey       string            `json:"connectionKey,omitempty"`
	AppLink             string            `json:"appLink,omitempty"`
	AppRedirectURLKey   string            `json:"appRedirectURLKey,omitempty"`
}

type linkResponseWire struct {
	LinkID    string  `json:"linkId"`
	LinkURL   string  `json:"linkURL"`
	LinkToken string  `json:"linkToken"`
	ExpireIn  flexInt `json:"expireIn"`
}

// CreateLink calls POST /links with the accessToken.
//
// Never retried on network errors, 429 or 5xx: the first attempt may have created a link whose answer was
// lost, and a repeat would create a second link (and a second link_created event). The caller can simply
// start over. A 401 is the exception (see Client): the request was refused before anything was created.
func (c *Client) CreateLink(ctx context.Context, req LinkRequest) (*Link, error) {
	const op = "POST /links"
	if req.AppLink != "" && req.AppRedirectURLKey == "" {
		return nil, fmt.Errorf("klavi: %s: %w: appRedirectURLKey is required with appLink", op, ErrInvalidArgument)
	}
	if err := validateCallbackMap(op, req.ProductsCallbackURL); err != nil {
		return nil, err
	}
	var out linkResponseWire
	err := c.do(ctx, call{method: http.MethodPost, path: "/links", tmpl: "/links", auth: authAccess,
		body: linkRequestWire(req), out: &out, redact: taxIDForms(req.PersonalTaxID, req.BusinessTaxID)})
	if err != nil {
		return nil, err
	}
	if out.LinkID == "" || out.LinkToken == "" {
		return nil, &opError{op: op, msg: "response lacks linkId or linkToken", kinds: []error{ErrBadResponse}}
	}
	life := int(out.ExpireIn)
	if life <= 0 {
		life = int(defaultTokenLifetime / time.Second)
	}
	return &Link{
		LinkID:    out.LinkID,
		LinkURL:   out.LinkURL,
		LinkToken: out.LinkToken,
		ExpireIn:  int(out.ExpireIn),
		ExpiresAt: c.now().Add(time.Duration(life) * time.Second),
	}, nil
}

// validateCallbackMap enforces docs/klavi.md#links: "all" stands alone; keys and URLs are non-empty.
func validateCallbackMap(op string, m map[string]string) error {
	if _, ok := m["all"]; ok && len(m) > 1 {
		return fmt.Errorf("klavi: %s: %w: productsCallbackURL \"all\" cannot be combined with other keys",
			op, ErrInvalidArgument)
	}
	for k, v := range m {
		if k == "" || v == "" {
			return fmt.Errorf("klavi: %s: %w: productsCallbackURL has an empty key or URL", op, ErrInvalidArgument)
		}
	}
	return nil
}
