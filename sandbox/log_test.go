package sandbox

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/internal/logbuf"
)

func TestLogsCarryNoSecretsOrTaxIDs(t *testing.T) {
	t.Parallel()
	var buf logbuf.Buffer
	e := newEnv(t, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.AutoReports = true
	})
	e.rc.status = func(n int, r received) int {
		if n == 0 {
			return 500 // exercise the retry path too
		}
		return 200
	}
	f := e.startFlow(cpfApprove, "11.222.333/0001-81", nil)
	approve(t, e, f)
	e.mustDo(200, "GET", "/consents?personalTaxId=52998224725", f.access, nil, nil)
	trackID := e.consent(f.access, f.created.ConsentID).ExternalTrackID
	e.do("POST", "/auth", "", authRequest{AccessKey: testAccessKey, SecretKey: "wrong"})
	waitFor(t, "reports", func() bool { return len(e.rc.reports()) == 2 })

	out := buf.String()
	u := f.created.ConsentRedirectURL
	ticket := u[strings.Index(u, "t=")+2:]
	for _, secret := range []string{"52998224725", "529.982.247", "11222333000181", "11.222.333",
		f.access, f.linkToken, testSecretKey, testAccessKey, ticket, trackID} {
		if secret != "" && strings.Contains(out, secret) {
			t.Errorf("log contains a secret or tax id: %q", secret)
		}
	}
	for _, want := range []string{`"route":"/data/v1/consents/{consentID}"`, `"route":"/bank/authorize"`, `"status":401`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
