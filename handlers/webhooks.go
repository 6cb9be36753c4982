package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// readWebhookBody reads the whole (already size-limited) body; an oversized body answers 413 and is recorded as a
// rejected delivery (its size, nothing of its bytes).
func (s *Server) readWebhookBody(w http.ResponseWriter, r *http.Request, kind string) ([]byte, bool) {
	// Sized from Content-Length: a report webhook can wait for the database with its body in hand, and
	// io.ReadAll's doubling would keep up to twice the body per waiting delivery
	// (docs/benchmarks.md#200-users-walking-the-flow). The spare MinRead bytes let the read see EOF without growing.
	// Content-Length is the unauthenticated sender's word, so it reserves at most presizeMax; a larger body grows
	// the buffer as its bytes arrive.
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= min(limitOf(kind), presizeMax) {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.countWebhook(kind, webhookTooLarge)
			size := max(r.ContentLength, int64(len(body)))
			d := store.Delivery{Kind: kind, ReceivedAt: s.now(), Size: int(min(size, math.MaxInt32)),
				Result: consent.R(consent.RTooLarge, flow.HumanSize(int(limitOf(kind))))}
			if err := s.st.RecordRejectedDelivery(r.Context(), d); err != nil {
				s.log.ErrorContext(r.Context(), "record rejected delivery failed", "err", taxid.MaskErr(err))
			}
			s.log.WarnContext(r.Context(), "webhook rejected", "kind", kind, "result", d.Result)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large"})
		} else {
			s.countWebhook(kind, webhookInvalid)
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unreadable body"})
		}
		return nil, false
	}
	return body, true
}

// presizeMax is the most readWebhookBody reserves on Content-Length's word alone.
const presizeMax = 1 << 20

// The result label of a counted webhook delivery (Options.Metrics; the same words as metrics.WebhookResults).
// A request that is not a POST is not a delivery and is not counted.
const (
	webhookAccepted     = "accepted"      // 200: stored (a new event or report; a discarded report too)
	webhookDuplicate    = "duplicate"     // 200: everything in it was already stored
	webhookBadSignature = "bad_signature" // 401
	webhookTooLarge     = "too_large"     // 413
	webhookInvalid      = "invalid"       // 400, 415
	webhookForbidden    = "forbidden"     // 403: source outside the allowlist
	webhookError        = "error"         // 503: not stored, Klavi retries
)

func (s *Server) countWebhook(kind, result string) {
	if s.metrics != nil {
		s.metrics.WebhookDelivery(kind, result)
	}
}

// limitOf is the body limit of a receiver (docs/reliability.md#body-limits).
func limitOf(kind string) int64 {
	if kind == "report" {
		return reportLimit
	}
	return eventLimit
}

// webhookGuard answers what is not a JSON POST before a receiver reads anything: another method → 405 with
// Allow: POST (not recorded: browsers and scanners are not deliveries); a Content-Type that is present and is
// not application/json (parameters such as charset ignored) → 415, recorded as a rejected delivery. A missing
// Content-Type is let through: the signature and the JSON parser decide.
func (s *Server) webhookGuard(kind string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.webhookSourceAllowed(r) {
				// Not from Klavi's documented addresses: refuse before reading or storing anything.
				s.log.WarnContext(r.Context(), "webhook refused: source not allowed", "kind", kind)
				s.countWebhook(kind, webhookForbidden)
				writeJSON(w, http.StatusForbidden, map[string]any{"error": "forbidden"})
				return
			}
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed"})
				return
			}
			if ct := r.Header.Get("Content-Type"); ct != "" {
				mt, _, err := mime.ParseMediaType(ct)
				if err != nil || mt != "application/json" {
					s.rejectMediaType(w, r, kind)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// webhookSourceAllowed reports whether the client address (clientAddr: the TCP peer, or what a trusted proxy
// forwarded) is inside Options.WebhookAllowlist (always true when the list is empty). Forwarded headers from
// anyone else are ignored: anyone can send them.
func (s *Server) webhookSourceAllowed(r *http.Request) bool {
	if len(s.webhookAllow) == 0 {
		return true
	}
	addr, _, ok := clientAddr(r)
	if !ok {
		return false
	}
	for _, p := range s.webhookAllow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// rejectMediaType records a delivery refused for its Content-Type and answers 415. The body is read (within
// the receiver's size limit) only for the audit row's hash, size and signature result; it is never stored.
func (s *Server) rejectMediaType(w http.ResponseWriter, r *http.Request, kind string) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, limitOf(kind)))
	sigValid := klavi.VerifySignature(s.secret, body, r.Header.Get(klavi.SignatureHeader))
	s.reject(w, r, kind, body, sigValid, http.StatusUnsupportedMediaType, consent.R(consent.RMediaType))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bodyHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// reject records a refused delivery (audit only, no body kept) and answers status; result is an encoded
// consent.R* result, sent back as the JSON error too.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, kind string, body []byte, sigValid bool, status int, result string) {
	d := store.Delivery{Kind: kind, ReceivedAt: s.now(), SignatureValid: sigValid, BodySHA256: bodyHash(body),
		Size: len(body), Result: result}
	if err := s.st.RecordRejectedDelivery(r.Context(), d); err != nil {
		s.log.ErrorContext(r.Context(), "record rejected delivery failed", "err", taxid.MaskErr(err))
	}
	s.log.WarnContext(r.Context(), "webhook rejected", "kind", kind, "result", result)
	if status == http.StatusUnauthorized {
		s.countWebhook(kind, webhookBadSignature)
	} else {
		s.countWebhook(kind, webhookInvalid)
	}
	writeJSON(w, status, map[string]any{"error": result})
}

