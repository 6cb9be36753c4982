// Client.do against a scripted fake Klavi: which failures are retried and how often, backoff and Retry-After,
// the caller's deadline, the HTTP client and call timeouts, dropped and refused connections, body limits and
// malformed bodies, and errors and logs that never carry tokens, keys, tax ids or query strings.

package klavi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scripted answers the n-th API call (1-based) with statuses[n-1] (the last one repeats); 200 sends body.
func scripted(t *testing.T, body []byte, statuses ...int) (http.HandlerFunc, *atomic.Int32) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(statuses) {
			i = len(statuses) - 1
		}
		if statuses[i] == http.StatusOK {
			writeJSON(w, http.StatusOK, body)
			return
		}
		writeJSON(w, statuses[i], []byte(`{"statusCode":`+strconv.Itoa(statuses[i])+`,"error":"Oops","message":"try later"}`))
	}, &n
}

func TestA503TwiceThenSuccessIsRetriedWithDelaysWithinTheCap(t *testing.T) {
	t.Parallel()
	h, n := scripted(t, golden(t, "consent.json"), 503, 503, 200)
	f := newFake(t, h)
	c := f.client(t, WithRetry(3, 100*time.Millisecond, time.Second))
	delays := recordSleeps(c)
	got, err := c.Consent(context.Background(), "c-1")
	if err != nil {
		t.Fatalf("got %v, want success on the third attempt", err)
	}
	if got.ConsentID == "" {
		t.Errorf("got an empty consent")
	}
	if n.Load() != 3 {
		t.Errorf("got %d attempts, want 3", n.Load())
	}
	if len(*delays) != 2 {
		t.Fatalf("got %d waits, want 2", len(*delays))
	}
	for i, d := range *delays {
		ceil := 100 * time.Millisecond << i
		if d < 0 || d > ceil {
			t.Errorf("wait %d: got %v, want within [0, %v] (full jitter)", i, d, ceil)
		}
	}
}

func TestRetriesStopAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	h, n := scripted(t, nil, 503)
	f := newFake(t, h)
	c := f.client(t)
	_, err := c.Consent(context.Background(), "c-1")
	if !errors.Is(err, ErrServer) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrServer and ErrUnavailable", err)
	}
	if n.Load() != 3 {
		t.Errorf("got %d attempts, want 3", n.Load())
	}
}

func TestTheBackoffIsRealAndShortInTests(t *testing.T) {
	t.Parallel()
	h, n := scripted(t, golden(t, "institutions.json"), 502, 504, 200)
	f := newFake(t, h)
	c := f.client(t, WithRetry(3, 10*time.Millisecond, 20*time.Millisecond))
	start := time.Now()
	if _, err := c.Institutions(context.Background(), goldenLinkToken); err != nil {
		t.Fatalf("got %v, want success", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("took %v, want well under 500ms", el)
	}
	if n.Load() != 3 {
		t.Errorf("got %d attempts, want 3", n.Load())
	}
}

func TestWhichFailuresAreRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name      string
		status    int
		call      func(c *Client) error
		wantTries int32
	}{
		{"a 500 on a GET is retried", 500, func(c *Client) error { _, err := c.Consent(ctx, "c"); return err }, 3},
		{"a 429 on a GET is retried", 429, func(c *Client) error { _, err := c.Consent(ctx, "c"); return err }, 3},
		{"a 503 on DELETE revoke is retried", 503, func(c *Client) error { return c.RevokeConsent(ctx, "c") }, 3},
		{"a 404 is not retried", 404, func(c *Client) error { _, err := c.Consent(ctx, "c"); return err }, 1},
		{"a 400 is not retried", 400, func(c *Client) error { _, err := c.Consent(ctx, "c"); return err }, 1},
		{"a 500 on DELETE revoke is not retried", 500, func(c *Client) error { return c.RevokeConsent(ctx, "c") }, 1},
		{"a 503 on POST /links is not retried", 503, func(c *Client) error { _, err := c.CreateLink(ctx, LinkRequest{}); return err }, 1},
		{"a 429 on POST /links is not retried", 429, func(c *Client) error { _, err := c.CreateLink(ctx, LinkRequest{}); return err }, 1},
		{"a 503 on POST /consents is not retried", 503, func(c *Client) error {
			_, err := c.CreateConsent(ctx, goldenLinkToken, ConsentRequest{ExternalTrackID: "t", PersonalTaxID: "1",
				InstitutionCode: "001", RedirectURL: "https://p/cb"})
			return err
		}, 1},
		{"a 504 on a report request is not retried", 504, func(c *Client) error {
			_, err := c.RequestReports(ctx, ReportRequest{TaxID: "1", Products: []string{"pf_checking_account"}})
			return err
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, n := scripted(t, nil, tc.status)
			f := newFake(t, h)
			c := f.client(t)
			recordSleeps(c)
			err := tc.call(c)
			var ae *APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != tc.status {
				t.Errorf("got %v, want an APIError with HTTP %d", err, tc.status)
			}
			if got := n.Load(); got != tc.wantTries {
				t.Errorf("got %d attempts, want %d", got, tc.wantTries)
			}
		})
	}
}

