package handlers

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/reportview"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// newTrackID returns a fresh 128-bit externalTrackId (our OAuth-style state), base64url without padding.
func newTrackID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleConsentCreate answers POST /consents: creates the consent at Klavi with a fresh externalTrackId bound
// to this session and answers 303 straight to consentRedirectURL (single use, 60 s: never shown as a link,
// never logged). If Klavi fails, the confirmation page comes back with a message and nothing is stored.
func (s *Server) handleConsentCreate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	sid := sessionFrom(r.Context()).ID()
	l, ok, err := s.sessionLink(w, r)
	if !ok {
		return err
	}
	code := r.PostForm.Get("institution_code")
	if !consent.ValidID(code) {
		return statusError(http.StatusBadRequest)
	}
	validity := 12
	if r.PostForm.Get("validity_period") == "0" {
		validity = 0
	}
	in, ok, err := s.findInstitution(r.Context(), l, code)
	if err != nil {
		return err
	}
	if !ok {
		return statusError(http.StatusNotFound)
	}
	vm := s.consentNewVM(l, in, validity)
	if err := s.markChosen(r, l, &vm); err != nil {
		return err
	}
	if key := notChoosableKey(vm.Institution); key != "" {
		vm.FormError = key
		s.page(w, r, http.StatusUnprocessableEntity, "title.consent_new", views.StepAuthorise, "start", views.ConsentNewPage(vm))
		return nil
	}
	redirect, _, err := s.startConsent(r.Context(), sid, s.ensureDevice(w, r), l, in.InstitutionCode, in.Name, validity)
	if err != nil {
		s.logKlaviErr(r, "create consent failed", err)
		vm.FormError = klaviErrKey(err)
		if errors.Is(err, errBadRedirect) {
			vm.FormError = "err.redirect"
		}
		s.page(w, r, http.StatusBadGateway, "title.consent_new", views.StepAuthorise, "start", views.ConsentNewPage(vm))
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect, http.StatusSeeOther) //nolint:gosec // G710: Klavi's bank URL, checked by bankURLAllowed
	return nil
}

// createConsent is POST /links/{linkId}/consents for link l, logged (docs/klavi.md#request-ids) as made for the
// consent it creates, or for the link when it creates none.
func (s *Server) createConsent(ctx context.Context, l store.Link, req klavi.ConsentRequest) (*klavi.CreatedConsent, error) {
	ctx, made := klavi.WithPendingSubject(ctx)
	cc, err := s.kc.CreateConsent(ctx, l.LinkToken, req)
	sub := klavi.Subject{LinkID: l.ID}
	if err == nil && consent.ValidID(cc.ConsentID) {
		sub.ConsentID = cc.ConsentID
	}
	made.Resolve(sub)
	return cc, err
}

var errBadRedirect = errors.New("handlers: consentRedirectURL is not an absolute http(s) URL")

