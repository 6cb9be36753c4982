package sandbox

// Report generation: realistic, deterministic report bodies (docs/klavi.md#reports) for the sandbox's report
// webhook.
//
// Determinism. A report depends only on (product, normalised tax id, institution, calendar date of asOf in UTC)
// and, for GenerateReportSized, the transaction count. Randomness comes from math/rand/v2's PCG seeded with
// SHA-256 of those inputs, in separate streams so that related reports agree with each other:
//   - the holder (name) depends on the tax id only;
//   - an account's identity and profile (number, salary, bills) on tax id + institution + account kind;
//   - the transactions of one calendar month on tax id + institution + account kind + month, so reports taken on
//     different days show the same past transactions, and pf_checking_account and pf_categorized_checking_l3
//     show the same account and transactions (the latter with categories).
//
// Money. Every amount is an int64 number of 1/10000 BRL and is formatted as a positive 4-decimal string; floats are
// never used. Balances add up: the opening balance is chosen so the running balance never goes below a small
// cushion, every transaction carries postTransactionBalance, and balances.availableAmount is the balance after the
// last transaction.
//
// Order. transactionDetails are oldest first (ties keep generation order), in accounts and card statements alike.
// The window is the three months before asOf's date: from asOfDate-3 months (inclusive) to asOfDate (exclusive),
// i.e. data "up to yesterday", as bank data usually is.

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Products lists the report products the sandbox can generate (docs/klavi.md#reports).
var Products = []string{"pf_checking_account", "pf_savings_account", "pf_credit_card", "pf_categorized_checking_l3",
	"pf_categorized_creditcard_l3", "pj_checking_account", "pj_savings_account", "pj_credit_card",
	"pj_categorized_checking_l3"}

// ProductSupported reports whether GenerateReport knows the product name.
func ProductSupported(name string) bool { return slices.Contains(Products, name) }

// LargeReportTransactions is the transaction count of the "large report" scenario (README.md "Sandbox scenarios").
const LargeReportTransactions = 10000

// GenerateReport builds the report body of product for taxID (CPF for pf_*, CNPJ for pj_*; formatted or plain)
// as of asOf. The account/card belongs to an institution chosen deterministically from the tax id; see
// GenerateReportFor to name the consented institutions. Code 200, message "OK", productVersion "V1" ("V1.1" for
// cards), enquiryCpf (pf_*) or enquiryCnpj (pj_*) plain; RequestID, ProductReportID, ProductReportTime, Links and
// ExternalInfo are left for the caller (Links is an empty, non-nil slice). Errors: unknown product, empty tax id.
func GenerateReport(product, taxID string, asOf time.Time) (*ReportWire, error) {
	return GenerateReportFor(product, taxID, nil, asOf, 0)
}

// GenerateReportSized is GenerateReport with exactly `transactions` transactions in the account (checking and
// savings products; for card products it is ignored). 0 means the natural amount (about 40–90 a month). Used by
// the large-report scenario with LargeReportTransactions.
func GenerateReportSized(product, taxID string, asOf time.Time, transactions int) (*ReportWire, error) {
	return GenerateReportFor(product, taxID, nil, asOf, transactions)
}

// checkReportInputs is every reason GenerateReportFor can fail, checked without generating anything: the
// sandbox decides whether a product succeeds when the report is requested and generates it when it is sent.
func checkReportInputs(product, taxID string, institutionCodes []string, transactions int) error {
	if !ProductSupported(product) {
		return fmt.Errorf("sandbox: unknown product %q", product)
	}
	if transactions < 0 {
		return errors.New("sandbox: negative transaction count")
	}
	if genCleanTaxID(taxID) == "" {
		return errors.New("sandbox: empty tax id")
	}
	for _, code := range institutionCodes {
		if _, ok := instByCode[code]; !ok {
			return fmt.Errorf("sandbox: unknown institution %q", code)
		}
	}
	return nil
}

// GenerateReportFor generates one account (or card) per institution code, in the given order, for the
// institutions of the consents a report covers (a user-level report spans several). No codes means the
// deterministic default institution of GenerateReport. Unknown institution codes are an error; duplicates are
// generated once. transactions is as in GenerateReportSized (per account).
func GenerateReportFor(product, taxID string, institutionCodes []string, asOf time.Time, transactions int) (*ReportWire, error) {
	if err := checkReportInputs(product, taxID, institutionCodes, transactions); err != nil {
		return nil, err
	}
	tax := genCleanTaxID(taxID)
	business := strings.HasPrefix(product, "pj_")
	var insts []*instFixture
	for _, code := range institutionCodes {
		if f := instByCode[code]; !slices.Contains(insts, f) {
			insts = append(insts, f)
		}
	}
	if len(insts) == 0 {
		insts = []*instFixture{genDefaultInstitution(tax, business)}
	}

	y, m, d := asOf.UTC().Date()
	g := &genContext{
		tax:         tax,
		business:    business,
		categorized: strings.Contains(product, "_categorized_"),
		end:         time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
		holder:      genHolderName(tax, business),
	}
	g.start = g.end.AddDate(0, -3, 0)

	r := &ReportWire{Code: 200, Message: "OK", ProductName: product, ProductVersion: "V1", Links: []ReportLinkWire{}}
	if business {
		r.EnquiryCnpj = tax
	} else {
		r.EnquiryCpf = tax
	}
	switch {
	case strings.HasSuffix(product, "_checking_account"), strings.HasSuffix(product, "_categorized_checking_l3"):
		for _, f := range insts {
			r.CheckingAccounts = append(r.CheckingAccounts, g.account(f, genChecking, transactions))
		}
	case strings.HasSuffix(product, "_savings_account"):
		for _, f := range insts {
			r.SavingsAccounts = append(r.SavingsAccounts, g.account(f, genSavings, transactions))
		}
	case strings.HasSuffix(product, "_credit_card"), strings.HasSuffix(product, "_categorized_creditcard_l3"):
		r.ProductVersion = "V1.1"
		for _, f := range insts {
			r.CreditCards = append(r.CreditCards, g.card(f))
		}
	default:
		// Unreachable while Products and the cases above agree; the test over Products guards it.
		return nil, fmt.Errorf("sandbox: no generator for product %q", product)
	}
	return r, nil
}

// ---- money ------------------------------------------------------------------------------------------------------

// genUnitsPerReal is the money scale: amounts are int64 numbers of 1/10000 BRL.
const genUnitsPerReal = 10000

// genFormatUnits formats units as a decimal string with exactly 4 decimals ("1000.0400").
func genFormatUnits(u int64) string {
	sign := ""
	if u < 0 {
		sign, u = "-", -u
	}
	return fmt.Sprintf("%s%d.%04d", sign, u/genUnitsPerReal, u%genUnitsPerReal)
}

// genBRL wraps units as a BRL MoneyWire.
func genBRL(u int64) MoneyWire { return MoneyWire{Amount: genFormatUnits(u), Currency: "BRL"} }

// genCents converts centavos to units.
func genCents(c int64) int64 { return c * 100 }

// genReais converts whole reais to units.
func genReais(r int64) int64 { return r * genUnitsPerReal }

// ---- randomness -------------------------------------------------------------------------------------------------

// genRand returns a PCG generator seeded with SHA-256 of the parts (NUL-separated, so parts cannot run together).
func genRand(parts ...string) *rand.Rand {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16]))) //nolint:gosec // G404: reproducible on purpose
}

// genBetween returns a uniform value in [lo, hi].
func genBetween(rng *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + rng.Int64N(hi-lo+1)
}

// genPick returns a uniform element of s.
func genPick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

const genIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// genTransactionID returns a 31-character opaque id shaped like the documented sample's
// "TXpRMU9UQTROMWhZV2xSU1FUazJSMDl".
func genTransactionID(rng *rand.Rand) string {
	b := make([]byte, 31)
	for i := range b {
		b[i] = genIDAlphabet[rng.IntN(len(genIDAlphabet))]
	}
	return string(b)
}

