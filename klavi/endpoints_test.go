package klavi

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBaseURLsThatAreNotAbsoluteHTTP(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "api.klavi.ai/data/v1", "/data/v1", "ftp://api.klavi.ai", "http://", "https://x/y?q=1",
		"https://user:pw@api.klavi.ai"} {
		t.Run(u, func(t *testing.T) {
			if _, err := New(u); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("New(%q) error = %v, want ErrInvalidArgument", u, err)
			}
		})
	}
	for _, u := range []string{"https://api-sandbox.klavi.ai/data/v1", "http://127.0.0.1:8090/data/v1/"} {
		if _, err := New(u); err != nil {
			t.Errorf("New(%q) error = %v, want nil", u, err)
		}
	}
}

// endpointCase describes one call and everything the fake server must have seen.
type endpointCase struct {
	name     string
	respond  string // golden response file
	call     func(t *testing.T, c *Client)
	method   string
	path     string
	query    map[string]string
	token    string         // exact Authorization token expected
	notToken string         // the other kind, which must never appear
	body     map[string]any // exact JSON body (nil: no body expected)
}

func TestEachEndpointSendsTheDocumentedRequestAndDecodesTheGoldenResponse(t *testing.T) {
	t.Parallel()
	cases := []endpointCase{
		{
			name: "CreateLink posts every documented field with the accessToken", respond: "link.json",
			method: "POST", path: "/data/v1/links", token: goldenAccessToken, notToken: goldenLinkToken,
			body: map[string]any{
				"personalTaxId": "52998224725", "businessTaxId": "11222333000181", "email": "a@b.c", "phone": "+5511999999999",
				"institutionCode": "341", "redirectURL": "https://portal.example/callback",
				"productsCallbackURL": map[string]any{"pf_checking_account": "https://portal.example/r1", "other": "https://portal.example/r2"},
				"externalInfo":        map[string]any{"myTraceId": "t-1"}, "connectionKey": "ck",
				"appLink": "https://app.example/link", "appRedirectURLKey": "rk",
			},
			call: func(t *testing.T, c *Client) {
				now := c.now()
				link, err := c.CreateLink(context.Background(), LinkRequest{
					PersonalTaxID: "52998224725", BusinessTaxID: "11222333000181", Email: "a@b.c", Phone: "+5511999999999",
					InstitutionCode: "341", RedirectURL: "https://portal.example/callback",
					ProductsCallbackURL: map[string]string{"pf_checking_account": "https://portal.example/r1", "other": "https://portal.example/r2"},
					ExternalInfo:        map[string]any{"myTraceId": "t-1"}, ConnectionKey: "ck",
					AppLink: "https://app.example/link", AppRedirectURLKey: "rk",
				})
				if err != nil {
					t.Fatalf("CreateLink: %v", err)
				}
				want := Link{LinkID: "4437b139-8a16-11ee-b636-487b6bad036a",
					LinkURL:   "https://conecte-sandbox.klavi.ai/path?v=" + goldenLinkToken,
					LinkToken: goldenLinkToken, ExpireIn: 1800, ExpiresAt: now.Add(1800 * time.Second)}
				if *link != want {
					t.Errorf("got %+v, want %+v", *link, want)
				}
			},
		},
		{
			name: "CreateLink with no fields sends an empty object", respond: "link.json",
			method: "POST", path: "/data/v1/links", token: goldenAccessToken, notToken: goldenLinkToken,
			body: map[string]any{},
			call: func(t *testing.T, c *Client) {
				if _, err := c.CreateLink(context.Background(), LinkRequest{}); err != nil {
					t.Fatalf("CreateLink: %v", err)
				}
			},
		},
		{
			name: "Institutions uses the linkToken and decodes every field", respond: "institutions.json",
			method: "GET", path: "/data/v1/links/institutions", token: goldenLinkToken, notToken: goldenAccessToken,
			call: func(t *testing.T, c *Client) {
				got, err := c.Institutions(context.Background(), goldenLinkToken)
				if err != nil {
					t.Fatalf("Institutions: %v", err)
				}
				if len(got) != 2 {
					t.Fatalf("got %d institutions, want 2", len(got))
				}
				want := Institution{InstitutionCode: "341", Name: "Itaú",
					Avatar: "https://avatarcredigo.s3.sa-east-1.amazonaws.com/bankLogo/...-itau.svg", InstitutionType: 1,
					BusinessType: "LEGAL", AvailableResources: []string{"REGISTRATION", "ACCOUNTS"},
					OrganizationName: "Itaú Unibanco S.A.", OrganizationID: "9c721898-9ce0-50f1-bf85-05075557850b"}
				if !reflect.DeepEqual(got[0], want) {
					t.Errorf("got %+v, want %+v", got[0], want)
				}
				if !got[1].IsOutage || got[1].IsBeta {
					t.Errorf("got isOutage=%v isBeta=%v for Nubank, want true false", got[1].IsOutage, got[1].IsBeta)
				}
			},
		},
		{
			name: "InstitutionStatuses uses the linkToken", respond: "institutions_status.json",
			method: "GET", path: "/data/v1/links/institutions/status", token: goldenLinkToken, notToken: goldenAccessToken,
			call: func(t *testing.T, c *Client) {
				got, err := c.InstitutionStatuses(context.Background(), goldenLinkToken)
				if err != nil {
					t.Fatalf("InstitutionStatuses: %v", err)
				}
				want := []InstitutionStatus{{"260", "Nubank", "AUTHORISED"}, {"323", "Mercado Pago", "ERROR"}, {"104", "CAIXA", "EXPIRED"}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "CreateConsent posts the documented fields with the linkToken", respond: "consent_created.json",
			method: "POST", path: "/data/v1/consents", token: goldenLinkToken, notToken: goldenAccessToken,
			body: map[string]any{"externalTrackId": "track-1", "personalTaxId": "52998224725", "businessTaxId": "11222333000181",
				"institutionCode": "001", "redirectURL": "https://portal.example/callback", "phone": "+55119", "email": "a@b.c",
				"validityPeriod": float64(12), "clientMetadata": map[string]any{"channel": "web"}},
			call: func(t *testing.T, c *Client) {
				got, err := c.CreateConsent(context.Background(), goldenLinkToken, ConsentRequest{ExternalTrackID: "track-1",
					PersonalTaxID: "52998224725", BusinessTaxID: "11222333000181", InstitutionCode: "001",
					RedirectURL: "https://portal.example/callback", Phone: "+55119", Email: "a@b.c", ValidityPeriod: 12,
					ClientMetadata: map[string]any{"channel": "web"}})
				if err != nil {
					t.Fatalf("CreateConsent: %v", err)
				}
				want := CreatedConsent{ConsentID: "0325412e-e566-4f4e-ac5b-2f4471586b88",
					ConsentRedirectURL: "https://auth.mockbank.poc.raidiam.io/auth?client_id=_UwJuSdGcWfQuNOkrJP0o&scope=openid%20consent%3Aurn%3Araidiambank%3A76bfad6b...",
					ExpireAt:           "2024-11-21T23:59:59Z"}
				if *got != want {
					t.Errorf("got %+v, want %+v", *got, want)
				}
			},
		},
		{
			name: "CreateConsent always sends validityPeriod, even 0", respond: "consent_created.json",
			method: "POST", path: "/data/v1/consents", token: goldenLinkToken, notToken: goldenAccessToken,
			body: map[string]any{"externalTrackId": "track-2", "personalTaxId": "52998224725", "institutionCode": "001",
				"redirectURL": "https://portal.example/callback", "validityPeriod": float64(0)},
			call: func(t *testing.T, c *Client) {
				if _, err := c.CreateConsent(context.Background(), goldenLinkToken, ConsentRequest{ExternalTrackID: "track-2",
					PersonalTaxID: "52998224725", InstitutionCode: "001", RedirectURL: "https://portal.example/callback"}); err != nil {
					t.Fatalf("CreateConsent: %v", err)
				}
			},
		},
		{
			name: "Consent reads one consent with the accessToken", respond: "consent.json",
			method: "GET", path: "/data/v1/consents/ac246093-353b-4310-bd9c-c6ce0b278de8", token: goldenAccessToken, notToken: goldenLinkToken,
			call: func(t *testing.T, c *Client) {
				got, err := c.Consent(context.Background(), "ac246093-353b-4310-bd9c-c6ce0b278de8")
				if err != nil {
					t.Fatalf("Consent: %v", err)
				}
				all := []string{"ACCOUNTS_ALL", "CREDIT_CARDS_ALL", "CREDIT_OPERATIONS_ALL", "REGISTRATION_ALL", "INVESTMENTS_ALL"}
				want := Consent{ConsentID: "ac246093-353b-4310-bd9c-c6ce0b278de8", LinkID: "85a3af9f-e8ab-4be8-86dd-6138e9f2474c",
					ExternalTrackID: "113ee41e-1ecf-41b7-b6a9-c24d7f84bdfd", PersonalTaxID: "16109277672", InstitutionCode: "001",
					Status: StatusAuthorised, PermissionsApply: all, PermissionsGranted: all, ExpireAt: "2024-12-07T23:59:59.999Z",
					CreatedAt: "2023-12-08T09:19:19.253Z", UpdatedAt: "2023-12-08T11:29:50.253Z"}
				if !reflect.DeepEqual(*got, want) {
					t.Errorf("got %+v, want %+v", *got, want)
				}
			},
		},
		{
			name: "ConsentsByTaxID lists a CPF's consents with personalTaxId", respond: "consent_list.json",
			method: "GET", path: "/data/v1/consents", query: map[string]string{"personalTaxId": "16109277672"},
			token: goldenAccessToken, notToken: goldenLinkToken,
			call: func(t *testing.T, c *Client) {
				got, err := c.ConsentsByTaxID(context.Background(), Personal, "16109277672")
				if err != nil {
					t.Fatalf("ConsentsByTaxID: %v", err)
				}
				if len(got) != 2 || got[1].ConsentID != "5f0d2c1e-6a3b-4b0e-9f7e-3c2a1d0e9b8c" || got[1].Status != StatusAuthorised {
					t.Errorf("got %+v, want the two golden consents", got)
				}
			},
		},
		{
			name: "ConsentsByTaxID lists a CNPJ's consents with businessTaxId", respond: "consent_list.json",
			method: "GET", path: "/data/v1/consents", query: map[string]string{"businessTaxId": "12ABC34501DE35"},
			token: goldenAccessToken, notToken: goldenLinkToken,
			call: func(t *testing.T, c *Client) {
				if _, err := c.ConsentsByTaxID(context.Background(), Business, "12ABC34501DE35"); err != nil {
					t.Fatalf("ConsentsByTaxID: %v", err)
				}
			},
		},
		{
			name: "RevokeConsent deletes the documented revoke path with the accessToken", respond: "revoke.json",
			method: "DELETE", path: "/data/v1/consents/ac246093-353b-4310-bd9c-c6ce0b278de8/revoke",
			token: goldenAccessToken, notToken: goldenLinkToken,
			call: func(t *testing.T, c *Client) {
				if err := c.RevokeConsent(context.Background(), "ac246093-353b-4310-bd9c-c6ce0b278de8"); err != nil {
					t.Fatalf("RevokeConsent: %v", err)
				}
			},
		},
	}
	for _, rl := range []struct {
		kind  TaxIDKind
		level ReportLevel
		path  string
		tax   string
		inst  string
	}{
		{Personal, UserLevel, "/data/v1/personal/user-data", "52998224725", ""},
		{Personal, InstitutionLevel, "/data/v1/personal/institution-data", "52998224725", "001"},
		{Business, UserLevel, "/data/v1/business/user-data", "11222333000181", ""},
		{Business, InstitutionLevel, "/data/v1/business/institution-data", "11222333000181", "341"},
	} {
		body := map[string]any{"taxId": rl.tax, "linkId": "link-1", "consentIds": []any{"c-1", "c-2"},
			"products":            []any{"pf_checking_account", "pf_credit_card"},
			"productsCallbackURL": map[string]any{"all": "https://portal.example/webhooks/klavi/reports"},
			"externalInfo":        map[string]any{"k": "v"}}
		if rl.inst != "" {
			body["institutionCode"] = rl.inst
		}
		cases = append(cases, endpointCase{
			name: "RequestReports posts to " + rl.path, respond: "report_request.json",
			method: "POST", path: rl.path, token: goldenAccessToken, notToken: goldenLinkToken, body: body,
			call: func(t *testing.T, c *Client) {
				got, err := c.RequestReports(context.Background(), ReportRequest{Kind: rl.kind, Level: rl.level, TaxID: rl.tax,
					InstitutionCode: rl.inst, LinkID: "link-1", ConsentIDs: []string{"c-1", "c-2"},
					Products:            []string{"pf_checking_account", "pf_credit_card"},
					ProductsCallbackURL: map[string]string{"all": "https://portal.example/webhooks/klavi/reports"},
					ExternalInfo:        map[string]any{"k": "v"}})
				if err != nil {
					t.Fatalf("RequestReports: %v", err)
				}
				if want := (ReportRequestResult{RequestID: "xxxsssaa", Message: "ok"}); *got != want {
					t.Errorf("got %+v, want %+v", *got, want)
				}
			},
		})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := golden(t, tc.respond)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, resp) })
			c := f.client(t, WithNow(newClock().Now))
			tc.call(t, c)

			calls := f.calls()
			if len(calls) != 1 {
				t.Fatalf("got %d API calls, want exactly 1 (no retries on success)", len(calls))
			}
			got := calls[0]
			if got.Method != tc.method || got.Path != tc.path {
				t.Errorf("got %s %s, want %s %s", got.Method, got.Path, tc.method, tc.path)
			}
			if got.Auth != "Bearer "+tc.token {
				t.Errorf("got Authorization %q, want %q", got.Auth, "Bearer "+tc.token)
			}
			if strings.Contains(got.Auth, tc.notToken) {
				t.Errorf("Authorization carries the wrong token kind: %q", got.Auth)
			}
			if got.Accept != "application/json" || got.ContentType != "application/json" {
				t.Errorf("got Accept %q Content-Type %q, want application/json for both", got.Accept, got.ContentType)
			}
			wantQuery := map[string][]string{}
			for k, v := range tc.query {
				wantQuery[k] = []string{v}
			}
			if gotQuery := parseQuery(t, got.RawQuery); !reflect.DeepEqual(gotQuery, wantQuery) {
				t.Errorf("got query %v, want %v", gotQuery, wantQuery)
			}
			if tc.body == nil {
				if len(got.Body) != 0 {
					t.Errorf("got body %q, want none", got.Body)
				}
				return
			}
			gotBody := decodeMap(t, got.Body)
			if !reflect.DeepEqual(keys(gotBody), keys(tc.body)) {
				t.Errorf("got JSON names %v, want exactly %v", keys(gotBody), keys(tc.body))
			}
			for k, want := range tc.body {
				if !reflect.DeepEqual(gotBody[k], want) {
					t.Errorf("field %q: got %#v, want %#v", k, gotBody[k], want)
				}
			}
		})
	}
}

