package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klavi-demo/portal/handlers"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/metrics"
)

// observability is the portal's metrics: a registry of its own (never Prometheus' global one), the series the
// server and the Klavi client record, and the METRICS_ADDR listener that serves them with Go's profiler. Its zero
// value (METRICS_ADDR empty or off) records and serves nothing.
type observability struct {
	reg *prometheus.Registry
	m   *metrics.Metrics
	ln  net.Listener
}

// listenMetrics opens METRICS_ADDR and creates the series; with no METRICS_ADDR it returns the zero value.
func listenMetrics(ctx context.Context, lc net.ListenConfig, cfg config, log *slog.Logger) (observability, error) {
	if cfg.MetricsAddr == "" {
		return observability{}, nil
	}
	ln, err := lc.Listen(ctx, "tcp", cfg.MetricsAddr)
	if err != nil {
		return observability{}, fmt.Errorf("METRICS_ADDR %s: cannot listen: %w", cfg.MetricsAddr, unwrapNetErr(err))
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		_ = ln.Close()
		return observability{}, fmt.Errorf("metrics: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		log.WarnContext(ctx, "METRICS_ADDR is not a loopback address: /metrics and /debug/pprof/ (memory contents) are reachable "+
			"from the network; keep that port behind a firewall", "addr", ln.Addr().String())
	}
	return observability{reg: reg, m: m, ln: ln}, nil
}

func (o observability) close() {
	if o.ln != nil {
		_ = o.ln.Close()
	}
}

// klaviObservers are the Klavi client options that feed the metrics (none when off).
func (o observability) klaviObservers() []klavi.Option {
	if o.m == nil {
		return nil
	}
	return []klavi.Option{klavi.WithObserver(o.m.ObserveKlavi)}
}

// handlerMetrics is handlers.Options.Metrics: a nil interface when off (never a typed nil pointer).
func (o observability) handlerMetrics() handlers.Metrics {
	if o.m == nil {
		return nil
	}
	return o.m
}

// watch registers the gauges read at scrape time: the webhook inbox backlog and consents by status from the
// store, the circuit breaker from the Klavi client.
func (o observability) watch(st metrics.Store, kc metrics.Breaker) error {
	if o.reg == nil {
		return nil
	}
	return o.reg.Register(metrics.NewStateCollector(metrics.StateOptions{Store: st, Breaker: kc}))
}

// handler serves the METRICS_ADDR listener.
func (o observability) handler(log *slog.Logger) http.Handler {
	return metrics.Handler(o.reg, log.With("component", "metrics"))
}

// banner is the metrics listener's line of the start banner ("" when off).
func (o observability) banner() string {
	if o.ln == nil {
		return ""
	}
	return fmt.Sprintf("metrics listening on http://%s/metrics (profiler under /debug/pprof/)\n", o.ln.Addr())
}
