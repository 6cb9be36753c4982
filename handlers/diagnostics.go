package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/klavi-demo/portal/diag"
	"github.com/klavi-demo/portal/views"
)

// handleDiagnostics answers GET /diagnostics (operators only): it runs every check now, a real POST /auth to Klavi
// included, records that in the audit trail and shows the report. 404 when the server has no diagnostics.
func (s *Server) handleDiagnostics(w http.ResponseWriter, r *http.Request) error {
	if s.diag == nil {
		return statusError(http.StatusNotFound)
	}
	rep := s.diag.Run(r.Context())
	s.audit(r, "diagnostics", "", rep.Worst() != diag.Failing)
	s.page(w, r, http.StatusOK, "title.diagnostics", views.StepNone, "diagnostics", views.DiagnosticsPage(diagnosticsVM(rep)))
	return nil
}

// diagnosticsVM turns a report into the page's view model.
func diagnosticsVM(rep diag.Report) views.DiagnosticsVM {
	vm := views.DiagnosticsVM{
		Env:       string(rep.Environment),
		KlaviHost: rep.KlaviHost,
		Worst:     string(rep.Worst()),
		At:        rep.At,
		Window:    diag.Window,
		Truncated: rep.CallsTruncated,
		RingSize:  diag.RingSize,
		Build: views.DiagBuild{Version: rep.Build.Version, Commit: rep.Build.Commit, CommitTime: rep.Build.CommitTime, BuiltAt: rep.Build.BuiltAt,
			Modified: rep.Build.Modified, GoVersion: rep.Build.GoVersion, Uptime: rep.Uptime},
	}
	for _, c := range rep.Checks {
		dc := views.DiagCheck{ID: c.ID, Status: string(c.Status), Reason: c.Reason, Detail: c.Detail, Took: c.Took}
		for _, f := range c.Facts {
			dc.Facts = append(dc.Facts, diagFact(c.ID, f))
		}
		vm.Checks = append(vm.Checks, dc)
	}
	for _, e := range rep.Calls {
		vm.Calls = append(vm.Calls, views.DiagCallRow{Method: e.Method, Endpoint: e.Endpoint, Calls: e.Calls,
			Failures: e.Failures, FailureRate: e.FailureRate(), P95: e.P95})
	}
	return vm
}

// diagFact turns one figure into the view's typed value.
func diagFact(check string, f diag.Fact) views.DiagFact {
	out := views.DiagFact{Key: f.Key}
	switch v := f.Value.(type) {
	case time.Duration:
		out.Kind, out.D = "duration", v
		if f.Key == "skew" {
			out.Kind = "offset"
		}
	case time.Time:
		out.Kind, out.T = "time", v
	case diag.Bytes:
		out.Kind, out.N = "bytes", int64(v)
	case diag.Ratio:
		out.Kind, out.R = "ratio", float64(v)
	case int:
		out.Kind, out.N = "int", int64(v)
	case int64:
		out.Kind, out.N = "int", v
	case string:
		out.Kind, out.S = "text", v
		if check == "breaker" && f.Key == "state" {
			out.Kind, out.S = "key", "diag.breaker."+v
		}
	default:
		out.Kind, out.S = "text", fmt.Sprint(v)
	}
	return out
}
