package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

type personKind int

const (
	personType personKind = iota + 1
	businessType
)

type reportLevel int

const (
	userLevel reportLevel = iota + 1
	institutionLevel
)

// autoProducts are the reports sent after AUTHORISED when AutoReports is on,
// and what the pseudo-product `all` expands to (user-level requests only).
var autoProducts = map[personKind][]string{
	personType:   {"pf_checking_account", "pf_savings_account", "pf_credit_card"},
	businessType: {"pj_checking_account", "pj_credit_card"},
}

// reportRequest is the body of the four report-request endpoints (docs/klavi.md#report-requests).
type reportRequest struct {
	TaxID               string            `json:"taxId"`
	InstitutionCode     string            `json:"institutionCode"`
	LinkID              string            `json:"linkId"`
	ConsentIDs          []string          `json:"consentIds"`
	Products            []string          `json:"products"`
	ProductsCallbackURL map[string]string `json:"productsCallbackURL"`
	ExternalInfo        map[string]any    `json:"externalInfo"`
}

// reportRequestResult is the 200 body of a report request (docs/klavi.md#report-requests).
type reportRequestResult struct {
	RequestID string `json:"requestId"`
	Message   string `json:"message"`
}

// reportJob is everything the report goroutine needs, snapshotted under s.mu.
type reportJob struct {
	requestID     string
	taxID         string
	products      []string
	links         []ReportLinkWire
	linkID        string // first link: event payload and delivery-order key
	consentIDs    []string
	reqCallbacks  map[string]string
	linkCallbacks map[string]string
	ext           map[string]any
	scen          scenario
}

// handleReportRequest serves POST /{personal|business}/{institution|user}-data.
func (s *Sandbox) handleReportRequest(kind personKind, level reportLevel) http.HandlerFunc {
	prefix := "pf_"
	if kind == businessType {
		prefix = "pj_"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req reportRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if req.TaxID == "" {
			badRequest(w, "taxId is required")
			return
		}
		var taxID string
		var err error
		if kind == personType {
			taxID, err = parseCPF(req.TaxID)
		} else {
			taxID, err = parseCNPJ(req.TaxID)
		}
		if err != nil {
			badRequest(w, "taxId is not a valid CPF/CNPJ for this endpoint")
			return
		}
		if level == institutionLevel {
			if req.InstitutionCode == "" {
				badRequest(w, "institutionCode is required")
				return
			}
			if inst, ok := InstitutionByCode(req.InstitutionCode); !ok || (inst.IsOutage && inst.OutageLevel != "partial") {
				businessError(w, codeInvalidInstitution, "invalid institution")
				return
			}
		}
		if len(req.Products) == 0 {
			businessError(w, codeEmptyProducts, "products needs at least one item")
			return
		}
		if msg := checkCallbackMap(req.ProductsCallbackURL); msg != "" {
			businessError(w, codeInvalidCallbackURL, msg)
			return
		}
		var products []string
		for _, p := range req.Products {
			switch {
			case p == "all" && level != userLevel:
				// `all` is a user-level pseudo-product; at institution level
				// it is the wrong level (4002, docs/klavi.md#errors).
				businessError(w, codeInvalidProduct, "'all' is only accepted on user-level requests (*/user-data)")
				return
			case p == "all":
				products = append(products, autoProducts[kind]...)
			case ProductSupported(p) && strings.HasPrefix(p, prefix):
				products = append(products, p)
			default:
				businessError(w, codeInvalidProduct, "invalid product")
				return
			}
		}
		products = dedupe(products)

		s.mu.Lock()
		job, ok := s.reportJobLocked(kind, taxID, req, products)
		if !ok {
			s.mu.Unlock()
			businessError(w, codeInvalidAuthorisation, "no AUTHORISED consent for this request")
			return
		}
		s.startReportsLocked(job)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, reportRequestResult{RequestID: job.requestID, Message: "ok"})
	}
}