func TestTokenCallsSendTheKeysAndTheCurrentToken(t *testing.T) {
	t.Parallel()
	clock := newClock()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, golden(t, "consent.json")) })
	c := f.client(t, WithNow(clock.Now))
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatalf("Consent: %v", err)
	}
	clock.Advance(1700 * time.Second)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatalf("Consent: %v", err)
	}
	all := f.all()
	var auth, refresh *recorded
	for i := range all {
		switch all[i].Path {
		case "/data/v1/auth":
			auth = &all[i]
		case "/data/v1/refresh":
			refresh = &all[i]
		}
	}
	if auth == nil || refresh == nil {
		t.Fatalf("got auth=%v refresh=%v, want both called", auth != nil, refresh != nil)
	}
	if auth.Method != "POST" || auth.Auth != "" {
		t.Errorf("got /auth %s with Authorization %q, want POST without Authorization", auth.Method, auth.Auth)
	}
	body := decodeMap(t, auth.Body)
	if want := map[string]any{"accessKey": testAccessKey, "secretKey": testSecretKey}; !reflect.DeepEqual(body, want) {
		t.Errorf("got /auth body %v, want %v", body, want)
	}
	if refresh.Method != "GET" || refresh.Auth != "Bearer "+goldenAccessToken || len(refresh.Body) != 0 {
		t.Errorf("got /refresh %s auth %q body %q, want GET with the current accessToken and no body",
			refresh.Method, refresh.Auth, refresh.Body)
	}
}