// genCleanTaxID keeps the letters and digits of a CPF/CNPJ, upper-cased ("529.982.247-25" → "52998224725"), so
// formatted and plain input give the same report.
func genCleanTaxID(s string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		if (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ---- people, companies, documents -------------------------------------------------------------------------------

var genFirstNames = []string{"Ana", "Maria", "João", "José", "Pedro", "Lucas", "Gabriel", "Juliana", "Fernanda",
	"Camila", "Rafael", "Bruno", "Patrícia", "Aline", "Carlos", "Paulo", "Marcos", "Beatriz", "Larissa", "Thiago",
	"Mateus", "Letícia", "Rodrigo", "Vanessa", "Felipe", "Amanda", "Gustavo", "Luana", "Diego", "Renata", "Antônio",
	"Francisca", "Raimundo", "Sebastião", "Cláudia", "Márcia", "Eduardo", "Priscila", "Vinícius", "Débora"}

var genSurnames = []string{"Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
	"Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira",
	"Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes",
	"Freitas", "Cardoso", "Teixeira", "Araújo", "Cavalcanti", "Monteiro", "Moura"}

var genActivities = []string{"Comércio de Alimentos", "Tecnologia", "Serviços Contábeis", "Engenharia", "Transportes",
	"Distribuidora de Bebidas", "Construções", "Logística", "Consultoria Empresarial", "Comércio de Roupas",
	"Materiais de Construção", "Serviços Médicos", "Padaria e Confeitaria", "Auto Peças", "Marketing Digital"}

// genPersonName returns a "First Middle Last" Brazilian name.
func genPersonName(rng *rand.Rand) string {
	first := genPick(rng, genFirstNames)
	mid := genPick(rng, genSurnames)
	last := genPick(rng, genSurnames)
	for last == mid {
		last = genPick(rng, genSurnames)
	}
	return first + " " + mid + " " + last
}

// genCompanyName returns "<Surname> [& <Surname>] <Activity> LTDA".
func genCompanyName(rng *rand.Rand) string {
	a := genPick(rng, genSurnames)
	if rng.IntN(3) == 0 {
		b := genPick(rng, genSurnames)
		if b != a {
			a += " & " + b
		}
	}
	return a + " " + genPick(rng, genActivities) + " LTDA"
}

// genHolderName is the account holder: a person for pf_*, a company for pj_*; stable per tax id.
func genHolderName(tax string, business bool) string {
	if business {
		return genCompanyName(genRand("holder", "pj", tax))
	}
	return genPersonName(genRand("holder", "pf", tax))
}

// genStatementText upper-cases and strips accents, as bank statements print names ("João" → "JOAO"; "&" → "E").
func genStatementText(s string) string {
	return strings.NewReplacer("Á", "A", "À", "A", "Â", "A", "Ã", "A", "É", "E", "Ê", "E", "Í", "I", "Ó", "O",
		"Ô", "O", "Õ", "O", "Ú", "U", "Ü", "U", "Ç", "C", "&", "E").Replace(strings.ToUpper(s))
}

// genMod11 is the CPF/CNPJ check digit over digits with weights.
func genMod11(digits []int, weights []int) int {
	sum := 0
	for i, d := range digits {
		sum += d * weights[i]
	}
	if r := sum % 11; r >= 2 {
		return 11 - r
	}
	return 0
}

// genCPF returns a DV-valid random CPF (11 digits).
func genCPF(rng *rand.Rand) string {
	d := make([]int, 9, 11)
	for i := range d {
		d[i] = rng.IntN(10)
	}
	d = append(d, genMod11(d, []int{10, 9, 8, 7, 6, 5, 4, 3, 2}))
	d = append(d, genMod11(d, []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2}))
	return genDigits(d)
}

// genCNPJ returns a DV-valid numeric CNPJ (14 digits, head office "0001") derived from rng.
func genCNPJ(rng *rand.Rand) string {
	d := make([]int, 12, 14)
	for i := range 8 {
		d[i] = rng.IntN(10)
	}
	d[11] = 1
	d = append(d, genMod11(d, []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}))
	d = append(d, genMod11(d, []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}))
	return genDigits(d)
}

// genCNPJFor is a stable CNPJ for a named company (the same merchant always has the same CNPJ).
func genCNPJFor(name string) string { return genCNPJ(genRand("cnpj", name)) }

func genDigits(d []int) string {
	b := make([]byte, len(d))
	for i, v := range d {
		b[i] = "0123456789"[v]
	}
	return string(b)
}

// genNumber returns n random decimal digits (leading zeros allowed).
func genNumber(rng *rand.Rand, n int) string {
	d := make([]int, n)
	for i := range d {
		d[i] = rng.IntN(10)
	}
	return genDigits(d)
}

// genDigitalBanks have branch "0001" and no monthly package fee.
var genDigitalBanks = map[string]bool{"077": true, "260": true, "290": true, "323": true, "336": true, "380": true}

// genDefaultInstitution picks the institution of GenerateReport's account: an Open Finance participant that is
// not in outage and serves this person type, stable per tax id.
func genDefaultInstitution(tax string, business bool) *instFixture {
	var candidates []*instFixture
	for i := range instFixtures {
		f := &instFixtures[i]
		if f.kind != institutionTypeOpenFinance || f.outage || f.partial {
			continue
		}
		if f.business == instBusinessBoth || (business && f.business == instBusinessPJ) || (!business && f.business == instBusinessPF) {
			candidates = append(candidates, f)
		}
	}
	kind := "pf"
	if business {
		kind = "pj"
	}
	return genPick(genRand("institution", kind, tax), candidates)
}

// genParty is a transaction's counterparty.
type genParty struct {
	taxID, personType, compe, branch, number, checkDigit string
}

// genPersonParty returns a random person at a random bank.
func genPersonParty(rng *rand.Rand) (string, genParty) {
	name := genPersonName(rng)
	return name, genParty{taxID: genCPF(rng), personType: "PESSOA_NATURAL", compe: genRandomCompe(rng),
		branch: genNumber(rng, 4), number: genNumber(rng, 8), checkDigit: genNumber(rng, 1)}
}

// genCompanyParty returns the party of a named company (stable CNPJ) with a random account.
func genCompanyParty(rng *rand.Rand, name string) genParty {
	return genParty{taxID: genCNPJFor(name), personType: "PESSOA_JURIDICA", compe: genRandomCompe(rng),
		branch: genNumber(rng, 4), number: genNumber(rng, 7), checkDigit: genNumber(rng, 1)}
}

func genRandomCompe(rng *rand.Rand) string {
	for {
		f := &instFixtures[rng.IntN(len(instFixtures))]
		if f.kind == institutionTypeOpenFinance {
			return f.code
		}
	}
}

// ---- accounts ---------------------------------------------------------------------------------------------------

// genContext carries what every part of one report shares.
type genContext struct {
	tax         string
	business    bool
	categorized bool
	holder      string
	start, end  time.Time // [start, end), UTC midnights
}

type genAccountKind string

const (
	genChecking genAccountKind = "checking"
	genSavings  genAccountKind = "savings"
)

// genCategory is a three-level category of the categorized products.
type genCategory struct{ cat, sub, third string }

// genEvent is one transaction before balances are applied.
type genEvent struct {
	at         time.Time
	name, typ  string
	credit     bool
	amount     int64 // units; ignored when interestBP > 0
	interestBP int64 // savings interest in basis points of the running balance
	party      *genParty
	cat        genCategory
	settlement string
	id         string
}

// genProfile is the stable part of an account: who pays the holder, which bills they have.
type genProfile struct {
	salary, rent, pkgFee, internet, health, condo int64
	employer, landlord, energy, water, telecom    string
	landlordParty                                 genParty
	payday                                        int // business day of salary/payroll
	employees                                     []string
	employeePay                                   []int64
	proLabore                                     int64
	partner                                       string
	das, accountant, commercialRent               int64
	accountantName, realEstate, condoName         string
	interestDay                                   int // savings anniversary day
	interestBP                                    int64
}

