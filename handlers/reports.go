package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/reportview"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// reportParam loads the report named by {id}, with its raw body when withRaw (else only its row: pages find the
// decoded body in s.prepared). A report the request may not see is a 404: an operator sees every report; a visitor
// only those of a consent started in this browser (the consent the report names, or the newest of its link when it
// names only the link).
func (s *Server) reportParam(r *http.Request, id string, withRaw bool) (store.Report, error) {
	if !validReportID(id) {
		return store.Report{}, statusError(http.StatusNotFound)
	}
	load := s.st.ReportHead
	if withRaw {
		load = s.st.Report
	}
	rp, err := load(r.Context(), id)
	if err != nil {
		return store.Report{}, err
	}
	if s.operator(r) != nil {
		return rp, nil
	}
	var c store.Consent
	switch {
	case rp.ConsentID != "":
		c, err = s.st.Consent(r.Context(), rp.ConsentID)
	case rp.LinkID != "":
		c, err = s.st.LatestConsentForLink(r.Context(), rp.LinkID)
	default:
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && !s.canSee(r, c) {
		return store.Report{}, statusError(http.StatusNotFound)
	}
	if err != nil {
		return store.Report{}, err
	}
	s.tagPage(r.Context(), consentTag(c.ID), linkTag(rp.LinkID))
	return rp, nil
}

// validReportID accepts productReportIds and our "sha256:<hex>" fallback keys.
func validReportID(id string) bool {
	return consent.ValidID(id) || (strings.HasPrefix(id, "sha256:") && consent.ValidID(strings.TrimPrefix(id, "sha256:")))
}

// handleReport answers GET /reports/{id}?account=K&page=N: the report rendered for people. /reports/{id}.json is the
// JSON download (a short spelling), the same as /reports/{id}/report.json.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if strings.HasSuffix(id, ".json") {
		return s.serveReportJSON(w, r, strings.TrimSuffix(id, ".json"))
	}
	// As for the consent page: the key holds the device, and reportParam tags the page with the consent it checked.
	if ref := s.deviceRef(r); ref != "" && validReportID(id) {
		var served bool
		if r, served = s.cachedPage(w, r, ref); served {
			return nil
		}
	}
	rp, err := s.reportParam(r, id, false)
	if err != nil {
		return err
	}
	p, err := s.prepared.get(r.Context(), rp, s.st.Report)
	if err != nil {
		return err
	}
	vm := p.Build(reportview.ParseQuery(r.URL.Query()))
	m := s.meta(w, r, "title.report", views.StepData, "consents")
	if vm.ProductName != "" {
		m.Title = views.ProductLabel(r.Context(), vm.ProductName) + " · " + m.Title
	}
	back := ""
	if rp.ConsentID != "" {
		if _, err := s.st.Consent(r.Context(), rp.ConsentID); err == nil {
			back = rp.ConsentID
		}
	}
	s.pageMeta(w, r, http.StatusOK, m, views.ReportPage(back, vm))
	return nil
}

// handleReportJSON answers GET /reports/{id}/report.json: the body as received with every CPF/CNPJ masked, as a
// download. An operator may ask for the original (?original=1); that download is recorded in the audit trail.
func (s *Server) handleReportJSON(w http.ResponseWriter, r *http.Request) error {
	return s.serveReportJSON(w, r, chi.URLParam(r, "id"))
}

