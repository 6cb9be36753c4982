package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// Consent statuses (docs/klavi.md#statuses), British spelling.
const (
	statusStarted               = "STARTED"
	statusAwaitingAuthorisation = "AWAITING_AUTHORISATION"
	statusAwaitingLGPD          = "AWAITING_LGPD_AUTHORISATION"
	statusAuthorised            = "AUTHORISED"
	statusError                 = "ERROR"
	statusRejected              = "REJECTED"
	statusExpired               = "EXPIRED"
	statusRevoked               = "REVOKED"
	statusDeletedByUser         = "DELETED_BY_USER"
)

// consentEventName maps a status to the event Klavi emits on entering it
// (docs/klavi.md#events); STARTED and AWAITING_* emit none.
var consentEventName = map[string]string{
	statusAuthorised:    "consent_authorised",
	statusError:         "consent_error",
	statusRejected:      "consent_rejected",
	statusExpired:       "consent_expired",
	statusRevoked:       "consent_revoked",
	statusDeletedByUser: "consent_deleted_by_user",
}

func terminal(status string) bool {
	switch status {
	case statusRejected, statusError, statusExpired, statusRevoked, statusDeletedByUser:
		return true
	}
	return false
}

// Bank flow stages; each POST must carry the consent's current step ticket
// for the expected stage, so steps can be neither skipped nor replayed.
const (
	stageLogin     = "login"
	stageAuthorise = "authorise"
	stageLGPD      = "lgpd"
	stageDone      = "done"
)

// consent is the sandbox's record of a consent.
type consent struct {
	id, linkID, trackID            string
	personalTaxID, businessTaxID   string
	institutionCode, redirectURL   string
	phone, email                   string
	validity                       int
	status                         string
	permsApply, permsGranted       []string
	expireAt                       time.Time
	createdAt, updatedAt, activity time.Time
	scen                           scenario
	revokeCalled                   bool // DELETE .../revoke succeeded once: repeats are no-ops
	lang                           lang // the bank pages' language, chosen when the link is opened (i18n.go)
	// held is the encoded consent_authorised event the "events out of order"
	// scenario keeps back until the consent's next event (or holdRelease).
	held []byte

	ticket  string // the one-time consentRedirectURL ticket
	browser string // bank cookie value bound on first open
	step    string // current step ticket
	stage   string
}

// redirectTicket backs one consentRedirectURL: single use, valid RedirectTTL.
type redirectTicket struct {
	consentID string
	issued    time.Time
	used      bool
}

// consentRequest is the body of POST /consents (docs/klavi.md#consents).
type consentRequest struct {
	ExternalTrackID string         `json:"externalTrackId"`
	PersonalTaxID   string         `json:"personalTaxId"`
	BusinessTaxID   string         `json:"businessTaxId"`
	InstitutionCode string         `json:"institutionCode"`
	RedirectURL     string         `json:"redirectURL"`
	Phone           string         `json:"phone"`
	Email           string         `json:"email"`
	ValidityPeriod  *int           `json:"validityPeriod"`
	ClientMetadata  map[string]any `json:"clientMetadata"`
}

// createdConsentWire is the 200 body of POST /consents (docs/klavi.md#consents).
type createdConsentWire struct {
	ConsentID          string `json:"consentId"`
	ConsentRedirectURL string `json:"consentRedirectURL"`
	ExpireAt           string `json:"expireAt"`
}

// consentWire is the consent object of GET /consents/{id} and the list (docs/klavi.md#consents).
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

type messageWire struct {
	Message string `json:"message"`
}

func (c *consent) wire() consentWire {
	return consentWire{
		ConsentID: c.id, LinkID: c.linkID, ExternalTrackID: c.trackID,
		PersonalTaxID: c.personalTaxID, BusinessTaxID: c.businessTaxID,
		InstitutionCode: c.institutionCode, Status: c.status,
		PermissionsApply:   append([]string{}, c.permsApply...),
		PermissionsGranted: append([]string{}, c.permsGranted...),
		ExpireAt:           c.expireAt.Format(isoMillis),
		CreatedAt:          c.createdAt.Format(isoMillis),
		UpdatedAt:          c.updatedAt.Format(isoMillis),
	}
}