// startConsent creates a consent at Klavi for link l and stores it bound to session sid. If the link token
// was refused (expired), a new link is created transparently and the call retried once with a new track id.
// Returns the consentRedirectURL, which the caller sends as a 303 and nowhere else.
func (s *Server) startConsent(ctx context.Context, sid, device string, l store.Link, code, name string, validity int) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.klaviTimeout)
	defer cancel()
	track := newTrackID()
	req := klavi.ConsentRequest{
		ExternalTrackID: track,
		PersonalTaxID:   l.PersonalTaxID,
		BusinessTaxID:   l.BusinessTaxID,
		InstitutionCode: code,
		RedirectURL:     s.callbackURL(),
		Phone:           l.Phone,
		Email:           l.Email,
		ValidityPeriod:  validity,
	}
	cc, err := s.createConsent(ctx, l, req)
	if errors.Is(err, klavi.ErrUnauthorized) {
		nl, lerr := s.renewLink(ctx, l)
		if lerr != nil {
			return "", "", lerr
		}
		l = nl
		track = newTrackID()
		req.ExternalTrackID = track
		cc, err = s.createConsent(ctx, l, req)
	}
	if err != nil {
		return "", "", err
	}
	if !consent.ValidID(cc.ConsentID) {
		return "", "", fmt.Errorf("handlers: create consent: %w: bad consent id", klavi.ErrBadResponse)
	}
	if !bankURLAllowed(cc.ConsentRedirectURL) {
		return "", "", errBadRedirect
	}
	c := store.Consent{
		ID:              cc.ConsentID,
		LinkID:          l.ID,
		SessionID:       sid,
		TrackIDHash:     sha256Hex(track),
		PersonType:      l.PersonType,
		PersonalTaxID:   l.PersonalTaxID,
		BusinessTaxID:   l.BusinessTaxID,
		InstitutionCode: code,
		InstitutionName: name,
		ValidityPeriod:  validity,
		Status:          consent.Started,
		DeviceRef:       device,
		ExpireAt:        cc.ExpireAt,
	}
	c.HolderRef = s.flow.ConsentHolderRef(c)
	if err := s.st.CreateConsent(ctx, c); err != nil {
		return "", "", err
	}
	s.pages.Changed(linkTag(c.LinkID)) // the picker and the link's consent pages list it
	created := consent.M(consent.TLCreatedAtIndefinite, name, code)
	if validity != 0 {
		created = consent.M(consent.TLCreatedAtMonths, name, code, strconv.Itoa(validity))
	}
	s.flow.Record(ctx, c.ID, "api", consent.M(consent.TLConsentCreated), created, true)
	s.flow.Record(ctx, c.ID, "redirect", consent.M(consent.TLRedirect), consent.Msg{}, true)
	return withUILocales(cc.ConsentRedirectURL, views.LangFrom(ctx)), c.ID, nil
}

// withUILocales adds OpenID Connect's ui_locales (the user's language) to the bank URL, so that the bank's pages
// can speak it (docs/klavi.md#return-from-the-bank). It is a hint: authorization servers ignore parameters they do
// not know (RFC 6749 §3.1), and one the URL already carries is left alone. The query is appended to, never
// re-encoded: the bank's own parameters stay byte for byte.
func withUILocales(raw string, l views.Lang) string {
	u, err := url.Parse(raw)
	if err != nil || u.Query().Has("ui_locales") {
		return raw
	}
	add := "ui_locales=" + url.QueryEscape(string(l))
	base, frag, hasFrag := strings.Cut(raw, "#")
	switch {
	case !strings.Contains(base, "?"):
		base += "?" + add
	case strings.HasSuffix(base, "?"), strings.HasSuffix(base, "&"):
		base += add
	default:
		base += "&" + add
	}
	if hasFrag {
		base += "#" + frag
	}
	return base
}

// handleConsentRetry answers POST /consents/{id}/retry: a new consent (new track id) for the same
// institution and validity, then 303 to the bank. Only the browser that started the consent may retry it.
func (s *Server) handleConsentRetry(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	sid := sessionFrom(r.Context()).ID()
	if sid == "" || sid != c.SessionID {
		return statusError(http.StatusForbidden)
	}
	l, err := s.st.Link(r.Context(), c.LinkID)
	if err != nil {
		return err
	}
	if l, err = s.freshLink(r.Context(), l); err != nil {
		return err
	}
	redirect, _, err := s.startConsent(r.Context(), sid, s.ensureDevice(w, r), l, c.InstitutionCode, c.InstitutionName, c.ValidityPeriod)
	if err != nil {
		if errors.Is(err, errBadRedirect) {
			return &httpError{status: http.StatusBadGateway, cause: err}
		}
		return err
	}
	s.flow.Record(r.Context(), c.ID, "api", consent.M(consent.TLRetry), consent.Msg{}, true)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect, http.StatusSeeOther) //nolint:gosec // G710: Klavi's bank URL, checked by bankURLAllowed
	return nil
}

// consentParam loads the consent named by {id}; a malformed id, and a consent the request may not see (canSee),
// are a 404.
func (s *Server) consentParam(r *http.Request) (store.Consent, error) {
	id := chi.URLParam(r, "id")
	if !consent.ValidID(id) {
		return store.Consent{}, statusError(http.StatusNotFound)
	}
	c, err := s.st.Consent(r.Context(), id)
	if err != nil {
		return store.Consent{}, err
	}
	if !s.canSee(r, c) {
		return store.Consent{}, statusError(http.StatusNotFound)
	}
	return c, nil
}

