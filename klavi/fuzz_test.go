package klavi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// The committed corpus lives in testdata/fuzz/<FuzzName>/ (Go's corpus file format); the golden samples are
// added as seeds too. Both targets must never panic and must keep their documented invariants.

func FuzzParseEvents(f *testing.F) {
	for _, name := range []string{"event_link_created.json", "event_consent_authorised.json", "event_single.json"} {
		f.Add(golden(f, name))
	}
	f.Add([]byte(`[{"eventId":"a","payload":{"consents":[{"consentId":"c"}]}},{"eventID":"b","payload":{"code":"5001"}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseEvents(body)
		if err != nil {
			if events != nil {
				t.Errorf("got events %v with error %v, want nil", events, err)
			}
			if !errors.Is(err, ErrMalformedWebhook) {
				t.Errorf("got %v, want an error wrapping ErrMalformedWebhook", err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatal("got no events and no error")
		}
		for _, e := range events {
			if !validEventID(e.EventID) {
				t.Errorf("got invalid eventId %q", e.EventID)
			}
			if !json.Valid(e.Raw) {
				t.Errorf("got Raw that is not valid JSON: %q", e.Raw)
			}
			_, _ = e.ConsentPayload()
			_, _ = e.ProductPayload()
			_, _ = e.EventName.ConsentStatus()
		}
	})
}

func FuzzParseReport(f *testing.F) {
	for _, name := range []string{"report_pf_checking_account.json", "report_pf_credit_card.json",
		"report_pf_categorized_creditcard_l3.json", "report_pj_checking_account.json", "report_legacy.json",
		"report_pf_categorized_checking_l3.json", "report_pj_credit_card.json"} {
		f.Add(golden(f, name))
	}
	f.Add([]byte(`{"productReportId":"x","creditCards":[{"limits":[{"isLimitFlexible":true}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseReport(body)
		if err != nil {
			if r != nil {
				t.Errorf("got a report with error %v, want nil", err)
			}
			if !errors.Is(err, ErrMalformedWebhook) && !errors.Is(err, ErrLegacyReport) {
				t.Errorf("got %v, want ErrMalformedWebhook or ErrLegacyReport", err)
			}
			return
		}
		if r.ProductReportID == "" {
			t.Error("got a report without productReportId")
		}
		for _, accs := range [][]Account{r.CheckingAccounts, r.SavingsAccounts} {
			for _, a := range accs {
				checkAmount(t, a.Balances.AvailableAmount.Amount)
				for _, tx := range a.TransactionDetails {
					checkAmount(t, tx.TransactionAmount.Amount)
					_, _ = tx.Signed()
				}
			}
		}
		for _, c := range r.CreditCards {
			if c.Limit != nil {
				checkAmount(t, c.Limit.LimitAmount.Amount)
			}
		}
	})
}

// checkAmount: whatever Units accepts must survive a FormatUnits round trip.
func checkAmount(t *testing.T, a Amount) {
	u, err := a.Units()
	if err != nil {
		return
	}
	if back, err := FormatUnits(u).Units(); err != nil || back != u {
		t.Errorf("amount %q: round trip gave %d %v, want %d", a, back, err, u)
	}
}

// parseReportTwice is ParseReport as it was before it decoded in one pass (docs/benchmarks.md#report-path): the
// body read as a map first (legacy keys), then as the wire struct. FuzzParseReportOnePass holds the new code to it.
func parseReportTwice(body []byte) (*Report, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformed("report is not a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return nil, malformed(jsonErrKind(err))
	}
	if isLegacy(top) {
		return nil, ErrLegacyReport
	}
	var w reportWire
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, malformed(jsonErrKind(err))
	}
	if w.ProductReportID == "" {
		return nil, malformed("missing productReportId")
	}
	r := w.envelope()
	r.CheckingAccounts, r.SavingsAccounts, r.CreditCards = w.CheckingAccounts, w.SavingsAccounts, w.CreditCards
	r.Raw = append(json.RawMessage(nil), body...)
	return r, nil
}

// FuzzParseReportOnePass: ParseReport gives exactly what the two-pass parser gave, and ParseReportEnvelope agrees
// with it on everything but the product part: the same envelope, the legacy format refused by both, and it accepts
// whatever ParseReport accepts (and refuses only what ParseReport refuses).
func FuzzParseReportOnePass(f *testing.F) {
	for _, name := range []string{"report_pf_checking_account.json", "report_pf_credit_card.json",
		"report_legacy.json", "report_pf_categorized_checking_l3.json", "report_pj_credit_card.json"} {
		f.Add(golden(f, name))
	}
	for _, s := range []string{`{"msg":"ok"}`, `{"MSG":1,"productReportId":"x"}`, `{"report_type":"income","productReportId":"x"}`,
		`{"code":200,"data":{"enquiry_cpf":"1"}}`, `{"Data":{"enquiry_cpf":"1"},"productReportId":"x"}`,
		`{"code":{},"msg":"ok"}`, `{"productReportId":"p","checkingAccounts":[{"transactionDetails":[{"fAll":"x"}]}]}`,
		`{"productReportId":"p","links":"x"}`, `{"productReportId":7,"code":"204"}`, `{"productReportId":"p","creditCards":{}}`,
		`{"productReportId":"p"`, `{"productreportid":"p","Links":[{"linkId":"l"}]}`,
		` { "checkingAccounts" : [ {"a":"]}\\\"{"} ] , "productReportId" : "p" , "creditCards":null,"code":-1.5e3 } `,
		`{"productReportId":"p","checking\u0041ccounts":{"x":[1,{"y":"}"}]},"savingsAccounts":true,"links":[]}`,
		`{"checkingAccounts":[],"msg":null}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := parseReportTwice(body)
		got, err := ParseReport(body)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseReport = %+v, %v\nwant %+v, %v", got, err, want, wantErr)
		}
		env, envErr := ParseReportEnvelope(body)
		var w reportEnvelopeWire // the envelope decoded from the whole body, without cutting the product part out
		wErr := parseReport(body, &w)
		if fmt.Sprint(envErr) != fmt.Sprint(wErr) || envErr == nil && !reflect.DeepEqual(env, w.envelope()) {
			t.Fatalf("ParseReportEnvelope = %+v, %v\nwant %+v, %v", env, envErr, w.envelope(), wErr)
		}
		switch {
		case envErr != nil:
			// ParseReport refuses too, for the same reason unless its product part failed first.
			if err == nil || errors.Is(envErr, ErrLegacyReport) != errors.Is(err, ErrLegacyReport) {
				t.Fatalf("ParseReportEnvelope refused with %v, ParseReport gave %v", envErr, err)
			}
		case err == nil:
			full := *got
			full.CheckingAccounts, full.SavingsAccounts, full.CreditCards, full.Raw = nil, nil, nil, nil
			if !reflect.DeepEqual(*env, full) {
				t.Fatalf("envelope = %+v\nwant %+v", *env, full)
			}
		case errors.Is(err, ErrLegacyReport):
			t.Fatalf("ParseReportEnvelope accepted a legacy body that ParseReport refused (%v)", err)
		}
	})
}
