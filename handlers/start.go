package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// startForm is the start page's form as typed by the user.
type startForm struct {
	PersonType, TaxID, RepresentativeCPF, Email, Phone string
	// normalised values, set by validate
	cpf, cnpj, phone string
}

func readStartForm(r *http.Request) startForm {
	get := func(k string, max int) string {
		v := strings.TrimSpace(r.PostForm.Get(k))
		if len(v) > max {
			v = v[:max]
		}
		return v
	}
	return startForm{
		PersonType:        get("person_type", 16),
		TaxID:             get("tax_id", 64),
		RepresentativeCPF: get("representative_cpf", 64),
		Email:             get("email", 254),
		Phone:             get("phone", 32),
	}
}

// validate checks the form and returns field → message key; it fills the normalised values.
func (f *startForm) validate() map[string]string {
	errs := map[string]string{}
	switch f.PersonType {
	case "personal", "business":
	case "":
		f.PersonType = "personal"
	default:
		errs["person_type"] = "err.person_type"
		f.PersonType = "personal"
	}
	if f.PersonType == "business" {
		n, err := taxid.ValidateCNPJ(f.TaxID)
		if err != nil {
			errs["tax_id"] = taxIDErrKey("cnpj", err)
		}
		f.cnpj = n
		if f.RepresentativeCPF != "" {
			n, err := taxid.ValidateCPF(f.RepresentativeCPF)
			if err != nil {
				errs["representative_cpf"] = taxIDErrKey("cpf", err)
			}
			f.cpf = n
		}
	} else {
		n, err := taxid.ValidateCPF(f.TaxID)
		if err != nil {
			errs["tax_id"] = taxIDErrKey("cpf", err)
		}
		f.cpf = n
	}
	if f.Email != "" {
		a, err := mail.ParseAddress(f.Email)
		if err != nil || a.Address != f.Email || strings.ContainsAny(f.Email, " <>") {
			errs["email"] = "err.email"
		}
	}
	if f.Phone != "" {
		digits := strings.Map(func(r rune) rune {
			switch {
			case r >= '0' && r <= '9':
				return r
			case r == ' ' || r == '(' || r == ')' || r == '-' || r == '+' || r == '.':
				return -1
			default:
				return 'x'
			}
		}, f.Phone)
		if strings.Contains(digits, "x") || len(digits) < 10 || len(digits) > 13 {
			errs["phone"] = "err.phone"
		}
		f.phone = digits
	}
	return errs
}

// taxIDErrKey maps a taxid error to a message key ("err.cpf.length", …).
func taxIDErrKey(kind string, err error) string {
	switch {
	case errors.Is(err, taxid.ErrEmpty):
		return "err." + kind + ".required"
	case errors.Is(err, taxid.ErrLength):
		return "err." + kind + ".length"
	case errors.Is(err, taxid.ErrChars):
		return "err." + kind + ".chars"
	default:
		return "err." + kind + ".invalid"
	}
}

func (f startForm) vm(errs map[string]string, sandbox bool) views.StartVM {
	return views.StartVM{
		PersonType: f.PersonType, TaxID: f.TaxID, RepresentativeCPF: f.RepresentativeCPF,
		Email: f.Email, Phone: f.Phone, Errors: errs, SandboxHints: sandbox,
	}
}

// handleStartPage answers GET /: the start form.
func (s *Server) handleStartPage(w http.ResponseWriter, r *http.Request) error {
	r, served := s.cachedPage(w, r, "")
	if served {
		return nil
	}
	vm := views.StartVM{PersonType: "personal", SandboxHints: s.sandboxHints}
	if r.URL.Query().Get("type") == "business" {
		vm.PersonType = "business"
	}
	s.page(w, r, http.StatusOK, "title.start", views.StepIdentify, "start", views.StartPage(vm))
	return nil
}

// handleStart answers POST /start: validates the form, starts a new flow (new session id, against session
// fixation), creates a Klavi link and keeps its token server-side, then 303 /institutions.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	f := readStartForm(r)
	if errs := f.validate(); len(errs) > 0 {
		s.page(w, r, http.StatusUnprocessableEntity, "title.start", views.StepIdentify, "start", views.StartPage(f.vm(errs, s.sandboxHints)))
		return nil
	}
	ss := sessionFrom(r.Context())
	sid := ss.rotate()
	base := store.Link{SessionID: sid, PersonType: f.PersonType, Email: f.Email, Phone: f.phone}
	if f.PersonType == "business" {
		base.BusinessTaxID, base.PersonalTaxID = f.cnpj, f.cpf
	} else {
		base.PersonalTaxID = f.cpf
	}
	if _, err := s.newLink(r.Context(), base); err != nil {
		s.logKlaviErr(r, "create link failed", err)
		vm := f.vm(nil, s.sandboxHints)
		vm.FormError = klaviErrKey(err)
		s.page(w, r, http.StatusBadGateway, "title.start", views.StepIdentify, "start", views.StartPage(vm))
		return nil
	}
	if err := s.saveSession(w, r, ss); err != nil {
		return err
	}
	http.Redirect(w, r, "/institutions", http.StatusSeeOther)
	return nil
}