// handleConsentPage answers GET /consents/{id}.
func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) error {
	// A visitor's cached page was rendered for his device after the same access check (the key holds the device).
	if id, ref := chi.URLParam(r, "id"), s.deviceRef(r); ref != "" && consent.ValidID(id) {
		var served bool
		if r, served = s.cachedPage(w, r, ref, consentTag(id)); served {
			return nil
		}
	}
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	vm, err := s.consentVM(r, c)
	if err != nil {
		return err
	}
	if s.operator(r) != nil {
		vm.SupportURL = "/consents/" + c.ID + "/support.json"
	}
	if vm.Link, err = s.consentLinkStrip(r, c, false); err != nil {
		return err
	}
	m := s.meta(w, r, "title.consent", views.StepAuthorise, "consents")
	if vm.Status == consent.Authorised || len(vm.Reports) > 0 {
		m.Step = views.StepData
	}
	m.Refresh = vm.Live
	if vm.Live {
		// The first long poll waits for a change of what this page shows.
		if _, vm.LiveETag, err = renderLive(r, vm); err != nil {
			return err
		}
	}
	s.pageMeta(w, r, http.StatusOK, m, views.ConsentPage(vm))
	return nil
}

// handleConsentLive answers GET /consents/{id}/live: the live fragment of the consent page (no layout), with an
// ETag of its bytes. With ?wait=1 and If-None-Match naming the fragment the page already shows, it is a long poll:
// the answer waits until the fragment differs (woken at once by this replica's changes, and reading the database
// every second for the other replicas' changes) or liveWaitMax passes (304), so a report shows the moment it is
// stored instead of at the next fixed interval (docs/architecture.md#live-pages).
func (s *Server) handleConsentLive(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	prev := r.Header.Get("If-None-Match")
	wait := r.URL.Query().Get("wait") == "1" && prev != ""
	var changed <-chan struct{}
	if wait {
		ch, stop := s.flow.Watch(c.ID)
		defer stop()
		changed = ch
	}
	deadline := time.NewTimer(cmp.Or(s.liveWait, liveWaitMax))
	defer deadline.Stop()
	recheck := time.NewTicker(liveRecheck)
	defer recheck.Stop()
	for {
		vm, err := s.consentVM(r, c)
		if err != nil {
			return err
		}
		if vm.Link, err = s.consentLinkStrip(r, c, true); err != nil {
			return err
		}
		body, etag, err := renderLive(r, vm)
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("X-Live", map[bool]string{true: "on", false: "off"}[vm.Live])
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-store")
		if !wait || etag != prev || !vm.Live {
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(body) //nolint:gosec // G705: body is the templ-rendered (escaped) fragment
			return nil
		}
		select {
		case <-changed:
		case <-recheck.C:
		case <-deadline.C:
			w.WriteHeader(http.StatusNotModified)
			return nil
		case <-r.Context().Done():
			return nil
		}
		if c, err = s.st.Consent(r.Context(), c.ID); err != nil {
			return err
		}
	}
}

// renderLive renders the live fragment and names it: the ETag is a hash of its bytes.
func renderLive(r *http.Request, vm views.ConsentVM) ([]byte, string, error) {
	var buf bytes.Buffer
	if err := views.ConsentLive(vm).Render(r.Context(), &buf); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), `"` + hex.EncodeToString(sum[:12]) + `"`, nil
}

// Live page long poll: the longest wait (well under the server's write timeout) and how often a waiting request
// reads the database for changes made by another replica.
const (
	liveWaitMax = 25 * time.Second
	liveRecheck = time.Second
)