// permissionsFor derives the permission groups requested from an
// institution's availableResources (REGISTRATION → REGISTRATION_ALL, any
// CREDIT_OPERATIONS:* → CREDIT_OPERATIONS_ALL, ...).
func permissionsFor(resources []string) []string {
	if len(resources) == 0 {
		return []string{"ACCOUNTS_ALL", "CREDIT_CARDS_ALL", "CREDIT_OPERATIONS_ALL", "REGISTRATION_ALL", "INVESTMENTS_ALL"}
	}
	var out []string
	for _, r := range resources {
		group, _, _ := strings.Cut(r, ":")
		p := group + "_ALL"
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// consentExpiry is the sandbox's expireAt (Klavi documents only
// validityPeriod in months, docs/klavi.md#consents): end of day UTC twelve
// months ahead for validityPeriod 12, a far date for 0 (indefinite).
func consentExpiry(now time.Time, validity int) time.Time {
	if validity == 0 {
		return time.Date(2099, 12, 31, 23, 59, 59, 999e6, time.UTC)
	}
	d := now.AddDate(0, 12, 0)
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 999e6, time.UTC)
}

// handleCreateConsent: POST /data/v1/consents (linkToken).
func (s *Sandbox) handleCreateConsent(w http.ResponseWriter, r *http.Request) {
	var req consentRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.ExternalTrackID = strings.TrimSpace(req.ExternalTrackID)
	switch {
	case req.ExternalTrackID == "":
		badRequest(w, "externalTrackId is required")
		return
	case len(req.ExternalTrackID) > 256:
		badRequest(w, "externalTrackId is too long")
		return
	case req.InstitutionCode == "":
		badRequest(w, "institutionCode is required")
		return
	case req.RedirectURL == "":
		badRequest(w, "redirectURL is required")
		return
	case !validAbsoluteURL(req.RedirectURL):
		badRequest(w, "redirectURL must be an absolute http(s) URL")
		return
	case req.ValidityPeriod == nil:
		badRequest(w, "validityPeriod is required")
		return
	case *req.ValidityPeriod != 0 && *req.ValidityPeriod != 12:
		badRequest(w, "validityPeriod must be 0 or 12")
		return
	case req.PersonalTaxID == "" && req.BusinessTaxID == "":
		badRequest(w, "personalTaxId is required")
		return
	}
	c := &consent{
		trackID: req.ExternalTrackID, institutionCode: req.InstitutionCode,
		redirectURL: req.RedirectURL, phone: req.Phone, email: req.Email,
		validity: *req.ValidityPeriod,
	}
	if req.PersonalTaxID != "" {
		n, err := parseCPF(req.PersonalTaxID)
		if err != nil {
			badRequest(w, "personalTaxId is not a valid CPF")
			return
		}
		c.personalTaxID = n
	}
	if req.BusinessTaxID != "" {
		n, err := parseCNPJ(req.BusinessTaxID)
		if err != nil {
			badRequest(w, "businessTaxId is not a valid CNPJ")
			return
		}
		c.businessTaxID = n
	}
	inst, ok := InstitutionByCode(req.InstitutionCode)
	if !ok {
		businessError(w, codeInvalidInstitution, "unknown institutionCode")
		return
	}
	if (inst.IsOutage && inst.OutageLevel != "partial") || inst.InstitutionType != institutionTypeOpenFinance {
		businessError(w, codeInvalidInstitution, "institution unavailable")
		return
	}
	now := s.now()
	c.id = newUUID()
	c.linkID = tokenFrom(r).linkID
	c.status = statusStarted
	c.permsApply = permissionsFor(inst.AvailableResources)
	c.permsGranted = []string{}
	c.expireAt = consentExpiry(now, c.validity)
	c.createdAt, c.updatedAt, c.activity = now, now, now
	c.scen = scenarioFor(c.personalTaxID, c.businessTaxID)
	c.ticket = randomHex(24)

	s.mu.Lock()
	if _, dup := s.trackIDs[c.trackID]; dup {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, http.StatusConflict, "Conflict", "externalTrackId already used")
		return
	}
	s.trackIDs[c.trackID] = c.id
	s.consents[c.id] = c
	s.order = append(s.order, c.id)
	s.tickets[c.ticket] = &redirectTicket{consentID: c.id, issued: now}
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, createdConsentWire{
		ConsentID:          c.id,
		ConsentRedirectURL: strings.TrimRight(s.o.PublicURL, "/") + "/bank/authorize?t=" + url.QueryEscape(c.ticket),
		ExpireAt:           c.expireAt.Truncate(time.Second).Format(isoSecs),
	})
}

