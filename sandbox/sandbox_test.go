package sandbox

import (
	"net/http"
	"testing"
	"time"
)

// The documented delivery defaults (250 ms backoff base, 5 retries, 10 s per attempt, at most 3 redirects:
// docs/klavi.md#webhooks) and the other Options defaults of README's table.
func TestOptionDefaults(t *testing.T) {
	t.Parallel()
	s := New(Options{AccessKey: testAccessKey, SecretKey: testSecretKey, PublicURL: "http://localhost:8090"})
	defer s.Close()
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"RetryBase", s.o.RetryBase, 250 * time.Millisecond},
		{"attempt timeout", s.attemptTimeout, 10 * time.Second},
		{"webhook-first redirect wait", s.webhookFirstWait, 5 * time.Second},
		{"ReportDelay", s.o.ReportDelay, 300 * time.Millisecond},
		{"slow reports delay", s.slowDelay, 5 * time.Second},
		{"out-of-order hold release", s.holdRelease, 60 * time.Second},
		{"TokenTTL", s.o.TokenTTL, 1800 * time.Second},
		{"RedirectTTL", s.o.RedirectTTL, 60 * time.Second},
		{"IdleTimeout", s.o.IdleTimeout, 30 * time.Minute},
		{"FlowTimeout", s.o.FlowTimeout, 60 * time.Minute},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if maxRetries != 5 {
		t.Errorf("maxRetries = %d, want 5", maxRetries)
	}
	if s.o.EventsAsObject || s.o.AutoReports {
		t.Errorf("EventsAsObject %v, AutoReports %v; want false, false", s.o.EventsAsObject, s.o.AutoReports)
	}
	if s.o.Now == nil || s.log == nil || s.client == nil {
		t.Fatal("Now, Logger and HTTPClient must get defaults")
	}
	// The default client follows 3 redirects and stops before a 4th (docs/klavi.md#webhooks).
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if err := s.client.CheckRedirect(req, make([]*http.Request, 3)); err != nil {
		t.Errorf("3rd redirect: %v, want followed", err)
	}
	if err := s.client.CheckRedirect(req, make([]*http.Request, 4)); err != http.ErrUseLastResponse {
		t.Errorf("4th redirect: %v, want http.ErrUseLastResponse", err)
	}

	// Values that are set are kept.
	c := New(Options{RetryBase: time.Millisecond, TokenTTL: time.Minute})
	defer c.Close()
	if c.o.RetryBase != time.Millisecond || c.o.TokenTTL != time.Minute {
		t.Errorf("RetryBase %v, TokenTTL %v; want the values given", c.o.RetryBase, c.o.TokenTTL)
	}
}
