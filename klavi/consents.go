package klavi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// ConsentRequest is the body of POST /consents (docs/klavi.md#consents). ExternalTrackID (unique per consent),
// InstitutionCode and RedirectURL are required, and at least one of PersonalTaxID / BusinessTaxID.
// ValidityPeriod is in months and must be 0 (indefinite) or 12; it is always sent.
type ConsentRequest struct {
	ExternalTrackID, PersonalTaxID, BusinessTaxID, InstitutionCode, RedirectURL, Phone, Email string
	ValidityPeriod                                                                            int
	ClientMetadata                                                                            map[string]any
}

// CreatedConsent is the answer to POST /consents. ConsentRedirectURL is single use and must be opened within
// 60 s; ExpireAt is Klavi's UTC ISO-8601 string as sent.
type CreatedConsent struct {
	ConsentID, ConsentRedirectURL, ExpireAt string
}

// Consent is a consent object (docs/klavi.md#consents). Timestamps are Klavi's strings as sent.
type Consent struct {
	ConsentID, LinkID, ExternalTrackID, PersonalTaxID, BusinessTaxID, InstitutionCode string
	Status                                                                            ConsentStatus
	PermissionsApply, PermissionsGranted                                              []string
	ExpireAt, CreatedAt, UpdatedAt                                                    string
}

type consentRequestWire struct {
	ExternalTrackID string         `json:"externalTrackId"`
	PersonalTaxID   string         `json:"personalTaxId,omitempty"`
	BusinessTaxID   string         `json:"businessTaxId,omitempty"`
	InstitutionCode string         `json:"institutionCode"`
	RedirectURL     string         `json:"redirectURL"`
	Phone           string         `json:"phone,omitempty"`
	Email           string         `json:"email,omitempty"`
	ValidityPeriod  int            `json:"validityPeriod"`
	ClientMetadata  map[string]any `json:"clientMetadata,omitempty"`
}

type createdConsentWire struct {
	ConsentID          string `json:"consentId"`
	ConsentRedirectURL string `json:"consentRedirectURL"`
	ExpireAt           string `json:"expireAt"`
}

type consentWire struct {
	ConsentID          string   `json:"consentId"`
	LinkID             string   `json:"linkId"`
	ExternalTrackID    string   `json:"externalTrackId"`
	PersonalTaxID      string   `json:"personalTaxId"`
	BusinessTaxID      string   `json:"businessTaxId"`
	InstitutionCode    string   `json:"institutionCode"`
	Status             string   `json:"status"`
	PermissionsApply   []string `json:"permissionsApply"`
	PermissionsGranted []string `json:"permissionsGranted"`
	ExpireAt           string   `json:"expireAt"`
	CreatedAt          string   `json:"createdAt"`
	UpdatedAt          string   `json:"updatedAt"`
}