func (s *Server) consentVM(r *http.Request, c store.Consent) (views.ConsentVM, error) {
	ctx := r.Context()
	tl, err := s.st.Timeline(ctx, c.ID)
	if err != nil {
		return views.ConsentVM{}, err
	}
	reps, err := s.st.ReportsForConsent(ctx, c.ID)
	if err != nil {
		return views.ConsentVM{}, err
	}
	status := c.Status
	vm := views.ConsentVM{
		ID:               c.ID,
		Status:           c.Status,
		InstitutionCode:  c.InstitutionCode,
		InstitutionName:  c.InstitutionName,
		TaxIDMasked:      taxid.Mask(flow.ConsentTaxID(c)),
		PersonType:       c.PersonType,
		ValidityPeriod:   c.ValidityPeriod,
		ExpireAt:         c.ExpireAt,
		CreatedAt:        c.CreatedAt,
		Requested:        c.PermissionsApply,
		Granted:          c.PermissionsGranted,
		ErrorCode:        c.ErrorCode,
		ErrorKey:         consentErrorKey(c),
		ReportsRequested: c.ReportsRequestedAt != nil,
		ReportRequestID:  c.ReportRequestID,
		Products:         flow.Products(c.PersonType),
		CanRevoke:        !status.Terminal(),
	}
	if vm.InstitutionName == "" {
		vm.InstitutionName = c.InstitutionCode
	}
	sid := sessionFrom(ctx).ID()
	vm.CanRetry = vm.ErrorKey != "" && sid != "" && sid == c.SessionID &&
		status != consent.Authorised && status != consent.Revoked && status != consent.DeletedByUser
	// Another bank: the picker works on this flow session's link, so only the browser that started the consent.
	vm.CanChooseAnother = vm.CanRetry
	vm.TipKey = failureTip(vm.ErrorKey)
	if vm.ErrorKey == "cerr.link_expired" {
		vm.StatusKey = "status.link_expired" // Klavi says REJECTED, but nobody declined anything
	}
	vm.Operator = s.operator(r) != nil
	if c.ReportsRequestedAt != nil && status == consent.Authorised {
		vm.ReportsRequestedAt = *c.ReportsRequestedAt
		vm.ReportsSlow = s.now().Sub(*c.ReportsRequestedAt) > reportsSlowAfter
	}
	for _, e := range tl {
		vm.Timeline = append(vm.Timeline, views.TimelineItem{Kind: e.Kind, Title: e.Title, Detail: e.Detail, OK: e.OK, At: e.At,
			Repeats: e.Repeats, LastAt: e.LastAt})
	}
	for _, rp := range reps {
		it := reportItem(rp)
		it.Figures = s.figures.get(ctx, s, rp)
		vm.Reports = append(vm.Reports, it)
	}
	vm.Live = s.isLive(c, settledProducts(vm))
	return vm, nil
}

// reportsSlowAfter is when the consent page starts saying that reports take longer than usual.
const reportsSlowAfter = 90 * time.Second

// failureTip is the short tip shown under a failure message.
func failureTip(errorKey string) string {
	switch errorKey {
	case "":
		return ""
	case "cerr.access_denied", "cerr.rejected":
		return "tip.access_denied"
	case "cerr.link_expired":
		return "tip.link_expired"
	case "cerr.server_error", "cerr.error":
		return "tip.server_error"
	case "cerr.consent_expired", "cerr.expired":
		return "tip.expired"
	}
	return "tip.other"
}

// reportFigures remembers each report's key figures (a few short strings) so that the consent page, refreshed
// every second or two while it is live, does not read and decode megabytes of report JSON each time. Reports
// never change once stored; entries are keyed by id and body hash. The receiver decodes only a report's envelope
// (docs/benchmarks.md#report-path), so the first view prepares the report (kept in s.prepared for its page) and
// remembers its figures. Bounded: when full it starts afresh.
type reportFigures struct {
	mu sync.Mutex
	m  map[string][]views.ReportFigure
}

const maxFigureEntries = 4096

func (f *reportFigures) get(ctx context.Context, s *Server, rp store.Report) []views.ReportFigure {
	f.mu.Lock()
	figs, ok := f.m[rp.ID+"\x00"+rp.BodySHA256]
	f.mu.Unlock()
	if ok {
		return figs
	}
	p, err := s.prepared.get(ctx, rp, s.st.Report)
	if err != nil {
		return nil // the card shows without figures; the report page has everything
	}
	if rep := p.Report(); rep != nil {
		figs = reportview.Figures(rep)
	}
	f.put(rp.ID, rp.BodySHA256, figs)
	return figs
}

