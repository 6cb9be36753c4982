package handlers

import (
	"net/http"
	"strconv"

	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// handleMe answers GET /me: the consents started in this browser (by its device cookie), newest first.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	var vm views.MeVM
	if ref := s.deviceRef(r); ref != "" {
		page, err := s.st.ListConsentPage(r.Context(), store.ConsentFilter{DeviceRef: ref, Limit: 200})
		if err != nil {
			return err
		}
		for _, row := range page.Rows {
			vm.Rows = append(vm.Rows, consentRow(row))
		}
	}
	s.page(w, r, http.StatusOK, "title.me", views.StepNone, "me", views.MePage(vm))
	return nil
}

// handleForgetDevice answers POST /me/forget: clears the device cookie and goes back to /me (now empty).
func (s *Server) handleForgetDevice(w http.ResponseWriter, r *http.Request) error {
	s.forgetDevice(w)
	ss := sessionFrom(r.Context())
	ss.setFlash("me.forgotten")
	if err := s.saveSession(w, r, ss); err != nil {
		return err
	}
	http.Redirect(w, r, "/me", http.StatusSeeOther)
	return nil
}

// consentRow is a consent as a line of a list.
func consentRow(row store.ConsentListRow) views.ConsentRow {
	c := row.Consent
	return views.ConsentRow{ID: c.ID, Status: c.Status, InstitutionName: c.InstitutionName,
		TaxIDMasked: taxid.Mask(flow.ConsentTaxID(c)), PersonType: c.PersonType, CreatedAt: c.CreatedAt, Reports: row.Reports}
}

// handleAudit answers GET /audit?before=ID: the audit trail, newest first, 50 a page (operators only).
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	page, err := s.st.Audit(r.Context(), max(before, 0), 50)
	if err != nil {
		return err
	}
	vm := views.AuditVM{Paged: before > 0}
	for _, e := range page.Rows {
		vm.Rows = append(vm.Rows, views.AuditRow{At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, IP: e.IP, OK: e.OK})
	}
	if page.Next > 0 {
		vm.Next = strconv.FormatInt(page.Next, 10)
	}
	s.page(w, r, http.StatusOK, "title.audit", views.StepNone, "audit", views.AuditPage(vm))
	return nil
}
