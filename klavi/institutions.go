package klavi

import (
	"context"
	"fmt"
	"net/http"
)

// Institution is one participant from GET /links/institutions (docs/klavi.md#institutions). InstitutionType is 1 for
// Open Finance and 2 for Open Data; BusinessType ("NATURAL", "LEGAL", "BOTH") and AvailableResources are only
// present for type 1.
type Institution struct {
	InstitutionCode string `json:"institutionCode"`
	Name            string `json:"name"`
	Avatar          string `json:"avatar"`
	IsBeta          bool   `json:"isBeta"`
	IsOutage        bool   `json:"isOutage"`
	// OutageLevel is Gap (docs/klavi.md#institutions): "partial" marks an institution that is unstable but still
	// works, which the picker offers with a warning; anything else with IsOutage is a full outage.
	OutageLevel            string   `json:"outageLevel,omitempty"`
	InstitutionType        int      `json:"institutionType"`
	BusinessType           string   `json:"businessType"`
	AvailableResources     []string `json:"availableResources"`
	ParentOrganizationName string   `json:"parentOrganizationName"`
	ParentOrganizationID   string   `json:"parentOrganizationId"`
	OrganizationName       string   `json:"organizationName"`
	OrganizationID         string   `json:"organizationId"`
}

// InstitutionStatus is one element of GET /links/institutions/status (docs/klavi.md#endpoints): a consent status
// for Open Finance institutions, a task status (success|fail|needMFA|pending) for Open Data ones.
type InstitutionStatus struct {
	InstitutionCode string `json:"institutionCode"`
	Name            string `json:"name"`
	Status          string `json:"status"`
}

// Institutions calls GET /links/institutions with the link's linkToken. Retried (a read). A 401 means the
// linkToken is invalid or expired: the caller must create a new link (no re-authentication happens, since
// the client does not own link tokens).
func (c *Client) Institutions(ctx context.Context, linkToken string) ([]Institution, error) {
	const path = "/links/institutions"
	if linkToken == "" {
		return nil, fmt.Errorf("klavi: GET %s: %w: linkToken is required", path, ErrInvalidArgument)
	}
	var out []Institution
	err := c.do(ctx, call{method: http.MethodGet, path: path, tmpl: path, auth: authLink, token: linkToken,
		out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InstitutionStatuses calls GET /links/institutions/status with the linkToken. Retried (a read).
func (c *Client) InstitutionStatuses(ctx context.Context, linkToken string) ([]InstitutionStatus, error) {
	const path = "/links/institutions/status"
	if linkToken == "" {
		return nil, fmt.Errorf("klavi: GET %s: %w: linkToken is required", path, ErrInvalidArgument)
	}
	var out []InstitutionStatus
	err := c.do(ctx, call{method: http.MethodGet, path: path, tmpl: path, auth: authLink, token: linkToken,
		out: &out, retry: true})
	if err != nil {
		return nil, err
	}
	return out, nil
}
