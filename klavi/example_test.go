package klavi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/klavi-demo/portal/klavi"
)

// A canned Klavi answering with the golden samples, so that the example runs offline.
func exampleServer() *httptest.Server {
	files := map[string]string{
		"POST /data/v1/auth":                   "auth.json",
		"POST /data/v1/links":                  "link.json",
		"GET /data/v1/links/institutions":      "institutions.json",
		"POST /data/v1/consents":               "consent_created.json",
		"GET /data/v1/consents/{id}":           "consent.json",
		"POST /data/v1/personal/user-data":     "report_request.json",
		"DELETE /data/v1/consents/{id}/revoke": "revoke.json",
	}
	mux := http.NewServeMux()
	for pattern, file := range files {
		body, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			panic(err)
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	}
	return httptest.NewServer(mux)
}

func Example_apiOnlyFlow() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	cpf := "52998224725"

	c, err := klavi.New(srv.URL+"/data/v1", klavi.WithCredentials("demo-access-key", "demo-secret-key"))
	if err != nil {
		panic(err)
	}
	link, err := c.CreateLink(ctx, klavi.LinkRequest{PersonalTaxID: cpf})
	if err != nil {
		panic(err)
	}
	insts, err := c.Institutions(ctx, link.LinkToken)
	if err != nil {
		panic(err)
	}
	cc, err := c.CreateConsent(ctx, link.LinkToken, klavi.ConsentRequest{ExternalTrackID: "state-1",
		PersonalTaxID: cpf, InstitutionCode: insts[0].InstitutionCode, RedirectURL: "https://portal.example/callback",
		ValidityPeriod: 12})
	if err != nil {
		panic(err)
	}
	// ... the browser goes to cc.ConsentRedirectURL and comes back to the redirectURL ...
	cs, err := c.Consent(ctx, cc.ConsentID)
	if err != nil {
		panic(err)
	}
	fmt.Println("consent", cs.Status, "terminal:", cs.Status.Terminal())
	if cs.Status == klavi.StatusAuthorised {
		res, err := c.RequestReports(ctx, klavi.ReportRequest{Kind: klavi.Personal, Level: klavi.UserLevel,
			TaxID: cpf, LinkID: link.LinkID, Products: []string{"pf_checking_account"}})
		if err != nil {
			panic(err)
		}
		fmt.Println("reports requested:", res.RequestID)
	}
	// Output:
	// consent AUTHORISED terminal: false
	// reports requested: xxxsssaa
}

func ExampleVerifySignature() {
	body := []byte(`[{"eventId":"e-1","eventName":"consent_authorised","payload":{}}]`)
	sig := klavi.Sign("demo-secret-key", body) // what Klavi puts in X-Klavi-Signature
	if !klavi.VerifySignature("demo-secret-key", body, sig) {
		fmt.Println("reject with 401")
		return
	}
	events, err := klavi.ParseEvents(body)
	if err != nil {
		fmt.Println("reject with 400")
		return
	}
	status, ok := events[0].EventName.ConsentStatus()
	fmt.Println(events[0].EventID, status, ok)
	// Output: e-1 AUTHORISED true
}

func ExampleAmount_Units() {
	u, _ := klavi.Amount("1000.0400").Units()
	fmt.Println(u, klavi.FormatUnits(u-10000500))
	// Output: 10000400 -0.0100
}
