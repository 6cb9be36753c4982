package klavi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// The tax id of ConsentsByTaxID travels in the query string only: not in the path, a header or a body.
func TestConsentsByTaxIDPutsTheTaxIDInTheQueryStringOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind  TaxIDKind
		taxID string
		param string
	}{
		{Personal, "52998224725", "personalTaxId"},
		{Business, "12ABC34501DE35", "businessTaxId"},
	} {
		t.Run(tc.param, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, []byte(`[]`)) })
			if _, err := f.client(t).ConsentsByTaxID(context.Background(), tc.kind, tc.taxID); err != nil {
				t.Fatal(err)
			}
			calls := f.calls()
			if len(calls) != 1 {
				t.Fatalf("got %d calls, want 1", len(calls))
			}
			got := calls[0]
			if got.Path != "/data/v1/consents" || got.EscapedPath != "/data/v1/consents" {
				t.Errorf("path %q, want /data/v1/consents", got.EscapedPath)
			}
			if got.RawQuery != tc.param+"="+tc.taxID {
				t.Errorf("query %q, want %s=%s", got.RawQuery, tc.param, tc.taxID)
			}
			if len(got.Body) != 0 {
				t.Errorf("body %q, want none", got.Body)
			}
			for _, h := range []string{got.Auth, got.Accept, got.ContentType} {
				if strings.Contains(h, tc.taxID) {
					t.Errorf("header %q carries the tax id", h)
				}
			}
		})
	}
}

// A server error that echoes the tax id in a shape the generic patterns cannot recognise (lower-case
// alphanumeric CNPJ, glued to word characters) must still not reach the error text or the logs.
func TestAnEchoedTaxIDIsRedactedWhateverItsSpelling(t *testing.T) {
	t.Parallel()
	const cnpj = "12ABC34501DE35"
	echo := []byte(`{"statusCode":400,"error":"Bad Request","message":"no consent for id_12ABC34501DE35x ` +
		`or businessTaxId=12abc34501de35 or 12.abc.345/01de-35"}`)
	forms := []string{cnpj, strings.ToLower(cnpj), "12.abc.345/01de-35", "12ABC34501DE35x", "abc34501"}

	calls := map[string]func(c *Client) error{
		"ConsentsByTaxID": func(c *Client) error {
			_, err := c.ConsentsByTaxID(context.Background(), Business, cnpj)
			return err
		},
		"CreateConsent": func(c *Client) error {
			_, err := c.CreateConsent(context.Background(), goldenLinkToken, ConsentRequest{ExternalTrackID: "t-1",
				PersonalTaxID: "52998224725", BusinessTaxID: "12.ABC.345/01DE-35", InstitutionCode: "341",
				RedirectURL: "https://portal.example/cb", ValidityPeriod: 12})
			return err
		},
		"CreateLink": func(c *Client) error {
			_, err := c.CreateLink(context.Background(), LinkRequest{BusinessTaxID: cnpj})
			return err
		},
		"RequestReports": func(c *Client) error {
			_, err := c.RequestReports(context.Background(), ReportRequest{Kind: Business, Level: UserLevel,
				TaxID: cnpj, Products: []string{"pj_checking_account"}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusBadRequest, echo) })
			var logs bytes.Buffer
			c := f.client(t, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			err := call(c)
			if err == nil {
				t.Fatal("got nil, want the 400")
			}
			for _, form := range forms {
				if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(form)) {
					t.Errorf("error %q contains %q", err, form)
				}
				if strings.Contains(strings.ToLower(logs.String()), strings.ToLower(form)) {
					t.Errorf("logs %q contain %q", logs.String(), form)
				}
			}
			if !strings.Contains(err.Error(), "HTTP 400") {
				t.Errorf("error %q lost the status", err)
			}
		})
	}
}

func TestTaxIDForms(t *testing.T) {
	t.Parallel()
	got := taxIDForms("12.abc.345/01de-35", "", "abc")
	for _, want := range []string{"12.abc.345/01de-35", "12.ABC.345/01DE-35", "12abc34501de35", "12ABC34501DE35"} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("forms %v lack %q", got, want)
		}
	}
	for _, g := range got {
		if len(g) < 4 {
			t.Errorf("forms %v contain the short value %q", got, g)
		}
	}
}
