package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// InstitutionWire is one element of GET /links/institutions (docs/klavi.md#institutions), JSON names exactly as
// documented. BusinessType and AvailableResources are present for Open Finance participants (institutionType 1)
// only.
type InstitutionWire struct {
	InstitutionCode        string   `json:"institutionCode"`
	Name                   string   `json:"name"`
	Avatar                 string   `json:"avatar"`
	IsBeta                 bool     `json:"isBeta"`
	IsOutage               bool     `json:"isOutage"`
	OutageLevel            string   `json:"outageLevel,omitempty"` // "partial" (docs/klavi.md#institutions, Gap)
	InstitutionType        int      `json:"institutionType"`
	BusinessType           string   `json:"businessType,omitempty"`
	AvailableResources     []string `json:"availableResources,omitempty"`
	ParentOrganizationName string   `json:"parentOrganizationName"`
	ParentOrganizationID   string   `json:"parentOrganizationId"`
	OrganizationName       string   `json:"organizationName"`
	OrganizationID         string   `json:"organizationId"`
}

// Institution types (docs/klavi.md#institutions).
const (
	institutionTypeOpenFinance = 1
	institutionTypeOpenData    = 2
)

// Resource names of Klavi's institution list (docs/klavi.md#institutions), spelled once.
const (
	resRegistration  = "REGISTRATION"
	resAccounts      = "ACCOUNTS"
	resCreditCards   = "CREDIT_CARDS"
	resLoans         = "CREDIT_OPERATIONS:LOANS"
	resFinancings    = "CREDIT_OPERATIONS:FINANCINGS"
	resOverdraft     = "CREDIT_OPERATIONS:UNARRANGED_ACCOUNTS_OVERDRAFT"
	resInvoiceFin    = "CREDIT_OPERATIONS:INVOICE_FINANCINGS"
	resBankFixed     = "INVESTMENTS:BANK_FIXED_INCOMES"
	resCreditFixed   = "INVESTMENTS:CREDIT_FIXED_INCOMES"
	resVariable      = "INVESTMENTS:VARIABLE_INCOMES"
	resTreasure      = "INVESTMENTS:TREASURE_TITLES"
	resFunds         = "INVESTMENTS:FUNDS"
	instBusinessPF   = "NATURAL"
	instBusinessPJ   = "LEGAL"
	instBusinessBoth = "BOTH"
)

// instFixture is the sandbox's private record of an institution: the wire fields plus what reports and logos
// need (the CNPJ of the account-holding institution, brand colour, the letters on the logo).
type instFixture struct {
	code, name, legalName string
	cnpj                  string // 14 digits, DV-valid
	color                 string // logo background, #rrggbb
	short                 string // text on the logo (1–3 characters)
	kind                  int
	business              string
	resources             []string
	beta, outage          bool
	partial               bool // a partial outage: isOutage with outageLevel "partial"; consents still work
}

// allResources is what the big retail banks expose.
var allResources = []string{resRegistration, resAccounts, resCreditCards, resLoans, resFinancings, resOverdraft,
	resInvoiceFin, resBankFixed, resCreditFixed, resVariable, resTreasure, resFunds}