func TestA429HonoursRetryAfter(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cases := []struct {
		name       string
		retryAfter string
		wantDelay  time.Duration
	}{
		{"in seconds", "2", 2 * time.Second},
		{"as an HTTP date", clock.Now().Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{"as a date in the past", clock.Now().Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", tc.retryAfter)
					writeJSON(w, http.StatusTooManyRequests, []byte(`{"statusCode":429,"error":"Too Many Requests"}`))
					return
				}
				writeJSON(w, http.StatusOK, golden(t, "consent.json"))
			})
			c := f.client(t, WithNow(clock.Now))
			delays := recordSleeps(c)
			if _, err := c.Consent(context.Background(), "c-1"); err != nil {
				t.Fatalf("got %v, want success after waiting", err)
			}
			if len(*delays) != 1 || (*delays)[0] != tc.wantDelay {
				t.Errorf("got waits %v, want [%v]", *delays, tc.wantDelay)
			}
		})
	}
}

func TestA429WhoseRetryAfterCannotBeHonouredFailsFast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		retryAfter string
		timeout    time.Duration
	}{
		{"longer than the cap", "60", 0},
		{"longer than the remaining deadline", "2", 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.Header().Set("Retry-After", tc.retryAfter)
				writeJSON(w, http.StatusTooManyRequests, []byte(`{"statusCode":429,"error":"Too Many Requests"}`))
			})
			c := f.client(t)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := c.Consent(ctx, "c-1")
			if !errors.Is(err, ErrRateLimited) {
				t.Errorf("got %v, want ErrRateLimited", err)
			}
			if el := time.Since(start); el > 200*time.Millisecond {
				t.Errorf("took %v, want an immediate failure", el)
			}
			if n.Load() != 1 {
				t.Errorf("got %d attempts, want 1", n.Load())
			}
		})
	}
}

func TestAHangingServerFailsAtTheCallersDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := f.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Institutions(ctx, goldenLinkToken)
	el := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want ErrUnavailable and context.DeadlineExceeded", err)
	}
	if el < 90*time.Millisecond || el > 300*time.Millisecond {
		t.Errorf("took %v, want about 100ms", el)
	}
}

func TestASlowAttemptHitsTheHTTPClientTimeoutAndIsRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
			return
		}
		writeJSON(w, http.StatusOK, golden(t, "institutions.json"))
	})
	c := f.client(t, WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	if _, err := c.Institutions(context.Background(), goldenLinkToken); err != nil {
		t.Fatalf("got %v, want success on the second attempt", err)
	}
	if n.Load() != 2 {
		t.Errorf("got %d attempts, want 2", n.Load())
	}
}

func TestASlowNonIdempotentCallIsNotRetried(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	})
	c := f.client(t, WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err := c.CreateConsent(context.Background(), goldenLinkToken, ConsentRequest{ExternalTrackID: "t",
		PersonalTaxID: "52998224725", InstitutionCode: "001", RedirectURL: "https://p/cb", ValidityPeriod: 12})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if n.Load() != 1 {
		t.Errorf("got %d attempts, want 1", n.Load())
	}
}

func TestDroppedConnectionsAreRetriedOnlyForIdempotentCalls(t *testing.T) {
	t.Parallel()
	hangUp := func(w http.ResponseWriter) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	t.Run("a GET succeeds after two dropped connections", func(t *testing.T) {
		var n atomic.Int32
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) <= 2 {
				hangUp(w)
				return
			}
			writeJSON(w, http.StatusOK, golden(t, "consent.json"))
		})
		if _, err := f.client(t).Consent(context.Background(), "c-1"); err != nil {
			t.Fatalf("got %v, want success", err)
		}
		if n.Load() != 3 {
			t.Errorf("got %d attempts, want 3", n.Load())
		}
	})
	t.Run("POST /links fails after one dropped connection", func(t *testing.T) {
		var n atomic.Int32
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			hangUp(w)
		})
		_, err := f.client(t).CreateLink(context.Background(), LinkRequest{PersonalTaxID: "52998224725"})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
		if n.Load() != 1 {
			t.Errorf("got %d attempts, want 1", n.Load())
		}
	})
}

