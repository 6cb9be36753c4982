package klavi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSignMatchesTheGitHubKnownAnswerVector(t *testing.T) {
	t.Parallel()
	got := Sign("It's a Secret to Everybody", []byte("Hello, World!"))
	if want := "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := golden(t, "event_consent_authorised.json")
	good := Sign(testSecretKey, body)

	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(v)
	var indented bytes.Buffer
	_ = json.Indent(&indented, compact, "", "  ")
	flipped := append([]byte(nil), body...)
	flipped[10] ^= 1

	cases := []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"the correct signature over the raw bytes passes", testSecretKey, body, good, true},
		{"upper-case hex passes", testSecretKey, body, strings.ToUpper(good), true},
		{"the same JSON re-serialised compactly fails", testSecretKey, compact, good, false},
		{"the same JSON re-serialised with indentation fails", testSecretKey, indented.Bytes(), good, false},
		{"a body with one flipped bit fails", testSecretKey, flipped, good, false},
		{"a body with a trailing newline fails", testSecretKey, append(append([]byte(nil), body...), '\n'), good, false},
		{"a missing signature fails", testSecretKey, body, "", false},
		{"a non-hex signature fails", testSecretKey, body, strings.Repeat("zz", 32), false},
		{"an odd-length signature fails", testSecretKey, body, good[:63], false},
		{"a 31-byte signature fails", testSecretKey, body, good[:62], false},
		{"a 33-byte signature fails", testSecretKey, body, good + "00", false},
		{"a signature with a prefix fails", testSecretKey, body, "sha256=" + good, false},
		{"a signature made with another secret fails", testSecretKey, body, Sign("other-secret", body), false},
		{"an empty secret never verifies", "", body, Sign("", body), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifySignature(tc.secret, tc.body, tc.sig); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseEventsReadsTheGoldenArrayExamples(t *testing.T) {
	t.Parallel()
	t.Run("link_created", func(t *testing.T) {
		events, err := ParseEvents(golden(t, "event_link_created.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Fatalf("got %d events, want 1", len(events))
		}
		e := events[0]
		if e.PartnerAppID != "12345678" || e.EventID != "1495468585434-0e73d1719173766fe4dfe1a8" || e.EventType != "api" ||
			e.EventName != EventLinkCreated || e.EventTime != "2022-06-25T20:08:17.848Z" {
			t.Errorf("got envelope %+v, want the golden values", e)
		}
		p, err := e.ConsentPayload()
		if err != nil {
			t.Fatal(err)
		}
		if want := (ConsentEventPayload{PersonalTaxID: "25872252137", LinkID: "ed812-81fcec-7ec55-7aa7d29-2a3188b75"}); p != want {
			t.Errorf("got payload %+v, want %+v", p, want)
		}
		if !json.Valid(e.ExternalInfo) || !strings.Contains(string(e.ExternalInfo), "yourTraceId-1") {
			t.Errorf("got externalInfo %s, want the golden object", e.ExternalInfo)
		}
	})
	t.Run("consent_authorised", func(t *testing.T) {
		events, err := ParseEvents(golden(t, "event_consent_authorised.json"))
		if err != nil {
			t.Fatal(err)
		}
		e := events[0]
		st, ok := e.EventName.ConsentStatus()
		if !ok || st != StatusAuthorised {
			t.Errorf("got status %q %v, want AUTHORISED true", st, ok)
		}
		p, err := e.ConsentPayload()
		if err != nil {
			t.Fatal(err)
		}
		want := ConsentEventPayload{PersonalTaxID: "25872252137", LinkID: "ed812-81fcec-7ec55-7aa7d29-2a3188b75",
			Consents: EventConsent{ConsentID: "at932-61fc6c-0ec02-9fa7d29-2b3188b78", ExternalTrackID: "…", InstitutionCode: "…"}}
		if p != want {
			t.Errorf("got payload %+v, want %+v", p, want)
		}
	})
}

func TestParseEventsAcceptsASingleObjectWithEventIDSpelledUpperCase(t *testing.T) {
	t.Parallel()
	body := golden(t, "event_single.json")
	events, err := ParseEvents(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].EventID != "1495468585999-0e73d1719173766fe4dfe1a9" || events[0].EventName != EventConsentRevoked {
		t.Fatalf("got %+v, want one consent_revoked event", events)
	}
	if !bytes.Equal(events[0].Raw, bytes.TrimSpace(body)) {
		t.Errorf("got Raw %s, want the whole object", events[0].Raw)
	}
	p, err := events[0].ConsentPayload()
	if err != nil || p.Consents.ConsentID != "at932-61fc6c-0ec02-9fa7d29-2b3188b78" || p.Consents.InstitutionCode != "001" {
		t.Errorf("got %+v, %v, want the consent", p, err)
	}
}

// The sandbox can send events as a one-element array (the default, as every documented example) or as a bare
// object (its EventsAsObject option); both must parse to the same event.
func TestParseEventsGivesTheSameEventForTheArrayAndTheObjectForm(t *testing.T) {
	t.Parallel()
	arrayBody := golden(t, "event_consent_authorised.json")
	trimmed := bytes.TrimSpace(arrayBody)
	objectBody := bytes.TrimSpace(trimmed[1 : len(trimmed)-1]) // the one element, as a bare object
	if len(objectBody) == 0 || objectBody[0] != '{' {
		t.Fatalf("could not cut the element out of the golden array")
	}
	fromArray, err := ParseEvents(arrayBody)
	if err != nil {
		t.Fatalf("array form: %v", err)
	}
	fromObject, err := ParseEvents(objectBody)
	if err != nil {
		t.Fatalf("object form: %v", err)
	}
	if len(fromArray) != 1 || len(fromObject) != 1 {
		t.Fatalf("got %d and %d events, want 1 and 1", len(fromArray), len(fromObject))
	}
	if !reflect.DeepEqual(fromArray[0], fromObject[0]) {
		t.Errorf("array form %+v\nobject form %+v\nwant the same event", fromArray[0], fromObject[0])
	}
	if fromObject[0].EventID != "1495468585434-0e73d1719173766fe4dfe1a8" || fromObject[0].EventName != EventConsentAuthorised {
		t.Errorf("got %+v", fromObject[0])
	}
}

func TestParseEventsKeepsEachElementsRawJSON(t *testing.T) {
	t.Parallel()
	body := []byte(`[{"eventId":"a","eventName":"consent_authorised","payload":{"consents":[{"consentId":"c1"}]}},
	 {"eventId":"b","eventName":"product_generated_failed","payload":{"requestId":"r","taxId":"1","linkId":"l","consentIds":["c1"],"productName":"pf_credit_card","code":"5001","message":"failed"}},
	 {"eventId":"c","eventName":"something_new"}]`)
	events, err := ParseEvents(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("got %d events, want 3", len(events))
	}
	for i, id := range []string{"a", "b", "c"} {
		var w struct {
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(events[i].Raw, &w); err != nil || w.EventID != id || events[i].EventID != id {
			t.Errorf("event %d: got Raw %s, want the element with eventId %q", i, events[i].Raw, id)
		}
	}
	if p, err := events[0].ConsentPayload(); err != nil || p.Consents.ConsentID != "c1" {
		t.Errorf("got %+v %v, want consents given as an array to yield its first element", p, err)
	}
	pp, err := events[1].ProductPayload()
	want := ProductEventPayload{RequestID: "r", TaxID: "1", LinkID: "l", ConsentIDs: []string{"c1"},
		ProductName: "pf_credit_card", Code: 5001, Message: "failed"}
	if err != nil || !reflect.DeepEqual(pp, want) {
		t.Errorf("got %+v %v, want %+v", pp, err, want)
	}
	if events[2].EventName.Known() {
		t.Errorf("got Known() true for %q, want false (stored and ignored)", events[2].EventName)
	}
	if _, err := events[2].ConsentPayload(); !errors.Is(err, ErrMalformedWebhook) {
		t.Errorf("got %v for a missing payload, want ErrMalformedWebhook", err)
	}
}

func TestParseEventsRejectsBodiesItCannotKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"an empty body", ``},
		{"whitespace", "  \n"},
		{"an empty array", `[]`},
		{"a string", `"x"`},
		{"a number", `42`},
		{"truncated JSON", `[{"eventId":"a"`},
		{"an array of non-objects", `[1,2]`},
		{"an element without eventId", `[{"eventName":"link_created"}]`},
		{"an element with an empty eventId", `[{"eventId":""}]`},
		{"an eventId with a space", `[{"eventId":"a b"}]`},
		{"an eventId longer than 128", `[{"eventId":"` + strings.Repeat("a", 129) + `"}]`},
		{"an eventId that is an object", `[{"eventId":{}}]`},
		{"a second element without id", `[{"eventId":"a"},{"eventName":"x"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEvents([]byte(tc.body)); !errors.Is(err, ErrMalformedWebhook) {
				t.Errorf("got %v, want ErrMalformedWebhook", err)
			}
		})
	}
}

func TestParseEventsAcceptsANumericEventID(t *testing.T) {
	t.Parallel()
	events, err := ParseEvents([]byte(`{"eventId":1495468585434,"partnerAppId":12345678}`))
	if err != nil {
		t.Fatal(err)
	}
	if events[0].EventID != "1495468585434" || events[0].PartnerAppID != "12345678" {
		t.Errorf("got %+v, want the numbers' literal text", events[0])
	}
}

func TestParseReportReadsAPersonalCheckingAccountReport(t *testing.T) {
	t.Parallel()
	body := golden(t, "report_pf_checking_account.json")
	r, err := ParseReport(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 200 || r.Message != "OK" || r.RequestID != "xxxsssaa" || r.ProductName != "pf_checking_account" ||
		r.ProductVersion != "V1" || r.ProductReportID != "3f1c8a52-7d4e-4b8f-9a61-0c2d5e6f7a81" ||
		r.ProductReportTime != "2019-12-23T06:10:43" || r.EnquiryCpf != "76109277673" {
		t.Errorf("got envelope %+v, want the golden values", r)
	}
	if !bytes.Equal(r.Raw, body) {
		t.Errorf("got Raw of %d bytes, want the body's %d", len(r.Raw), len(body))
	}
	wantLinks := []ReportLink{{LinkID: "4437b139-8a16-11ee-b636-487b6bad036a", InstitutionCode: "001",
		Consents: []ReportConsent{{ConsentID: "ac246093-353b-4310-bd9c-c6ce0b278de8", Permissions: map[string]Permission{
			"REGISTRATION_ALL": {PermissionsGranted: true, AccountIDs: []string{"123456"}},
			"ACCOUNTS_ALL":     {PermissionsGranted: true, AccountIDs: []string{"123456"}},
		}}}}}
	if !reflect.DeepEqual(r.Links, wantLinks) {
		t.Errorf("got links %+v, want %+v", r.Links, wantLinks)
	}
	if len(r.CheckingAccounts) != 1 || len(r.SavingsAccounts) != 0 || len(r.CreditCards) != 0 {
		t.Fatalf("got %d/%d/%d checking/savings/cards, want 1/0/0", len(r.CheckingAccounts), len(r.SavingsAccounts), len(r.CreditCards))
	}
	a := r.CheckingAccounts[0]
	if a.CompeCode != "001" || a.Number != "94088392" || a.CheckDigit != "4" || a.Subtype != "INDIVIDUAL" ||
		a.CivilName != "Mike" || a.BranchCode != "6272" || a.CompanyCnpj != "21128159000166" {
		t.Errorf("got account %+v, want the golden values", a)
	}
	if want := (Money{Amount: "1000.0400", Currency: "BRL"}); a.Balances.AvailableAmount != want {
		t.Errorf("got available %+v, want %+v", a.Balances.AvailableAmount, want)
	}
	if u, err := a.Balances.AvailableAmount.Amount.Units(); err != nil || u != 10000400 {
		t.Errorf("got %d %v, want 10000400", u, err)
	}
	tx := a.TransactionDetails[0]
	want := Transaction{TransactionDate: "2021-01-07", TransactionDateTime: "2016-01-29T12:29:03.374Z",
		TransactionID: "TXpRMU9UQTROMWhZV2xSU1FUazJSMDl", CompletedAuthorisedPaymentType: "TRANSACAO_EFETIVADA",
		CreditDebitType: "DEBITO", TransactionAmount: Money{"1000.0400", "BRL"},
		TransactionName: "TRANSFCWAMGQGWKDSOAJHNRHBOMRYEYWTWY", Type: "PIX", PartieCnpjCpf: "43908445778",
		PartiePersonType: "PESSOA_NATURAL", PartieCompeCode: "001", PartieBranchCode: "6272",
		PartieNumber: "67890854360", PartieCheckDigit: "4"}
	if tx != want {
		t.Errorf("got transaction %+v, want %+v", tx, want)
	}
	if s, err := tx.Signed(); err != nil || s != -10000400 {
		t.Errorf("got signed %d %v, want -10000400 (DEBITO)", s, err)
	}
}

func TestParseReportReadsAPersonalCreditCardReport(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pf_credit_card.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.CreditCards) != 1 {
		t.Fatalf("got %d cards, want 1", len(r.CreditCards))
	}
	c := r.CreditCards[0]
	if c.Name != "Cartão Universitário" || c.CreditCardNetwork != "VISA" || c.ProductType != "OUTROS" || c.IsActive != nil {
		t.Errorf("got card %+v, want the golden values and no isActive", c)
	}
	if want := []PaymentMethod{{IdentificationNumber: "4453", IsMultipleCreditCard: true}}; !reflect.DeepEqual(c.PaymentMethods, want) {
		t.Errorf("got payment methods %+v, want %+v", c.PaymentMethods, want)
	}
	m := Money{"1000.0400", "BRL"}
	if want := (CardLimit{IsLimitFlexible: true, LimitAmount: m, UsedAmount: m, AvailableAmount: m}); c.Limit == nil || *c.Limit != want {
		t.Errorf("got limit %+v, want %+v", c.Limit, want)
	}
	if c.OpenStatement == nil || c.OpenStatement.BillMonth != "2021-05" || c.OpenStatement.BillMinimumAmount != nil {
		t.Fatalf("got open statement %+v, want 2021-05 without minimum", c.OpenStatement)
	}
	wantTx := CardTransaction{TransactionDate: "2021-05-01", TransactionDateTime: "2016-01-29T12:29:03.374Z",
		TransactionName: "PGTO", IdentificationNumber: "4453", TransactionID: "TXpRMU9UQTROMWhZV2xSU1FUazJSMDl",
		TransactionType: "CASHBACK", BillPostDate: "2021-05-01", CreditDebitType: "DEBITO", FeeType: "ANUIDADE",
		PaymentType: "A_VISTA", ChargeIdentificator: "12", BrazilianAmount: m, PayeeMCC: 5137, ChargeNumber: 12}
	if got := c.OpenStatement.TransactionDetails[0]; got != wantTx {
		t.Errorf("got card transaction %+v, want %+v", got, wantTx)
	}
	if len(c.ClosedStatements) != 1 || c.ClosedStatements[0].BillMinimumAmount == nil ||
		*c.ClosedStatements[0].BillMinimumAmount != m || c.ClosedStatements[0].DueDate != "2021-04-21" {
		t.Errorf("got closed statements %+v, want one with a minimum", c.ClosedStatements)
	}
	if r.EnquiryCpf != "cly0AXWVPlVJMk-3P1qFQ5i3UgY-" {
		t.Errorf("got enquiryCpf %q, want the encoded value as is", r.EnquiryCpf)
	}
}

func TestParseReportReadsTheCategorizedCardVariantWithLimits(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pf_categorized_creditcard_l3.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.CreditCards[0]
	if c.IsActive == nil || !*c.IsActive {
		t.Errorf("got isActive %v, want true", c.IsActive)
	}
	if c.Limit == nil || c.Limit.UsedAmount.Amount != "1250.5000" || c.Limit.IsLimitFlexible {
		t.Errorf("got limit %+v, want the \"limits\" object", c.Limit)
	}
	tx := c.OpenStatement.TransactionDetails[0]
	if tx.PayeeMCC != 4899 || tx.Category != "Lazer" || tx.Subcategory != "Streaming" || tx.ThirdCategory != "Vídeo" || tx.Brand != "Netflix" {
		t.Errorf("got %+v, want payeeMCC from a string and the categories", tx)
	}
}

func TestParseReportReadsABusinessReportWithAPartialCode(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pj_checking_account.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 204 || r.EnquiryCnpj != "11222333000181" || r.ProductName != "pj_checking_account" {
		t.Errorf("got %+v, want code 204 with enquiryCnpj", r)
	}
	a := r.CheckingAccounts[0]
	if u, err := a.Balances.AvailableAmount.Amount.Units(); err != nil || u != -125000 {
		t.Errorf("got %d %v, want -125000", u, err)
	}
	tx := a.TransactionDetails[0]
	if tx.PostTransactionBalance != "100.00" {
		t.Errorf("got postTransactionBalance %q, want 100.00", tx.PostTransactionBalance)
	}
	if s, err := tx.Signed(); err != nil || s != 2500000 {
		t.Errorf("got %d %v, want +2500000 (CREDITO)", s, err)
	}
}

func TestParseReportAcceptsSavingsAccountsAndLimitsAsAnArray(t *testing.T) {
	t.Parallel()
	body := []byte(`{"code":200,"productName":"pf_savings_account","productReportId":"p1","savingsAccounts":[{"number":"1","balances":{"availableAmount":{"amount":12.5,"currency":"BRL"}}}],
	"creditCards":[{"name":"x","limits":[{"isLimitFlexible":true,"limitAmount":{"amount":"1.0000","currency":"BRL"}}]}]}`)
	r, err := ParseReport(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.SavingsAccounts) != 1 || r.SavingsAccounts[0].Balances.AvailableAmount.Amount != "12.5" {
		t.Errorf("got %+v, want one savings account with the number's literal text", r.SavingsAccounts)
	}
	if r.CreditCards[0].Limit == nil || r.CreditCards[0].Limit.LimitAmount.Amount != "1.0000" {
		t.Errorf("got %+v, want the first element of limits", r.CreditCards[0].Limit)
	}
}

func TestParseReportRejectsTheLegacyFormat(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		string(golden(t, "report_legacy.json")),
		`{"msg":"ok"}`,
		`{"report_type":"income","productReportId":"x"}`,
		`{"code":200,"data":{"enquiry_cpf":"1"}}`,
	} {
		if _, err := ParseReport([]byte(body)); !errors.Is(err, ErrLegacyReport) {
			t.Errorf("ParseReport(%s): got %v, want ErrLegacyReport", body, err)
		}
	}
}

func TestParseReportRejectsMalformedBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"an empty body", ``},
		{"an array", `[{"productReportId":"x"}]`},
		{"truncated JSON", `{"productReportId":"x"`},
		{"no productReportId", `{"code":200,"productName":"pf_checking_account"}`},
		{"an account list that is an object", `{"productReportId":"x","checkingAccounts":{}}`},
		{"an amount that is an object", `{"productReportId":"x","checkingAccounts":[{"balances":{"availableAmount":{"amount":{}}}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseReport([]byte(tc.body))
			if !errors.Is(err, ErrMalformedWebhook) {
				t.Errorf("got %v, want ErrMalformedWebhook", err)
			}
		})
	}
}

// field is one named assertion of a field-by-field golden test.
type field struct {
	name      string
	got, want any
}

func checkFields(t *testing.T, fields []field) {
	t.Helper()
	for _, f := range fields {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s: got %#v, want %#v", f.name, f.got, f.want)
		}
	}
}

func intp(n int) *int { return &n }

func TestParseReportReadsTheCategorizedCheckingVariant(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pf_categorized_checking_l3.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, []field{
		{"code", r.Code, 200},
		{"productName", r.ProductName, "pf_categorized_checking_l3"},
		{"productVersion", r.ProductVersion, "V1"},
		{"productReportId", r.ProductReportID, "e7f8a9b0-0000-4000-8000-000000000005"},
		{"requestId", r.RequestID, "req-cat-1"},
		{"enquiryCpf", r.EnquiryCpf, "76109277673"},
		{"checking accounts", len(r.CheckingAccounts), 1},
		{"credit cards", len(r.CreditCards), 0},
	})
	if len(r.CheckingAccounts) != 1 || len(r.CheckingAccounts[0].TransactionDetails) != 2 {
		t.Fatalf("got %+v, want one account with two transactions", r.CheckingAccounts)
	}
	a := r.CheckingAccounts[0]
	checkFields(t, []field{
		{"number", a.Number, "94088392"},
		{"compeCode", a.CompeCode, "001"},
		{"available", a.Balances.AvailableAmount, Money{"3100.0000", "BRL"}},
	})

	salary, bill := a.TransactionDetails[0], a.TransactionDetails[1]
	checkFields(t, []field{
		{"transactionId", salary.TransactionID, "TXpRMU9UQTROMWhZV2xSU1FUazJSMDm"},
		{"transactionDate", salary.TransactionDate, "2021-01-05"},
		{"transactionDateTime", salary.TransactionDateTime, "2021-01-05T09:15:00.000Z"},
		{"completedAuthorisedPaymentType", salary.CompletedAuthorisedPaymentType, "TRANSACAO_EFETIVADA"},
		{"creditDebitType", salary.CreditDebitType, "CREDITO"},
		{"transactionAmount", salary.TransactionAmount, Money{"3500.0000", "BRL"}},
		{"transactionName", salary.TransactionName, "SALARIO EMPRESA X"},
		{"type", salary.Type, "PIX"},
		{"partieCnpjCpf", salary.PartieCnpjCpf, "11222333000181"},
		{"partiePersonType", salary.PartiePersonType, "PESSOA_JURIDICA"},
		{"postTransactionBalance", salary.PostTransactionBalance, Amount("3600.00")},
		{"category", salary.Category, "Renda"},
		{"subcategory", salary.Subcategory, "Renda ativa"},
		{"thirdCategory", salary.ThirdCategory, "Salário"},
		{"fAll", salary.FAll, intp(12)},
		{"fAllMonth", salary.FAllMonth, intp(1)},
		{"fAllCmonth", salary.FAllCmonth, intp(3)},
		{"settlementType", salary.SettlementType, "PIX"},

		{"second transactionId", bill.TransactionID, "TXpRMU9UQTROMWhZV2xSU1FUazJSMDn"},
		{"second creditDebitType", bill.CreditDebitType, "DEBITO"},
		{"second type", bill.Type, "BOLETO"},
		{"second category", bill.Category, "Moradia"},
		{"second subcategory", bill.Subcategory, "Contas da casa"},
		{"second thirdCategory", bill.ThirdCategory, "Energia"},
		{"second fAll (a sent 0 is not nil)", bill.FAll, intp(0)},
		{"second fAllMonth", bill.FAllMonth, intp(0)},
		{"second fAllCmonth", bill.FAllCmonth, intp(0)},
		{"second settlementType", bill.SettlementType, "BOLETO"},
	})
	if s, err := salary.Signed(); err != nil || s != 35000000 {
		t.Errorf("got signed %d %v, want +35000000 (CREDITO)", s, err)
	}
	if s, err := bill.Signed(); err != nil || s != -5000000 {
		t.Errorf("got signed %d %v, want -5000000 (DEBITO)", s, err)
	}
}

func TestTheCategoryCountsAreNilWhenAbsentAndAcceptNumericStrings(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pf_checking_account.json"))
	if err != nil {
		t.Fatal(err)
	}
	tx := r.CheckingAccounts[0].TransactionDetails[0]
	if tx.FAll != nil || tx.FAllMonth != nil || tx.FAllCmonth != nil {
		t.Errorf("got %v %v %v, want nil for a non-categorized report", tx.FAll, tx.FAllMonth, tx.FAllCmonth)
	}
	body := []byte(`{"productReportId":"p","checkingAccounts":[{"transactionDetails":[{"fAll":"7","fAllMonth":null,"fAllCmonth":2}]}],
	"creditCards":[{"openStatement":{"transactionDetails":[{"fAll":"4","fAllCmonth":5}]}}]}`)
	if r, err = ParseReport(body); err != nil {
		t.Fatal(err)
	}
	got := r.CheckingAccounts[0].TransactionDetails[0]
	card := r.CreditCards[0].OpenStatement.TransactionDetails[0]
	checkFields(t, []field{
		{"fAll from a string", got.FAll, intp(7)},
		{"fAllMonth null", got.FAllMonth, (*int)(nil)},
		{"fAllCmonth", got.FAllCmonth, intp(2)},
		{"card fAll from a string", card.FAll, intp(4)},
		{"card fAllMonth absent", card.FAllMonth, (*int)(nil)},
		{"card fAllCmonth", card.FAllCmonth, intp(5)},
	})
	if _, err := ParseReport([]byte(`{"productReportId":"p","checkingAccounts":[{"transactionDetails":[{"fAll":"x"}]}]}`)); !errors.Is(err, ErrMalformedWebhook) {
		t.Errorf("got %v, want ErrMalformedWebhook for a non-integer fAll", err)
	}
}

func TestParseReportReadsTheCategorizedCardCounts(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pf_categorized_creditcard_l3.json"))
	if err != nil {
		t.Fatal(err)
	}
	tx := r.CreditCards[0].OpenStatement.TransactionDetails[0]
	checkFields(t, []field{
		{"fAll", tx.FAll, intp(1)},
		{"fAllMonth", tx.FAllMonth, intp(1)},
		{"fAllCmonth", tx.FAllCmonth, intp(0)},
	})
}

func TestParseReportReadsABusinessCreditCardReport(t *testing.T) {
	t.Parallel()
	r, err := ParseReport(golden(t, "report_pj_credit_card.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, []field{
		{"code", r.Code, 200},
		{"message", r.Message, "OK"},
		{"requestId", r.RequestID, "req-pj-card-1"},
		{"productName", r.ProductName, "pj_credit_card"},
		{"productVersion", r.ProductVersion, "V1.1"},
		{"productReportId", r.ProductReportID, "f9a0b1c2-0000-4000-8000-000000000006"},
		{"productReportTime", r.ProductReportTime, "2024-01-02T03:04:05"},
		{"enquiryCnpj", r.EnquiryCnpj, "11222333000181"},
		{"enquiryCpf", r.EnquiryCpf, ""},
		{"links", r.Links, []ReportLink{{LinkID: "l-2", InstitutionCode: "341", Consents: []ReportConsent{{ConsentID: "c-2",
			Permissions: map[string]Permission{"CREDIT_CARDS_ALL": {PermissionsGranted: true, AccountIDs: []string{"7781"}}}}}}}},
		{"checking accounts", len(r.CheckingAccounts), 0},
		{"credit cards", len(r.CreditCards), 1},
	})
	if len(r.CreditCards) != 1 {
		t.FailNow()
	}
	c := r.CreditCards[0]
	checkFields(t, []field{
		{"brandName", c.BrandName, "Itaú"},
		{"bacenName", c.BacenName, "Itaú Unibanco S.A."},
		{"companyCnpj", c.CompanyCnpj, "60701190000104"},
		{"civilName", c.CivilName, "Empresa X Ltda"},
		{"name", c.Name, "Cartão Empresarial"},
		{"productType", c.ProductType, "OUTROS"},
		{"creditCardNetwork", c.CreditCardNetwork, "MASTERCARD"},
		{"isActive", c.IsActive, (*bool)(nil)},
		{"paymentMethods", c.PaymentMethods, []PaymentMethod{{IdentificationNumber: "7781", IsMultipleCreditCard: false}}},
		{"limit", c.Limit, &CardLimit{IsLimitFlexible: false, LimitAmount: Money{"20000.0000", "BRL"},
			UsedAmount: Money{"4520.7500", "BRL"}, AvailableAmount: Money{"15479.2500", "BRL"}}},
	})
	if c.OpenStatement == nil || len(c.OpenStatement.TransactionDetails) != 1 {
		t.Fatalf("got open statement %+v, want one with one transaction", c.OpenStatement)
	}
	o := c.OpenStatement
	tx := o.TransactionDetails[0]
	checkFields(t, []field{
		{"billMonth", o.BillMonth, "2024-01"},
		{"billingDate", o.BillingDate, "2024-01-10"},
		{"dueDate", o.DueDate, "2024-01-20"},
		{"billTotalAmount", o.BillTotalAmount, Money{"4520.7500", "BRL"}},
		{"open billMinimumAmount", o.BillMinimumAmount, (*Money)(nil)},
		{"transactionDate", tx.TransactionDate, "2024-01-03"},
		{"transactionDateTime", tx.TransactionDateTime, "2024-01-03T14:22:31.120Z"},
		{"brazilianAmount", tx.BrazilianAmount, Money{"1520.7500", "BRL"}},
		{"transactionName", tx.TransactionName, "FORNECEDOR ABC"},
		{"identificationNumber", tx.IdentificationNumber, "7781"},
		{"transactionId", tx.TransactionID, "TXpjYXJkcGoxMjM0NTY3ODkwMTIzNDU"},
		{"transactionType", tx.TransactionType, "PAGAMENTO"},
		{"billPostDate", tx.BillPostDate, "2024-01-03"},
		{"creditDebitType", tx.CreditDebitType, "DEBITO"},
		{"feeType", tx.FeeType, "OUTRA"},
		{"otherCreditsType", tx.OtherCreditsType, ""},
		{"payeeMCC", tx.PayeeMCC, 5111},
		{"paymentType", tx.PaymentType, "A_PRAZO"},
		{"chargeIdentificator", tx.ChargeIdentificator, "3"},
		{"chargeNumber", tx.ChargeNumber, 6},
		{"category (not categorized)", tx.Category, ""},
		{"fAll (not categorized)", tx.FAll, (*int)(nil)},
	})
	if len(c.ClosedStatements) != 1 {
		t.Fatalf("got %d closed statements, want 1", len(c.ClosedStatements))
	}
	cs := c.ClosedStatements[0]
	checkFields(t, []field{
		{"closed billMonth", cs.BillMonth, "2023-12"},
		{"closed billingDate", cs.BillingDate, "2023-12-10"},
		{"closed dueDate", cs.DueDate, "2023-12-20"},
		{"closed billTotalAmount", cs.BillTotalAmount, Money{"3000.0000", "BRL"}},
		{"closed billMinimumAmount", cs.BillMinimumAmount, &Money{"300.0000", "BRL"}},
		{"closed transactions", len(cs.TransactionDetails), 0},
	})
	if u, err := c.Limit.AvailableAmount.Amount.Units(); err != nil || u != 154792500 {
		t.Errorf("got available limit %d %v, want 154792500", u, err)
	}
}