func (g *genContext) kindTag() string {
	if g.business {
		return "pj"
	}
	return "pf"
}

// account builds one checking or savings account at institution f. n > 0 fixes the transaction count.
func (g *genContext) account(f *instFixture, kind genAccountKind, n int) AccountWire {
	prng := genRand("account", string(kind), g.kindTag(), g.tax, f.code)
	a := AccountWire{
		BrandName:   f.name,
		BacenName:   f.legalName,
		CompeCode:   f.code,
		CompanyCnpj: f.cnpj,
		BranchCode:  genNumber(prng, 4),
		Number:      strconv.Itoa(int(genBetween(prng, 10000, 99999999))),
		Subtype:     "INDIVIDUAL",
		CivilName:   g.holder,
	}
	if genDigitalBanks[f.code] {
		a.BranchCode = "0001"
	}
	a.CheckDigit = strconv.Itoa(int(genBetween(prng, 0, 9)))
	if kind == genSavings {
		// Savings accounts in Brazil commonly share the checking number with a variation suffix.
		a.Number += "51"
	}
	p := g.profile(prng, f, kind)
	baseOpening := genCents(genBetween(prng, 50_000, 900_000))
	if kind == genSavings {
		baseOpening = genCents(genBetween(prng, 200_000, 6_000_000))
	}
	if g.business {
		baseOpening *= 4
	}
	blocked := int64(0)
	if prng.IntN(5) == 0 {
		blocked = genCents(genBetween(prng, 1_000, 80_000))
	}
	invested := int64(0)
	if kind == genChecking && prng.IntN(2) == 0 {
		invested = genCents(genBetween(prng, 10_000, 2_500_000))
	}

	events := g.events(f, kind, p)
	if n > 0 {
		events = g.resize(f, kind, events, n)
	}

	// Choose the opening balance so that the running balance never drops below a cushion. Interest is ignored
	// here because it only adds.
	var run, minRun int64
	for _, e := range events {
		if e.interestBP > 0 {
			continue
		}
		if e.credit {
			run += e.amount
		} else {
			run -= e.amount
		}
		minRun = min(minRun, run)
	}
	cushion := genCents(genBetween(prng, 5_000, 60_000))
	opening := max(baseOpening, cushion-minRun)

	bal := opening
	a.TransactionDetails = make([]TransactionWire, 0, len(events))
	for i := range events {
		e := &events[i]
		if e.interestBP > 0 {
			// Round down to whole centavos, as banks credit interest.
			e.amount = max(bal*e.interestBP/10000/100*100, genCents(1))
		}
		if e.credit {
			bal += e.amount
		} else {
			bal -= e.amount
		}
		t := TransactionWire{
			TransactionDate:                e.at.Format(time.DateOnly),
			TransactionDateTime:            e.at.Format("2006-01-02T15:04:05.000Z"),
			TransactionID:                  e.id,
			CompletedAuthorisedPaymentType: "TRANSACAO_EFETIVADA",
			CreditDebitType:                genCreditDebit(e.credit),
			TransactionName:                e.name,
			Type:                           e.typ,
			TransactionAmount:              genBRL(e.amount),
			PostTransactionBalance:         genFormatUnits(bal),
		}
		if e.party != nil {
			t.PartieCnpjCpf = e.party.taxID
			t.PartiePersonType = e.party.personType
			t.PartieCompeCode = e.party.compe
			t.PartieBranchCode = e.party.branch
			t.PartieNumber = e.party.number
			t.PartieCheckDigit = e.party.checkDigit
		}
		if g.categorized {
			t.Category, t.Subcategory, t.ThirdCategory = e.cat.cat, e.cat.sub, e.cat.third
			t.SettlementType = e.settlement
		}
		a.TransactionDetails = append(a.TransactionDetails, t)
	}
	if g.categorized {
		genCountCategories(a.TransactionDetails)
	}
	a.Balances = BalancesWire{
		AvailableAmount:             genBRL(bal),
		BlockedAmount:               genBRL(blocked),
		AutomaticallyInvestedAmount: new(genBRL(invested)),
	}
	return a
}

func genCreditDebit(credit bool) string {
	if credit {
		return "CREDITO"
	}
	return "DEBITO"
}

// genCountCategories fills fAll, fAllMonth and fAllCmonth, whose meaning Klavi does not document (a Gap in
// docs/klavi.md#money). The sandbox's reading (Ours): fAll = transactions in the report with the same thirdCategory,
// fAllMonth = those in the same calendar month, fAllCmonth = distinct calendar months in which the thirdCategory
// occurs.
func genCountCategories(ts []TransactionWire) {
	all := map[string]int{}
	month := map[[2]string]int{}
	months := map[string]map[string]bool{}
	for _, t := range ts {
		m := t.TransactionDate[:7]
		all[t.ThirdCategory]++
		month[[2]string{t.ThirdCategory, m}]++
		if months[t.ThirdCategory] == nil {
			months[t.ThirdCategory] = map[string]bool{}
		}
		months[t.ThirdCategory][m] = true
	}
	for i := range ts {
		c := ts[i].ThirdCategory
		ts[i].FAll = all[c]
		ts[i].FAllMonth = month[[2]string{c, ts[i].TransactionDate[:7]}]
		ts[i].FAllCmonth = len(months[c])
	}
}

var (
	genEnergy  = []string{"ENEL", "CEMIG", "LIGHT", "COPEL", "NEOENERGIA COELBA", "CPFL PAULISTA"}
	genWater   = []string{"SABESP", "COPASA", "CEDAE", "SANEPAR", "EMBASA", "CAESB"}
	genTelecom = []string{"VIVO FIBRA", "CLARO NET", "TIM LIVE", "OI FIBRA"}
)

// profile draws the stable facts of an account from prng.
func (g *genContext) profile(prng *rand.Rand, f *instFixture, kind genAccountKind) *genProfile {
	p := &genProfile{
		employer:    genCompanyName(prng),
		landlord:    genPersonName(prng),
		energy:      genPick(prng, genEnergy),
		water:       genPick(prng, genWater),
		telecom:     genPick(prng, genTelecom),
		payday:      5,
		salary:      genCents(genBetween(prng, 280_000, 1_800_000)),
		internet:    genCents(genPick(prng, []int64{9_990, 11_990, 12_990, 14_990, 19_990})),
		interestDay: int(genBetween(prng, 1, 28)),
		interestBP:  genBetween(prng, 55, 62), // 0.5% a month + TR, as poupança pays
	}
	_, p.landlordParty = genPersonParty(prng)
	if prng.IntN(5) < 3 {
		p.rent = genCents(genBetween(prng, 120_000, 450_000))
	} else {
		p.condo = genCents(genBetween(prng, 35_000, 160_000))
		p.condoName = "CONDOMINIO EDIFICIO " + genStatementText(genPick(prng, genSurnames))
	}
	if !genDigitalBanks[f.code] {
		p.pkgFee = genCents(genPick(prng, []int64{2_990, 3_990, 4_590, 5_490, 6_490}))
	}
	if prng.IntN(5) < 2 {
		p.health = genCents(genBetween(prng, 30_000, 150_000))
	}
	if g.business {
		if !genDigitalBanks[f.code] {
			p.pkgFee = genCents(genPick(prng, []int64{7_990, 11_990, 14_990, 18_990}))
		}
		p.partner = genPersonName(prng)
		p.proLabore = genCents(genBetween(prng, 300_000, 1_500_000))
		for range genBetween(prng, 2, 6) {
			p.employees = append(p.employees, genPersonName(prng))
			p.employeePay = append(p.employeePay, genCents(genBetween(prng, 180_000, 550_000)))
		}
		p.das = genCents(genBetween(prng, 80_000, 600_000))
		p.accountantName = genPick(prng, genSurnames) + " Contabilidade LTDA"
		p.accountant = genCents(genBetween(prng, 45_000, 120_000))
		p.realEstate = "Imobiliária " + genPick(prng, genSurnames) + " LTDA"
		p.commercialRent = genCents(genBetween(prng, 250_000, 900_000))
	}
	return p
}

