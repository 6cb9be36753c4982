package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// link is the sandbox's record of a POST /links call.
type link struct {
	id                           string
	personalTaxID, businessTaxID string
	email, phone                 string
	institutionCode, redirectURL string
	callbacks                    map[string]string
	externalInfo                 map[string]any
	token                        string
	createdAt                    time.Time
}

// linkRequest is the body of POST /links (docs/klavi.md#links); every field is optional.
type linkRequest struct {
	PersonalTaxID       string            `json:"personalTaxId"`
	BusinessTaxID       string            `json:"businessTaxId"`
	Email               string            `json:"email"`
	Phone               string            `json:"phone"`
	InstitutionCode     string            `json:"institutionCode"`
	RedirectURL         string            `json:"redirectURL"`
	ProductsCallbackURL map[string]string `json:"productsCallbackURL"`
	ExternalInfo        map[string]any    `json:"externalInfo"`
	ConnectionKey       string            `json:"connectionKey"`
	AppLink             string            `json:"appLink"`
	AppRedirectURLKey   string            `json:"appRedirectURLKey"`
	ApplicationLink     string            `json:"applicationLink"`
}

// linkResponse is the 200 body of POST /links (docs/klavi.md#links).
type linkResponse struct {
	LinkID    string `json:"linkId"`
	LinkURL   string `json:"linkURL"`
	LinkToken string `json:"linkToken"`
	ExpireIn  int    `json:"expireIn"`
}

// institutionStatusWire is one element of GET /links/institutions/status (docs/klavi.md#endpoints).
type institutionStatusWire struct {
	InstitutionCode string `json:"institutionCode"`
	Name            string `json:"name"`
	Status          string `json:"status"`
}

// handleCreateLink: POST /data/v1/links (accessToken).
func (s *Sandbox) handleCreateLink(w http.ResponseWriter, r *http.Request) {
	var req linkRequest
	if !decodeBody(w, r, &req) {
		return
	}
	l := &link{
		email: req.Email, phone: req.Phone,
		institutionCode: req.InstitutionCode,
		redirectURL:     req.RedirectURL,
		callbacks:       req.ProductsCallbackURL,
		externalInfo:    req.ExternalInfo,
	}
	if req.PersonalTaxID != "" {
		n, err := parseCPF(req.PersonalTaxID)
		if err != nil {
			badRequest(w, "personalTaxId is not a valid CPF")
			return
		}
		l.personalTaxID = n
	}
	if req.BusinessTaxID != "" {
		n, err := parseCNPJ(req.BusinessTaxID)
		if err != nil {
			badRequest(w, "businessTaxId is not a valid CNPJ")
			return
		}
		l.businessTaxID = n
	}
	if req.RedirectURL != "" && !validAbsoluteURL(req.RedirectURL) {
		badRequest(w, "redirectURL must be an absolute http(s) URL")
		return
	}
	if req.AppLink != "" && req.AppRedirectURLKey == "" {
		badRequest(w, "appRedirectURLKey is required when appLink is sent")
		return
	}
	if req.InstitutionCode != "" {
		if _, ok := InstitutionByCode(req.InstitutionCode); !ok {
			businessError(w, codeInvalidInstitution, "unknown institutionCode")
			return
		}
	}
	if msg := checkCallbackMap(req.ProductsCallbackURL); msg != "" {
		businessError(w, codeInvalidCallbackURL, msg)
		return
	}
	l.id = newUUID()
	l.createdAt = s.now()
	tok, _ := s.issueToken(linkKind, l.id)
	l.token = tok

	s.mu.Lock()
	s.links[l.id] = l
	s.emit(l.id, scenarioFor(l.personalTaxID, l.businessTaxID), false, "link_created", linkEventPayload{
		PersonalTaxID: l.personalTaxID, BusinessTaxID: l.businessTaxID, LinkID: l.id,
	}, l.externalInfo)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, linkResponse{
		LinkID:    l.id,
		LinkURL:   strings.TrimRight(s.o.PublicURL, "/") + "/whitelabel?v=" + tok,
		LinkToken: tok,
		ExpireIn:  s.expireInSeconds(),
	})
}

// handleInstitutions: GET /data/v1/links/institutions (linkToken).
func (s *Sandbox) handleInstitutions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Institutions(s.o.PublicURL))
}

// handleInstitutionStatus: GET /data/v1/links/institutions/status (linkToken):
// the latest consent status per institution chosen in this link.
func (s *Sandbox) handleInstitutionStatus(w http.ResponseWriter, r *http.Request) {
	linkID := tokenFrom(r).linkID
	out := []institutionStatusWire{}
	idx := map[string]int{}
	s.mu.Lock()
	for _, id := range s.order {
		c := s.consents[id]
		if c.linkID != linkID {
			continue
		}
		name := c.institutionCode
		if inst, ok := InstitutionByCode(c.institutionCode); ok {
			name = inst.Name
		}
		e := institutionStatusWire{InstitutionCode: c.institutionCode, Name: name, Status: c.status}
		if i, ok := idx[c.institutionCode]; ok {
			out[i] = e // later consents replace earlier ones
			continue
		}
		idx[c.institutionCode] = len(out)
		out = append(out, e)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
