package consent

import (
	"strings"
	"testing"
)

// An encoded result decodes to the same key and arguments, whatever the arguments hold, and never contains the
// store's separators ("; " between results, "dead: " before one).
func TestResultEncoding(t *testing.T) {
	t.Parallel()
	for _, m := range []Msg{
		M(RProcessed),
		M(RStale, "REVOKED"),
		M(RUnknownEvent, "a b; c|d%e+f"),
		M(RRetry, TLKlaviHTTPCode, "416", "4004"),
		M(RRetry, TLLegacy, "Klavi answered HTTP 502"),
		M(RTooLarge, ""),
	} {
		s := EncodeResult(m)
		if strings.ContainsAny(s, " ;") {
			t.Errorf("EncodeResult(%v) = %q holds a separator", m, s)
		}
		got, ok := DecodeResult(s)
		if !ok || !got.Equal(m) {
			t.Errorf("DecodeResult(%q) = %v, %v; want %v", s, got, ok, m)
		}
	}
	for _, s := range []string{"", "processed", "rejected: invalid signature", "wh.processed; wh.unmatched",
		"dead: wh.retry|tl.call_interrupted", "wh.unknown_event|%zz"} {
		if m, ok := DecodeResult(s); ok {
			t.Errorf("DecodeResult(%q) = %v, want not an encoded result", s, m)
		}
	}
	if got := RetryResult(M(TLKlaviHTTP, "500")); got != "wh.retry|tl.klavi_http|500" {
		t.Errorf("RetryResult = %q", got)
	}
}