// put remembers the figures of the report stored under id with the body hash sum.
func (f *reportFigures) put(id, sum string, figs []views.ReportFigure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= maxFigureEntries {
		f.m = make(map[string][]views.ReportFigure)
	}
	f.m[id+"\x00"+sum] = figs
}

func reportItem(rp store.Report) views.ReportItem {
	return views.ReportItem{ID: rp.ID, Product: rp.ProductName, Code: rp.Code, Message: rp.Message,
		ReceivedAt: rp.ReceivedAt, Size: rp.Size}
}

// settledProducts counts the requested products that have a report or that Klavi said failed. Duplicate or
// unrequested reports do not count: only distinct requested products do.
func settledProducts(vm views.ConsentVM) int {
	failed := views.FailedProducts(vm.Timeline)
	got := map[string]bool{}
	for _, r := range vm.Reports {
		got[r.Product] = true
	}
	n := 0
	for _, p := range vm.Products {
		if got[p] || failed[p] {
			n++
		}
	}
	return n
}

// isLive says whether the consent page should keep refreshing: while the consent is still moving, and after
// AUTHORISED until every requested product has settled (bounded in time, in case a report is lost).
func (s *Server) isLive(c store.Consent, settled int) bool {
	now := s.now()
	if now.Sub(c.CreatedAt) > 2*time.Hour {
		return false
	}
	switch {
	case c.Status == consent.Authorised:
		if c.ReportsRequestedAt == nil {
			return true
		}
		return settled < len(flow.Products(c.PersonType)) && now.Sub(*c.ReportsRequestedAt) < 3*time.Minute
	case c.Status.Terminal():
		return false
	default:
		return true
	}
}

// consentErrorKey picks the message for a consent that did not (yet) succeed. Klavi's status wins over the
// callback's error value: a consent Klavi reports AUTHORISED shows no error.
func consentErrorKey(c store.Consent) string {
	st := c.Status
	if st == consent.Authorised || st == consent.Revoked || st == consent.DeletedByUser {
		return ""
	}
	switch c.ErrorCode {
	case "":
	case "access_denied":
		// The description is untrusted, but it only picks between two of our own messages: a bank link
		// opened after its 60 s is reported as access_denied too, and "you declined" would be wrong.
		if strings.Contains(strings.ToLower(c.ErrorDescription), "expire") {
			return "cerr.link_expired"
		}
		return "cerr.access_denied"
	case "server_error", "temporarily_unavailable":
		return "cerr.server_error"
	case "consent_expired":
		return "cerr.consent_expired"
	default:
		return "cerr.other"
	}
	switch st {
	case consent.Rejected:
		return "cerr.rejected"
	case consent.Error:
		return "cerr.error"
	case consent.Expired:
		return "cerr.expired"
	}
	return ""
}

// consentsPageSize is the consents list's page size.
const consentsPageSize = 50

// handleConsentList answers GET /consents: the consents, newest first, 50 a page (keyset pagination: before
// is the opaque cursor of the previous page's last row; a bad one shows the first page), filtered by status
// and by holder, the keyed pseudonym of a CPF/CNPJ that POST /consents/search hands out (a value that is not 32
// lowercase hex characters is ignored). No tax id is ever read from, or put into, a URL here: a legacy
// ?tax_id= link is answered with a 303 to its holder URL. The report counts come with the list query.
func (s *Server) handleConsentList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("tax_id") {
		return s.redirectLegacyTaxIDFilter(w, r, q)
	}
	vm := views.ConsentsVM{Statuses: consent.All, Status: consentListStatus(q.Get("status"))}
	if h := q.Get("holder"); validHolderRef(h) {
		vm.Holder = h
	}
	f := store.ConsentFilter{Limit: consentsPageSize, Status: vm.Status, HolderRef: vm.Holder}
	if cur, err := store.ParseConsentCursor(q.Get("before")); err == nil {
		f.Before, vm.Paged = &cur, true
	}
	page, err := s.st.ListConsentPage(r.Context(), f)
	if err != nil {
		return err
	}
	for _, row := range page.Rows {
		vm.Rows = append(vm.Rows, consentRow(row))
	}
	if page.Next != nil {
		vm.Next = page.Next.String()
	}
	if vm.Holder != "" {
		if vm.HolderMasked, err = s.holderMasked(r.Context(), f, page); err != nil {
			return err
		}
	}
	s.page(w, r, http.StatusOK, "title.consents", views.StepNone, "consents", views.ConsentsPage(vm))
	return nil
}

