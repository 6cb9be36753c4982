package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"
)

// The simulated Klavi management portal: the end user looks up their consents
// by CPF/CNPJ and asks for the deletion of their data, which moves an
// AUTHORISED consent to DELETED_BY_USER (docs/klavi.md#statuses) and emits
// consent_deleted_by_user (docs/klavi.md#events). The real portal
// authenticates the user; the simulator only asks for the tax id.

// Errors of DeleteByUser.
var (
	// ErrConsentNotFound: no consent has that id.
	ErrConsentNotFound = errors.New("sandbox: consent not found")
	// ErrConsentNotAuthorised: only an AUTHORISED consent can be deleted by the
	// user (the sandbox's choice); the wrapped message names the current status.
	ErrConsentNotAuthorised = errors.New("sandbox: only an AUTHORISED consent can be deleted by the user")
)

// DeleteByUser simulates the user asking for data deletion in Klavi's
// management portal: an AUTHORISED consent becomes DELETED_BY_USER and
// consent_deleted_by_user is sent like every other consent_* event (same
// envelope, signature, per-link order and scenario behaviour). Any other
// status is refused with an error wrapping ErrConsentNotAuthorised; an
// unknown id gives ErrConsentNotFound. An AUTHORISED consent already past
// its expireAt is expired first (as Sweep would) and then refused.
func (s *Sandbox) DeleteByUser(consentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[consentID]
	if !ok {
		return ErrConsentNotFound
	}
	if c.status == statusAuthorised && s.now().After(c.expireAt) {
		s.setStatusLocked(c, statusExpired)
	}
	if c.status != statusAuthorised {
		return fmt.Errorf("%w (status %s)", ErrConsentNotAuthorised, c.status)
	}
	s.setStatusLocked(c, statusDeletedByUser)
	return nil
}

// owner is the tax id a consent belongs to: the CNPJ of a business consent
// (which also carries the operator's CPF), else the CPF. The scenario and the
// report requests use the same rule.
func (c *consent) owner() string {
	if c.businessTaxID != "" {
		return c.businessTaxID
	}
	return c.personalTaxID
}

// statusLabels are the pt-BR names of the consent statuses on the portal.
var statusLabels = map[string]string{
	statusStarted:               "Iniciado",
	statusAwaitingAuthorisation: "Aguardando autorização no banco",
	statusAwaitingLGPD:          "Aguardando aceite do termo LGPD",
	statusAuthorised:            "Autorizado",
	statusError:                 "Erro",
	statusRejected:              "Recusado",
	statusExpired:               "Expirado",
	statusRevoked:               "Revogado",
	statusDeletedByUser:         "Excluído pelo usuário",
}

// manageRow is one consent on the management page. The tax id is only ever
// shown masked.
type manageRow struct {
	ConsentID       string
	InstitutionName string
	MaskedTaxID     string
	Status          string
	StatusLabel     string
	CreatedAt       string
	Deletable       bool
	DeleteURL       string
}

// manageView is the view model of the management page.
type manageView struct {
	Searched    bool   // a valid tax id was looked up: show the list (or the empty message)
	MaskedTaxID string // of the tax id looked up
	Rows        []manageRow
	Notice      string // success message
	Error       string // validation, deletion or CSRF error
}

// manageCSRF refuses cross-origin browser POSTs (Sec-Fetch-Site, else Origin
// vs Host). The portal has no session, so a same-origin form POST is all it
// needs; requests without those headers (non-browser clients) pass.
var manageCSRF http.CrossOriginProtection

// parseOwnerTaxID accepts a CPF or a CNPJ, formatted or not.
func parseOwnerTaxID(s string) (string, bool) {
	n, err := normalizeTaxID(s)
	if err != nil || !(validCPF(n) || validCNPJ(n)) {
		return "", false
	}
	return n, true
}

// manageViewLocked lists owner's consents, oldest first. Caller holds s.mu.
func (s *Sandbox) manageViewLocked(owner string) manageView {
	v := manageView{Searched: true, MaskedTaxID: maskTaxID(owner)}
	for _, id := range s.order {
		c := s.consents[id]
		if c.owner() != owner {
			continue
		}
		name := c.institutionCode
		if inst, ok := InstitutionByCode(c.institutionCode); ok {
			name = inst.Name
		}
		label := statusLabels[c.status]
		if label == "" {
			label = c.status
		}
		v.Rows = append(v.Rows, manageRow{
			ConsentID:       c.id,
			InstitutionName: name,
			MaskedTaxID:     maskTaxID(owner),
			Status:          c.status,
			StatusLabel:     label,
			CreatedAt:       c.createdAt.Format("02/01/2006 15:04") + " UTC",
			Deletable:       c.status == statusAuthorised,
			DeleteURL:       "/manage/consents/" + url.PathEscape(c.id) + "/delete",
		})
	}
	return v
}

// handleManage: GET /manage[?taxId=...] — the lookup form and, with a tax
// id, that tax id's consents.
func (s *Sandbox) handleManage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("taxId")
	if q == "" {
		render(w, r, http.StatusOK, managePage(manageView{}))
		return
	}
	owner, ok := parseOwnerTaxID(q)
	if !ok {
		render(w, r, http.StatusBadRequest, managePage(manageView{
			Error: "CPF/CNPJ inválido: confira os dígitos e tente novamente."}))
		return
	}
	s.mu.Lock()
	v := s.manageViewLocked(owner)
	s.mu.Unlock()
	render(w, r, http.StatusOK, managePage(v))
}

// handleManageDelete: POST /manage/consents/{consentID}/delete — "Excluir
// meus dados". Answers the page again with the updated list.
func (s *Sandbox) handleManageDelete(w http.ResponseWriter, r *http.Request) {
	if err := manageCSRF.Check(r); err != nil {
		render(w, r, http.StatusForbidden, managePage(manageView{
			Error: "Pedido recusado: a exclusão só pode ser pedida a partir deste portal."}))
		return
	}
	id := chi.URLParam(r, "consentID")
	err := s.DeleteByUser(id)
	s.mu.Lock()
	c, found := s.consents[id]
	var v manageView
	var inst, status string
	if found {
		v = s.manageViewLocked(c.owner())
		inst, status = c.institutionCode, c.status
	}
	s.mu.Unlock()
	if i, ok := InstitutionByCode(inst); ok {
		inst = i.Name
	}
	code := http.StatusOK
	switch {
	case errors.Is(err, ErrConsentNotFound):
		code = http.StatusNotFound
		v.Error = "Consentimento não encontrado."
	case errors.Is(err, ErrConsentNotAuthorised):
		code = http.StatusConflict
		label := statusLabels[status]
		if label == "" {
			label = status
		}
		v.Error = "Só é possível excluir os dados de um consentimento autorizado (AUTHORISED). " +
			"O consentimento no " + inst + " está " + label + " (" + status + ")."
	case err != nil:
		code = http.StatusInternalServerError
		v.Error = "Não foi possível excluir os dados."
	default:
		v.Notice = "Dados excluídos: o consentimento no " + inst + " passou para DELETED_BY_USER."
	}
	render(w, r, code, managePage(v))
}
