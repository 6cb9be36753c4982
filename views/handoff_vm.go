package views

import "github.com/klavi-demo/portal/consent"

// LinkStripVM is the strip of a consent page: every institution of the consent's link with its status.
type LinkStripVM struct {
	Items []LinkStripItem
	// NoteKey is a quiet note under the strip ("" for none): Klavi's status call failed, or could not be made.
	NoteKey string
	// Expired: the link's token can no longer create consents; the page says so and offers to start again.
	Expired bool
	// CanAdd shows "connect another bank" (a POST to AddURL) to the browser that owns the consent.
	CanAdd bool
	AddURL string
}

// LinkStripItem is one institution of the link.
type LinkStripItem struct {
	Code, Name string
	Status     consent.Status // as stored, or Klavi's when further along; Open Data task statuses as sent
	Href       string         // its consent page, "" when the viewer may not see it (or only Klavi knows it)
	Current    bool           // the consent of the page
}

// HandoffVM is the "continue on your phone" block of the institution step, and its live status line.
type HandoffVM struct {
	State         string // waiting, opened, done or expired
	URL           string // the short URL the QR code carries (waiting only)
	QRPath        string // SVG path of the dark modules, in module units
	QRSize        int    // the symbol's side in modules, quiet zone included
	ValidMinutes  int    // whole minutes the code has left, rounded up (1: less than a minute)
	LiveURL       string // polled by handoff.js
	DoneURL       string // "I finished on my phone" (no JavaScript needed)
	NewURL        string // a new code
	Script        string // handoff.js, content-hashed
	DoneConsentID string // the consent the phone created (done), or one it created before (said above a new code)
}

// HandoffLandingVM is the phone's confirmation page before it spends a code.
type HandoffLandingVM struct {
	Action      string // POST target: /h/<token>
	TaxIDMasked string
	PersonType  string
}