// holderMasked is the masked tax id behind the holder filter of f, taken from the first consent listed or, when
// the page is empty only because of the status or the cursor, from any consent of that holder; "" when none.
func (s *Server) holderMasked(ctx context.Context, f store.ConsentFilter, page store.ConsentPage) (string, error) {
	if len(page.Rows) == 0 && (f.Status != "" || f.Before != nil) {
		var err error
		if page, err = s.st.ListConsentPage(ctx, store.ConsentFilter{HolderRef: f.HolderRef, Limit: 1}); err != nil {
			return "", err
		}
	}
	if len(page.Rows) == 0 {
		return "", nil
	}
	return taxid.Mask(flow.ConsentTaxID(page.Rows[0].Consent)), nil
}

// handleConsentSearch answers POST /consents/search, the consents filter form: a valid CPF/CNPJ (any format) gives
// 303 to /consents?holder=<its ref>&status=<status>; an empty one keeps the holder the page was filtered by (the
// form's hidden field) and applies the status alone; an invalid one re-renders the list with the message next to
// the field (422), what was typed shown back only in this POST response.
func (s *Server) handleConsentSearch(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	status := consentListStatus(r.PostForm.Get("status"))
	typed := strings.TrimSpace(r.PostForm.Get("tax_id"))
	holder := ""
	switch {
	case typed != "":
		ref, ok := s.taxIDFilterRef(typed)
		if !ok {
			if len(typed) > 64 {
				typed = typed[:64] // what Normalize looks at anyway; a megabyte is not echoed back
			}
			vm := views.ConsentsVM{Statuses: consent.All, Status: status, TaxID: typed, TaxIDError: "err.taxid_filter"}
			s.page(w, r, http.StatusUnprocessableEntity, "title.consents", views.StepNone, "consents", views.ConsentsPage(vm))
			return nil
		}
		holder = ref
	case validHolderRef(r.PostForm.Get("holder")):
		holder = r.PostForm.Get("holder")
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, views.ConsentsListURL(string(status), holder, ""), http.StatusSeeOther) //nolint:gosec // G710: a local path
	return nil
}

// redirectLegacyTaxIDFilter answers GET /consents?tax_id=… (links and bookmarks from before the holder refs) with
// 303 to the same list filtered by holder ref, status and cursor kept; the tax id is echoed nowhere. An invalid
// one leads to the list without a holder filter and a flash message saying why.
func (s *Server) redirectLegacyTaxIDFilter(w http.ResponseWriter, r *http.Request, q url.Values) error {
	holder := ""
	if v := strings.TrimSpace(q.Get("tax_id")); v != "" {
		ref, ok := s.taxIDFilterRef(v)
		if ok {
			holder = ref
		} else {
			ss := sessionFrom(r.Context())
			ss.setFlash("err.taxid_filter")
			if err := s.saveSession(w, r, ss); err != nil {
				return err
			}
		}
	} else if validHolderRef(q.Get("holder")) {
		holder = q.Get("holder")
	}
	before := ""
	if cur, err := store.ParseConsentCursor(q.Get("before")); err == nil {
		before = cur.String()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, views.ConsentsListURL(string(consentListStatus(q.Get("status"))), holder, before), http.StatusSeeOther) //nolint:gosec // G710: a local path
	return nil
}

