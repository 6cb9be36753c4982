package klavi

import (
	"encoding/json"
	"errors"
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
