// The package's values and pure helpers: Amount parsing and formatting (money.go), consent statuses and event
// names (status.go), API errors and their sanitised text (errors.go), and the client's defaults, backoff
// ceiling and Retry-After parsing (client.go).

package klavi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAmountUnits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      Amount
		want    int64
		wantErr bool
	}{
		{"1000.0400", 10000400, false},
		{"0.0000", 0, false},
		{"-0", 0, false},
		{"100.00", 1000000, false},
		{"12.5", 125000, false},
		{"7", 70000, false},
		{"+3.1", 31000, false},
		{"-0.0001", -1, false},
		{"-1000.0400", -10000400, false},
		{"1.23450000", 12345, false},
		{"922337203685477.5807", math.MaxInt64, false},
		{"-922337203685477.5808", math.MinInt64, false},
		{"922337203685477.5808", 0, true},
		{"-922337203685477.5809", 0, true},
		{"99999999999999999999999", 0, true},
		{"1.00001", 0, true},
		{"", 0, true},
		{"-", 0, true},
		{"1.", 0, true},
		{".5", 0, true},
		{"1,50", 0, true},
		{"1e3", 0, true},
		{" 1.0", 0, true},
		{"1.0 ", 0, true},
		{"--1", 0, true},
		{"1.2.3", 0, true},
		{"NaN", 0, true},
		{"١٢", 0, true},
	}
	for _, tc := range cases {
		t.Run(string(tc.in), func(t *testing.T) {
			got, err := tc.in.Units()
			if (err != nil) != tc.wantErr {
				t.Fatalf("got error %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestAmountErrorsNeverQuoteTheValue(t *testing.T) {
	t.Parallel()
	// A misplaced CPF or CNPJ in an amount field must not reach an error text (and from there a log).
	for _, in := range []Amount{"529.982.247-25", "52998224725.000001", "11.222.333/0001-81",
		"12.ABC.345/01DE-35", "99999999999999999999999", "1.52998224725"} {
		t.Run(string(in), func(t *testing.T) {
			_, err := in.Units()
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			_, serr := Transaction{TransactionAmount: Money{Amount: in}}.Signed()
			if serr == nil {
				t.Fatal("Signed: got nil, want an error")
			}
			for _, msg := range []string{err.Error(), serr.Error()} {
				if !strings.HasPrefix(msg, "klavi: ") {
					t.Errorf("got %q, want it to start with \"klavi: \"", msg)
				}
				if digits := strings.Map(keepDigits, msg); digits != "" && digits != "4" {
					t.Errorf("got %q, want no digits from the value (only the documented 4 decimals)", msg)
				}
				for _, part := range []string{"529", "982", "247", "25", "222", "333", "0001", "ABC", "01DE"} {
					if strings.Contains(msg, part) {
						t.Errorf("got %q, want it without %q", msg, part)
					}
				}
			}
		})
	}
}

func keepDigits(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}

func TestFormatUnitsIsTheInverseOfUnits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   int64
		want Amount
	}{
		{10000400, "1000.0400"},
		{0, "0.0000"},
		{-1, "-0.0001"},
		{-5000, "-0.5000"},
		{1, "0.0001"},
		{math.MaxInt64, "922337203685477.5807"},
		{math.MinInt64, "-922337203685477.5808"},
	}
	for _, tc := range cases {
		got := FormatUnits(tc.in)
		if got != tc.want {
			t.Errorf("FormatUnits(%d): got %q, want %q", tc.in, got, tc.want)
		}
		back, err := got.Units()
		if err != nil || back != tc.in {
			t.Errorf("Units(%q): got %d %v, want %d", got, back, err, tc.in)
		}
	}
}

func TestAmountDecodesFromAStringOrANumberWithoutFloats(t *testing.T) {
	t.Parallel()
	var m Money
	if err := json.Unmarshal([]byte(`{"amount":1000.0400,"currency":"BRL"}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Amount != "1000.0400" {
		t.Errorf("got %q, want the literal 1000.0400", m.Amount)
	}
	if err := json.Unmarshal([]byte(`{"amount":"0.1"}`), &m); err != nil || m.Amount != "0.1" {
		t.Errorf("got %q %v, want 0.1", m.Amount, err)
	}
	for _, bad := range []string{`{"amount":true}`, `{"amount":[]}`, `{"amount":{}}`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s: got nil, want an error", bad)
		}
	}
}

func TestConsentStatusHelpers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		s               ConsentStatus
		terminal, known bool
	}{
		{StatusStarted, false, true},
		{StatusAwaitingAuthorisation, false, true},
		{StatusAwaitingLGPDAuthorisation, false, true},
		{StatusAuthorised, false, true},
		{StatusError, true, true},
		{StatusRejected, true, true},
		{StatusExpired, true, true},
		{StatusRevoked, true, true},
		{StatusDeletedByUser, true, true},
		{"AUTHORIZED", false, false},
		{"authorised", false, false},
		{"", false, false},
	}
	for _, tc := range cases {
		if got := tc.s.Terminal(); got != tc.terminal {
			t.Errorf("%q.Terminal(): got %v, want %v", tc.s, got, tc.terminal)
		}
		if got := tc.s.Known(); got != tc.known {
			t.Errorf("%q.Known(): got %v, want %v", tc.s, got, tc.known)
		}
	}
}

func TestEventNamesMapToConsentStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		e    EventName
		want ConsentStatus
		ok   bool
	}{
		{EventConsentAuthorised, StatusAuthorised, true},
		{EventConsentError, StatusError, true},
		{EventConsentRejected, StatusRejected, true},
		{EventConsentExpired, StatusExpired, true},
		{EventConsentRevoked, StatusRevoked, true},
		{EventConsentDeletedByUser, StatusDeletedByUser, true},
		{EventLinkCreated, "", false},
		{EventProductGeneratedSuccess, "", false},
		{EventLinkActionStatus, "", false},
		{"consent_whatever", "", false},
	}
	for _, tc := range cases {
		got, ok := tc.e.ConsentStatus()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v, want %q %v", tc.e, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAPIErrorsMatchSentinelsByStatusAndBusinessCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status, code int
		want         []error
		notWant      []error
	}{
		{400, 400, []error{ErrBadRequest}, []error{ErrUnavailable}},
		{422, 0, []error{ErrBadRequest}, nil},
		{401, 401, []error{ErrUnauthorized}, []error{ErrForbidden}},
		{403, 403, []error{ErrForbidden}, nil},
		{404, 404, []error{ErrNotFound}, nil},
		{409, 409, []error{ErrConflict}, nil},
		{429, 429, []error{ErrRateLimited}, []error{ErrServer}},
		{500, 500, []error{ErrServer, ErrUnavailable}, nil},
		{503, 0, []error{ErrServer, ErrUnavailable}, nil},
		{416, 4001, []error{ErrBusiness, ErrConsentNotAuthorised}, []error{ErrInvalidProduct}},
		{416, 4002, []error{ErrInvalidProduct}, nil},
		{416, 4003, []error{ErrConsentLimit}, nil},
		{416, 4004, []error{ErrInstitutionUnavailable}, []error{ErrUnavailable}},
		{416, 4005, []error{ErrEmptyProducts}, nil},
		{416, 4006, []error{ErrInvalidCallbackURL}, nil},
		{416, 4007, []error{ErrProductRequestFailed}, nil},
		{416, 4008, []error{ErrInsufficientAuthorization}, nil},
		{416, 4009, []error{ErrInsufficientAuthorization}, nil},
		{400, 4005, []error{ErrBadRequest, ErrEmptyProducts}, []error{ErrBusiness}},
	}
	for _, tc := range cases {
		err := error(&APIError{HTTPStatus: tc.status, Code: tc.code, op: "GET /x"})
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("HTTP %d code %d: errors.Is(%v) = false, want true", tc.status, tc.code, w)
			}
		}
		for _, w := range tc.notWant {
			if errors.Is(err, w) {
				t.Errorf("HTTP %d code %d: errors.Is(%v) = true, want false", tc.status, tc.code, w)
			}
		}
		if !strings.HasPrefix(err.Error(), "klavi: ") {
			t.Errorf("got %q, want the klavi: prefix", err)
		}
	}
}

func TestABusinessErrorBodyIsDecoded(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 416, []byte(`{"statusCode":4004,"error":"Invalid institution","message":"institution in outage"}`))
	})
	_, err := f.client(t).CreateConsent(t.Context(), goldenLinkToken, ConsentRequest{ExternalTrackID: "t",
		PersonalTaxID: "1", InstitutionCode: "260", RedirectURL: "https://p/cb", ValidityPeriod: 12})
	if !errors.Is(err, ErrInstitutionUnavailable) {
		t.Fatalf("got %v, want ErrInstitutionUnavailable", err)
	}
	want := "klavi: POST /consents: HTTP 416 (4004 invalid institution) Invalid institution: institution in outage"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
}

func TestAnErrorBodyThatIsNotJSONStillGivesTheStatus(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html>not found</html>"))
	})
	_, err := f.client(t).Consent(t.Context(), "nope")
	var ae *APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 404 || ae.ErrorText != "Not Found" || !errors.Is(err, ErrNotFound) {
		t.Errorf("got %#v, want a 404 APIError", err)
	}
}

func TestSanitizeRemovesSensitiveText(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, mustNotContain string }{
		{"cpf 52998224725 here", "52998224725"},
		{"cpf 529.982.247-25 here", "529.982.247-25"},
		{"cnpj 11.222.333/0001-81", "11.222.333/0001-81"},
		{"cnpj 11222333000181", "11222333000181"},
		{"cnpj 12ABC34501DE35", "12ABC34501DE35"},
		{"see https://x.example/p?v=secret-token", "secret-token"},
		{"Authorization: Bearer abc123", "abc123"},
		{"token eyJhbGciOi.eyJzdWIiOi.sig", "eyJhbGciOi"},
		{"key demo-secret-key leaked", "demo-secret-key"},
	}
	for _, tc := range cases {
		if got := sanitize(tc.in, "demo-secret-key"); strings.Contains(got, tc.mustNotContain) {
			t.Errorf("sanitize(%q) = %q, still contains %q", tc.in, got, tc.mustNotContain)
		}
	}
	if got := sanitize(strings.Repeat("é", 300)); len(got) > maxErrText+len("…") {
		t.Errorf("got %d bytes, want at most %d", len(got), maxErrText)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"5", 5 * time.Second, true},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q): got %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTheDefaultsFollowTheReliabilityPolicy(t *testing.T) {
	t.Parallel()
	c, err := New("https://api-sandbox.klavi.ai/data/v1")
	if err != nil {
		t.Fatal(err)
	}
	if c.hc.Timeout != 15*time.Second {
		t.Errorf("got http.Client Timeout %v, want 15s", c.hc.Timeout)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok || tr.TLSHandshakeTimeout != 5*time.Second || tr.ResponseHeaderTimeout != 10*time.Second {
		t.Errorf("got transport %+v, want 5s TLS handshake and 10s response header timeouts", tr)
	}
	if c.maxAttempts != 3 || c.backoffBase != 200*time.Millisecond || c.backoffMax != 5*time.Second {
		t.Errorf("got retry %d %v %v, want 3 200ms 5s", c.maxAttempts, c.backoffBase, c.backoffMax)
	}
	if c.maxBody != 8<<20 {
		t.Errorf("got body limit %d, want 8 MiB", c.maxBody)
	}
}

func TestTheBackoffCeilingDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	c, _ := New("https://x.example", WithRetry(10, 200*time.Millisecond, 5*time.Second))
	c.jitter = func(n int64) int64 { return n } // the ceiling itself
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond,
		3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := c.backoff(i + 1); got != w {
			t.Errorf("attempt %d: got ceiling %v, want %v", i+1, got, w)
		}
	}
	c.jitter = func(n int64) int64 { return 0 }
	if got := c.backoff(1); got != 0 {
		t.Errorf("got %v, want full jitter to allow 0", got)
	}
}

func TestWithRetryOfZeroMeansASingleAttempt(t *testing.T) {
	t.Parallel()
	h, n := scripted(t, nil, 503)
	f := newFake(t, h)
	c := f.client(t, WithRetry(0, time.Millisecond, time.Millisecond))
	if _, err := c.Consent(t.Context(), "c"); !errors.Is(err, ErrServer) {
		t.Errorf("got %v, want ErrServer", err)
	}
	if n.Load() != 1 {
		t.Errorf("got %d attempts, want 1", n.Load())
	}
}