// instFixtures is the participant catalogue. Codes are real COMPE codes and names are the public legal names; CNPJs are
// the institutions' public CNPJs (the tests check their check digits). Exactly one entry is in outage (212, so the
// portal's disabled state can be demoed), one in partial outage (104, offered with a warning), and the Open Data
// entries (institutionType 2) have no businessType/availableResources, as documented (docs/klavi.md#institutions). 001, 260 and 341 are BOTH so the
// personal and the business demos can use them.
var instFixtures = []instFixture{
	{code: "001", name: "Banco do Brasil", legalName: "Banco do Brasil S.A.", cnpj: "00000000000191", color: "#0038A8", short: "BB",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: allResources},
	{code: "033", name: "Santander", legalName: "Banco Santander (Brasil) S.A.", cnpj: "90400888000142", color: "#EC0000", short: "S",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resFinancings, resOverdraft, resBankFixed, resFunds}},
	{code: "041", name: "Banrisul", legalName: "Banco do Estado do Rio Grande do Sul S.A.", cnpj: "92702067000196", color: "#0B5DA7", short: "BRS",
		kind: institutionTypeOpenFinance, business: instBusinessPF, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans}},
	{code: "070", name: "BRB", legalName: "BRB - Banco de Brasília S.A.", cnpj: "00000208000100", color: "#1D4F91", short: "BRB",
		kind: institutionTypeOpenFinance, business: instBusinessPF, resources: []string{resRegistration, resAccounts, resCreditCards}},
	{code: "077", name: "Banco Inter", legalName: "Banco Inter S.A.", cnpj: "00416968000101", color: "#FF7A00", short: "IN",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resBankFixed, resCreditFixed, resVariable, resTreasure, resFunds}},
	{code: "104", name: "CAIXA", legalName: "Caixa Econômica Federal", cnpj: "00360305000104", color: "#005CA9", short: "CX",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resFinancings, resOverdraft}, partial: true},
	{code: "208", name: "BTG Pactual", legalName: "Banco BTG Pactual S.A.", cnpj: "30306294000145", color: "#0D2240", short: "BTG",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resBankFixed, resCreditFixed, resVariable, resTreasure, resFunds}},
	{code: "212", name: "Banco Original", legalName: "Banco Original S.A.", cnpj: "92894922000108", color: "#00A651", short: "OR",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards}, outage: true},
	{code: "237", name: "Bradesco", legalName: "Banco Bradesco S.A.", cnpj: "60746948000112", color: "#CC092F", short: "BR",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: allResources},
	{code: "260", name: "Nubank", legalName: "Nu Pagamentos S.A. - Instituição de Pagamento", cnpj: "18236120000158", color: "#820AD1", short: "NU",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resOverdraft, resBankFixed}},
	{code: "290", name: "PagBank", legalName: "PagSeguro Internet Instituição de Pagamento S.A.", cnpj: "08561701000101", color: "#1BB99A", short: "PB",
		kind: institutionTypeOpenFinance, business: instBusinessPJ, resources: []string{resRegistration, resAccounts, resCreditCards}},
	{code: "323", name: "Mercado Pago", legalName: "Mercado Pago Instituição de Pagamento Ltda.", cnpj: "10573521000191", color: "#009EE3", short: "MP",
		kind: institutionTypeOpenFinance, business: instBusinessPF, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans}},
	{code: "336", name: "C6 Bank", legalName: "Banco C6 S.A.", cnpj: "31872495000172", color: "#242424", short: "C6",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resBankFixed, resFunds}},
	{code: "341", name: "Itaú", legalName: "Itaú Unibanco S.A.", cnpj: "60701190000104", color: "#EC7000", short: "itaú",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: allResources},
	{code: "380", name: "PicPay", legalName: "PicPay Instituição de Pagamento S.A.", cnpj: "22896431000110", color: "#11C76F", short: "PP",
		kind: institutionTypeOpenFinance, business: instBusinessPF, resources: []string{resRegistration, resAccounts}},
	{code: "422", name: "Safra", legalName: "Banco Safra S.A.", cnpj: "58160789000128", color: "#00205B", short: "SF",
		kind: institutionTypeOpenFinance, business: instBusinessPJ, resources: []string{resRegistration, resAccounts, resLoans, resInvoiceFin, resBankFixed, resFunds}},
	{code: "655", name: "Banco BV", legalName: "Banco Votorantim S.A.", cnpj: "59588111000103", color: "#1C3FAA", short: "BV",
		kind: institutionTypeOpenFinance, business: instBusinessPF, resources: []string{resRegistration, resAccounts, resCreditCards, resFinancings}},
	{code: "748", name: "Sicredi", legalName: "Banco Cooperativo Sicredi S.A.", cnpj: "01181521000155", color: "#3FA110", short: "SIC",
		kind: institutionTypeOpenFinance, business: instBusinessPJ, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resInvoiceFin}},
	{code: "756", name: "Sicoob", legalName: "Banco Cooperativo Sicoob S.A. - Banco Sicoob", cnpj: "02038232000164", color: "#003641", short: "SCB",
		kind: institutionTypeOpenFinance, business: instBusinessBoth, resources: []string{resRegistration, resAccounts, resCreditCards, resLoans, resOverdraft}},
	// Open Data (passive, institutionType 2): not Open Finance participants, so the codes are the sandbox's own.
	{code: "od-ame", name: "Ame Digital", legalName: "Ame Digital Brasil Instituição de Pagamento Ltda.", cnpj: "32778350000170", color: "#E6007E", short: "AME",
		kind: institutionTypeOpenData},
	{code: "od-rico", name: "Rico Investimentos", legalName: "Rico Investimentos - Grupo XP", cnpj: "02332886001178", color: "#FF5A00", short: "RI",
		kind: institutionTypeOpenData, beta: true},
	{code: "od-will", name: "Will Bank", legalName: "Will Financeira S.A. Crédito, Financiamento e Investimento", cnpj: "23862762000100", color: "#FFD900", short: "W",
		kind: institutionTypeOpenData},
}