// handleGetConsent: GET /data/v1/consents/{consentID} (accessToken).
func (s *Sandbox) handleGetConsent(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "consentID")
	s.mu.Lock()
	c, ok := s.consents[id]
	var cw consentWire
	if ok {
		cw = c.wire()
	}
	s.mu.Unlock()
	if !ok {
		notFound(w, "consent not found")
		return
	}
	writeJSON(w, http.StatusOK, cw)
}

// handleListConsents: GET /data/v1/consents?personalTaxId=|businessTaxId=
// (accessToken), oldest first.
func (s *Sandbox) handleListConsents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pf, pj := q.Get("personalTaxId"), q.Get("businessTaxId")
	var match func(c *consent) bool
	switch {
	case pf != "" && pj != "":
		badRequest(w, "send either personalTaxId or businessTaxId")
		return
	case pf != "":
		n, err := parseCPF(pf)
		if err != nil {
			badRequest(w, "personalTaxId is not a valid CPF")
			return
		}
		match = func(c *consent) bool { return c.personalTaxID == n }
	case pj != "":
		n, err := parseCNPJ(pj)
		if err != nil {
			badRequest(w, "businessTaxId is not a valid CNPJ")
			return
		}
		match = func(c *consent) bool { return c.businessTaxID == n }
	default:
		badRequest(w, "personalTaxId or businessTaxId is required")
		return
	}
	out := []consentWire{}
	s.mu.Lock()
	for _, id := range s.order {
		if c := s.consents[id]; match(c) {
			out = append(out, c.wire())
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleRevoke: DELETE /data/v1/consents/{consentID}/revoke (accessToken). An
// AUTHORISED consent becomes REVOKED (consent_revoked), the only path to
// REVOKED; an unfinished one (STARTED, AWAITING_*) becomes REJECTED
// (consent_rejected), our reading of a revoke before authorisation
// (docs/klavi.md#consents). Repeating a revoke that succeeded is a no-op 200
// (DELETE is idempotent, and the portal's client retries it); other terminal
// statuses cannot be revoked (416/4001).
func (s *Sandbox) handleRevoke(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "consentID")
	s.mu.Lock()
	c, ok := s.consents[id]
	if !ok {
		s.mu.Unlock()
		notFound(w, "consent not found")
		return
	}
	switch {
	case c.status == statusRevoked, c.revokeCalled:
	case terminal(c.status):
		s.mu.Unlock()
		businessError(w, codeInvalidAuthorisation, "consent is not active")
		return
	case c.status == statusAuthorised:
		c.revokeCalled = true
		s.setStatusLocked(c, statusRevoked)
	default:
		c.revokeCalled = true
		s.setStatusLocked(c, statusRejected)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, messageWire{Message: "ok"})
}

// setStatusLocked moves c to status, stamps updatedAt and emits the event for
// the new status, if any (docs/klavi.md#events). It returns the event's
// delivery (nil when none is sent, or when the "events out of order" scenario
// holds consent_authorised back) so a caller can wait for it. Caller holds
// s.mu.
func (s *Sandbox) setStatusLocked(c *consent, status string) *delivery {
	now := s.now()
	c.status = status
	c.updatedAt, c.activity = now, now
	if terminal(status) {
		c.stage = stageDone
		if c.step != "" {
			delete(s.steps, c.step)
			c.step = ""
		}
	}
	name, ok := consentEventName[status]
	if !ok {
		return nil
	}
	var ext map[string]any
	if l := s.links[c.linkID]; l != nil {
		ext = l.externalInfo
	}
	payload := consentEventPayload{
		PersonalTaxID: c.personalTaxID, BusinessTaxID: c.businessTaxID, LinkID: c.linkID,
		Consents: eventConsentWire{ConsentID: c.id, ExternalTrackID: c.trackID, InstitutionCode: c.institutionCode},
	}
	if status == statusAuthorised && c.scen == scenarioOutOfOrder {
		// "Events out of order": consent_authorised is built now (its eventTime
		// and eventId) but held back; the next consent event overtakes it.
		if body := s.encodeEvent(name, payload, ext); body != nil {
			s.holdLocked(c, body)
		}
		return nil
	}
	d := s.emit(c.linkID, c.scen, true, name, payload, ext)
	s.releaseHeldLocked(c) // the held consent_authorised, if any, goes right after this event
	return d
}

// dueTransitionLocked returns the time-based transition due for an
// unfinished consent (STARTED or AWAITING_*) as of now, if any. Of the
// deadlines already passed, the earliest decides:
//   - STARTED with its consentRedirectURL never opened: issue + RedirectTTL
//     → REJECTED (URL unused in time, docs/klavi.md#consents);
//   - last activity + IdleTimeout → EXPIRED (docs/klavi.md#statuses);
//   - creation + FlowTimeout → REJECTED (the 60-minute rule, docs/klavi.md#consents).
//
// Caller holds s.mu.
func (s *Sandbox) dueTransitionLocked(c *consent, now time.Time) (string, bool) {
	switch c.status {
	case statusStarted, statusAwaitingAuthorisation, statusAwaitingLGPD:
	default:
		return "", false
	}
	var (
		best   string
		bestAt time.Time
	)
	consider := func(at time.Time, status string) {
		if now.Before(at) {
			return // not yet due
		}
		if best == "" || at.Before(bestAt) {
			best, bestAt = status, at
		}
	}
	if c.status == statusStarted {
		if t := s.tickets[c.ticket]; t != nil && !t.used {
			consider(t.issued.Add(s.o.RedirectTTL), statusRejected)
		}
	}
	consider(c.activity.Add(s.o.IdleTimeout), statusExpired)
	consider(c.createdAt.Add(s.o.FlowTimeout), statusRejected)
	return best, best != ""
}

// Sweep applies the time-based transitions as of the sandbox clock now: an
// unused consentRedirectURL older than RedirectTTL rejects its consent,
// unfinished consents idle for IdleTimeout become EXPIRED, unfinished
// consents older than FlowTimeout (60 min) become REJECTED (both rules:
// docs/klavi.md#consents), and AUTHORISED consents past expireAt become
// EXPIRED (docs/klavi.md#statuses); expired tokens are dropped. A background
// goroutine calls it every second; tests call it after advancing an injected
// clock.
func (s *Sandbox) Sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, info := range s.tokens {
		if !now.Before(info.expires) {
			delete(s.tokens, tok)
		}
	}
	for _, id := range s.order {
		c := s.consents[id]
		if c.status == statusAuthorised {
			if now.After(c.expireAt) {
				s.setStatusLocked(c, statusExpired)
			}
			continue
		}
		// The ticket is not marked used: a late open still shows the
		// "expired" page rather than "already used".
		if status, ok := s.dueTransitionLocked(c, now); ok {
			s.setStatusLocked(c, status)
		}
	}
}

func (s *Sandbox) sweeper(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}