// genMonthStarts lists the first day of every month that overlaps [start, end).
func genMonthStarts(start, end time.Time) []time.Time {
	var out []time.Time
	for m := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(end); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

// genBusinessDay returns the nth business day (Mon–Fri; holidays ignored) of month m.
func genBusinessDay(m time.Time, n int) time.Time {
	d := m
	for count := 0; ; d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			count++
			if count == n {
				return d
			}
		}
	}
}

// genOnOrAfterWeekday moves a weekend date to the next Monday, as boletos due on weekends are paid.
func genOnOrAfterWeekday(d time.Time) time.Time {
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// genDay returns day `day` of month m, clamped to the month's length.
func genDay(m time.Time, day int) time.Time {
	last := m.AddDate(0, 1, -1).Day()
	return m.AddDate(0, 0, min(day, last)-1)
}

// genAt places an event on date d at a random time between fromHour and toHour (local São Paulo time, UTC-3,
// converted to UTC: 06:00–20:59 local stays on the same UTC date).
func genAt(rng *rand.Rand, d time.Time, fromHour, toHour int) time.Time {
	h := fromHour + rng.IntN(toHour-fromHour+1)
	return d.Add(time.Duration(h+3)*time.Hour + time.Duration(rng.IntN(3600))*time.Second +
		time.Duration(rng.IntN(1000))*time.Millisecond)
}

// events generates the natural transactions of [g.start, g.end): month by month, each month from its own seeded
// stream, then filtered to the window and sorted oldest first.
func (g *genContext) events(f *instFixture, kind genAccountKind, p *genProfile) []genEvent {
	var out []genEvent
	for _, m := range genMonthStarts(g.start, g.end) {
		rng := genRand("month", string(kind), g.kindTag(), g.tax, f.code, m.Format("2006-01"))
		var evs []genEvent
		switch {
		case kind == genSavings:
			evs = g.savingsMonth(rng, m, p)
		case g.business:
			evs = g.businessMonth(rng, m, p)
		default:
			evs = g.personalMonth(rng, m, p)
		}
		for _, e := range evs {
			if !e.at.Before(g.start) && e.at.Before(g.end) {
				out = append(out, e)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b genEvent) int { return a.at.Compare(b.at) })
	return out
}

// resize makes exactly n events: it adds random everyday transactions spread over the window (from a stream
// seeded by the window and n), or keeps only the newest n.
func (g *genContext) resize(f *instFixture, kind genAccountKind, events []genEvent, n int) []genEvent {
	if len(events) >= n {
		return slices.Clone(events[len(events)-n:])
	}
	rng := genRand("fill", string(kind), g.kindTag(), g.tax, f.code, g.end.Format(time.DateOnly), strconv.Itoa(n))
	days := int(g.end.Sub(g.start).Hours() / 24)
	var net int64 // credits minus debits of the added events
	for len(events) < n {
		d := g.start.AddDate(0, 0, rng.IntN(days))
		var e genEvent
		// Everyday PF spending outweighs everyday income (the salary is what balances it), so thousands of added
		// events would need an absurd opening balance. While the added events are net negative, up to three
		// redraws prefer a credit, which keeps the sum near zero.
		for try := 0; try < 4; try++ {
			switch {
			case kind == genSavings:
				e = g.savingsRandom(rng, d)
			case g.business:
				e = g.businessRandom(rng, d)
			default:
				e = g.personalRandom(rng, d)
			}
			if e.credit || net >= 0 {
				break
			}
		}
		if e.credit {
			net += e.amount
		} else {
			net -= e.amount
		}
		events = append(events, e)
	}
	slices.SortStableFunc(events, func(a, b genEvent) int { return a.at.Compare(b.at) })
	return events
}

// genEv is a constructor keeping the event tables readable.
func genEv(rng *rand.Rand, at time.Time, name, typ string, credit bool, amount int64, party *genParty, cat genCategory, settlement string) genEvent {
	return genEvent{at: at, name: name, typ: typ, credit: credit, amount: amount, party: party, cat: cat,
		settlement: settlement, id: genTransactionID(rng)}
}

var (
	genCatSalary       = genCategory{"Renda", "Renda ativa", "Salário"}
	genCatPixIn        = genCategory{"Transferências", "Transferência recebida", "PIX recebido"}
	genCatPixOut       = genCategory{"Transferências", "Transferência enviada", "PIX enviado"}
	genCatTEDIn        = genCategory{"Transferências", "Transferência recebida", "TED recebida"}
	genCatTEDOut       = genCategory{"Transferências", "Transferência enviada", "TED enviada"}
	genCatDOCIn        = genCategory{"Transferências", "Transferência recebida", "DOC recebido"}
	genCatRent         = genCategory{"Moradia", "Habitação", "Aluguel"}
	genCatCondo        = genCategory{"Moradia", "Habitação", "Condomínio"}
	genCatEnergy       = genCategory{"Moradia", "Contas de consumo", "Energia elétrica"}
	genCatWater        = genCategory{"Moradia", "Contas de consumo", "Água e esgoto"}
	genCatTelecom      = genCategory{"Moradia", "Contas de consumo", "Internet e telefone"}
	genCatBankFee      = genCategory{"Despesas bancárias", "Tarifas", "Pacote de serviços"}
	genCatTransferFee  = genCategory{"Despesas bancárias", "Tarifas", "Tarifa de transferência"}
	genCatHealth       = genCategory{"Saúde", "Plano de saúde", "Plano de saúde"}
	genCatCardBill     = genCategory{"Pagamentos", "Cartão de crédito", "Fatura do cartão"}
	genCatCash         = genCategory{"Saques", "Saque em dinheiro", "Saque 24h"}
	genCatInterest     = genCategory{"Renda", "Renda passiva", "Rendimentos"}
	genCatOwnIn        = genCategory{"Transferências", "Entre contas próprias", "Aplicação"}
	genCatOwnOut       = genCategory{"Transferências", "Entre contas próprias", "Resgate"}
	genCatSalesPix     = genCategory{"Receitas", "Vendas", "Vendas via PIX"}
	genCatSalesBoleto  = genCategory{"Receitas", "Vendas", "Recebimento de boletos"}
	genCatSalesCard    = genCategory{"Receitas", "Vendas", "Vendas com cartão"}
	genCatSalesTED     = genCategory{"Receitas", "Vendas", "Recebimento de clientes"}
	genCatTax          = genCategory{"Impostos", "Tributos federais", "DAS Simples Nacional"}
	genCatPayroll      = genCategory{"Folha de pagamento", "Salários", "Salário de funcionário"}
	genCatProLabore    = genCategory{"Folha de pagamento", "Sócios", "Pró-labore"}
	genCatSupplier     = genCategory{"Fornecedores", "Compras", "Pagamento a fornecedor"}
	genCatAccounting   = genCategory{"Serviços", "Serviços profissionais", "Contabilidade"}
	genCatCommRent     = genCategory{"Moradia", "Imóvel comercial", "Aluguel comercial"}
	genCatOfficeSupply = genCategory{"Despesas operacionais", "Escritório", "Material de escritório"}
)

// genDebitMerchant is a debit-card purchase template (type CARTAO, no counterparty account).
type genDebitMerchant struct {
	name   string
	lo, hi int64 // centavos
	cat    genCategory
}

var genDebitMerchants = []genDebitMerchant{
	{"SUPERMERCADO DIA", 2_500, 38_000, genCategory{"Alimentação", "Supermercado", "Supermercado"}},
	{"SUPERMERCADO CARREFOUR", 4_000, 65_000, genCategory{"Alimentação", "Supermercado", "Supermercado"}},
	{"SUPERMERCADO PAO DE ACUCAR", 3_000, 52_000, genCategory{"Alimentação", "Supermercado", "Supermercado"}},
	{"ASSAI ATACADISTA", 8_000, 90_000, genCategory{"Alimentação", "Supermercado", "Atacadista"}},
	{"IFOOD", 2_500, 14_000, genCategory{"Alimentação", "Delivery", "iFood"}},
	{"PADARIA PAO QUENTE", 800, 6_000, genCategory{"Alimentação", "Restaurantes", "Padaria"}},
	{"RESTAURANTE SABOR CASEIRO", 2_500, 9_000, genCategory{"Alimentação", "Restaurantes", "Restaurante"}},
	{"UBER *TRIP", 900, 6_500, genCategory{"Transporte", "Aplicativos de transporte", "Uber"}},
	{"99APP *99POP", 800, 5_500, genCategory{"Transporte", "Aplicativos de transporte", "99"}},
	{"POSTO IPIRANGA", 8_000, 30_000, genCategory{"Transporte", "Combustível", "Posto de gasolina"}},
	{"POSTO SHELL", 8_000, 30_000, genCategory{"Transporte", "Combustível", "Posto de gasolina"}},
	{"DROGASIL", 1_500, 18_000, genCategory{"Saúde", "Farmácia", "Farmácia"}},
	{"DROGARIA SAO PAULO", 1_500, 15_000, genCategory{"Saúde", "Farmácia", "Farmácia"}},
	{"LOJAS AMERICANAS", 2_000, 25_000, genCategory{"Compras", "Lojas de departamento", "Lojas de departamento"}},
	{"RENNER", 5_000, 40_000, genCategory{"Compras", "Vestuário", "Roupas"}},
	{"PET SHOP COBASI", 4_000, 30_000, genCategory{"Pets", "Pet shop", "Pet shop"}},
}

// personalMonth: salary, bills and fees on fixed days, plus random everyday transactions.
func (g *genContext) personalMonth(rng *rand.Rand, m time.Time, p *genProfile) []genEvent {
	var out []genEvent
	employer := genCompanyParty(rng, p.employer)
	salary := p.salary + genCents(genBetween(rng, -3_000, 3_000)) // overtime, discounts
	out = append(out, genEv(rng, genAt(rng, genBusinessDay(m, p.payday), 6, 8), "SALARIO "+genStatementText(p.employer),
		"TED", true, salary, &employer, genCatSalary, "TED"))
	if p.pkgFee > 0 {
		out = append(out, genEv(rng, genAt(rng, genBusinessDay(m, 10), 6, 7), "TARIFA PACOTE SERVICOS",
			"TARIFA_SERVICOS_AVULSOS", false, p.pkgFee, nil, genCatBankFee, "TARIFA"))
	}
	energy := genCompanyParty(rng, p.energy)
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 12)), 8, 20), "PAGTO BOLETO "+p.energy,
		"BOLETO", false, genCents(genBetween(rng, 9_000, 38_000)), &energy, genCatEnergy, "BOLETO"))
	water := genCompanyParty(rng, p.water)
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 15)), 8, 20), "PAGTO BOLETO "+p.water,
		"BOLETO", false, genCents(genBetween(rng, 4_500, 18_000)), &water, genCatWater, "BOLETO"))
	tel := genCompanyParty(rng, p.telecom)
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 18)), 8, 20), "PAGTO BOLETO "+p.telecom,
		"BOLETO", false, p.internet, &tel, genCatTelecom, "BOLETO"))
	if p.rent > 0 {
		out = append(out, genEv(rng, genAt(rng, genBusinessDay(m, p.payday+1), 7, 20), "PIX ENVIADO "+genStatementText(p.landlord),
			"PIX", false, p.rent, &p.landlordParty, genCatRent, "PIX"))
	} else {
		condo := genCompanyParty(rng, p.condoName)
		out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 10)), 8, 20), "PAGTO BOLETO "+p.condoName,
			"BOLETO", false, p.condo, &condo, genCatCondo, "BOLETO"))
	}
	if p.health > 0 {
		unimed := genCompanyParty(rng, "UNIMED")
		out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 20)), 8, 20), "PAGTO BOLETO UNIMED",
			"BOLETO", false, p.health, &unimed, genCatHealth, "BOLETO"))
	}
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 22)), 8, 20), "PAGTO FATURA CARTAO",
		"OUTROS", false, genCents(genBetween(rng, 50_000, 320_000)), nil, genCatCardBill, "OUTROS"))
	last := m.AddDate(0, 1, -1).Day()
	for range genBetween(rng, 20, 36) {
		out = append(out, g.personalRandom(rng, m.AddDate(0, 0, rng.IntN(last))))
	}
	return out
}

