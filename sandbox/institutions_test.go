package sandbox

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instSample51 is the first element of the example of Klavi's institution list (docs/klavi.md#institutions), the
// reference for JSON names.
const instSample51 = `{ "institutionCode": "341", "name": "Itaú", "avatar": "https://avatarcredigo.s3.sa-east-1.amazonaws.com/bankLogo/...-itau.svg",
    "isBeta": false, "isOutage": false, "institutionType": 1, "businessType": "LEGAL",
    "availableResources": ["REGISTRATION", "ACCOUNTS"], "parentOrganizationName": "", "parentOrganizationId": "",
    "organizationName": "Itaú Unibanco S.A.", "organizationId": "9c721898-9ce0-50f1-bf85-05075557850b" }`

var instUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func instKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestInstitutionsCatalogue(t *testing.T) {
	t.Parallel()
	list := Institutions("http://localhost:8090/")
	if len(list) < 20 {
		t.Fatalf("got %d institutions, want about 20", len(list))
	}
	codes := map[string]bool{}
	orgIDs := map[string]string{}
	var outages, partial, betas, openData int
	businessTypes := map[string]bool{}
	allowed := []string{resRegistration, resAccounts, resCreditCards, resLoans, resFinancings, resOverdraft,
		resInvoiceFin, resBankFixed, resCreditFixed, resVariable, resTreasure, resFunds}
	for i, in := range list {
		if codes[in.InstitutionCode] {
			t.Errorf("duplicate code %q", in.InstitutionCode)
		}
		codes[in.InstitutionCode] = true
		if in.Name == "" || in.OrganizationName == "" {
			t.Errorf("%s: empty name or organizationName", in.InstitutionCode)
		}
		if want := "http://localhost:8090/logos/" + in.InstitutionCode + ".svg"; in.Avatar != want {
			t.Errorf("%s: avatar %q, want %q", in.InstitutionCode, in.Avatar, want)
		}
		if !instUUID.MatchString(in.OrganizationID) {
			t.Errorf("%s: organizationId %q is not UUID-shaped", in.InstitutionCode, in.OrganizationID)
		}
		if prev, ok := orgIDs[in.OrganizationID]; ok && prev != in.OrganizationName {
			t.Errorf("organizationId %s shared by %q and %q", in.OrganizationID, prev, in.OrganizationName)
		}
		orgIDs[in.OrganizationID] = in.OrganizationName
		if i > 0 && instSortKey(list[i-1].Name) > instSortKey(in.Name) {
			t.Errorf("not sorted by name: %q before %q", list[i-1].Name, in.Name)
		}
		switch {
		case in.IsOutage && in.OutageLevel == "partial":
			partial++
		case in.IsOutage:
			outages++
		case in.OutageLevel != "":
			t.Errorf("%s: outageLevel %q without isOutage", in.InstitutionCode, in.OutageLevel)
		}
		if in.IsBeta {
			betas++
		}
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		keys := instKeys(t, raw)
		switch in.InstitutionType {
		case institutionTypeOpenData:
			openData++
			if slices.Contains(keys, "businessType") || slices.Contains(keys, "availableResources") {
				t.Errorf("%s: Open Data entry has businessType/availableResources: %s", in.InstitutionCode, raw)
			}
		case institutionTypeOpenFinance:
			if in.IsBeta {
				t.Errorf("%s: isBeta is meaningful for Open Data only (docs/klavi.md#institutions)", in.InstitutionCode)
			}
			if !slices.Contains([]string{"NATURAL", "LEGAL", "BOTH"}, in.BusinessType) {
				t.Errorf("%s: businessType %q", in.InstitutionCode, in.BusinessType)
			}
			businessTypes[in.BusinessType] = true
			if len(in.AvailableResources) == 0 {
				t.Errorf("%s: no availableResources", in.InstitutionCode)
			}
			for _, r := range in.AvailableResources {
				if !slices.Contains(allowed, r) {
					t.Errorf("%s: resource %q not in the documented list", in.InstitutionCode, r)
				}
			}
		default:
			t.Errorf("%s: institutionType %d", in.InstitutionCode, in.InstitutionType)
		}
	}
	if outages != 1 || partial != 1 {
		t.Errorf("%d institutions in full outage and %d in partial outage, want exactly 1 of each", outages, partial)
	}
	if betas < 1 {
		t.Error("no beta institution")
	}
	if openData < 2 || openData > 3 {
		t.Errorf("%d Open Data institutions, want 2-3", openData)
	}
	if len(businessTypes) != 3 {
		t.Errorf("businessType mix %v, want NATURAL, LEGAL and BOTH", businessTypes)
	}
	for _, code := range []string{"001", "033", "104", "237", "260", "323", "341", "077", "336", "212", "756", "748",
		"422", "208", "380", "290", "655", "041", "070"} {
		if !codes[code] {
			t.Errorf("COMPE %s missing", code)
		}
	}
}

func TestInstitutionsFixedFacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code         string
		businessType string
		outage       bool
	}{
		{"001", "BOTH", false},
		{"260", "BOTH", false},
		{"341", "BOTH", false},
		{"212", "BOTH", true},
	}
	for _, tt := range tests {
		in, ok := InstitutionByCode(tt.code)
		if !ok {
			t.Fatalf("InstitutionByCode(%q) not found", tt.code)
		}
		if in.BusinessType != tt.businessType || in.IsOutage != tt.outage || in.Avatar != "" {
			t.Errorf("%s: businessType %q outage %v avatar %q", tt.code, in.BusinessType, in.IsOutage, in.Avatar)
		}
	}
	if _, ok := InstitutionByCode("999"); ok {
		t.Error("unknown code found")
	}
	// Mutating a result must not leak into the catalogue.
	a, _ := InstitutionByCode("341")
	a.AvailableResources[0] = "CHANGED"
	if b, _ := InstitutionByCode("341"); b.AvailableResources[0] == "CHANGED" {
		t.Error("InstitutionByCode shares its slice with the catalogue")
	}
}

func TestInstitutionWireNames(t *testing.T) {
	t.Parallel()
	in, _ := InstitutionByCode("341")
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, want := instKeys(t, raw), instKeys(t, []byte(instSample51))
	if !slices.Equal(got, want) {
		t.Errorf("JSON names\n got %v\nwant %v (docs/klavi.md#institutions)", got, want)
	}
	// And the sample decodes into the wire struct without loss.
	var back InstitutionWire
	if err := json.Unmarshal([]byte(instSample51), &back); err != nil {
		t.Fatal(err)
	}
	if back.OrganizationID != "9c721898-9ce0-50f1-bf85-05075557850b" || back.InstitutionType != 1 || back.BusinessType != "LEGAL" {
		t.Errorf("sample decoded as %+v", back)
	}
}

// instCNPJValid checks a numeric CNPJ's check digits.
func instCNPJValid(s string) bool {
	if len(s) != 14 {
		return false
	}
	d := make([]int, 14)
	for i, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		d[i] = int(c - '0')
	}
	return genMod11(d[:12], []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}) == d[12] &&
		genMod11(d[:13], []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}) == d[13]
}

func TestInstitutionCNPJs(t *testing.T) {
	t.Parallel()
	for _, f := range instFixtures {
		if !instCNPJValid(f.cnpj) {
			t.Errorf("%s %s: CNPJ %s has wrong check digits", f.code, f.name, f.cnpj)
		}
	}
}

func TestLogoSVG(t *testing.T) {
	t.Parallel()
	for _, in := range Institutions("http://x") {
		b, ok := LogoSVG(in.InstitutionCode)
		if !ok {
			t.Errorf("%s: no logo", in.InstitutionCode)
			continue
		}
		if !bytes.HasPrefix(b, []byte("<svg")) {
			t.Errorf("%s: logo does not start with <svg: %.40s", in.InstitutionCode, b)
		}
		low := strings.ToLower(string(b))
		for _, bad := range []string{"<script", "href", "url(", "onload", "<image", "<foreignobject"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s: logo contains %q", in.InstitutionCode, bad)
			}
		}
		if strings.Count(low, "http") != 1 { // only the xmlns
			t.Errorf("%s: logo references something external", in.InstitutionCode)
		}
		// Valid XML, root <svg viewBox="0 0 64 64">.
		dec := xml.NewDecoder(bytes.NewReader(b))
		var root *xml.StartElement
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: invalid XML: %v\n%s", in.InstitutionCode, err, b)
			}
			if se, ok := tok.(xml.StartElement); ok && root == nil {
				root = &se
			}
		}
		if root == nil || root.Name.Local != "svg" {
			t.Fatalf("%s: root element is not svg", in.InstitutionCode)
		}
		viewBox := ""
		for _, a := range root.Attr {
			if a.Name.Local == "viewBox" {
				viewBox = a.Value
			}
		}
		if viewBox != "0 0 64 64" {
			t.Errorf("%s: viewBox %q", in.InstitutionCode, viewBox)
		}
		again, _ := LogoSVG(in.InstitutionCode)
		if !bytes.Equal(b, again) {
			t.Errorf("%s: logo not deterministic", in.InstitutionCode)
		}
		b[0] = 'X' // the caller owns its copy
		if again, _ := LogoSVG(in.InstitutionCode); again[0] != '<' {
			t.Errorf("%s: LogoSVG returns shared bytes", in.InstitutionCode)
		}
	}
	if _, ok := LogoSVG("../etc/passwd"); ok {
		t.Error("unknown code has a logo")
	}
}