func TestInvalidArgumentsFailBeforeAnythingIsSent(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Errorf("unexpected call %s %s", r.Method, r.URL.Path) })
	c := f.client(t)
	ctx := context.Background()
	okConsent := ConsentRequest{ExternalTrackID: "t", PersonalTaxID: "52998224725", InstitutionCode: "001",
		RedirectURL: "https://p/cb", ValidityPeriod: 12}
	cases := []struct {
		name string
		call func() error
		also error
	}{
		{"a report request at institution level without institutionCode", func() error {
			_, err := c.RequestReports(ctx, ReportRequest{Kind: Personal, Level: InstitutionLevel, TaxID: "1", Products: []string{"pf_checking_account"}})
			return err
		}, nil},
		{"a user-level report request with an institutionCode", func() error {
			_, err := c.RequestReports(ctx, ReportRequest{Kind: Business, Level: UserLevel, TaxID: "1", InstitutionCode: "341", Products: []string{"pj_checking_account"}})
			return err
		}, nil},
		{"a report request without products", func() error {
			_, err := c.RequestReports(ctx, ReportRequest{Kind: Personal, TaxID: "1"})
			return err
		}, ErrEmptyProducts},
		{"a report request without taxId", func() error {
			_, err := c.RequestReports(ctx, ReportRequest{Products: []string{"pf_checking_account"}})
			return err
		}, nil},
		{"a report request with an unknown kind", func() error {
			_, err := c.RequestReports(ctx, ReportRequest{Kind: 7, TaxID: "1", Products: []string{"x"}})
			return err
		}, nil},
		{"a callback map mixing all with a product", func() error {
			_, err := c.RequestReports(ctx, ReportRequest{TaxID: "1", Products: []string{"x"},
				ProductsCallbackURL: map[string]string{"all": "https://a", "pf_credit_card": "https://b"}})
			return err
		}, nil},
		{"a link whose callback map mixes all with a product", func() error {
			_, err := c.CreateLink(ctx, LinkRequest{PersonalTaxID: "52998224725",
				ProductsCallbackURL: map[string]string{"all": "https://a", "pf_checking_account": "https://b"}})
			return err
		}, nil},
		{"a link whose callback map has an empty URL", func() error {
			_, err := c.CreateLink(ctx, LinkRequest{ProductsCallbackURL: map[string]string{"pf_credit_card": ""}})
			return err
		}, nil},
		{"a link with appLink but no appRedirectURLKey", func() error {
			_, err := c.CreateLink(ctx, LinkRequest{AppLink: "https://app"})
			return err
		}, nil},
		{"a consent without linkToken", func() error { _, err := c.CreateConsent(ctx, "", okConsent); return err }, nil},
		{"a consent with validityPeriod 6", func() error {
			r := okConsent
			r.ValidityPeriod = 6
			_, err := c.CreateConsent(ctx, goldenLinkToken, r)
			return err
		}, nil},
		{"a consent without externalTrackId", func() error {
			r := okConsent
			r.ExternalTrackID = ""
			_, err := c.CreateConsent(ctx, goldenLinkToken, r)
			return err
		}, nil},
		{"a consent without any tax id", func() error {
			r := okConsent
			r.PersonalTaxID = ""
			_, err := c.CreateConsent(ctx, goldenLinkToken, r)
			return err
		}, nil},
		{"institutions without linkToken", func() error { _, err := c.Institutions(ctx, ""); return err }, nil},
		{"a consent read without id", func() error { _, err := c.Consent(ctx, ""); return err }, nil},
		{"a revoke without id", func() error { return c.RevokeConsent(ctx, "") }, nil},
		{"a consent list without tax id", func() error { _, err := c.ConsentsByTaxID(ctx, Personal, ""); return err }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("got %v, want ErrInvalidArgument", err)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("got %v, want it to also match %v", err, tc.also)
			}
		})
	}
	if n := len(f.all()); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

func TestCallsNeedingAnAccessTokenFailWithoutCredentials(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, golden(t, "institutions.json"))
	})
	c, err := New(f.srv.URL + "/data/v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Consent(context.Background(), "c-1"); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("got %v, want ErrNoCredentials", err)
	}
	if _, err := c.Institutions(context.Background(), goldenLinkToken); err != nil {
		t.Errorf("linkToken calls need no keys; got %v", err)
	}
}

func TestTheConsentIDIsPathEscaped(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, golden(t, "consent.json")) })
	c := f.client(t)
	if _, err := c.Consent(context.Background(), "../auth?x=1"); err != nil {
		t.Fatalf("Consent: %v", err)
	}
	if got, want := f.calls()[0].EscapedPath, "/data/v1/consents/..%2Fauth%3Fx=1"; got != want {
		t.Errorf("got path %q, want %q (escaped on the wire, one segment)", got, want)
	}
	if got := f.calls()[0].RawQuery; got != "" {
		t.Errorf("got query %q, want none", got)
	}
}

func parseQuery(t *testing.T, raw string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if raw == "" {
		return out
	}
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = append(out[k], v)
	}
	return out
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