// handleEventWebhook answers POST /webhooks/klavi/events: verify the HMAC over the raw bytes, store the
// delivery and one inbox row per event in ONE transaction, then 200 (duplicates too). Processing happens
// afterwards in the worker, so Klavi's 10 s timeout never depends on our own outbound calls.
func (s *Server) handleEventWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readWebhookBody(w, r, "event")
	if !ok {
		return
	}
	if !klavi.VerifySignature(s.secret, body, r.Header.Get(klavi.SignatureHeader)) {
		s.reject(w, r, "event", body, false, http.StatusUnauthorized, consent.R(consent.RBadSignature))
		return
	}
	events, err := klavi.ParseEvents(body)
	if err != nil || len(events) == 0 {
		s.reject(w, r, "event", body, true, http.StatusBadRequest, malformedResult(body, consent.RMalformedEvents))
		return
	}
	d := store.Delivery{Kind: "event", ReceivedAt: s.now(), SignatureValid: true, BodySHA256: bodyHash(body),
		Body: body, Size: len(body), Result: consent.R(consent.RAccepted)}
	items := make([]store.InboxItem, 0, len(events))
	for _, ev := range events {
		key := ev.EventID
		if !validKey(key) {
			// No usable eventId: dedupe on the element's bytes instead.
			key = "sha256:" + bodyHash(ev.Raw)
		}
		if id := ev.ConsentID(); d.ConsentID == "" && consent.ValidID(id) {
			d.ConsentID = id // the inbox page links the delivery to it
		}
		d.Keys = append(d.Keys, key)
		d.EventNames = append(d.EventNames, string(ev.EventName))
		items = append(items, store.InboxItem{Kind: "event", Key: key, EventName: string(ev.EventName),
			Body: ev.Raw, ReceivedAt: d.ReceivedAt})
	}
	n, err := s.st.RecordEventDelivery(r.Context(), d, items)
	if err != nil {
		// Not durable: let Klavi retry.
		s.log.ErrorContext(r.Context(), "store event delivery failed", "err", taxid.MaskErr(err))
		s.countWebhook("event", webhookError)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "try again"})
		return
	}
	if n > 0 {
		s.countWebhook("event", webhookAccepted)
		s.flow.Nudge()
	} else {
		s.countWebhook("event", webhookDuplicate)
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true})
}

// malformedResult is the result of a body the parser refused: not JSON at all, or JSON of the wrong shape (the
// receiver's own key for that).
func malformedResult(body []byte, shapeKey string) string {
	if !json.Valid(body) {
		return consent.R(consent.RNotJSON)
	}
	return consent.R(shapeKey)
}

// validKey accepts event ids up to 128 characters of visible ASCII.
func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}