// taxIDFilterRef checks a tax id typed into the consents filter (any format that normalises to 11 or 14
// characters, as the filter always accepted) and returns its holder ref.
func (s *Server) taxIDFilterRef(v string) (string, bool) {
	n, err := taxid.Normalize(v)
	if err != nil || (len(n) != taxid.CPFLength && len(n) != taxid.CNPJLength) {
		return "", false
	}
	return s.flow.HolderRef(n), true
}

// consentListStatus returns v when it is one of the statuses the list filters by, else "".
func consentListStatus(v string) consent.Status {
	if st := consent.Status(v); st.Known() {
		return st
	}
	return ""
}

// handleConsentRevoke answers POST /consents/{id}/revoke: without confirm=1 it shows the confirmation page;
// with it, revokes at Klavi (DELETE .../revoke), records REVOKED and goes back to the consent page.
func (s *Server) handleConsentRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("confirm") != "1" && r.PostForm.Get("confirm") != "1" {
		vm := views.RevokeVM{ID: c.ID, InstitutionName: c.InstitutionName, TaxIDMasked: taxid.Mask(flow.ConsentTaxID(c)), Status: c.Status}
		s.page(w, r, http.StatusOK, "title.revoke", views.StepNone, "consents", views.RevokeConfirmPage(vm))
		return nil
	}
	if c.Status.Terminal() {
		http.Redirect(w, r, "/consents/"+c.ID, http.StatusSeeOther)
		return nil
	}
	ctx, cancel := context.WithTimeout(flow.ForConsent(r.Context(), c), s.klaviTimeout)
	defer cancel()
	if err := s.kc.RevokeConsent(ctx, c.ID); err != nil {
		s.logKlaviErr(r, "revoke failed", err)
		s.flow.Record(ctx, c.ID, "revoke", consent.M(consent.TLRevokeFailed), flow.KlaviErr(err), false)
		s.audit(r, "revoke", "consent "+c.ID, false)
		return err
	}
	s.audit(r, "revoke", "consent "+c.ID, true)
	s.flow.Record(ctx, c.ID, "revoke", consent.M(consent.TLRevoke), consent.M(consent.TLRevokedByUser), true)
	// Klavi decides what a revoke becomes: REVOKED after AUTHORISED, REJECTED for a consent still in progress
	// (docs/klavi.md#consents). Read it back; if that read fails, only an authorised consent is known to be
	// REVOKED, and the reconciler settles anything else.
	var status consent.Status
	if kcs, err := s.kc.Consent(ctx, c.ID); err == nil && kcs.Status.Known() {
		status = consent.Status(kcs.Status)
	} else if c.Status == consent.Authorised {
		status = consent.Revoked
	}
	if status != "" {
		if _, err := s.flow.ApplyStatus(ctx, c, status, nil, "", flow.FromRevoke); err != nil {
			return err
		}
	}
	ss := sessionFrom(r.Context())
	ss.setFlash("flash.revoked")
	_ = s.saveSession(w, r, ss)
	http.Redirect(w, r, "/consents/"+c.ID, http.StatusSeeOther)
	return nil
}

// handleConsentReports answers GET /consents/{id}/reports.
func (s *Server) handleConsentReports(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	reps, err := s.st.ReportsForConsent(r.Context(), c.ID)
	if err != nil {
		return err
	}
	vm := views.ReportsListVM{ConsentID: c.ID, InstitutionName: c.InstitutionName, Status: c.Status}
	for _, rp := range reps {
		vm.Reports = append(vm.Reports, reportItem(rp))
	}
	s.page(w, r, http.StatusOK, "title.reports", views.StepData, "consents", views.ReportsListPage(vm))
	return nil
}

// bankURLAllowed says whether the browser may be sent to a consentRedirectURL. It comes from Klavi's response
// and points at the bank, whose host varies, so no host list applies (ASVS 3.7.2's documented exception); it
// must be https, except plain http to a loopback host, which only the local sandbox serves.
func bankURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return true
		}
		ip, err := netip.ParseAddr(host)
		return err == nil && ip.IsLoopback()
	default:
		return false
	}
}

// validHolderRef accepts exactly what flow.Service.HolderRef makes: 32 lowercase hex characters.
func validHolderRef(v string) bool {
	if len(v) != flow.HolderRefLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
