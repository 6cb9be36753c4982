package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAuthBadKeysExactBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name           string
		access, secret string
	}{
		{"wrong secret", testAccessKey, "nope"},
		{"wrong access", "nope", testSecretKey},
		{"swapped", testSecretKey, testAccessKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("POST", "/auth", "", authRequest{AccessKey: tc.access, SecretKey: tc.secret})
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", code)
			}
			want := `{"statusCode":401,"error":"Unauthorized","message":"Invalid accessKey or secretKey"}`
			if string(body) != want {
				t.Errorf("body %s, want %s", body, want)
			}
			sameKeys(t, "auth_error.json", body)
		})
	}
}

func TestAuthMalformedAndMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"malformed", `{"accessKey":`, 400},
		{"trailing data", `{"accessKey":"a","secretKey":"b"} {}`, 400},
		{"empty", ``, 400},
		{"missing secret", `{"accessKey":"demo-access-key"}`, 400},
		{"unknown fields ignored", `{"accessKey":"demo-access-key","secretKey":"demo-secret-key","extra":1}`, 200},
		{"too large", `{"accessKey":"` + strings.Repeat("a", 1<<20) + `"}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("POST", "/auth", "", tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%s)", code, tc.want, body)
			}
			if code == 400 {
				var ew errorWire
				if err := json.Unmarshal(body, &ew); err != nil || ew.StatusCode != 400 || ew.Error != "Bad Request" || ew.Message == "" {
					t.Errorf("error body %s", body)
				}
			}
		})
	}
}

func TestContractShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, body := e.do("POST", "/auth", "", authRequest{AccessKey: testAccessKey, SecretKey: testSecretKey})
	if code != 200 {
		t.Fatalf("auth status %d", code)
	}
	sameKeys(t, "auth_response.json", body)
	var tr tokenResponse
	_ = json.Unmarshal(body, &tr)
	if parts := strings.Split(tr.AccessToken, "."); len(parts) != 3 || tr.ExpireIn != 1800 {
		t.Errorf("token %d parts, expireIn %d; want 3 parts, 1800", len(parts), tr.ExpireIn)
	}
	access := tr.AccessToken

	body = e.mustDo(200, "GET", "/refresh", access, nil, nil)
	sameKeys(t, "auth_response.json", body)

	body = e.mustDo(200, "POST", "/links", access, map[string]any{"personalTaxId": cpfApprove}, nil)
	sameKeys(t, "link_response.json", body)
	var lr linkResponse
	_ = json.Unmarshal(body, &lr)

	body = e.mustDo(200, "GET", "/links/institutions", lr.LinkToken, nil, nil)
	var insts []json.RawMessage
	if err := json.Unmarshal(body, &insts); err != nil || len(insts) < 15 {
		t.Fatalf("institutions: %v, %d entries", err, len(insts))
	}
	for _, raw := range insts {
		var w InstitutionWire
		_ = json.Unmarshal(raw, &w)
		if w.InstitutionType == institutionTypeOpenFinance {
			sameKeys(t, "institutions.json", []byte("["+string(raw)+"]"))
			break
		}
	}

	req := consentBody(cpfApprove, "", "341")
	body = e.mustDo(200, "POST", "/consents", lr.LinkToken, req, nil)
	sameKeys(t, "consent_created.json", body)
	var cc createdConsentWire
	_ = json.Unmarshal(body, &cc)
	if !strings.HasPrefix(cc.ConsentRedirectURL, e.srv.URL+"/bank/authorize?t=") {
		t.Errorf("consentRedirectURL %q does not point at the bank page", cc.ConsentRedirectURL)
	}
	if _, err := time.Parse(time.RFC3339, cc.ExpireAt); err != nil {
		t.Errorf("expireAt %q: %v", cc.ExpireAt, err)
	}

	body = e.mustDo(200, "GET", "/consents/"+cc.ConsentID, access, nil, nil)
	sameKeys(t, "consent.json", body)
	var cw consentWire
	_ = json.Unmarshal(body, &cw)
	if cw.Status != statusStarted || cw.PersonalTaxID != "52998224725" || cw.BusinessTaxID != "" || cw.LinkID != lr.LinkID {
		t.Errorf("consent %+v", cw)
	}
	if cw.ExpireAt != "2027-03-10T23:59:59.999Z" {
		t.Errorf("expireAt %s, want end of day 12 months ahead", cw.ExpireAt)
	}

	body = e.mustDo(200, "GET", "/consents?personalTaxId=52998224725", access, nil, nil)
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 {
		t.Fatalf("list: %v, %d", err, len(list))
	}
	sameKeys(t, "consent.json", list[0])

	body = e.mustDo(200, "GET", "/links/institutions/status", lr.LinkToken, nil, nil)
	var st []institutionStatusWire
	_ = json.Unmarshal(body, &st)
	if len(st) != 1 || st[0].InstitutionCode != "341" || st[0].Status != statusStarted || st[0].Name != "Itaú" {
		t.Errorf("status %s", body)
	}
	sameKeys(t, "institution_status.json", body)

	body = e.mustDo(200, "DELETE", "/consents/"+cc.ConsentID+"/revoke", access, nil, nil)
	sameKeys(t, "revoke_response.json", body)
}

func TestConsentRequestSampleDecodes(t *testing.T) {
	t.Parallel()
	var req consentRequest
	if err := json.Unmarshal(sample(t, "consent_request.json"), &req); err != nil {
		t.Fatal(err)
	}
	if req.ExternalTrackID != "string" || req.ValidityPeriod == nil || *req.ValidityPeriod != 12 || req.RedirectURL != "string" {
		t.Errorf("decoded %+v", req)
	}
}

func TestTokenKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access := e.accessToken()
	lr := e.link(access, map[string]any{})
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
	}{
		{"accessToken on POST /consents", "POST", "/consents", access, consentBody(cpfApprove, "", "341")},
		{"accessToken on institutions", "GET", "/links/institutions", access, nil},
		{"accessToken on institution status", "GET", "/links/institutions/status", access, nil},
		{"linkToken on GET /consents/{id}", "GET", "/consents/x", lr.LinkToken, nil},
		{"linkToken on POST /links", "POST", "/links", lr.LinkToken, map[string]any{}},
		{"linkToken on refresh", "GET", "/refresh", lr.LinkToken, nil},
		{"linkToken on revoke", "DELETE", "/consents/x/revoke", lr.LinkToken, nil},
		{"linkToken on report request", "POST", "/personal/user-data", lr.LinkToken, map[string]any{}},
		{"no token", "GET", "/consents/x", "", nil},
		{"garbage token", "GET", "/consents/x", "a.b.c", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.path, tc.token, tc.body)
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401 (%s)", code, body)
			}
		})
	}
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.TokenTTL = 100 * time.Second })
	access := e.accessToken()
	lr := e.link(access, map[string]any{})
	e.clock.Advance(60 * time.Second)
	var tr tokenResponse
	e.mustDo(200, "GET", "/refresh", access, nil, &tr)
	if tr.AccessToken == access || tr.ExpireIn != 100 {
		t.Fatalf("refresh gave %+v", tr)
	}
	// The old token stays valid until its own expiry.
	e.mustDo(200, "POST", "/links", access, map[string]any{}, nil)
	e.clock.Advance(40 * time.Second) // old token and link token at 100 s: expired
	for _, tc := range []struct{ name, method, path, token string }{
		{"expired accessToken", "POST", "/links", access},
		{"expired accessToken on refresh", "GET", "/refresh", access},
		{"expired linkToken", "GET", "/links/institutions", lr.LinkToken},
	} {
		if code, _ := e.do(tc.method, tc.path, tc.token, map[string]any{}); code != 401 {
			t.Errorf("%s: status %d, want 401", tc.name, code)
		}
	}
	// The refreshed token lives 100 s from its own issue.
	e.mustDo(200, "POST", "/links", tr.AccessToken, map[string]any{}, nil)
	e.clock.Advance(60 * time.Second)
	if code, _ := e.do("POST", "/links", tr.AccessToken, map[string]any{}); code != 401 {
		t.Errorf("refreshed token after its expiry: status %d, want 401", code)
	}
}

func TestCreateLinkValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access := e.accessToken()
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
		code int
	}{
		{"empty body is fine", map[string]any{}, 200, 0},
		{"invalid CPF", map[string]any{"personalTaxId": "529.982.247-24"}, 400, 400},
		{"invalid CNPJ", map[string]any{"businessTaxId": "11.222.333/0001-80"}, 400, 400},
		{"alphanumeric CNPJ", map[string]any{"businessTaxId": "12.ABC.345/01DE-35"}, 200, 0},
		{"relative redirect", map[string]any{"redirectURL": "/callback"}, 400, 400},
		{"javascript redirect", map[string]any{"redirectURL": "javascript:alert(1)"}, 400, 400},
		{"appLink without key", map[string]any{"appLink": "https://app.example/x"}, 400, 400},
		{"unknown institution", map[string]any{"institutionCode": "999"}, 416, 4004},
		{"all mixed", map[string]any{"productsCallbackURL": map[string]string{"all": "https://a.example/x", "other": "https://b.example/y"}}, 416, 4006},
		{"callback not absolute", map[string]any{"productsCallbackURL": map[string]string{"other": "ftp://b.example/y"}}, 416, 4006},
		{"externalInfo not an object", map[string]any{"externalInfo": "x"}, 400, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("POST", "/links", access, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%s)", code, tc.want, body)
			}
			if tc.code != 0 {
				var ew errorWire
				_ = json.Unmarshal(body, &ew)
				if ew.StatusCode != tc.code {
					t.Errorf("statusCode %d, want %d", ew.StatusCode, tc.code)
				}
			}
		})
	}
}

func TestCreateConsentValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access := e.accessToken()
	lr := e.link(access, map[string]any{})
	with := func(k string, v any) map[string]any {
		b := consentBody(cpfApprove, "", "341")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	dupe := consentBody(cpfApprove, "", "341")
	e.mustDo(200, "POST", "/consents", lr.LinkToken, dupe, nil)
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
		code int
	}{
		{"missing externalTrackId", with("externalTrackId", nil), 400, 400},
		{"blank externalTrackId", with("externalTrackId", "  "), 400, 400},
		{"missing institutionCode", with("institutionCode", nil), 400, 400},
		{"missing redirectURL", with("redirectURL", nil), 400, 400},
		{"relative redirectURL", with("redirectURL", "callback"), 400, 400},
		{"missing validityPeriod", with("validityPeriod", nil), 400, 400},
		{"validityPeriod 6", with("validityPeriod", 6), 400, 400},
		{"validityPeriod 0", with("validityPeriod", 0), 200, 0},
		{"missing personalTaxId", with("personalTaxId", nil), 400, 400},
		{"business without CPF", func() map[string]any {
			b := with("personalTaxId", nil)
			b["businessTaxId"] = "11222333000181"
			return b
		}(), 200, 0},
		{"bad CPF", with("personalTaxId", "111.111.111-11"), 400, 400},
		{"CPF with letters", with("personalTaxId", "5299822472A"), 400, 400},
		{"bad CNPJ", with("businessTaxId", "12.ABC.345/01DE-36"), 400, 400},
		{"unknown institution", with("institutionCode", "999"), 416, 4004},
		{"institution in outage", with("institutionCode", "212"), 416, 4004},
		{"open data institution", with("institutionCode", "od-ame"), 416, 4004},
		{"duplicate externalTrackId", with("externalTrackId", dupe["externalTrackId"]), 409, 409},
		{"malformed", nil, 400, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any = tc.body
			if tc.body == nil {
				body = `{"externalTrackId": 1`
			}
			code, out := e.do("POST", "/consents", lr.LinkToken, body)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%s)", code, tc.want, out)
			}
			if tc.code != 0 {
				var ew errorWire
				_ = json.Unmarshal(out, &ew)
				if ew.StatusCode != tc.code || ew.Message == "" {
					t.Errorf("error body %s, want statusCode %d", out, tc.code)
				}
			}
		})
	}
}

func TestGetListRevokeConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	if code, _ := e.do("GET", "/consents/nope", f.access, nil); code != 404 {
		t.Errorf("unknown consent: status %d, want 404", code)
	}
	if code, _ := e.do("DELETE", "/consents/nope/revoke", f.access, nil); code != 404 {
		t.Errorf("revoke unknown: status %d, want 404", code)
	}
	for _, q := range []string{"", "?personalTaxId=123", "?businessTaxId=11222333000180", "?personalTaxId=52998224725&businessTaxId=11222333000181"} {
		if code, _ := e.do("GET", "/consents"+q, f.access, nil); code != 400 {
			t.Errorf("list %q: status %d, want 400", q, code)
		}
	}
	var list []consentWire
	e.mustDo(200, "GET", "/consents?personalTaxId="+url.QueryEscape(cpfApprove), f.access, nil, &list)
	if len(list) != 1 || list[0].ConsentID != f.created.ConsentID {
		t.Fatalf("list by formatted CPF: %+v", list)
	}
	e.mustDo(200, "GET", "/consents?businessTaxId=11222333000181", f.access, nil, &list)
	if len(list) != 0 {
		t.Errorf("list by unrelated CNPJ: %d consents, want 0", len(list))
	}

	b := newBrowser(t)
	if p := e.walk(b, f.created.ConsentRedirectURL, "authorise", "accept"); p.status != 302 {
		t.Fatalf("flow ended with %d", p.status)
	}
	e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil)
	if c := e.consent(f.access, f.created.ConsentID); c.Status != statusRevoked {
		t.Errorf("status %s, want REVOKED", c.Status)
	}
	e.mustDo(200, "DELETE", "/consents/"+f.created.ConsentID+"/revoke", f.access, nil, nil) // idempotent
	waitFor(t, "consent_revoked", func() bool {
		n := e.rc.eventNames(t)
		return len(n) > 0 && n[len(n)-1] == "consent_revoked"
	})
	if got := strings.Join(e.rc.eventNames(t), ","); got != "link_created,consent_authorised,consent_revoked" {
		t.Errorf("events %s", got)
	}
	// A rejected consent cannot be revoked.
	f2 := e.startFlow(cpfApprove, "", nil)
	e.walk(newBrowser(t), f2.created.ConsentRedirectURL, "deny", "")
	code, body := e.do("DELETE", "/consents/"+f2.created.ConsentID+"/revoke", f.access, nil)
	if code != 416 || !strings.Contains(string(body), `"statusCode":4001`) {
		t.Errorf("revoke REJECTED: %d %s, want 416/4001", code, body)
	}
}

func TestReportRequestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.startFlow(cpfApprove, "", nil)
	base := func() map[string]any {
		return map[string]any{"taxId": "52998224725", "linkId": f.linkID, "products": []string{"pf_checking_account"}}
	}
	with := func(k string, v any) map[string]any {
		b := base()
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name, path string
		body       map[string]any
		want, code int
	}{
		{"not authorised yet", "/personal/user-data", base(), 416, 4001},
		{"unknown product", "/personal/user-data", with("products", []string{"income"}), 416, 4002},
		{"business product on personal", "/personal/user-data", with("products", []string{"pj_checking_account"}), 416, 4002},
		{"empty products", "/personal/user-data", with("products", []string{}), 416, 4005},
		{"missing products", "/personal/user-data", with("products", nil), 416, 4005},
		{"all mixed", "/personal/user-data", with("productsCallbackURL", map[string]string{"all": "https://a.example/x", "pf_credit_card": "https://a.example/y"}), 416, 4006},
		{"missing taxId", "/personal/user-data", with("taxId", nil), 400, 400},
		{"CNPJ on personal", "/personal/user-data", with("taxId", "11222333000181"), 400, 400},
		{"institution level without institution", "/personal/institution-data", base(), 400, 400},
		{"institution in outage", "/personal/institution-data", with("institutionCode", "212"), 416, 4004},
		{"all at institution level", "/personal/institution-data", map[string]any{"taxId": "52998224725", "institutionCode": "341", "products": []string{"all"}}, 416, 4002},
		{"unknown institution", "/business/institution-data", map[string]any{"taxId": "11222333000181", "institutionCode": "999", "products": []string{"pj_checking_account"}}, 416, 4004},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := e.do("POST", tc.path, f.access, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%s)", code, tc.want, out)
			}
			var ew errorWire
			_ = json.Unmarshal(out, &ew)
			if ew.StatusCode != tc.code {
				t.Errorf("statusCode %d, want %d", ew.StatusCode, tc.code)
			}
		})
	}
}

// The pseudo-product `all` belongs to the user-level endpoints; on */institution-data it is the wrong level, 416
// with business code 4002 in Klavi's error body (docs/klavi.md#errors), even when a consent would cover the
// request.
func TestAllProductsOnlyAtUserLevel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pf := e.startFlow(cpfApprove, "", nil)
	approve(t, e, pf)
	pj := e.startFlow(cpfApprove, "11.222.333/0001-81", nil)
	approve(t, e, pj)
	for _, tc := range []struct {
		name, path string
		body       map[string]any
	}{
		{"personal", "/personal/institution-data", map[string]any{"taxId": cpfApprove, "institutionCode": "341", "products": []string{"all"}}},
		{"personal, all among others", "/personal/institution-data", map[string]any{"taxId": cpfApprove, "institutionCode": "341", "products": []string{"pf_checking_account", "all"}}},
		{"business", "/business/institution-data", map[string]any{"taxId": "11222333000181", "institutionCode": "341", "products": []string{"all"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("POST", tc.path, pf.access, tc.body)
			if code != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("status %d, want 416 (%s)", code, body)
			}
			sameKeys(t, "auth_error.json", body) // Klavi's error shape: statusCode, error, message
			var ew errorWire
			if err := json.Unmarshal(body, &ew); err != nil {
				t.Fatal(err)
			}
			if ew.StatusCode != 4002 || ew.Error != "Invalid product info" || !strings.Contains(ew.Message, "user-level") {
				t.Errorf("error body %s, want statusCode 4002, error \"Invalid product info\" and a message naming the level", body)
			}
		})
	}
	// The user-level endpoints still take it.
	var res reportRequestResult
	e.mustDo(200, "POST", "/personal/user-data", pf.access, map[string]any{"taxId": cpfApprove, "products": []string{"all"}}, &res)
	e.mustDo(200, "POST", "/business/user-data", pf.access, map[string]any{"taxId": "11222333000181", "products": []string{"all"}}, nil)
	if res.RequestID == "" || res.Message != "ok" {
		t.Errorf("user-level all: %+v", res)
	}
	// No report request was accepted at institution level: only the two user-level ones are received.
	waitFor(t, "the user-level reports", func() bool { return len(e.rc.reports()) == 5 })
	n := 0
	for _, name := range e.rc.eventNames(t) {
		if name == "product_request_received" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d product_request_received events, want 2 (the user-level requests)", n)
	}
}

func TestLogoAndIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, err := http.Get(e.srv.URL + "/logos/341.svg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Errorf("logo: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/logos/999.svg", "/logos/341.png"} {
		resp, err := http.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
	p := newBrowser(t).get(e.srv.URL + "/")
	if p.status != 200 || !p.has("scenario-table") || !strings.Contains(p.body, "321.321.321-78") {
		t.Errorf("index: status %d, scenario table missing", p.status)
	}
}

// GET /links/institutions/status reports every institution chosen in the link (docs/klavi.md#endpoints): one entry
// per institution, in the order first chosen, with the status of its latest consent; consents of other links are
// not there.
func TestInstitutionStatusCoversEveryConsentOfTheLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	access := e.accessToken()
	lr := e.link(access, map[string]any{"personalTaxId": cpfApprove})
	other := e.link(access, map[string]any{"personalTaxId": cpfApprove})
	create := func(token, inst string) string {
		t.Helper()
		var cc createdConsentWire
		e.mustDo(200, "POST", "/consents", token, consentBody(cpfApprove, "", inst), &cc)
		return cc.ConsentID
	}
	status := func(token string) []institutionStatusWire {
		t.Helper()
		var st []institutionStatusWire
		e.mustDo(200, "GET", "/links/institutions/status", token, nil, &st)
		return st
	}
	if st := status(lr.LinkToken); len(st) != 0 {
		t.Fatalf("a link without consents reports %+v", st)
	}
	first := create(lr.LinkToken, "341")
	create(lr.LinkToken, "260")
	create(other.LinkToken, "104")
	st := status(lr.LinkToken)
	if len(st) != 2 || st[0].InstitutionCode != "341" || st[1].InstitutionCode != "260" ||
		st[0].Status != statusStarted || st[1].Status != statusStarted || st[1].Name == "" {
		t.Fatalf("two institutions on the link: %+v", st)
	}
	// The first Itaú consent is cancelled and Itaú chosen again: one Itaú entry, with the new consent's status.
	e.mustDo(200, "DELETE", "/consents/"+first+"/revoke", access, nil, nil)
	if st := status(lr.LinkToken); st[0].Status != statusRejected {
		t.Fatalf("after the revoke: %+v", st)
	}
	create(lr.LinkToken, "341")
	st = status(lr.LinkToken)
	if len(st) != 2 || st[0].InstitutionCode != "341" || st[0].Status != statusStarted || st[1].InstitutionCode != "260" {
		t.Errorf("Itaú chosen again: %+v", st)
	}
	if st := status(other.LinkToken); len(st) != 1 || st[0].InstitutionCode != "104" {
		t.Errorf("the other link: %+v", st)
	}
}
