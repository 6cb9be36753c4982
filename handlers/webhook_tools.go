package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/simulate"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// The operators' webhook tools: replaying a stored delivery and simulating one (docs/reliability.md#webhook-tools).

// deliveryParam reads {id} of /webhooks/{id}…: a positive integer, else 404.
func deliveryParam(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, statusError(http.StatusNotFound)
	}
	return id, nil
}

// webhookDetailVM is the delivery page's view model: the delivery, whether and why not it can be replayed, and its
// replays.
func (s *Server) webhookDetailVM(ctx context.Context, d store.Delivery) (views.WebhookDetailVM, error) {
	vm := views.WebhookDetailVM{Row: webhookRow(d)}
	if d.Kind == "report" && d.SignatureValid && len(d.Keys) > 0 {
		// Link to the report only while it is stored (a discarded or erased one would be a 404).
		ok, err := s.st.HasReport(ctx, d.Keys[0])
		if err != nil {
			return vm, err
		}
		if ok {
			vm.ReportID = d.Keys[0]
		}
	}
	if len(d.Body) > 0 {
		b := d.Body
		if len(b) > maxShownBody {
			b = b[:maxShownBody]
		}
		vm.Body = taxid.MaskText(prettyJSON(b))
	}
	var nre *flow.NotReplayableError
	if err := s.flow.CheckReplay(ctx, d); errors.As(err, &nre) {
		vm.NotReplayable = nre.Reason
	} else if err != nil {
		return vm, err
	}
	replays, err := s.st.Replays(ctx, d.ID)
	if err != nil {
		return vm, err
	}
	known := map[string]bool{}
	for _, rp := range replays {
		if _, seen := known[rp.ConsentID]; !seen && rp.ConsentID != "" {
			_, cerr := s.st.Consent(ctx, rp.ConsentID)
			known[rp.ConsentID] = cerr == nil
		}
		vm.Replays = append(vm.Replays, views.ReplayRow{ID: rp.ID, At: rp.At, Actor: rp.Actor, Changed: rp.Changed,
			Result: rp.Result, ConsentID: rp.ConsentID, ConsentKnown: known[rp.ConsentID], Before: rp.StatusBefore,
			After: rp.StatusAfter})
	}
	return vm, nil
}

// handleWebhookReplay answers POST /webhooks/{id}/replay (operators only): the delivery is applied again through the
// inbox worker's path (flow.Replay), then 303 to its page, where the replay is listed with what it changed. A
// delivery that cannot be replayed (refused on arrival, body erased, not applied yet) gets its page again with the
// reason, 409. Audited either way.
func (s *Server) handleWebhookReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := deliveryParam(r)
	if err != nil {
		return err
	}
	target := "delivery #" + strconv.FormatInt(id, 10)
	actor := "operator"
	if o := s.operator(r); o != nil {
		actor = o.Email
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*s.klaviTimeout) // a consent_authorised asks Klavi (15 s)
	defer cancel()
	rp, err := s.flow.Replay(ctx, id, actor)
	var nre *flow.NotReplayableError
	switch {
	case errors.As(err, &nre):
		s.audit(r, "webhook_replay", target+": not replayable ("+nre.Reason+")", false)
		d, derr := s.st.Delivery(r.Context(), id)
		if derr != nil {
			return derr
		}
		vm, verr := s.webhookDetailVM(r.Context(), d)
		if verr != nil {
			return verr
		}
		vm.ReplayError = nre.Reason
		s.page(w, r, http.StatusConflict, "title.webhook", views.StepNone, "webhooks", views.WebhookDetailPage(vm))
		return nil
	case errors.Is(err, store.ErrNotFound):
		return err
	case err != nil:
		s.audit(r, "webhook_replay", target+": failed", false)
		return err
	}
	outcome := "nothing changed"
	if rp.Changed {
		outcome = "applied"
	}
	if rp.ConsentID != "" {
		outcome += fmt.Sprintf(", consent %s %s → %s", rp.ConsentID, rp.StatusBefore, rp.StatusAfter)
	}
	s.audit(r, "webhook_replay", target+": "+outcome, true)
	http.Redirect(w, r, "/webhooks/"+strconv.FormatInt(id, 10)+"#replay-"+strconv.FormatInt(rp.ID, 10), http.StatusSeeOther)
	return nil
}

// simulateConsents is how many of the newest consents the simulate page offers.
const simulateConsents = 100