// newLink creates a Klavi link for base (session, person type, tax ids, contact) and stores it with its token.
// externalInfo carries only our own opaque references, never a tax id: Klavi echoes it in webhooks and on the
// callback URL.
func (s *Server) newLink(ctx context.Context, base store.Link) (store.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, s.klaviTimeout)
	defer cancel()
	// The call is logged as made for the link it creates (docs/klavi.md#request-ids), once its id is known.
	ctx, made := klavi.WithPendingSubject(ctx)
	kl, err := s.kc.CreateLink(ctx, klavi.LinkRequest{
		PersonalTaxID:       base.PersonalTaxID,
		BusinessTaxID:       base.BusinessTaxID,
		Email:               base.Email,
		Phone:               base.Phone,
		RedirectURL:         s.callbackURL(),
		ProductsCallbackURL: map[string]string{"all": s.reportsWebhookURL()},
		ExternalInfo: map[string]any{
			"portalSession": sessionRef(base.SessionID),
			"portalLinkRef": randomHex(8),
		},
	})
	if err == nil && consent.ValidID(kl.LinkID) {
		made.Resolve(klavi.Subject{LinkID: kl.LinkID})
	}
	if err != nil {
		return store.Link{}, err
	}
	if kl.LinkID == "" || kl.LinkToken == "" {
		return store.Link{}, fmt.Errorf("handlers: create link: %w: empty link id or token", klavi.ErrBadResponse)
	}
	l := base
	l.ID = kl.LinkID
	l.LinkToken = kl.LinkToken
	l.TokenExpiresAt = kl.ExpiresAt
	if l.TokenExpiresAt.IsZero() {
		ttl := time.Duration(kl.ExpireIn) * time.Second
		if ttl <= 0 {
			ttl = 30 * time.Minute
		}
		l.TokenExpiresAt = s.now().Add(ttl)
	}
	if err := s.st.CreateLink(ctx, l); err != nil {
		return store.Link{}, err
	}
	return l, nil
}

// sessionLink is linkForSession for a page of the flow: with no link in the session it answers 303 to the start
// page and returns ok=false (err nil); on failure ok=false and the error for the error sink.
func (s *Server) sessionLink(w http.ResponseWriter, r *http.Request) (l store.Link, ok bool, err error) {
	ss := sessionFrom(r.Context())
	if pin := ss.pinnedLink(); pin != "" && ss.ID() != "" {
		return s.pinnedSessionLink(w, r, pin)
	}
	l, err = s.linkForSession(r.Context(), ss.ID())
	if errors.Is(err, store.ErrNotFound) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return store.Link{}, false, nil
	}
	if err != nil {
		return store.Link{}, false, err
	}
	return l, true, nil
}

// linkForSession returns the session's latest link, renewing it when its token is (nearly) expired.
// Returns store.ErrNotFound when the session has no link (the caller sends the user to the start page).
func (s *Server) linkForSession(ctx context.Context, sid string) (store.Link, error) {
	if sid == "" {
		return store.Link{}, store.ErrNotFound
	}
	l, err := s.st.LatestLinkForSession(ctx, sid)
	if err != nil {
		return store.Link{}, err
	}
	return s.freshLink(ctx, l)
}

// freshLink returns l, or a new link for the same person when l's token has less than 2 minutes left
// (docs/reliability.md#klavi-calls: a new link when under 2 minutes remain or after a 401).
func (s *Server) freshLink(ctx context.Context, l store.Link) (store.Link, error) {
	if s.now().Add(2 * time.Minute).Before(l.TokenExpiresAt) {
		return l, nil
	}
	return s.renewLink(ctx, l)
}

// forLink tags ctx so that the Klavi calls made with it are logged as made for link l.
func forLink(ctx context.Context, l store.Link) context.Context {
	return klavi.WithSubject(ctx, klavi.Subject{LinkID: l.ID})
}

func (s *Server) renewLink(ctx context.Context, l store.Link) (store.Link, error) {
	base := l
	base.ID, base.LinkToken, base.TokenExpiresAt, base.CreatedAt = "", "", time.Time{}, time.Time{}
	return s.newLink(ctx, base)
}

// klaviErrKey picks the user message for a failed Klavi call.
func klaviErrKey(err error) string {
	switch {
	case errors.Is(err, klavi.ErrInstitutionUnavailable):
		return "err.institution"
	case errors.Is(err, klavi.ErrConsentLimit):
		return "err.consent_limit"
	case errors.Is(err, klavi.ErrBadRequest), errors.Is(err, klavi.ErrBusiness):
		return "err.klavi_rejected"
	default:
		return "err.klavi"
	}
}

// logKlaviErr logs a failed Klavi call; klavi errors are already sanitised, safeErr masks anything else.
func (s *Server) logKlaviErr(r *http.Request, msg string, err error) {
	s.log.WarnContext(r.Context(), msg, "err", taxid.MaskErr(err))
}