// handleReportWebhook answers POST /webhooks/klavi/reports: verify, parse, store delivery + report in ONE
// transaction keyed by productReportId, then 200 (duplicates too). A report for a consent we know gets a
// timeline entry; unknown ones are kept and shown in the inbox.
func (s *Server) handleReportWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readWebhookBody(w, r, "report")
	if !ok {
		return
	}
	if !klavi.VerifySignature(s.secret, body, r.Header.Get(klavi.SignatureHeader)) {
		s.reject(w, r, "report", body, false, http.StatusUnauthorized, consent.R(consent.RBadSignature))
		return
	}
	// Only the envelope: the key and the consent it names are all the receiver needs, and decoding a 10,000-line
	// statement would triple the time to 2xx (docs/benchmarks.md#report-path). Pages decode the rest when shown.
	rep, err := klavi.ParseReportEnvelope(body)
	if err != nil {
		result := malformedResult(body, consent.RMalformedReport)
		if errors.Is(err, klavi.ErrLegacyReport) {
			result = consent.R(consent.RLegacyReport)
		}
		s.reject(w, r, "report", body, true, http.StatusBadRequest, result)
		return
	}
	sum := bodyHash(body)
	key := flow.ReportKey(rep, body)
	sr := store.Report{ID: key, RequestID: rep.RequestID, ProductName: rep.ProductName,
		ProductVersion: rep.ProductVersion, Code: rep.Code, Message: rep.Message, ReceivedAt: s.now(),
		Raw: body, BodySHA256: sum, Size: len(body)}
	sr.ConsentID, sr.LinkID = flow.ReportNames(rep)
	result := consent.R(consent.RStored)
	known, matched := s.flow.ReportOwner(r.Context(), sr.ConsentID, sr.LinkID)
	named := sr.ConsentID // what the inbox page links the delivery to
	if matched {
		named = known.ID
	} else {
		result = consent.R(consent.RUnmatched)
	}
	if !consent.ValidID(named) {
		named = ""
	}
	// From here on only sr names the report: the decoded report (several times the body's size) is not kept
	// alive while the delivery waits for the database (docs/benchmarks.md#200-users-walking-the-flow).
	if matched && known.Status == consent.DeletedByUser {
		// The holder deleted this consent and its data was purged: acknowledge (a 4xx would only make Klavi
		// retry) but keep nothing of the report.
		d := store.Delivery{Kind: "report", ReceivedAt: sr.ReceivedAt, SignatureValid: true, Keys: []string{key},
			EventNames: []string{sr.ProductName}, BodySHA256: sum, Size: len(body),
			Result: consent.R(consent.RDiscarded), ConsentID: named}
		if err := s.st.RecordRejectedDelivery(r.Context(), d); err != nil {
			s.log.ErrorContext(r.Context(), "record discarded report failed", "err", taxid.MaskErr(err))
			s.countWebhook("report", webhookError)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "try again"})
			return
		}
		s.countWebhook("report", webhookAccepted)
		writeJSON(w, http.StatusOK, map[string]any{"received": true})
		return
	}
	d := store.Delivery{Kind: "report", ReceivedAt: sr.ReceivedAt, SignatureValid: true, Keys: []string{key},
		EventNames: []string{sr.ProductName}, BodySHA256: sum, Size: len(body), Result: result, ConsentID: named}
	inserted, err := s.st.RecordReportDelivery(r.Context(), d, sr)
	if err != nil {
		s.log.ErrorContext(r.Context(), "store report delivery failed", "err", taxid.MaskErr(err))
		s.countWebhook("report", webhookError)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "try again"})
		return
	}
	if inserted {
		s.countWebhook("report", webhookAccepted)
	} else {
		s.countWebhook("report", webhookDuplicate)
	}
	if inserted && matched {
		if _, err := s.flow.ReportArrived(r.Context(), known, key, sr.ProductName, len(body), sr.Code); err != nil {
			// The report is stored; only its line on the timeline is missing (a replay of the delivery writes it).
			s.log.WarnContext(r.Context(), "report timeline line failed", "err", taxid.MaskErr(err))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true})
}

// handleWebhookList answers GET /webhooks: the deliveries, newest first, 50 a page (keyset pagination: before
// is the id of the previous page's last row; a bad one shows the first page), filtered by kind (event |
// report) and signature (valid | invalid). Bodies are not loaded.
func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request) error {
	const pageSize = 50
	q := r.URL.Query()
	var vm views.WebhooksVM
	f := store.DeliveryFilter{Limit: pageSize}
	switch k := q.Get("kind"); k {
	case "event", "report":
		vm.Kind, f.Kind = k, k
	}
	valid, invalid := true, false
	switch q.Get("signature") {
	case "valid":
		vm.Signature, f.SignatureValid = "valid", &valid
	case "invalid":
		vm.Signature, f.SignatureValid = "invalid", &invalid
	}
	if id, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && id > 0 {
		f.BeforeID, vm.Paged = id, true
	}
	page, err := s.st.ListDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	for _, d := range page.Rows {
		vm.Rows = append(vm.Rows, webhookRow(d))
	}
	if page.Next > 0 {
		vm.Next = strconv.FormatInt(page.Next, 10)
	}
	s.page(w, r, http.StatusOK, "title.webhooks", views.StepNone, "webhooks", views.WebhooksPage(vm))
	return nil
}

func webhookRow(d store.Delivery) views.WebhookRow {
	if d.Duplicate && d.SignatureValid {
		d.Result = consent.R(consent.RDuplicate)
	}
	return views.WebhookRow{ID: d.ID, Kind: d.Kind, ReceivedAt: d.ReceivedAt, SignatureValid: d.SignatureValid,
		Duplicate: d.Duplicate, Keys: d.Keys, EventNames: d.EventNames, Result: d.Result, Size: d.Size,
		ConsentID: d.ConsentID, ConsentKnown: d.ConsentKnown, Rejected: !d.SignatureValid || flow.IsRejection(d.Result)}
}

// maxShownBody bounds the body shown on the detail page.
const maxShownBody = 256 << 10

// handleWebhookDetail answers GET /webhooks/{id}: one delivery with its body, every CPF/CNPJ masked, what its
// result means, and its replays.
func (s *Server) handleWebhookDetail(w http.ResponseWriter, r *http.Request) error {
	id, err := deliveryParam(r)
	if err != nil {
		return err
	}
	d, err := s.st.Delivery(r.Context(), id)
	if err != nil {
		return err
	}
	vm, err := s.webhookDetailVM(r.Context(), d)
	if err != nil {
		return err
	}
	s.page(w, r, http.StatusOK, "title.webhook", views.StepNone, "webhooks", views.WebhookDetailPage(vm))
	return nil
}

// prettyJSON indents b when it is valid JSON, else returns it as text.
func prettyJSON(b []byte) string {
	if json.Valid(b) {
		if buf, err := json.MarshalIndent(json.RawMessage(b), "", "  "); err == nil {
			return string(buf)
		}
	}
	return string(b)
}