// personalRandom is one everyday PF transaction on day d.
func (g *genContext) personalRandom(rng *rand.Rand, d time.Time) genEvent {
	switch x := rng.IntN(100); {
	case x < 45:
		mc := genPick(rng, genDebitMerchants)
		return genEv(rng, genAt(rng, d, 7, 20), "COMPRA CARTAO DEB "+mc.name, "CARTAO", false,
			genCents(genBetween(rng, mc.lo, mc.hi)), nil, mc.cat, "CARTAO")
	case x < 70:
		name, party := genPersonParty(rng)
		return genEv(rng, genAt(rng, d, 6, 20), "PIX ENVIADO "+genStatementText(name), "PIX", false,
			genCents(genBetween(rng, 1_000, 40_000)), &party, genCatPixOut, "PIX")
	case x < 88:
		name, party := genPersonParty(rng)
		return genEv(rng, genAt(rng, d, 6, 20), "PIX RECEBIDO "+genStatementText(name), "PIX", true,
			genCents(genBetween(rng, 2_000, 60_000)), &party, genCatPixIn, "PIX")
	case x < 92:
		name, party := genPersonParty(rng)
		return genEv(rng, genAt(rng, d, 8, 16), "TED ENVIADA "+genStatementText(name), "TED", false,
			genCents(genBetween(rng, 20_000, 150_000)), &party, genCatTEDOut, "TED")
	case x < 95:
		name, party := genPersonParty(rng)
		return genEv(rng, genAt(rng, d, 8, 16), "TED RECEBIDA "+genStatementText(name), "TED", true,
			genCents(genBetween(rng, 20_000, 200_000)), &party, genCatTEDIn, "TED")
	case x < 96:
		name, party := genPersonParty(rng)
		return genEv(rng, genAt(rng, d, 8, 16), "DOC RECEBIDO "+genStatementText(name), "DOC", true,
			genCents(genBetween(rng, 10_000, 100_000)), &party, genCatDOCIn, "DOC")
	default:
		return genEv(rng, genAt(rng, d, 7, 20), "SAQUE BANCO24HORAS", "OUTROS", false,
			genCents(genPick(rng, []int64{5_000, 10_000, 15_000, 20_000, 30_000})), nil, genCatCash, "OUTROS")
	}
}

