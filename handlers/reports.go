package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// reportParam loads the report named by {id} (with its raw body).
func (s *Server) reportParam(r *http.Request, id string) (store.Report, error) {
	if !validReportID(id) {
		return store.Report{}, statusError(http.StatusNotFound)
	}
	return s.st.Report(r.Context(), id)
}

// validReportID accepts productReportIds and our "sha256:<hex>" fallback keys.
func validReportID(id string) bool {
	return validID(id) || (strings.HasPrefix(id, "sha256:") && validID(strings.TrimPrefix(id, "sha256:")))
}

// handleReport answers GET /reports/{id}?account=K&page=N: the report rendered for people. /reports/{id}.json is the
// JSON download (CONTRACT.md spelling), the same as /reports/{id}/report.json.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if strings.HasSuffix(id, ".json") {
		return s.serveReportJSON(w, r, strings.TrimSuffix(id, ".json"))
	}
	rp, err := s.reportParam(r, id)
	if err != nil {
		return err
	}
	rep, perr := klavi.ParseReport(rp.Raw)
	if perr != nil {
		rep = nil // buildReportVM shows the raw body with an "unreadable" notice
	}
	vm := buildReportVM(rp, rep, parseReportQuery(r.URL.Query()))
	m := s.meta(w, r, "title.report", 4, "consents")
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

// handleReportJSON answers GET /reports/{id}/report.json: the body exactly as received, as a download.
func (s *Server) handleReportJSON(w http.ResponseWriter, r *http.Request) error {
	return s.serveReportJSON(w, r, chi.URLParam(r, "id"))
}

func (s *Server) serveReportJSON(w http.ResponseWriter, r *http.Request, id string) error {
	rp, err := s.reportParam(r, id)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="`+downloadName(rp, "json")+`"`)
	h.Set("Content-Length", strconv.Itoa(len(rp.Raw)))
	_, _ = w.Write(rp.Raw)
	return nil
}

// handleReportCSV answers GET /reports/{id}/transactions.csv.
func (s *Server) handleReportCSV(w http.ResponseWriter, r *http.Request) error {
	rp, err := s.reportParam(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	rep, err := klavi.ParseReport(rp.Raw)
	if err != nil {
		return statusError(http.StatusNotFound)
	}
	var buf strings.Builder
	if err := writeTransactionsCSV(&buf, rep); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="`+downloadName(rp, "csv")+`"`)
	_, _ = w.Write([]byte(buf.String()))
	return nil
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