func (s *Server) serveReportJSON(w http.ResponseWriter, r *http.Request, id string) error {
	rp, err := s.reportParam(r, id, true)
	if err != nil {
		return err
	}
	body := []byte(taxid.MaskText(string(rp.Raw)))
	if r.URL.Query().Get("original") == "1" {
		if s.operator(r) == nil {
			return statusError(http.StatusNotFound)
		}
		body = rp.Raw
		s.audit(r, "download_original", "report "+rp.ID, true)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="`+downloadName(rp, "json")+`"`)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
	return nil
}

// handleReportCSV answers GET /reports/{id}/transactions.csv (for programs: comma, ISO dates, dot decimals).
func (s *Server) handleReportCSV(w http.ResponseWriter, r *http.Request) error {
	return s.serveTransactions(w, r, "text/csv; charset=utf-8", "csv", func(w io.Writer, rep *klavi.Report) error {
		return reportview.WriteTransactionsCSV(w, rep)
	})
}

// handleReportCSVBR answers GET /reports/{id}/transactions-br.csv (a spreadsheet in Portuguese: BOM, ';',
// decimal comma, dd/mm/aaaa).
func (s *Server) handleReportCSVBR(w http.ResponseWriter, r *http.Request) error {
	return s.serveTransactions(w, r, "text/csv; charset=utf-8", "br.csv", reportview.WriteTransactionsCSVBR)
}

// handleReportXLSX answers GET /reports/{id}/transactions.xlsx (typed number and date cells).
func (s *Server) handleReportXLSX(w http.ResponseWriter, r *http.Request) error {
	return s.serveTransactions(w, r, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx",
		func(w io.Writer, rep *klavi.Report) error {
			return reportview.WriteTransactionsXLSX(r.Context(), w, rep)
		})
}

// serveTransactions writes a report's transactions in one format. The whole file is built before the first byte
// is sent, so a failure midway is an error page rather than a truncated download.
func (s *Server) serveTransactions(w http.ResponseWriter, r *http.Request, contentType, ext string,
	write func(io.Writer, *klavi.Report) error) error {
	rp, err := s.reportParam(r, chi.URLParam(r, "id"), false)
	if err != nil {
		return err
	}
	p, err := s.prepared.get(r.Context(), rp, s.st.Report)
	if err != nil {
		return err
	}
	rep := p.Report()
	if rep == nil {
		return statusError(http.StatusNotFound) // unreadable: no transactions to export
	}
	var buf bytes.Buffer
	if err := write(&buf, rep); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="`+downloadName(rp, ext)+`"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
	return nil
}

// storedReport is what the report page needs of a stored report.
func storedReport(rp store.Report) reportview.Stored {
	return reportview.Stored{
		ID:             rp.ID,
		ProductName:    rp.ProductName,
		ProductVersion: rp.ProductVersion,
		Code:           rp.Code,
		Message:        rp.Message,
		RequestID:      rp.RequestID,
		ReceivedAt:     rp.ReceivedAt,
		Raw:            rp.Raw,
	}
}

// downloadName is a safe file name: product + id, restricted to [A-Za-z0-9_-].
func downloadName(rp store.Report, ext string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, s)
	}
	name := clean(rp.ProductName)
	if name == "" {
		name = "report"
	}
	id := clean(rp.ID)
	if len(id) > 40 {
		id = id[:40]
	}
	return name + "-" + id + "." + ext
}

// preparedReports keeps the query-independent part of recently shown report pages (reportview.Prepared: the decoded
// report, each statement sorted with its running balance and insights, the raw JSON as shown), keyed by report id and
// body hash, so that paging through a 10,000-transaction statement neither reads megabytes from the database nor
// decodes and sorts them on every click (docs/benchmarks.md#report-path). Safe across replicas: a stored report never
// changes (rows are inserted once and only ever deleted, by a purge), and every request reads the row first, so a
// purged report is never served from here. Least recently used entries go first (hashicorp/golang-lru); the cache
// holds at most max entries and maxBytes of bodies (a decoded report takes about 1.4 times its body); a larger report
// is not kept. Concurrent requests for a report not yet kept decode it once.
type preparedReports struct {
	maxBytes int
	lru      *lru.Cache[string, preparedEntry]
	group    singleflight.Group

	mu    sync.Mutex // held by add, inside which every eviction happens
	bytes int        // the bodies held; changed only under mu (add and the eviction callback it triggers)
}

type preparedEntry struct {
	p    *reportview.Prepared
	size int
}

const (
	preparedReportsMax   = 8
	preparedReportsBytes = 24 << 20 // about 34 MB decoded: five 10,000-transaction reports, within the RSS goal (docs/benchmarks.md#report-path)
)

// newPreparedReports returns an empty cache of at most maxEntries (> 0) reports and maxBytes of bodies.
func newPreparedReports(maxEntries, maxBytes int) *preparedReports {
	c := &preparedReports{maxBytes: maxBytes}
	c.lru, _ = lru.NewWithEvict(maxEntries, func(_ string, e preparedEntry) { c.bytes -= e.size }) // size > 0: no error
	return c
}

// get returns the prepared page of the report whose row is head, loading the body with load (store.Report) when it
// is not kept. A body that is not a readable report is prepared too (the page shows it as unreadable).
func (c *preparedReports) get(ctx context.Context, head store.Report,
	load func(context.Context, string) (store.Report, error)) (*reportview.Prepared, error) {
	key := head.ID + "\x00" + head.BodySHA256
	if p, ok := c.lookup(key); ok {
		return p, nil
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		if p, ok := c.lookup(key); ok { // kept by a call that ended after our lookup
			return p, nil
		}
		// Not cancelled with this request: others may be waiting for the same report.
		full, err := load(context.WithoutCancel(ctx), head.ID)
		if err != nil {
			return nil, err
		}
		rep, err := klavi.ParseReport(full.Raw)
		if err != nil {
			rep = nil // Prepare shows the raw body with an "unreadable" notice
		}
		p := reportview.Prepare(storedReport(full), rep)
		if full.BodySHA256 != "" {
			c.add(full.ID+"\x00"+full.BodySHA256, preparedEntry{p: p, size: len(full.Raw)})
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*reportview.Prepared), nil //nolint:forcetypeassert // the function above returns nothing else
}

// lookup returns the kept entry and makes it the most recently used.
func (c *preparedReports) lookup(key string) (*reportview.Prepared, bool) {
	e, ok := c.lru.Get(key)
	return e.p, ok
}

func (c *preparedReports) add(key string, e preparedEntry) {
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(key) {
		return
	}
	c.lru.Add(key, e) // over the count, evicts the least recently used
	c.bytes += e.size
	for c.bytes > c.maxBytes {
		c.lru.RemoveOldest()
	}
}

// held is the entries and body bytes kept.
func (c *preparedReports) held() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}