func (w consentWire) consent() Consent {
	return Consent{
		ConsentID: w.ConsentID, LinkID: w.LinkID, ExternalTrackID: w.ExternalTrackID,
		PersonalTaxID: w.PersonalTaxID, BusinessTaxID: w.BusinessTaxID, InstitutionCode: w.InstitutionCode,
		Status: ConsentStatus(w.Status), PermissionsApply: w.PermissionsApply, PermissionsGranted: w.PermissionsGranted,
		ExpireAt: w.ExpireAt, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
}

// CreateConsent calls POST /consents with the link's linkToken.
//
// Never retried on network errors, 429 or 5xx: a repeat with the same externalTrackId would either create a
// second consent or be refused as a duplicate, and a lost answer leaves no usable consentRedirectURL anyway.
// Within the 60 s redirect window a fresh attempt with a new externalTrackId is the safe recovery.
func (c *Client) CreateConsent(ctx context.Context, linkToken string, req ConsentRequest) (*CreatedConsent, error) {
	const op = "POST /consents"
	switch {
	case linkToken == "":
		return nil, fmt.Errorf("klavi: %s: %w: linkToken is required", op, ErrInvalidArgument)
	case req.ExternalTrackID == "":
		return nil, fmt.Errorf("klavi: %s: %w: externalTrackId is required", op, ErrInvalidArgument)
	case req.InstitutionCode == "":
		return nil, fmt.Errorf("klavi: %s: %w: institutionCode is required", op, ErrInvalidArgument)
	case req.RedirectURL == "":
		return nil, fmt.Errorf("klavi: %s: %w: redirectURL is required", op, ErrInvalidArgument)
	case req.PersonalTaxID == "" && req.BusinessTaxID == "":
		return nil, fmt.Errorf("klavi: %s: %w: personalTaxId or businessTaxId is required", op, ErrInvalidArgument)
	case req.ValidityPeriod != 0 && req.ValidityPeriod != 12:
		return nil, fmt.Errorf("klavi: %s: %w: validityPeriod must be 0 or 12", op, ErrInvalidArgument)
	}
	var out createdConsentWire
	err := c.do(ctx, call{method: http.MethodPost, path: "/consents", tmpl: "/consents", auth: authLink,
		token: linkToken, body: consentRequestWire(req), out: &out,
		redact: taxIDForms(req.PersonalTaxID, req.BusinessTaxID)})
	if err != nil {
		return nil, err
	}
	if out.ConsentID == "" || out.ConsentRedirectURL == "" {
		return nil, &opError{op: op, msg: "response lacks consentId or consentRedirectURL", kinds: []error{ErrBadResponse}}
	}
	cc := CreatedConsent(out)
	return &cc, nil
}

// Consent calls GET /consents/{consentId} with the accessToken. Retried (a read). Unknown id → ErrNotFound.
func (c *Client) Consent(ctx context.Context, consentID string) (*Consent, error) {
	const tmpl = "/consents/{consentId}"
	if consentID == "" {
		return nil, fmt.Errorf("klavi: GET %s: %w: consentId is required", tmpl, ErrInvalidArgument)
	}
	var out consentWire
	err := c.do(ctx, call{method: http.MethodGet, path: "/consents/" + url.PathEscape(consentID), tmpl: tmpl,
		auth: authAccess, out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	if out.ConsentID == "" {
		return nil, &opError{op: "GET " + tmpl, msg: "response has no consentId", kinds: []error{ErrBadResponse}}
	}
	cs := out.consent()
	return &cs, nil
}

// ConsentsByTaxID calls GET /consents?personalTaxId=… (Personal) or ?businessTaxId=… (Business) with the
// accessToken and returns every consent of that CPF/CNPJ (several per tax id are normal). Retried (a read).
// The tax id only travels in the query string, which is never logged nor put in errors; an error text echoed
// by the server has the tax id (in any spelling) removed.
func (c *Client) ConsentsByTaxID(ctx context.Context, kind TaxIDKind, taxID string) ([]Consent, error) {
	const tmpl = "/consents"
	var param string
	switch kind {
	case Personal:
		param = "personalTaxId"
	case Business:
		param = "businessTaxId"
	default:
		return nil, fmt.Errorf("klavi: GET %s: %w: unknown tax id kind", tmpl, ErrInvalidArgument)
	}
	if taxID == "" {
		return nil, fmt.Errorf("klavi: GET %s: %w: tax id is required", tmpl, ErrInvalidArgument)
	}
	var out []consentWire
	err := c.do(ctx, call{method: http.MethodGet, path: "/consents", tmpl: tmpl + "?" + param + "={taxId}",
		query: url.Values{param: {taxID}}, auth: authAccess, out: &out, retry: true, redact: taxIDForms(taxID)})
	if err != nil {
		return nil, err
	}
	list := make([]Consent, 0, len(out))
	for _, w := range out {
		list = append(list, w.consent())
	}
	return list, nil
}

// RevokeConsent calls DELETE /consents/{consentId}/revoke with the accessToken.
//
// Retried: revocation is idempotent in effect, since a consent that is already REVOKED stays REVOKED and
// nothing new is created. If an earlier attempt succeeded but its answer was lost, the repeat may come back
// as an error for an already-revoked consent; callers confirm with Consent (GET) rather than trusting either.
func (c *Client) RevokeConsent(ctx context.Context, consentID string) error {
	const tmpl = "/consents/{consentId}/revoke"
	if consentID == "" {
		return fmt.Errorf("klavi: DELETE %s: %w: consentId is required", tmpl, ErrInvalidArgument)
	}
	return c.do(ctx, call{method: http.MethodDelete, path: "/consents/" + url.PathEscape(consentID) + "/revoke",
		tmpl: tmpl, auth: authAccess, retry: true})
}