func dedupe(in []string) []string {
	var out []string
	for _, p := range in {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// reportJobLocked selects the AUTHORISED consents a request covers (taxId,
// narrowed by linkId or consentIds: docs/klavi.md#report-requests) and
// snapshots the job. Caller holds s.mu.
func (s *Sandbox) reportJobLocked(kind personKind, taxID string, req reportRequest, products []string) (reportJob, bool) {
	var selected []*consent
	for _, id := range s.order {
		c := s.consents[id]
		// A personal request covers personal consents only; a business
		// consent also carries the operator's CPF but belongs to the CNPJ.
		owner := c.personalTaxID
		if c.businessTaxID != "" {
			owner = ""
		}
		if kind == businessType {
			owner = c.businessTaxID
		}
		switch {
		case owner != taxID, c.status != statusAuthorised:
			continue
		case req.LinkID != "" && c.linkID != req.LinkID:
			continue
		case len(req.ConsentIDs) > 0 && !slices.Contains(req.ConsentIDs, c.id):
			continue
		case req.InstitutionCode != "" && c.institutionCode != req.InstitutionCode:
			continue
		}
		selected = append(selected, c)
	}
	if len(selected) == 0 {
		return reportJob{}, false
	}
	job := s.jobForLocked(selected, taxID, products)
	job.reqCallbacks = req.ProductsCallbackURL
	if req.ExternalInfo != nil {
		job.ext = req.ExternalInfo
	}
	return job, true
}

// jobForLocked builds a job for consents (non-empty). links[] groups them by
// link and institution; the first consent's link supplies the callback map,
// externalInfo and the scenario. Caller holds s.mu.
func (s *Sandbox) jobForLocked(consents []*consent, taxID string, products []string) reportJob {
	first := consents[0]
	job := reportJob{
		requestID: newUUID(),
		taxID:     taxID,
		products:  products,
		linkID:    first.linkID,
		scen:      first.scen,
	}
	if l := s.links[first.linkID]; l != nil {
		job.linkCallbacks = l.callbacks
		job.ext = l.externalInfo
	}
	for _, c := range consents {
		job.consentIDs = append(job.consentIDs, c.id)
		perms := make(map[string]PermissionWire, len(c.permsGranted))
		for _, p := range c.permsGranted {
			perms[p] = PermissionWire{PermissionsGranted: true}
		}
		rc := ReportConsentWire{ConsentID: c.id, Permissions: perms}
		i := slices.IndexFunc(job.links, func(l ReportLinkWire) bool {
			return l.LinkID == c.linkID && l.InstitutionCode == c.institutionCode
		})
		if i < 0 {
			job.links = append(job.links, ReportLinkWire{LinkID: c.linkID, InstitutionCode: c.institutionCode})
			i = len(job.links) - 1
		}
		job.links[i].Consents = append(job.links[i].Consents, rc)
	}
	return job
}

// startReportsLocked emits product_request_received and starts the job's
// goroutine. Caller holds s.mu, so the event is ordered after any consent
// event already queued for the same link.
func (s *Sandbox) startReportsLocked(job reportJob) {
	s.emit(job.linkID, job.scen, false, "product_request_received", productEventPayload{
		RequestID: job.requestID, TaxID: job.taxID, LinkID: job.linkID, ConsentIDs: job.consentIDs,
		Products: job.products, Code: 200, Message: "ok",
	}, job.ext)
	s.goTracked(func() { s.runReports(job) })
}

// runReports waits ReportDelay (the slow scenario: slowDelay), then queues
// each product's report followed by its product_generated_* event. A report
// is generated and encoded when its delivery is sent, not when it is queued:
// behind a receiver that answers slowly, the queued reports wait as a few
// fields each rather than as encoded bodies
// (docs/benchmarks.md#200-users-walking-the-flow).
func (s *Sandbox) runReports(job reportJob) {
	delay := s.o.ReportDelay
	if job.scen == scenarioSlowReports {
		delay = s.slowDelay
	}
	t := time.NewTimer(delay)
	select {
	case <-s.ctx.Done():
		t.Stop()
		return
	case <-t.C:
	}
	for _, product := range job.products {
		if s.ctx.Err() != nil {
			return
		}
		ev := productEventPayload{
			RequestID: job.requestID, TaxID: job.taxID, LinkID: job.linkID, ConsentIDs: job.consentIDs,
			ProductName: product,
		}
		rep, ok := s.planReport(job, product)
		if !ok {
			ev.Code, ev.Message = 5000, "product generation failed"
			s.emit(job.linkID, job.scen, false, "product_generated_failed", ev, job.ext)
			continue
		}
		s.queueBuilt(job.linkID, resolveCallback(product, job.reqCallbacks, job.linkCallbacks, s.o.ReportsURL),
			rep.encode, job.scen)
		ev.Code, ev.Message, ev.ProductReportID = 200, "OK", rep.id
		s.emit(job.linkID, job.scen, false, "product_generated_success", ev, job.ext)
	}
}

// plannedReport is a report that will succeed, with everything fixed but its bytes: its id and time are those of
// the moment it was planned, so generating it later gives the same report.
type plannedReport struct {
	job          reportJob
	product, id  string
	at           time.Time
	codes        []string
	transactions int
}

// planReport decides whether one product's report succeeds; false means the
// product fails (scenario or generator error).
func (s *Sandbox) planReport(job reportJob, product string) (plannedReport, bool) {
	// The scenario fails pf_credit_card only (README table); other card
	// products such as pf_categorized_creditcard_l3 are generated.
	if job.scen == scenarioProductFails && product == "pf_credit_card" {
		return plannedReport{}, false
	}
	n := 0 // the generator's natural amount
	if job.scen == scenarioLargeReport && product == "pf_checking_account" {
		n = LargeReportTransactions
	}
	// One account or card per consented institution, like a user-level report.
	var codes []string
	for _, l := range job.links {
		if !slices.Contains(codes, l.InstitutionCode) {
			codes = append(codes, l.InstitutionCode)
		}
	}
	if checkReportInputs(product, job.taxID, codes, n) != nil {
		return plannedReport{}, false
	}
	return plannedReport{job: job, product: product, id: newUUID(), at: s.now(), codes: codes, transactions: n}, true
}

// encode generates and encodes the report; nil only if the generator fails
// after all, which planReport's checks rule out.
func (p plannedReport) encode() []byte {
	rep, err := GenerateReportFor(p.product, p.job.taxID, p.codes, p.at, p.transactions)
	if err != nil || rep == nil {
		return nil
	}
	rep.RequestID = p.job.requestID
	rep.ProductReportID = p.id
	rep.ProductReportTime = p.at.Format(localTime)
	rep.Links = p.job.links
	if p.job.ext != nil {
		rep.ExternalInfo = p.job.ext
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil
	}
	return raw
}

// resolveCallback picks a product's report URL: the request map, then the
// link map, then the global URL; inside a map the product key wins over
// `other`, which wins over `all` (docs/klavi.md#links, docs/klavi.md#webhooks).
func resolveCallback(product string, request, link map[string]string, global string) string {
	for _, m := range []map[string]string{request, link} {
		for _, k := range []string{product, "other", "all"} {
			if u := m[k]; u != "" {
				return u
			}
		}
	}
	return global
}
