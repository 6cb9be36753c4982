package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof" // its handlers go on Handler's own mux; the DefaultServeMux its init also fills is never served
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxScrapes bounds concurrent scrapes: each one reads the database (NewStateCollector).
const maxScrapes = 4

// Handler serves the METRICS_ADDR listener: GET /metrics (reg in Prometheus' text format) and Go's profiler under
// /debug/pprof/ (index, cmdline, profile, symbol, trace and the named profiles: heap, goroutine, allocs, ...).
// Everything else is 404. It must never be mounted on the public router: profiles reveal memory contents.
// A collector that fails (a slow database) is logged and left out; the rest of the scrape is still served.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog{log},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg,
		MaxRequestsInFlight: maxScrapes,
		Timeout:             10 * time.Second,
	})))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// errorLog hands promhttp's error lines to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.log.Warn("metrics scrape", "err", fmt.Sprint(v...))
}
