package handlers

import (
	"net/http"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// handleConsentNew answers GET /consents/new?institution=CODE: the confirmation page.
func (s *Server) handleConsentNew(w http.ResponseWriter, r *http.Request) error {
	l, ok, err := s.sessionLink(w, r)
	if !ok {
		return err
	}
	code := r.URL.Query().Get("institution")
	if !consent.ValidID(code) {
		return statusError(http.StatusNotFound)
	}
	in, ok, err := s.findInstitution(r.Context(), l, code)
	if err != nil {
		return err
	}
	if !ok {
		return statusError(http.StatusNotFound)
	}
	vm := s.consentNewVM(l, in, 12)
	if err := s.markChosen(r, l, &vm); err != nil {
		return err
	}
	vm.FormError = notChoosableKey(vm.Institution)
	s.page(w, r, http.StatusOK, "title.consent_new", views.StepAuthorise, "start", views.ConsentNewPage(vm))
	return nil
}

// markChosen gives the confirmation page's institution its status on link l: one whose consent there is still live
// cannot be chosen again (checked on the server, whatever the page showed).
func (s *Server) markChosen(r *http.Request, l store.Link, vm *views.ConsentNewVM) error {
	chosen, err := s.chosenOnLink(r.Context(), l.ID)
	if err != nil {
		return err
	}
	markLinkStatus(&vm.Institution, chosen)
	return nil
}

func (s *Server) consentNewVM(l store.Link, in klavi.Institution, validity int) views.ConsentNewVM {
	return views.ConsentNewVM{
		Institution:    institutionItem(in, l.PersonType),
		ValidityPeriod: validity,
		PersonType:     l.PersonType,
		TaxIDMasked:    taxid.Mask(linkTaxID(l)),
	}
}
