package klavi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Webhook headers (docs/klavi.md#signature). The timestamp is not covered by the signature.
const (
	SignatureHeader = "X-Klavi-Signature"
	TimestampHeader = "X-Klavi-Timestamp"
)

// maxEventIDLen bounds eventId, which becomes a database key.
const maxEventIDLen = 128

// Sign returns the lowercase hex HMAC-SHA256 of body keyed with secretKey, as Klavi puts it in
// X-Klavi-Signature. Used by tests and by the sandbox side of the contract.
func Sign(secretKey string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether signature is hex(HMAC-SHA256(secretKey, body)) over exactly these raw bytes
// (never a re-serialisation). Upper-case hex is accepted. An empty secret or signature, non-hex text, or a
// length other than 64 hex digits is false. The MACs are compared in constant time with hmac.Equal.
func VerifySignature(secretKey string, body []byte, signature string) bool {
	if secretKey == "" || len(signature) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Event is one API event envelope (docs/klavi.md#events). Payload and ExternalInfo are the raw JSON of those
// members (nil when absent); Raw is this element's own JSON, for per-element storage and deduplication by EventID.
type Event struct {
	PartnerAppID, EventID, EventType string
	EventName                        EventName
	EventTime                        string
	Payload                          json.RawMessage
	ExternalInfo                     json.RawMessage
	Raw                              json.RawMessage
}

type eventWire struct {
	PartnerAppID flexString      `json:"partnerAppId"`
	EventID      flexString      `json:"eventId"`
	EventIDUpper flexString      `json:"eventID"` // one doc table spells it this way
	EventType    string          `json:"eventType"`
	EventName    string          `json:"eventName"`
	EventTime    string          `json:"eventTime"`
	Payload      json.RawMessage `json:"payload"`
	ExternalInfo json.RawMessage `json:"externalInfo"`
}

// ParseEvents parses an event webhook body: a JSON array of envelopes (every documented example) or a single
// envelope. Each element must be an object with a non-empty eventId (or eventID) of at most 128 printable
// ASCII characters; otherwise the whole body is rejected with an error wrapping ErrMalformedWebhook (an empty
// array included). Unknown event names are returned as they are. Error texts never quote the body.
func ParseEvents(body []byte) ([]Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, malformed("empty body")
	}
	var elems []json.RawMessage
	switch trimmed[0] {
	case '[':
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, malformed(jsonErrKind(err))
		}
		if len(elems) == 0 {
			return nil, malformed("empty event array")
		}
	case '{':
		elems = []json.RawMessage{trimmed}
	default:
		return nil, malformed("body is neither a JSON array nor an object")
	}
	events := make([]Event, 0, len(elems))
	for i, raw := range elems {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '{' {
			return nil, malformed(fmt.Sprintf("event %d is not an object", i))
		}
		var w eventWire
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, malformed(fmt.Sprintf("event %d: %s", i, jsonErrKind(err)))
		}
		id := string(w.EventID)
		if id == "" {
			id = string(w.EventIDUpper)
		}
		if !validEventID(id) {
			return nil, malformed(fmt.Sprintf("event %d: missing or invalid eventId", i))
		}
		events = append(events, Event{
			PartnerAppID: string(w.PartnerAppID),
			EventID:      id,
			EventType:    w.EventType,
			EventName:    EventName(w.EventName),
			EventTime:    w.EventTime,
			Payload:      nonNull(w.Payload),
			ExternalInfo: nonNull(w.ExternalInfo),
			Raw:          append(json.RawMessage(nil), raw...),
		})
	}
	return events, nil
}

func validEventID(id string) bool {
	if id == "" || len(id) > maxEventIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func isObject(m json.RawMessage) bool {
	t := bytes.TrimSpace(m)
	return len(t) > 0 && t[0] == '{'
}

func nonNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}

func malformed(msg string) error {
	return fmt.Errorf("%w: %s", ErrMalformedWebhook, msg)
}

// ConsentEventPayload is the payload of consent_* events (docs/klavi.md#events). Consents is a single object in the
// docs' example; when Klavi sends an array, its first element is used.
type ConsentEventPayload struct {
	PersonalTaxID, BusinessTaxID, LinkID string
	Consents                             EventConsent
}

// EventConsent is the `consents` member of a consent event payload.
type EventConsent struct {
	ConsentID, ExternalTrackID, InstitutionCode string
}

type eventConsentWire struct {
	ConsentID       string `json:"consentId"`
	ExternalTrackID string `json:"externalTrackId"`
	InstitutionCode string `json:"institutionCode"`
}

// ConsentPayload decodes e.Payload as a consent event payload (also works for link_created, whose payload has
// the same tax id and linkId members and no consents).
func (e Event) ConsentPayload() (ConsentEventPayload, error) {
	var w struct {
		PersonalTaxID flexString      `json:"personalTaxId"`
		BusinessTaxID flexString      `json:"businessTaxId"`
		LinkID        flexString      `json:"linkId"`
		Consents      json.RawMessage `json:"consents"`
	}
	if !isObject(e.Payload) {
		return ConsentEventPayload{}, malformed("payload is not an object")
	}
	if err := json.Unmarshal(e.Payload, &w); err != nil {
		return ConsentEventPayload{}, malformed("payload: " + jsonErrKind(err))
	}
	p := ConsentEventPayload{PersonalTaxID: string(w.PersonalTaxID), BusinessTaxID: string(w.BusinessTaxID),
		LinkID: string(w.LinkID)}
	cons := bytes.TrimSpace(w.Consents)
	if len(cons) > 0 && cons[0] == '[' {
		var list []eventConsentWire
		if err := json.Unmarshal(cons, &list); err != nil {
			return ConsentEventPayload{}, malformed("payload consents: " + jsonErrKind(err))
		}
		if len(list) > 0 {
			p.Consents = EventConsent(list[0])
		}
	} else if len(cons) > 0 && cons[0] == '{' {
		var one eventConsentWire
		if err := json.Unmarshal(cons, &one); err != nil {
			return ConsentEventPayload{}, malformed("payload consents: " + jsonErrKind(err))
		}
		p.Consents = EventConsent(one)
	}
	return p, nil
}

// ProductEventPayload is the payload of product_* events. Klavi does not document it; these are the sandbox's assumed
// members (docs/klavi.md#events): requestId, taxId, linkId, consentIds, productName, and code/message on failure.
type ProductEventPayload struct {
	RequestID, TaxID, LinkID string
	ConsentIDs               []string
	ProductName              string
	Code                     int
	Message                  string
}

// ProductPayload decodes e.Payload as a product event payload.
func (e Event) ProductPayload() (ProductEventPayload, error) {
	var w struct {
		RequestID   flexString `json:"requestId"`
		TaxID       flexString `json:"taxId"`
		LinkID      flexString `json:"linkId"`
		ConsentIDs  []string   `json:"consentIds"`
		ProductName string     `json:"productName"`
		Code        flexInt    `json:"code"`
		Message     string     `json:"message"`
	}
	if !isObject(e.Payload) {
		return ProductEventPayload{}, malformed("payload is not an object")
	}
	if err := json.Unmarshal(e.Payload, &w); err != nil {
		return ProductEventPayload{}, malformed("payload: " + jsonErrKind(err))
	}
	return ProductEventPayload{RequestID: string(w.RequestID), TaxID: string(w.TaxID), LinkID: string(w.LinkID),
		ConsentIDs: w.ConsentIDs, ProductName: w.ProductName, Code: int(w.Code), Message: w.Message}, nil
}

// flexString decodes a JSON string, or keeps a JSON number's literal text (ids are sometimes numeric);
// null is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("klavi: empty value")
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "null":
		*f = ""
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("klavi: expected a string")
		}
		*f = flexString(n.String())
	}
	return nil
}

// ConsentID is the consent an event is about: the payload's consents.consentId for consent_* events (and any
// event shaped like them), else the first of a product event's consentIds; "" when it names none or its payload
// cannot be read. The caller checks the id before using it.
func (e Event) ConsentID() string {
	if _, ok := e.EventName.ConsentStatus(); ok {
		if p, err := e.ConsentPayload(); err == nil {
			return p.Consents.ConsentID
		}
		return ""
	}
	switch e.EventName {
	case EventProductRequestReceived, EventProductGeneratedSuccess, EventProductGeneratedFailed:
		if p, err := e.ProductPayload(); err == nil && len(p.ConsentIDs) > 0 {
			return p.ConsentIDs[0]
		}
	}
	return ""
}
