// The log scanner other tests use to prove that no valid CPF/CNPJ, secret value or piece of a request body or
// callback query reaches a log line, and a test of the scanner itself.

package handlers

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/klavi/taxid"
)

// Patterns of the log scan (docs/reliability.md#log-scan): a CPF or a (numeric or alphanumeric) CNPJ, formatted or
// not, standing alone (not inside a longer run of letters and digits, such as a hash or a timestamp).
var (
	logCPF  = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(\d{3}\.?\d{3}\.?\d{3}-?\d{2})(?:$|[^0-9A-Za-z])`)
	logCNPJ = regexp.MustCompile(`(?:^|[^0-9A-Za-z])([0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2})(?:$|[^0-9A-Za-z])`)
	// Fragments of webhook or report bodies and of the callback query: none may be logged.
	logBodyMarkers = []string{`"payload"`, `partnerAppId`, `"eventName":`, `productReportId":`, `external_track_id=`,
		`personalTaxId":`, `businessTaxId":`, `enquiryCpf`, `/bank/`}
)

// assertCleanLogs fails the test when the captured log output holds a CPF/CNPJ that passes the check digits,
// any of the given secret values (tokens, track ids, keys), or a piece of a request body or callback query.
func assertCleanLogs(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, f := range logFindings(logs, secrets...) {
		t.Error(f)
	}
}

func logFindings(logs string, secrets ...string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if line == "" {
			continue
		}
		for _, m := range logCPF.FindAllStringSubmatch(line, -1) {
			if _, err := taxid.ValidateCPF(m[1]); err == nil {
				out = append(out, fmt.Sprintf("log line holds a valid CPF %s: %.300s", taxid.Mask(m[1]), line))
			}
		}
		for _, m := range logCNPJ.FindAllStringSubmatch(line, -1) {
			if _, err := taxid.ValidateCNPJ(m[1]); err == nil {
				out = append(out, fmt.Sprintf("log line holds a valid CNPJ: %.300s", line))
			}
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				out = append(out, fmt.Sprintf("log line holds a secret value (%.6s…): %.300s", s, line))
			}
		}
		plain := strings.ReplaceAll(line, `\"`, `"`) // slog's text handler escapes quotes inside values
		for _, m := range logBodyMarkers {
			if strings.Contains(plain, m) {
				out = append(out, fmt.Sprintf("log line holds body or query text %q: %.300s", m, line))
			}
		}
	}
	return out
}

func TestLogScannerCatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		bad  bool
	}{
		{`level=INFO msg="http request" route=/start status=303`, false},
		{`msg=x err="bad 529.982.247-25"`, true},
		{`msg=x v=52998224725`, true},
		{`msg=x v=52998224724`, false}, // wrong check digit: not a CPF
		{`msg=x v=***.982.247-**`, false},
		{`msg=x v=12.ABC.345/01DE-35`, true},
		{`msg=x v=11222333000181`, true},
		{`msg=x hash=a52998224725b`, false},
		{`msg=x at=1764067200000`, false},
		{`msg=x body="[{\"payload\":{}}]"`, true},
		{`msg=x tok=token-3`, true},
	} {
		if got := len(logFindings(tc.line, "token-3")) > 0; got != tc.bad {
			t.Errorf("logFindings(%q) found=%v, want %v", tc.line, got, tc.bad)
		}
	}
}
