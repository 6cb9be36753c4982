package consent

// Msg is one line of text as data: a key of the message catalogue (views) and its arguments, rendered in the
// reader's language when shown. Timeline entries store Msgs, never sentences, so that a line written once reads
// right in Portuguese and in English. Args are plain values (ids, statuses, endpoints, product names, counts as
// decimal strings, text sent by the bank); they must never carry personal data.
type Msg struct {
	Key  string
	Args []string
}

// M builds a Msg.
func M(key string, args ...string) Msg { return Msg{Key: key, Args: args} }

// IsZero reports whether m holds nothing (an entry without a detail).
func (m Msg) IsZero() bool { return m.Key == "" && len(m.Args) == 0 }

// Equal reports whether two Msgs have the same key and arguments (coalescing repeated lines compares them).
func (m Msg) Equal(o Msg) bool {
	if m.Key != o.Key || len(m.Args) != len(o.Args) {
		return false
	}
	for i := range m.Args {
		if m.Args[i] != o.Args[i] {
			return false
		}
	}
	return true
}

// Timeline message keys, with their arguments. The catalogue in views holds their text in both languages; a test
// there checks that every key below has an entry taking exactly the arguments listed here.
const (
	// TLLegacy is a line stored as English text by versions before message keys (migration 0004); its one
	// argument is that text.
	TLLegacy = "tl.legacy" // text
	// TLText is text shown as it is (a bank's error description, already cleaned and masked).
	TLText = "tl.text" // text

	TLConsentCreated         = "tl.consent_created"          // -
	TLCreatedAtIndefinite    = "tl.created_at_indefinite"    // institution name, institution code
	TLCreatedAtMonths        = "tl.created_at_months"        // institution name, institution code, months
	TLRedirect               = "tl.redirect"                 // -
	TLRetry                  = "tl.retry"                    // -
	TLCallbackOK             = "tl.callback_ok"              // -
	TLCallbackError          = "tl.callback_error"           // error code
	TLConfirm                = "tl.confirm"                  // status
	TLConfirmFailed          = "tl.confirm_failed"           // -
	TLStatusChanged          = "tl.status_changed"           // from, to
	TLObservedVia            = "tl.observed_via"             // source (callback, webhook, poll, revoke)
	TLPollChanged            = "tl.poll_changed"             // from, to
	TLPollUnchanged          = "tl.poll_unchanged"           // status
	TLPollFailed             = "tl.poll_failed"              // -
	TLReportsRequested       = "tl.reports_requested"        // endpoint, source
	TLReportsRequestedAgain  = "tl.reports_requested_again"  // endpoint
	TLReportsRequestFailed   = "tl.reports_request_failed"   // endpoint
	TLReportsRequestedDetail = "tl.reports_requested_detail" // products (comma-separated)
	TLReportsRequestedID     = "tl.reports_requested_id"     // products (comma-separated), requestId
	TLReportsMissing         = "tl.reports_missing"          // -
	TLReportReceived         = "tl.report_received"          // product
	TLReportReceivedDetail   = "tl.report_received_detail"   // productReportId, size
	TLReportReceivedCode     = "tl.report_received_code"     // productReportId, size, code
	TLWebhook                = "tl.webhook"                  // event name
	TLEventID                = "tl.event_id"                 // eventId
	TLEventIDStale           = "tl.event_id_stale"           // eventId, current status
	TLProduct                = "tl.product"                  // product
	TLProductFailed          = "tl.product_failed"           // product, Klavi's message
	TLProductEvent           = "tl.product_event"            // product, eventId
	TLProductFailedEvent     = "tl.product_failed_event"     // product, Klavi's message, eventId
	TLReplayed               = "tl.replayed"                 // event name or product, delivery id
	TLReplayUnchanged        = "tl.replay_unchanged"         // -
	TLReplayApplied          = "tl.replay_applied"           // -
	TLSimulated              = "tl.simulated"                // event name or product, eventId or productReportId
	TLRevoke                 = "tl.revoke"                   // -
	TLRevokeFailed           = "tl.revoke_failed"            // -
	TLRevokedByUser          = "tl.revoked_by_user"          // -
	TLPurgedByHolder         = "tl.purged_by_holder"         // -
	TLPurgedRetention        = "tl.purged_retention"         // -
	TLPurgeHolderDetail      = "tl.purge_holder_detail"      // reports deleted, bodies dropped
	TLPurgeRetentionDetail   = "tl.purge_retention_detail"   // reports deleted, bodies dropped

	// Why a Klavi call failed (the detail of the *Failed lines above).
	TLKlaviHTTP        = "tl.klavi_http"        // HTTP status
	TLKlaviHTTPCode    = "tl.klavi_http_code"   // HTTP status, Klavi's code
	TLKlaviUnavailable = "tl.klavi_unavailable" // -
	TLCallInterrupted  = "tl.call_interrupted"  // -
	TLUnexpectedError  = "tl.unexpected_error"  // -
)

// TimelineArgs gives the number of arguments each timeline key takes (for the catalogue test).
var TimelineArgs = map[string]int{
	TLLegacy: 1, TLText: 1,
	TLConsentCreated: 0, TLCreatedAtIndefinite: 2, TLCreatedAtMonths: 3, TLRedirect: 0, TLRetry: 0,
	TLCallbackOK: 0, TLCallbackError: 1, TLConfirm: 1, TLConfirmFailed: 0,
	TLStatusChanged: 2, TLObservedVia: 1, TLPollChanged: 2, TLPollUnchanged: 1, TLPollFailed: 0,
	TLReportsRequested: 2, TLReportsRequestedAgain: 1, TLReportsRequestFailed: 1, TLReportsRequestedDetail: 1,
	TLReportsRequestedID: 2, TLReportsMissing: 0, TLReportReceived: 1, TLReportReceivedDetail: 2,
	TLReportReceivedCode: 3, TLWebhook: 1, TLEventID: 1, TLEventIDStale: 2, TLProduct: 1, TLProductFailed: 2,
	TLProductEvent: 2, TLProductFailedEvent: 3, TLReplayed: 2, TLReplayUnchanged: 0, TLReplayApplied: 0, TLSimulated: 2,
	TLRevoke: 0, TLRevokeFailed: 0, TLRevokedByUser: 0, TLPurgedByHolder: 0, TLPurgedRetention: 0,
	TLPurgeHolderDetail: 2, TLPurgeRetentionDetail: 2,
	TLKlaviHTTP: 1, TLKlaviHTTPCode: 2, TLKlaviUnavailable: 0, TLCallInterrupted: 0, TLUnexpectedError: 0,
}