// businessMonth: payroll, taxes, rent and fees on fixed days, plus sales and suppliers.
func (g *genContext) businessMonth(rng *rand.Rand, m time.Time, p *genProfile) []genEvent {
	var out []genEvent
	payday := genBusinessDay(m, p.payday)
	for i, name := range p.employees {
		party := genParty{taxID: genCPF(genRand("employee", g.tax, name)), personType: "PESSOA_NATURAL",
			compe: genRandomCompe(rng), branch: genNumber(rng, 4), number: genNumber(rng, 8), checkDigit: genNumber(rng, 1)}
		out = append(out, genEv(rng, genAt(rng, payday, 8, 11), "PIX ENVIADO FOLHA "+genStatementText(name), "PIX", false,
			p.employeePay[i], &party, genCatPayroll, "PIX"))
	}
	partner := genParty{taxID: genCPF(genRand("partner", g.tax)), personType: "PESSOA_NATURAL",
		compe: genRandomCompe(rng), branch: genNumber(rng, 4), number: genNumber(rng, 8), checkDigit: genNumber(rng, 1)}
	out = append(out, genEv(rng, genAt(rng, payday, 8, 12), "PIX ENVIADO PRO LABORE "+genStatementText(p.partner), "PIX", false,
		p.proLabore, &partner, genCatProLabore, "PIX"))
	if p.pkgFee > 0 {
		out = append(out, genEv(rng, genAt(rng, genBusinessDay(m, 10), 6, 7), "TARIFA PACOTE SERVICOS PJ",
			"TARIFA_SERVICOS_AVULSOS", false, p.pkgFee, nil, genCatBankFee, "TARIFA"))
	}
	rfb := genParty{taxID: "00394460005887", personType: "PESSOA_JURIDICA"} // Receita Federal
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 20)), 8, 18), "PAGTO DAS SIMPLES NACIONAL",
		"BOLETO", false, p.das+genCents(genBetween(rng, -20_000, 20_000)), &rfb, genCatTax, "BOLETO"))
	acc := genCompanyParty(rng, p.accountantName)
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 10)), 8, 18),
		"PAGTO BOLETO "+genStatementText(p.accountantName), "BOLETO", false, p.accountant, &acc, genCatAccounting, "BOLETO"))
	re := genCompanyParty(rng, p.realEstate)
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 5)), 8, 18),
		"PAGTO BOLETO ALUGUEL "+genStatementText(p.realEstate), "BOLETO", false, p.commercialRent, &re, genCatCommRent, "BOLETO"))
	energy := genCompanyParty(rng, p.energy)
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 12)), 8, 18), "PAGTO BOLETO "+p.energy,
		"BOLETO", false, genCents(genBetween(rng, 30_000, 180_000)), &energy, genCatEnergy, "BOLETO"))
	tel := genCompanyParty(rng, p.telecom+" EMPRESAS")
	out = append(out, genEv(rng, genAt(rng, genOnOrAfterWeekday(genDay(m, 18)), 8, 18), "PAGTO BOLETO "+p.telecom+" EMPRESAS",
		"BOLETO", false, p.internet*2, &tel, genCatTelecom, "BOLETO"))
	last := m.AddDate(0, 1, -1).Day()
	for range genBetween(rng, 35, 60) {
		out = append(out, g.businessRandom(rng, m.AddDate(0, 0, rng.IntN(last))))
	}
	return out
}

var genAcquirers = []string{"CIELO", "STONE", "REDE", "GETNET"}

// businessRandom is one everyday PJ transaction on day d. Credits outweigh debits: the business is profitable.
func (g *genContext) businessRandom(rng *rand.Rand, d time.Time) genEvent {
	switch x := rng.IntN(100); {
	case x < 35:
		var name string
		var party genParty
		if rng.IntN(3) == 0 {
			name = genCompanyName(rng)
			party = genCompanyParty(rng, name)
		} else {
			name, party = genPersonParty(rng)
		}
		return genEv(rng, genAt(rng, d, 7, 20), "PIX RECEBIDO "+genStatementText(name), "PIX", true,
			genCents(genBetween(rng, 3_000, 250_000)), &party, genCatSalesPix, "PIX")
	case x < 47:
		name := genCompanyName(rng)
		party := genCompanyParty(rng, name)
		return genEv(rng, genAt(rng, d, 8, 18), "LIQUIDACAO BOLETO "+genStatementText(name), "BOLETO", true,
			genCents(genBetween(rng, 50_000, 800_000)), &party, genCatSalesBoleto, "BOLETO")
	case x < 57:
		acq := genPick(rng, genAcquirers)
		party := genCompanyParty(rng, acq)
		return genEv(rng, genAt(rng, d, 6, 8), "CREDITO VENDAS CARTAO "+acq, "OUTROS", true,
			genCents(genBetween(rng, 80_000, 1_200_000)), &party, genCatSalesCard, "OUTROS")
	case x < 62:
		name := genCompanyName(rng)
		party := genCompanyParty(rng, name)
		return genEv(rng, genAt(rng, d, 8, 16), "TED RECEBIDA "+genStatementText(name), "TED", true,
			genCents(genBetween(rng, 100_000, 1_500_000)), &party, genCatSalesTED, "TED")
	case x < 74:
		name := genCompanyName(rng)
		party := genCompanyParty(rng, name)
		return genEv(rng, genAt(rng, d, 8, 16), "TED ENVIADA FORNECEDOR "+genStatementText(name), "TED", false,
			genCents(genBetween(rng, 100_000, 1_200_000)), &party, genCatSupplier, "TED")
	case x < 88:
		name := genCompanyName(rng)
		party := genCompanyParty(rng, name)
		return genEv(rng, genAt(rng, d, 7, 20), "PIX ENVIADO "+genStatementText(name), "PIX", false,
			genCents(genBetween(rng, 10_000, 300_000)), &party, genCatSupplier, "PIX")
	case x < 93:
		kal := genCompanyParty(rng, "KALUNGA")
		return genEv(rng, genAt(rng, d, 8, 20), "PAGTO BOLETO KALUNGA", "BOLETO", false,
			genCents(genBetween(rng, 5_000, 90_000)), &kal, genCatOfficeSupply, "BOLETO")
	default:
		return genEv(rng, genAt(rng, d, 8, 18), "TARIFA TED/PIX AGENDADO", "TARIFA_SERVICOS_AVULSOS", false,
			genCents(genPick(rng, []int64{990, 1_090, 1_290})), nil, genCatTransferFee, "TARIFA")
	}
}

// savingsMonth: interest on the anniversary day, deposits from the checking account, an occasional withdrawal.
func (g *genContext) savingsMonth(rng *rand.Rand, m time.Time, p *genProfile) []genEvent {
	name := "RENDIMENTO POUPANCA"
	if g.business {
		name = "RENDIMENTO POUPANCA PJ"
	}
	e := genEv(rng, genAt(rng, genDay(m, p.interestDay), 6, 6), name, "OUTROS", true, 0, nil, genCatInterest, "OUTROS")
	e.interestBP = p.interestBP
	out := []genEvent{e}
	last := m.AddDate(0, 1, -1).Day()
	for range genBetween(rng, 1, 4) {
		out = append(out, g.savingsRandom(rng, m.AddDate(0, 0, rng.IntN(last))))
	}
	return out
}

// savingsRandom is one savings movement on day d (deposits twice as likely as withdrawals).
func (g *genContext) savingsRandom(rng *rand.Rand, d time.Time) genEvent {
	switch x := rng.IntN(100); {
	case x < 55:
		return genEv(rng, genAt(rng, d, 7, 20), "APLICACAO POUPANCA TRANSF CONTA CORRENTE", "OUTROS", true,
			genCents(genBetween(rng, 10_000, 250_000)), nil, genCatOwnIn, "OUTROS")
	case x < 67:
		name, party := genPersonParty(rng)
		return genEv(rng, genAt(rng, d, 7, 20), "PIX RECEBIDO "+genStatementText(name), "PIX", true,
			genCents(genBetween(rng, 5_000, 80_000)), &party, genCatPixIn, "PIX")
	default:
		return genEv(rng, genAt(rng, d, 7, 20), "RESGATE POUPANCA TRANSF CONTA CORRENTE", "OUTROS", false,
			genCents(genBetween(rng, 10_000, 150_000)), nil, genCatOwnOut, "OUTROS")
	}
}

// ---- credit cards -----------------------------------------------------------------------------------------------

// genCardMerchant is a card purchase template.
type genCardMerchant struct {
	name         string
	mcc          int
	lo, hi       int64 // centavos
	installments bool  // may be bought in installments (A_PRAZO)
	brand        string
	cat          genCategory
}

