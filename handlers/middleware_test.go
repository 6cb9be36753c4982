package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5/middleware"
)

// A line logged with a request's context carries that request's id; a line logged without one has no
// request_id attribute at all, not an empty one.
func TestLogRequestIDAddsTheRequestsID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(LogRequestID(slog.NewTextHandler(&buf, nil))).With("component", "test")
	var id string
	h := middleware.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id = middleware.GetReqID(r.Context())
		log.InfoContext(r.Context(), "in request")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	log.InfoContext(context.Background(), "with a context but no request")
	log.Info("without a context")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if id == "" || !strings.Contains(lines[0], "request_id="+id) || !strings.Contains(lines[0], "component=test") {
		t.Errorf("request line lacks request_id=%s: %s", id, lines[0])
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "request_id") {
			t.Errorf("line without a request has a request_id: %s", l)
		}
	}
}

// The wrapper never writes request_id twice: not when a call site still passes it, not when wrapped twice.
func TestLogRequestIDNeverDuplicates(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(LogRequestID(LogRequestID(slog.NewTextHandler(&buf, nil))))
	ctx := context.WithValue(context.Background(), middleware.RequestIDKey, "req-7")
	log.InfoContext(ctx, "a")
	log.InfoContext(ctx, "b", "request_id", "req-7")
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(l, "request_id="); n != 1 {
			t.Errorf("request_id appears %d times: %s", n, l)
		}
	}
}
