package klavi

import (
	"context"
	"fmt"
	"net/http"
)

// TaxIDKind says whether a tax id is a CPF (Personal) or a CNPJ (Business).
type TaxIDKind int

const (
	Personal TaxIDKind = iota // CPF, personal end user, pf_* products
	Business                  // CNPJ, business end user, pj_* products
)

// ReportLevel chooses between the user-level (all institutions) and institution-level report endpoints.
type ReportLevel int

const (
	UserLevel        ReportLevel = iota // POST /{personal|business}/user-data; no institutionCode
	InstitutionLevel                    // POST /{personal|business}/institution-data; institutionCode required
)

// ReportRequest asks Klavi to build reports (docs/klavi.md#report-requests). TaxID is the CPF (Personal) or CNPJ
// (Business); Products needs at least one name (or "all"); InstitutionCode is required at InstitutionLevel and
// refused at UserLevel (it would be silently ignored there, widening the request). LinkID / ConsentIDs narrow the
// scope. ProductsCallbackURL follows docs/klavi.md#links ("all" alone, or product keys plus "other").
type ReportRequest struct {
	Kind                           TaxIDKind
	Level                          ReportLevel
	TaxID, InstitutionCode, LinkID string
	ConsentIDs, Products           []string
	ProductsCallbackURL            map[string]string
	ExternalInfo                   map[string]any
}

// ReportRequestResult is the answer to a report request; RequestID reappears in each report's requestId.
type ReportRequestResult struct {
	RequestID, Message string
}

type reportRequestWire struct {
	TaxID               string            `json:"taxId"`
	InstitutionCode     string            `json:"institutionCode,omitempty"`
	LinkID              string            `json:"linkId,omitempty"`
	ConsentIDs          []string          `json:"consentIds,omitempty"`
	Products            []string          `json:"products"`
	ProductsCallbackURL map[string]string `json:"productsCallbackURL,omitempty"`
	ExternalInfo        map[string]any    `json:"externalInfo,omitempty"`
}

type reportResultWire struct {
	RequestID string `json:"requestId"`
	Message   string `json:"message"`
}

// ReportPath returns the endpoint path for a kind and level, e.g. "/personal/user-data".
func ReportPath(kind TaxIDKind, level ReportLevel) (string, error) {
	var k, l string
	switch kind {
	case Personal:
		k = "personal"
	case Business:
		k = "business"
	default:
		return "", fmt.Errorf("klavi: %w: unknown tax id kind", ErrInvalidArgument)
	}
	switch level {
	case UserLevel:
		l = "user-data"
	case InstitutionLevel:
		l = "institution-data"
	default:
		return "", fmt.Errorf("klavi: %w: unknown report level", ErrInvalidArgument)
	}
	return "/" + k + "/" + l, nil
}

// RequestReports calls the report endpoint for req.Kind and req.Level with the accessToken. Reports arrive
// later, by webhook (there is no GET for reports).
//
// Never retried on network errors, 429 or 5xx: a repeat after a lost answer starts a second report run, so
// every product report (and its events) would be generated and delivered twice. The caller records the request
// and decides (e.g. reconciliation after a while without reports).
func (c *Client) RequestReports(ctx context.Context, req ReportRequest) (*ReportRequestResult, error) {
	path, err := ReportPath(req.Kind, req.Level)
	if err != nil {
		return nil, err
	}
	op := "POST " + path
	switch {
	case req.TaxID == "":
		return nil, fmt.Errorf("klavi: %s: %w: taxId is required", op, ErrInvalidArgument)
	case len(req.Products) == 0:
		return nil, fmt.Errorf("klavi: %s: %w: %w", op, ErrInvalidArgument, ErrEmptyProducts)
	case req.Level == InstitutionLevel && req.InstitutionCode == "":
		return nil, fmt.Errorf("klavi: %s: %w: institutionCode is required at institution level", op, ErrInvalidArgument)
	case req.Level == UserLevel && req.InstitutionCode != "":
		return nil, fmt.Errorf("klavi: %s: %w: institutionCode is not accepted at user level", op, ErrInvalidArgument)
	}
	for _, p := range req.Products {
		if p == "" {
			return nil, fmt.Errorf("klavi: %s: %w: empty product name", op, ErrInvalidArgument)
		}
	}
	if err := validateCallbackMap(op, req.ProductsCallbackURL); err != nil {
		return nil, err
	}
	body := reportRequestWire{
		TaxID: req.TaxID, InstitutionCode: req.InstitutionCode, LinkID: req.LinkID, ConsentIDs: req.ConsentIDs,
		Products: req.Products, ProductsCallbackURL: req.ProductsCallbackURL, ExternalInfo: req.ExternalInfo,
	}
	var out reportResultWire
	if err := c.do(ctx, call{method: http.MethodPost, path: path, tmpl: path, auth: authAccess, body: body,
		out: &out, redact: taxIDForms(req.TaxID)}); err != nil {
		return nil, err
	}
	if out.RequestID == "" {
		return nil, &opError{op: op, msg: "response has no requestId", kinds: []error{ErrBadResponse}}
	}
	return &ReportRequestResult{RequestID: out.RequestID, Message: out.Message}, nil
}