var genCardMerchantsPF = []genCardMerchant{
	{"NETFLIX.COM", 4899, 2_090, 5_990, false, "Netflix", genCategory{"Lazer", "Streaming", "Netflix"}},
	{"SPOTIFY", 5815, 1_190, 3_490, false, "Spotify", genCategory{"Lazer", "Streaming", "Spotify"}},
	{"GOOGLE *YOUTUBE PREMIUM", 5818, 2_490, 4_190, false, "YouTube", genCategory{"Lazer", "Streaming", "YouTube"}},
	{"IFOOD *IFOOD", 5812, 2_500, 14_000, false, "iFood", genCategory{"Alimentação", "Delivery", "iFood"}},
	{"UBER *TRIP", 4121, 900, 7_500, false, "Uber", genCategory{"Transporte", "Aplicativos de transporte", "Uber"}},
	{"99APP *99POP", 4121, 800, 5_500, false, "99", genCategory{"Transporte", "Aplicativos de transporte", "99"}},
	{"POSTO IPIRANGA", 5541, 8_000, 32_000, false, "Ipiranga", genCategory{"Transporte", "Combustível", "Posto de gasolina"}},
	{"POSTO SHELL SELECT", 5541, 8_000, 30_000, false, "Shell", genCategory{"Transporte", "Combustível", "Posto de gasolina"}},
	{"CARREFOUR HIPER", 5411, 6_000, 70_000, false, "Carrefour", genCategory{"Alimentação", "Supermercado", "Supermercado"}},
	{"PAO DE ACUCAR", 5411, 3_000, 55_000, false, "Pão de Açúcar", genCategory{"Alimentação", "Supermercado", "Supermercado"}},
	{"DROGASIL", 5912, 1_500, 18_000, false, "Drogasil", genCategory{"Saúde", "Farmácia", "Farmácia"}},
	{"AMAZON.COM.BR", 5999, 3_000, 60_000, true, "Amazon", genCategory{"Compras", "Compras online", "Marketplace"}},
	{"MERCADOLIVRE*", 5399, 2_500, 80_000, true, "Mercado Livre", genCategory{"Compras", "Compras online", "Marketplace"}},
	{"MAGAZINE LUIZA", 5311, 20_000, 350_000, true, "Magazine Luiza", genCategory{"Compras", "Eletrônicos", "Eletrodomésticos"}},
	{"CASAS BAHIA", 5311, 20_000, 300_000, true, "Casas Bahia", genCategory{"Compras", "Eletrônicos", "Eletrodomésticos"}},
	{"RENNER", 5651, 6_000, 60_000, true, "Renner", genCategory{"Compras", "Vestuário", "Roupas"}},
	{"SMART FIT", 7997, 9_990, 14_990, false, "Smart Fit", genCategory{"Saúde", "Academia", "Academia"}},
	{"CINEMARK", 7832, 3_000, 12_000, false, "Cinemark", genCategory{"Lazer", "Cinema e teatro", "Cinema"}},
	{"LATAM AIRLINES", 4511, 40_000, 250_000, true, "LATAM", genCategory{"Viagem", "Passagens aéreas", "Companhia aérea"}},
	{"OUTBACK STEAKHOUSE", 5812, 9_000, 35_000, false, "Outback", genCategory{"Alimentação", "Restaurantes", "Restaurante"}},
	{"STARBUCKS", 5814, 1_500, 4_500, false, "Starbucks", genCategory{"Alimentação", "Restaurantes", "Cafeteria"}},
	{"MC DONALDS", 5814, 2_500, 7_000, false, "McDonald's", genCategory{"Alimentação", "Restaurantes", "Fast food"}},
	{"APPLE.COM/BILL", 5818, 990, 4_990, false, "Apple", genCategory{"Lazer", "Assinaturas digitais", "Apple"}},
}

var genCardMerchantsPJ = []genCardMerchant{
	{"AMAZON WEB SERVICES", 5734, 15_000, 400_000, false, "AWS", genCategory{"Despesas operacionais", "Tecnologia", "Serviços em nuvem"}},
	{"GOOGLE *ADS", 7311, 20_000, 300_000, false, "Google", genCategory{"Despesas operacionais", "Marketing", "Anúncios online"}},
	{"FACEBK *ADS", 7311, 15_000, 250_000, false, "Meta", genCategory{"Despesas operacionais", "Marketing", "Anúncios online"}},
	{"MICROSOFT*365", 5734, 4_500, 30_000, false, "Microsoft", genCategory{"Despesas operacionais", "Tecnologia", "Software"}},
	{"KALUNGA", 5943, 3_000, 80_000, true, "Kalunga", genCategory{"Despesas operacionais", "Escritório", "Material de escritório"}},
	{"POSTO IPIRANGA", 5541, 10_000, 45_000, false, "Ipiranga", genCategory{"Transporte", "Combustível", "Posto de gasolina"}},
	{"UBER *TRIP", 4121, 1_500, 9_000, false, "Uber", genCategory{"Transporte", "Aplicativos de transporte", "Uber"}},
	{"LATAM AIRLINES", 4511, 50_000, 300_000, true, "LATAM", genCategory{"Viagem", "Passagens aéreas", "Companhia aérea"}},
	{"IFOOD *IFOOD", 5812, 4_000, 30_000, false, "iFood", genCategory{"Alimentação", "Delivery", "iFood"}},
	{"DELL COMPUTADORES", 5732, 250_000, 900_000, true, "Dell", genCategory{"Despesas operacionais", "Tecnologia", "Equipamentos"}},
}

var (
	genCatCardFee      = genCategory{"Despesas bancárias", "Tarifas", "Anuidade"}
	genCatCardRefund   = genCategory{"Transferências", "Estornos", "Estorno"}
	genCatCardCashback = genCategory{"Renda", "Renda passiva", "Cashback"}
)