// instByCode indexes instFixtures; built once at init because the table is immutable.
var instByCode = func() map[string]*instFixture {
	m := make(map[string]*instFixture, len(instFixtures))
	for i := range instFixtures {
		m[instFixtures[i].code] = &instFixtures[i]
	}
	return m
}()

// instOrganizationID returns a deterministic UUID-shaped id (version 5 layout) derived from the legal name, so
// that the same organisation always gets the same id, like the Open Finance directory's org ids.
func instOrganizationID(legalName string) string {
	sum := sha256.Sum256([]byte("klavi-demo-sandbox/organization/" + legalName))
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x50
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// wire converts a fixture to its wire form; avatar is left to the caller.
func (f *instFixture) wire() InstitutionWire {
	w := InstitutionWire{
		InstitutionCode:  f.code,
		Name:             f.name,
		IsBeta:           f.beta,
		IsOutage:         f.outage || f.partial,
		InstitutionType:  f.kind,
		OrganizationName: f.legalName,
		OrganizationID:   instOrganizationID(f.legalName),
	}
	if f.partial {
		w.OutageLevel = "partial"
	}
	if f.kind == institutionTypeOpenFinance {
		w.BusinessType = f.business
		w.AvailableResources = slices.Clone(f.resources)
	}
	return w
}

// instSortKey folds case and the accents used in the catalogue so that "Itaú" sorts like "Itau" and "BRB" like
// "Brb".
func instSortKey(s string) string {
	return strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ã", "a", "ç", "c", "ê", "e", "ô", "o").
		Replace(strings.ToLower(s))
}

// Institutions returns the sandbox's participant list as GET /links/institutions sends it: sorted by name
// (case- and accent-insensitive), avatar = publicURL + "/logos/" + code + ".svg". The result is a fresh copy on
// every call.
func Institutions(publicURL string) []InstitutionWire {
	base := strings.TrimRight(publicURL, "/")
	out := make([]InstitutionWire, 0, len(instFixtures))
	for i := range instFixtures {
		w := instFixtures[i].wire()
		w.Avatar = base + "/logos/" + w.InstitutionCode + ".svg"
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b InstitutionWire) int {
		return strings.Compare(instSortKey(a.Name), instSortKey(b.Name))
	})
	return out
}

// InstitutionByCode returns the institution with that code (Avatar empty), or false when the code is unknown.
func InstitutionByCode(code string) (InstitutionWire, bool) {
	f, ok := instByCode[code]
	if !ok {
		return InstitutionWire{}, false
	}
	return f.wire(), true
}
