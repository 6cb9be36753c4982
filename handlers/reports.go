package handlers

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/reportview"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// reportParam loads the report named by {id} (with its raw body). A report the request may not see is a 404: an
// operator sees every report; a visitor only those of a consent started in this browser (the consent the report
// names, or the newest of its link when it names only the link).
func (s *Server) reportParam(r *http.Request, id string) (store.Report, error) {
	if !validReportID(id) {
		return store.Report{}, statusError(http.StatusNotFound)
	}
	rp, err := s.st.Report(r.Context(), id)
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
	rp, err := s.reportParam(r, id)
	if err != nil {
		return err
	}
	rep, perr := s.parsed.parse(rp)
	if perr != nil {
		rep = nil // reportview.Build shows the raw body with an "unreadable" notice
	}
	vm := reportview.Build(storedReport(rp), rep, reportview.ParseQuery(r.URL.Query()))
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
	rp, err := s.reportParam(r, id)
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
	rp, err := s.reportParam(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	rep, err := s.parsed.parse(rp)
	if err != nil {
		return statusError(http.StatusNotFound)
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

// parsedReports is a small cache of decoded reports keyed by id and body hash. A stored report never changes, and
// paging through a 10,000-transaction statement would otherwise decode megabytes of JSON on every click
// (BenchmarkReportPageLarge). Only successful parses are kept; the cache holds at most max reports, and at most
// maxBytes of their bodies: a decoded report takes two to four times its body, so eight 10,000-transaction
// statements (4.7 MB each) would otherwise keep about 90 MB alive (docs/benchmarks.md#200-users-walking-the-flow).
// A body larger than maxBytes is decoded and not kept.
type parsedReports struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	bytes    int      // the bodies' sizes of the entries
	order    []string // oldest first
	m        map[string]parsedEntry
}

type parsedEntry struct {
	rep  *klavi.Report
	size int // len of the body
}

func (c *parsedReports) parse(rp store.Report) (*klavi.Report, error) {
	key := rp.ID + "\x00" + rp.BodySHA256
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.mu.Unlock()
		return e.rep, nil
	}
	c.mu.Unlock()
	rep, err := klavi.ParseReport(rp.Raw)
	size := len(rp.Raw)
	if err != nil || rp.BodySHA256 == "" || c.max <= 0 || size > c.maxBytes {
		return rep, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]parsedEntry)
	}
	if _, ok := c.m[key]; !ok {
		for len(c.order) > 0 && (len(c.order) >= c.max || c.bytes+size > c.maxBytes) {
			c.bytes -= c.m[c.order[0]].size
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
		c.m[key] = parsedEntry{rep: rep, size: size}
		c.bytes += size
	}
	return rep, nil
}