// card builds one credit card account at institution f: limit, open statement (with transactions) and 2–3 closed
// statements. The open statement's billPostDates run from the day after the last closing date up to asOf's date
// (exclusive; when the bill closed yesterday, asOf's date itself is used so the bill is never empty). Its
// transactions are oldest first by transactionDateTime (an instalment keeps its purchase date, months earlier).
func (g *genContext) card(f *instFixture) CreditCardWire {
	prng := genRand("card", g.kindTag(), g.tax, f.code)
	networks := []string{"MASTERCARD", "VISA", "ELO", "AMERICAN_EXPRESS"}
	network := genPick(prng, networks[:3])
	if prng.IntN(8) == 0 {
		network = networks[3]
	}
	tier := genPick(prng, []string{"GOLD", "PLATINUM", "BLACK", "INTERNACIONAL"})
	productType := map[string]string{"GOLD": "GOLD", "PLATINUM": "PLATINUM", "BLACK": "BLACK", "INTERNACIONAL": "CLASSIC_INTERNACIONAL"}[tier]
	merchants := genCardMerchantsPF
	name := "Cartão " + f.name + " " + genTitle(tier)
	if g.business {
		merchants = genCardMerchantsPJ
		productType = "EMPRESARIAL"
		name = "Cartão " + f.name + " Empresarial"
	}
	cards := []PaymentMethodWire{{IdentificationNumber: genNumber(prng, 4)}}
	if prng.IntN(2) == 0 { // a virtual card as well
		cards = append(cards, PaymentMethodWire{IdentificationNumber: genNumber(prng, 4)})
	}
	for i := range cards {
		cards[i].IsMultipleCreditCard = len(cards) > 1
	}
	closingDay := int(genBetween(prng, 1, 28))
	limit := genReais(genPick(prng, []int64{2_000, 3_500, 5_000, 8_000, 12_000, 15_000, 20_000, 30_000}))
	if g.business {
		limit *= 3
	}
	flexible := prng.IntN(3) == 0
	closedCount := 2 + prng.IntN(2)

	// The last closing date strictly before asOf's date.
	lastClose := genDay(time.Date(g.end.Year(), g.end.Month(), 1, 0, 0, 0, 0, time.UTC), closingDay)
	if !lastClose.Before(g.end) {
		lastClose = genDay(time.Date(g.end.Year(), g.end.Month()-1, 1, 0, 0, 0, 0, time.UTC), closingDay)
	}
	nextClose := genDay(time.Date(lastClose.Year(), lastClose.Month()+1, 1, 0, 0, 0, 0, time.UTC), closingDay)
	from, to := lastClose.AddDate(0, 0, 1), g.end // [from, to)
	if !to.After(from) {
		to = from.AddDate(0, 0, 1)
	}

	srng := genRand("statement", g.kindTag(), g.tax, f.code, nextClose.Format(time.DateOnly))
	days := int(to.Sub(from).Hours() / 24)
	var txs []CardTransactionWire
	var debits, credits int64
	add := func(t CardTransactionWire, amount int64, credit bool) {
		t.BrazilianAmount = genBRL(amount)
		t.CreditDebitType = genCreditDebit(credit)
		if credit {
			credits += amount
		} else {
			debits += amount
		}
		txs = append(txs, t)
	}
	ident := func() string { return genPick(srng, cards).IdentificationNumber }
	at := func() time.Time { return genAt(srng, from.AddDate(0, 0, srng.IntN(days)), 7, 20) }
	for range genBetween(srng, 15, 30) {
		mc := genPick(srng, merchants)
		posted := at()
		t := genCardTx(posted, ident(), genTransactionID(srng))
		t.TransactionName, t.TransactionType, t.PayeeMCC = mc.name, "OUTROS", mc.mcc
		t.PaymentType, t.ChargeIdentificator, t.ChargeNumber = "A_VISTA", "1", 1
		amount := genCents(genBetween(srng, mc.lo, mc.hi))
		if mc.installments && srng.IntN(2) == 0 {
			total := int(genBetween(srng, 2, 12))
			current := 1 + srng.IntN(total)
			t.PaymentType, t.ChargeIdentificator, t.ChargeNumber = "A_PRAZO", strconv.Itoa(current), total
			t.TransactionName = fmt.Sprintf("%s PARC %02d/%02d", mc.name, current, total)
			// Instalment k of a purchase made k-1 months before this bill: the purchase keeps its own date,
			// billPostDate is when this instalment was posted to the open bill.
			bought := posted.AddDate(0, -(current - 1), 0)
			t.TransactionDate, t.TransactionDateTime = bought.Format(time.DateOnly), bought.Format("2006-01-02T15:04:05.000Z")
			amount = max(amount/int64(total)/100*100, genCents(1000)) // whole centavos, at least R$ 10,00
		}
		if g.categorized {
			t.Category, t.Subcategory, t.ThirdCategory, t.Brand = mc.cat.cat, mc.cat.sub, mc.cat.third, mc.brand
		}
		add(t, amount, false)
	}
	if srng.IntN(3) == 0 { // annual fee charged in 12 instalments
		t := genCardTx(at(), cards[0].IdentificationNumber, genTransactionID(srng))
		n := 1 + srng.IntN(12)
		t.TransactionName = fmt.Sprintf("ANUIDADE DIFERENCIADA %02d/12", n)
		t.TransactionType, t.FeeType, t.PaymentType, t.ChargeIdentificator, t.ChargeNumber = "TARIFA", "ANUIDADE", "A_VISTA", strconv.Itoa(n), 12
		if g.categorized {
			t.Category, t.Subcategory, t.ThirdCategory = genCatCardFee.cat, genCatCardFee.sub, genCatCardFee.third
		}
		add(t, genCents(genBetween(srng, 1_900, 4_900)), false)
	}
	if srng.IntN(2) == 0 { // a refund of part of a purchase, never more than what was spent
		t := genCardTx(at(), ident(), genTransactionID(srng))
		mc := genPick(srng, merchants)
		t.TransactionName, t.TransactionType, t.PaymentType, t.ChargeIdentificator, t.ChargeNumber = "ESTORNO "+mc.name, "ESTORNO", "A_VISTA", "1", 1
		if g.categorized {
			t.Category, t.Subcategory, t.ThirdCategory, t.Brand = genCatCardRefund.cat, genCatCardRefund.sub, genCatCardRefund.third, mc.brand
		}
		add(t, min(genCents(genBetween(srng, mc.lo, mc.hi)), debits/4/100*100), true)
	}
	if srng.IntN(3) == 0 {
		t := genCardTx(at(), ident(), genTransactionID(srng))
		t.TransactionName, t.TransactionType, t.PaymentType, t.ChargeIdentificator, t.ChargeNumber = "CASHBACK", "CASHBACK", "A_VISTA", "1", 1
		if g.categorized {
			t.Category, t.Subcategory, t.ThirdCategory = genCatCardCashback.cat, genCatCardCashback.sub, genCatCardCashback.third
		}
		add(t, max(debits/100/100*100, genCents(1)), true)
	}
	slices.SortStableFunc(txs, func(a, b CardTransactionWire) int {
		return strings.Compare(a.TransactionDateTime, b.TransactionDateTime)
	})
	if g.categorized {
		genCountCardCategories(txs)
	}
	billTotal := debits - credits

	// The limit must cover the open bill with some room left.
	for limit < billTotal+billTotal/5 {
		limit += genReais(1000)
	}
	lim := &LimitWire{
		IsLimitFlexible: flexible,
		LimitAmount:     LimitAmountWire{Amount: genFormatUnits(limit), Currency: "BRL"},
		UsedAmount:      genBRL(billTotal),
		AvailableAmount: genBRL(limit - billTotal),
	}

	c := CreditCardWire{
		BrandName:         f.name,
		BacenName:         f.legalName,
		CompanyCnpj:       f.cnpj,
		CivilName:         g.holder,
		Name:              name,
		ProductType:       productType,
		CreditCardNetwork: network,
		PaymentMethods:    cards,
		OpenStatement: &StatementWire{
			BillMonth:          nextClose.Format("2006-01"),
			BillingDate:        nextClose.Format(time.DateOnly),
			DueDate:            genOnOrAfterWeekday(nextClose.AddDate(0, 0, 10)).Format(time.DateOnly),
			BillTotalAmount:    genBRL(billTotal),
			TransactionDetails: txs,
		},
	}
	if g.categorized {
		c.Limits = lim
		c.IsActive = new(true)
	} else {
		c.Limit = lim
	}
	for i := range closedCount {
		closeDate := genDay(time.Date(lastClose.Year(), lastClose.Month()-time.Month(i), 1, 0, 0, 0, 0, time.UTC), closingDay)
		crng := genRand("closed", g.kindTag(), g.tax, f.code, closeDate.Format(time.DateOnly))
		total := genCents(genBetween(crng, 40_000, 600_000))
		if g.business {
			total *= 3
		}
		total = min(total, limit)
		c.ClosedStatements = append(c.ClosedStatements, StatementWire{
			BillMonth:         closeDate.Format("2006-01"),
			BillingDate:       closeDate.Format(time.DateOnly),
			DueDate:           genOnOrAfterWeekday(closeDate.AddDate(0, 0, 10)).Format(time.DateOnly),
			BillTotalAmount:   genBRL(total),
			BillMinimumAmount: new(genBRL(total * 15 / 100 / 100 * 100)), // 15%, whole centavos
		})
	}
	return c
}

// genCardTx starts a card transaction bought and posted at the same moment.
func genCardTx(at time.Time, ident, id string) CardTransactionWire {
	return CardTransactionWire{
		TransactionDate:      at.Format(time.DateOnly),
		TransactionDateTime:  at.Format("2006-01-02T15:04:05.000Z"),
		IdentificationNumber: ident,
		TransactionID:        id,
		BillPostDate:         at.Format(time.DateOnly),
	}
}

// genCountCardCategories is genCountCategories for card transactions.
func genCountCardCategories(ts []CardTransactionWire) {
	tw := make([]TransactionWire, len(ts))
	for i, t := range ts {
		tw[i] = TransactionWire{TransactionDate: t.TransactionDate, ThirdCategory: t.ThirdCategory}
	}
	genCountCategories(tw)
	for i := range ts {
		ts[i].FAll, ts[i].FAllMonth, ts[i].FAllCmonth = tw[i].FAll, tw[i].FAllMonth, tw[i].FAllCmonth
	}
}

// genTitle turns "PLATINUM" into "Platinum".
func genTitle(s string) string {
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}