// simulateVM is the simulate page's form with the newest consents; preselect is chosen when it is one of them (or
// any stored consent: it is then listed first).
func (s *Server) simulateVM(ctx context.Context, preselect string) (views.SimulateVM, error) {
	vm := views.SimulateVM{Events: simulate.Choices, Products: simulate.Products, PublicURL: s.publicURL,
		Event: simulate.ConsentAuthorised, Product: simulate.Products[0]}
	page, err := s.st.ListConsentPage(ctx, store.ConsentFilter{Limit: simulateConsents})
	if err != nil {
		return vm, err
	}
	for _, row := range page.Rows {
		vm.Consents = append(vm.Consents, consentRow(row))
	}
	if consent.ValidID(preselect) {
		listed := slices.ContainsFunc(vm.Consents, func(c views.ConsentRow) bool { return c.ID == preselect })
		if !listed {
			if c, err := s.st.Consent(ctx, preselect); err == nil {
				vm.Consents = append([]views.ConsentRow{consentRow(store.ConsentListRow{Consent: c})}, vm.Consents...)
				listed = true
			}
		}
		if listed {
			vm.ConsentID = preselect
		}
	}
	return vm, nil
}

// handleSimulatePage answers GET /webhooks/simulate[?consent=ID] (operators only): the form.
func (s *Server) handleSimulatePage(w http.ResponseWriter, r *http.Request) error {
	vm, err := s.simulateVM(r.Context(), r.URL.Query().Get("consent"))
	if err != nil {
		return err
	}
	s.page(w, r, http.StatusOK, "sim.title", views.StepNone, "webhooks", views.SimulatePage(vm))
	return nil
}

// simulateWait bounds how long the page waits for the inbox worker to apply a simulated event.
const simulateWait = 5 * time.Second

// handleSimulate answers POST /webhooks/simulate (operators only): builds the chosen webhook about the chosen consent
// (package simulate: Klavi's wire format, no personal data), signs it with the webhook secret, POSTs it over HTTP to
// PUBLIC_URL's receiver, applies it at once through the inbox worker's path, and shows the round trip with the
// consent's status before and after. An unreachable PUBLIC_URL is explained on the page. Audited.
func (s *Server) handleSimulate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	f := r.PostForm
	vm, err := s.simulateVM(r.Context(), f.Get("consent"))
	if err != nil {
		return err
	}
	if e := f.Get("event"); slices.Contains(simulate.Choices, e) {
		vm.Event = e
	}
	if p := f.Get("product"); slices.Contains(simulate.Products, p) {
		vm.Product = p
	}
	c, cerr := s.st.Consent(r.Context(), f.Get("consent"))
	if cerr != nil || vm.ConsentID == "" || vm.Event != f.Get("event") || vm.Product != f.Get("product") {
		if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
			return cerr
		}
		vm.Error = "sim.bad_form"
		s.page(w, r, http.StatusUnprocessableEntity, "sim.title", views.StepNone, "webhooks", views.SimulatePage(vm))
		return nil
	}
	body, err := simulate.Build(vm.Event, simulate.Subject{ConsentID: c.ID, LinkID: c.LinkID,
		InstitutionCode: c.InstitutionCode, RequestID: c.ReportRequestID}, vm.Product, s.now())
	if err != nil {
		return err
	}
	// On the consent's timeline first, so that it explains the lines the webhook itself then writes.
	s.flow.Record(r.Context(), c.ID, "webhook", consent.M(consent.TLSimulated, body.Name, body.Key), consent.Msg{}, true)
	ctx, cancel := context.WithTimeout(r.Context(), 2*s.klaviTimeout)
	defer cancel()
	o := simulate.Send(ctx, simulate.Target{PublicURL: s.publicURL, Secret: s.secret, Store: s.st,
		Apply: s.flow.DrainInbox, Wait: simulateWait, Now: s.now}, body)
	res := views.SimulateResult{Event: vm.Event, Name: o.Name, Key: o.Key, URL: o.URL, Status: o.Status,
		Millis: o.Duration.Milliseconds(), Problem: string(o.Problem), Location: o.Location, Applied: o.Applied,
		ConsentID: c.ID, Before: c.Status, After: c.Status}
	if o.Reached {
		res.DeliveryID, res.DeliveryResult = o.Delivery.ID, o.Delivery.Result
	}
	if after, err := s.st.Consent(r.Context(), c.ID); err == nil {
		res.After = after.Status
	}
	vm.Result = &res
	s.audit(r, "webhook_simulate", fmt.Sprintf("%s (%s) for consent %s: HTTP %d, delivery #%d, %s → %s%s",
		vm.Event, body.Name, c.ID, o.Status, res.DeliveryID, res.Before, res.After, problemNote(o.Problem)), o.OK())
	if !o.OK() {
		s.log.WarnContext(r.Context(), "simulated webhook did not round-trip", "problem", string(o.Problem),
			"status", o.Status)
	}
	s.page(w, r, http.StatusOK, "sim.title", views.StepNone, "webhooks", views.SimulatePage(vm))
	return nil
}

func problemNote(p simulate.Problem) string {
	if p == simulate.ProblemNone {
		return ""
	}
	return " (" + string(p) + ")"
}
