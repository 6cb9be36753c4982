package klavi

// ConsentStatus is a consent's status as Klavi spells it (British spelling, docs/klavi.md#statuses).
type ConsentStatus string

// Consent statuses. Only StatusAuthorised allows requesting reports.
const (
	StatusStarted                   ConsentStatus = "STARTED"
	StatusAwaitingAuthorisation     ConsentStatus = "AWAITING_AUTHORISATION"
	StatusAwaitingLGPDAuthorisation ConsentStatus = "AWAITING_LGPD_AUTHORISATION"
	StatusAuthorised                ConsentStatus = "AUTHORISED"
	StatusError                     ConsentStatus = "ERROR"
	StatusRejected                  ConsentStatus = "REJECTED"
	StatusExpired                   ConsentStatus = "EXPIRED"
	StatusRevoked                   ConsentStatus = "REVOKED"
	StatusDeletedByUser             ConsentStatus = "DELETED_BY_USER"
)

// Terminal reports whether no further transition can follow: REJECTED, ERROR, EXPIRED, REVOKED and
// DELETED_BY_USER. AUTHORISED is not terminal (it can still become REVOKED, EXPIRED or DELETED_BY_USER), and
// an unknown status is not terminal either: treat it as "pending, check again later", never as success.
func (s ConsentStatus) Terminal() bool {
	switch s {
	case StatusRejected, StatusError, StatusExpired, StatusRevoked, StatusDeletedByUser:
		return true
	}
	return false
}

// Known reports whether s is one of the nine documented statuses (exact, case-sensitive match).
func (s ConsentStatus) Known() bool {
	switch s {
	case StatusStarted, StatusAwaitingAuthorisation, StatusAwaitingLGPDAuthorisation, StatusAuthorised,
		StatusError, StatusRejected, StatusExpired, StatusRevoked, StatusDeletedByUser:
		return true
	}
	return false
}

// EventName is an API event's `eventName` (docs/klavi.md#events). Unknown names are valid values: receivers
// store and ignore them.
type EventName string

// Event names sent by Klavi. EventLinkActionStatus is the regulated-FI variant that folds every consent_* event
// into one (its action-status field is undocumented).
const (
	EventLinkCreated             EventName = "link_created"
	EventConsentAuthorised       EventName = "consent_authorised"
	EventConsentError            EventName = "consent_error"
	EventConsentRejected         EventName = "consent_rejected"
	EventConsentExpired          EventName = "consent_expired"
	EventConsentRevoked          EventName = "consent_revoked"
	EventConsentDeletedByUser    EventName = "consent_deleted_by_user"
	EventProductRequestReceived  EventName = "product_request_received"
	EventProductGeneratedSuccess EventName = "product_generated_success"
	EventProductGeneratedFailed  EventName = "product_generated_failed"
	EventLinkActionStatus        EventName = "link_action_status"
)

// ConsentStatus returns the consent status a consent_* event announces (consent_authorised → AUTHORISED, ...).
// ok is false for every other event, including link_action_status.
func (e EventName) ConsentStatus() (ConsentStatus, bool) {
	switch e {
	case EventConsentAuthorised:
		return StatusAuthorised, true
	case EventConsentError:
		return StatusError, true
	case EventConsentRejected:
		return StatusRejected, true
	case EventConsentExpired:
		return StatusExpired, true
	case EventConsentRevoked:
		return StatusRevoked, true
	case EventConsentDeletedByUser:
		return StatusDeletedByUser, true
	}
	return "", false
}

// Known reports whether e is one of the documented event names.
func (e EventName) Known() bool {
	switch e {
	case EventLinkCreated, EventConsentAuthorised, EventConsentError, EventConsentRejected, EventConsentExpired,
		EventConsentRevoked, EventConsentDeletedByUser, EventProductRequestReceived, EventProductGeneratedSuccess,
		EventProductGeneratedFailed, EventLinkActionStatus:
		return true
	}
	return false
}