func TestARefusedConnectionIsUnavailableAndTheErrorHasNoTaxIDOrURL(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New("http://"+addr+"/data/v1", WithRetry(2, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Institutions(context.Background(), goldenLinkToken)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), goldenLinkToken) || strings.Contains(err.Error(), "http://") {
		t.Errorf("error %q leaks the token or the URL", err)
	}
	if !strings.HasPrefix(err.Error(), "klavi: ") {
		t.Errorf("error %q does not start with \"klavi: \"", err)
	}
}

func TestNetworkErrorsNeverPrintTheQueryString(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	c := f.client(t)
	_, err := c.ConsentsByTaxID(context.Background(), Personal, "52998224725")
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	if strings.Contains(err.Error(), "52998224725") || strings.Contains(err.Error(), "personalTaxId=5") {
		t.Errorf("error %q leaks the tax id", err)
	}
}

func TestAMalformedSuccessBodyIsAnError(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"consentId":`, `not json`, `[]`, ``, `{"linkId":"x"}`} {
		t.Run(body, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, []byte(body)) })
			_, err := f.client(t).CreateLink(context.Background(), LinkRequest{})
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("got %v, want ErrBadResponse", err)
			}
		})
	}
}

func TestABodyLargerThanTheLimitIsAnError(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte(" "), MaxResponseBytes)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[`))
		_, _ = w.Write(big)
		_, _ = w.Write([]byte(`]`))
	})
	_, err := f.client(t).Institutions(context.Background(), goldenLinkToken)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrBadResponse) {
		t.Errorf("got %v, want ErrTooLarge and ErrBadResponse", err)
	}
}

func TestABodyJustUnderTheLimitIsAccepted(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[`))
		_, _ = w.Write(bytes.Repeat([]byte(" "), MaxResponseBytes-2))
		_, _ = w.Write([]byte(`]`))
	})
	if _, err := f.client(t).Institutions(context.Background(), goldenLinkToken); err != nil {
		t.Errorf("got %v, want success", err)
	}
}

func TestErrorsAndLogsNeverContainTokensKeysOrTaxIDs(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusInternalServerError, []byte(`{"statusCode":500,"error":"Internal",`+
			`"message":"failed for 52998224725 / 529.982.247-25 / 12.ABC.345/01DE-35 with Bearer `+goldenAccessToken+
			` key demo-secret-key at https://api.klavi.ai/data/v1/consents?personalTaxId=52998224725"}`))
	})
	var logs bytes.Buffer
	c := f.client(t, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	recordSleeps(c)
	_, err := c.ConsentsByTaxID(context.Background(), Personal, "52998224725")
	if !errors.Is(err, ErrServer) {
		t.Fatalf("got %v, want ErrServer", err)
	}
	for _, secret := range []string{"52998224725", "529.982.247-25", "12.ABC.345/01DE-35", goldenAccessToken,
		"QtYj", testSecretKey, "personalTaxId=5"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs %q contain %q", logs.String(), secret)
		}
	}
	if !strings.Contains(logs.String(), `path="/consents?personalTaxId={taxId}"`) || !strings.Contains(logs.String(), "status=500") {
		t.Errorf("logs %q lack the path template or status", logs.String())
	}
}

func TestWithCallTimeoutBoundsTheWholeCall(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := f.client(t, WithCallTimeout(80*time.Millisecond))
	start := time.Now()
	_, err := c.Consent(context.Background(), "c-1")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want a deadline error that is ErrUnavailable", err)
	}
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Errorf("took %v, want about 80ms", el)
	}
}

func TestABodyTrickledAByteAtATimeFailsAtTheCallTimeout(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		_, _ = w.Write([]byte(`[`))
		fl.Flush()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 600; i++ { // at most a minute, whatever the client does
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				return
			case <-tick.C:
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				fl.Flush()
			}
		}
	})
	t.Cleanup(func() { close(stop) }) // before the server's Close, which waits for the handler
	c := f.client(t, WithCallTimeout(300*time.Millisecond))
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := c.Institutions(context.Background(), goldenLinkToken); done <- err }()
	select {
	case err := <-done:
		el := time.Since(start)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want ErrUnavailable and context.DeadlineExceeded", err)
		}
		if el > 3*time.Second {
			t.Errorf("took %v, want about 300ms (the call timeout, not the 15s http.Client timeout)", el)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call hangs on a trickling body, want it to fail at the call timeout")
	}
	if n := len(f.calls()); n != 1 {
		t.Errorf("got %d attempts, want 1 (no retry once the call's deadline has passed)", n)
	}
}

func TestA503WithRetryAfterIsHonouredToo(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, nil)
			return
		}
		writeJSON(w, http.StatusOK, golden(t, "consent.json"))
	})
	c := f.client(t)
	delays := recordSleeps(c)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatal(err)
	}
	if len(*delays) != 1 || (*delays)[0] != time.Second {
		t.Errorf("got waits %v, want [1s]", *delays)
	}
}
