package views

import (
	"time"

	"github.com/klavi-demo/portal/consent"
)

// ReplayRow is one replay of a delivery, on the delivery's page.
type ReplayRow struct {
	ID            int64
	At            time.Time
	Actor         string
	Changed       bool   // false: it had been applied already and nothing changed
	Result        string // the worker's results, as stored (see WebhookRow.Result)
	ConsentID     string
	ConsentKnown  bool
	Before, After consent.Status // the consent's status around the replay; "" when unknown
}

// SimulateVM feeds /webhooks/simulate: the form, and after a POST the round trip.
type SimulateVM struct {
	Consents  []ConsentRow // the newest consents, for the select
	ConsentID string       // the form's values
	Event     string
	Product   string
	Events    []string // simulate.Choices
	Products  []string // simulate.Products
	PublicURL string   // where the webhook is sent (PUBLIC_URL)
	Error     string   // message key of a refused form (shown next to the form)
	Result    *SimulateResult
}

// SimulateResult is one round trip as the page shows it.
type SimulateResult struct {
	Event, Name, Key, URL string // what was sent (Name: the event name or the report's product) and where
	Status                int    // HTTP status; 0: no answer
	Millis                int64  // time to the answer
	Problem               string // "" or a simulate.Problem
	Location              string // a redirect's target
	DeliveryID            int64  // 0: no delivery found in this portal
	DeliveryResult        string // as stored
	Applied               bool   // the worker finished with it
	ConsentID             string
	Before, After         consent.Status
}
