package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// Fault is one scripted misbehaviour of an API call, for client tests
// (docs/klavi.md#the-sandbox): an added delay, a hang until the client gives
// up, and/or an error status with an optional Retry-After header.
type Fault struct {
	// Delay is waited before answering (or before the real handler runs when
	// Status is 0). The wait ends early if the client goes away.
	Delay time.Duration
	// Hang waits until the client cancels the request, then gives up.
	Hang bool
	// Status, when non-zero, is answered instead of running the handler, with
	// Klavi's error body ({"statusCode":Status,...}).
	Status int
	// RetryAfter is sent as the Retry-After header with Status (e.g. "2").
	RetryAfter string
}

// InjectFaults queues faults for the next calls to one API route, one fault
// per call, in order; calls after the queue is empty behave normally. route
// is the method and the literal path under /data/v1, e.g. "POST /consents"
// or "GET /consents/<id>". Later calls append to the route's queue.
func (s *Sandbox) InjectFaults(route string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil {
		s.faults = make(map[string][]Fault)
	}
	s.faults[route] = append(s.faults[route], faults...)
}

// applyFaults is the /data/v1 middleware that plays injected faults.
func (s *Sandbox) applyFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/data/v1")
		s.mu.Lock()
		q := s.faults[route]
		var f *Fault
		if len(q) > 0 {
			f = &q[0]
			s.faults[route] = q[1:]
		}
		s.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.Hang {
			<-r.Context().Done()
			return
		}
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if f.Status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		text := http.StatusText(f.Status)
		if text == "" {
			text = "Error"
		}
		writeError(w, f.Status, f.Status, text, "injected fault")
	})
}
