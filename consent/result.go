package consent

import (
	"net/url"
	"strings"
)

// What became of a webhook delivery, or of one event of it, is stored as text in the delivery's and the inbox
// item's result column. Since message keys, that text is an encoded Msg (EncodeResult): a "wh." key of the
// catalogue and its arguments, so that the inbox page explains it in the reader's language. Rows stored before hold
// short English text ("rejected: invalid signature"); views maps those to the same keys. The store combines the
// results of a delivery's items with "; " and marks an item it gave up with the prefix "dead: "; an encoded result
// contains neither a space nor a ';', so both stay readable.
const (
	// What the receivers write on the delivery row.
	RAccepted        = "wh.accepted"         // -: stored, waiting for the inbox worker
	RStored          = "wh.stored"           // -: a report stored for a consent we know
	RUnmatched       = "wh.unmatched"        // -: no consent here with the id it names (kept)
	RDiscarded       = "wh.discarded"        // -: a report for a consent whose holder deleted their data
	RBadSignature    = "wh.bad_signature"    // -: 401
	RNotJSON         = "wh.not_json"         // -: 400, the body is not JSON
	RMalformedEvents = "wh.malformed_events" // -: 400, JSON but not events with an eventId
	RMalformedBody   = "wh.malformed_body"   // -: 400 in rows stored before RNotJSON/RMalformedEvents existed
	RMalformedReport = "wh.malformed_report" // -: 400, JSON but no productReportId
	RLegacyReport    = "wh.legacy_report"    // -: 400, the pre-Open-Finance report format
	RMediaType       = "wh.media_type"       // -: 415
	RTooLarge        = "wh.too_large"        // limit (e.g. "1 MiB"): 413
	// Shown, never stored: a delivery whose every event or report was already stored.
	RDuplicate = "wh.duplicate" // -

	// What the inbox worker writes on an item (and, combined, on its delivery).
	RProcessed         = "wh.processed"          // -
	RStale             = "wh.stale"              // the consent's current status
	RNoConsentID       = "wh.no_consent_id"      // -
	RUnreadable        = "wh.unreadable"         // -
	RUnreadablePayload = "wh.unreadable_payload" // -
	RLinkCreated       = "wh.link_created"       // -
	RUnknownEvent      = "wh.unknown_event"      // event name
	RProbe             = "wh.probe"              // -: the portal's own round-trip probe (ProbeEvent)
	// RRetry is a failed attempt that will be tried again: its arguments are the reason, a timeline Msg (one of the
	// TLKlavi*/TLCallInterrupted/TLUnexpectedError keys, or TLLegacy with old English text) flattened as its key
	// followed by its arguments.
	RRetry = "wh.retry" // reason key, reason args…
	// RFailed is a replay that failed (nothing retries it by itself); its arguments are like RRetry's.
	RFailed = "wh.failed" // reason key, reason args…
)

// ResultArgs gives the number of arguments each result key takes (-1: RRetry's variable reason), for the
// catalogue test in views.
var ResultArgs = map[string]int{
	RAccepted: 0, RStored: 0, RUnmatched: 0, RDiscarded: 0, RBadSignature: 0, RNotJSON: 0, RMalformedEvents: 0,
	RMalformedBody: 0, RMalformedReport: 0, RLegacyReport: 0, RMediaType: 0, RTooLarge: 1, RDuplicate: 0,
	RProcessed: 0, RStale: 1, RNoConsentID: 0, RUnreadable: 0, RUnreadablePayload: 0, RLinkCreated: 0,
	RUnknownEvent: 1, RProbe: 0, RRetry: -1, RFailed: -1,
}

// ProbeEvent is the eventName of the harmless event the portal signs and posts to its own receiver to check that
// PUBLIC_URL reaches it (package simulate): it names no consent, changes nothing, and the worker marks it RProbe.
const ProbeEvent = "portal_roundtrip_probe"

// ResultPrefix starts every encoded result.
const ResultPrefix = "wh."

// EncodeResult writes a result as stored text: the key, then "|" and each argument query-escaped (so the text has
// no space, ';' or '|' of its own).
func EncodeResult(m Msg) string {
	var b strings.Builder
	b.WriteString(m.Key)
	for _, a := range m.Args {
		b.WriteByte('|')
		b.WriteString(url.QueryEscape(a))
	}
	return b.String()
}

// R builds an encoded result from a key and its arguments.
func R(key string, args ...string) string { return EncodeResult(M(key, args...)) }

// DecodeResult reads one result written by EncodeResult; ok is false for anything else (an older row's English
// text, a combined result, a "dead: " one).
func DecodeResult(s string) (m Msg, ok bool) {
	if !strings.HasPrefix(s, ResultPrefix) || strings.ContainsAny(s, " ;") {
		return Msg{}, false
	}
	parts := strings.Split(s, "|")
	m.Key = parts[0]
	for _, p := range parts[1:] {
		a, err := url.QueryUnescape(p)
		if err != nil {
			return Msg{}, false
		}
		m.Args = append(m.Args, a)
	}
	return m, true
}

// RetryResult is the RRetry result for a failure whose reason is the timeline Msg why.
func RetryResult(why Msg) string {
	return EncodeResult(Msg{Key: RRetry, Args: append([]string{why.Key}, why.Args...)})
}
