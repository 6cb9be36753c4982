package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// readWebhookBody reads the whole (already size-limited) body; an oversized body answers 413.
func (s *Server) readWebhookBody(w http.ResponseWriter, r *http.Request, kind string) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.countWebhook(kind, webhookTooLarge)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large"})
		} else {
			s.countWebhook(kind, webhookInvalid)
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unreadable body"})
		}
		return nil, false
	}
	return body, true
}

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

// webhookSourceAllowed reports whether the TCP peer is inside Options.WebhookAllowlist (always true when the
// list is empty). X-Forwarded-For, X-Real-IP and Forwarded are ignored: anyone can send them.
func (s *Server) webhookSourceAllowed(r *http.Request) bool {
	if len(s.webhookAllow) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
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
	limit := int64(eventLimit)
	if kind == "report" {
		limit = reportLimit
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, limit))
	sigValid := klavi.VerifySignature(s.secret, body, r.Header.Get(klavi.SignatureHeader))
	s.reject(w, r, kind, body, sigValid, http.StatusUnsupportedMediaType, "rejected: unsupported content type")
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

// reject records a refused delivery (audit only, no body kept) and answers status.
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
		s.reject(w, r, "event", body, false, http.StatusUnauthorized, "rejected: invalid signature")
		return
	}
	events, err := klavi.ParseEvents(body)
	if err != nil || len(events) == 0 {
		s.reject(w, r, "event", body, true, http.StatusBadRequest, "rejected: malformed body")
		return
	}
	d := store.Delivery{Kind: "event", ReceivedAt: s.now(), SignatureValid: true, BodySHA256: bodyHash(body),
		Body: body, Size: len(body), Result: "accepted"}
	items := make([]store.InboxItem, 0, len(events))
	for _, ev := range events {
		key := ev.EventID
		if !validKey(key) {
			// No usable eventId: dedupe on the element's bytes instead.
			key = "sha256:" + bodyHash(ev.Raw)
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
		s.reject(w, r, "report", body, false, http.StatusUnauthorized, "rejected: invalid signature")
		return
	}
	rep, err := klavi.ParseReport(body)
	if err != nil {
		result := "rejected: malformed report"
		if errors.Is(err, klavi.ErrLegacyReport) {
			result = "rejected: legacy report format"
		}
		s.reject(w, r, "report", body, true, http.StatusBadRequest, result)
		return
	}
	sum := bodyHash(body)
	key := rep.ProductReportID
	if !validKey(key) {
		key = "sha256:" + sum
	}
	sr := store.Report{ID: key, RequestID: rep.RequestID, ProductName: rep.ProductName,
		ProductVersion: rep.ProductVersion, Code: rep.Code, Message: rep.Message, ReceivedAt: s.now(),
		Raw: body, BodySHA256: sum, Size: len(body)}
	if len(rep.Links) > 0 {
		sr.LinkID = rep.Links[0].LinkID
		if len(rep.Links[0].Consents) > 0 {
			sr.ConsentID = rep.Links[0].Consents[0].ConsentID
		}
	}
	result := "stored"
	var known store.Consent
	matched := false
	if sr.ConsentID != "" {
		if c, err := s.st.Consent(r.Context(), sr.ConsentID); err == nil {
			known, matched = c, true
		}
	}
	if !matched && sr.ConsentID == "" && sr.LinkID != "" {
		// A report requested at user level may name only the link: it belongs to that link's consent.
		if c, err := s.st.LatestConsentForLink(r.Context(), sr.LinkID); err == nil {
			known, matched = c, true
		}
	}
	if !matched {
		result = "unmatched"
	}
	if matched && known.Status == consent.DeletedByUser {
		// The holder deleted this consent and its data was purged: acknowledge (a 4xx would only make Klavi
		// retry) but keep nothing of the report.
		d := store.Delivery{Kind: "report", ReceivedAt: sr.ReceivedAt, SignatureValid: true, Keys: []string{key},
			EventNames: []string{rep.ProductName}, BodySHA256: sum, Size: len(body), Result: "discarded: data deleted by the holder"}
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
		EventNames: []string{rep.ProductName}, BodySHA256: sum, Size: len(body), Result: result}
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
		detail := consent.M(consent.TLReportReceivedDetail, key, humanSize(len(body)))
		if rep.Code != 0 && rep.Code != 200 {
			detail = consent.M(consent.TLReportReceivedCode, key, humanSize(len(body)), strconv.Itoa(rep.Code))
		}
		s.flow.Record(r.Context(), known.ID, "reports", consent.M(consent.TLReportReceived, rep.ProductName), detail, true)
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true})
}

func humanSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return strconv.Itoa(n) + " bytes"
	}
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
		d.Result = "duplicate"
	}
	return views.WebhookRow{ID: d.ID, Kind: d.Kind, ReceivedAt: d.ReceivedAt, SignatureValid: d.SignatureValid,
		Duplicate: d.Duplicate, Keys: d.Keys, EventNames: d.EventNames, Result: d.Result, Size: d.Size}
}

// maxShownBody bounds the body shown on the detail page.
const maxShownBody = 256 << 10

// handleWebhookDetail answers GET /webhooks/{id}: one delivery with its body, every CPF/CNPJ masked.
func (s *Server) handleWebhookDetail(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return statusError(http.StatusNotFound)
	}
	d, err := s.st.Delivery(r.Context(), id)
	if err != nil {
		return err
	}
	vm := views.WebhookDetailVM{Row: webhookRow(d)}
	if d.Kind == "report" && d.SignatureValid && len(d.Keys) > 0 {
		vm.ReportID = d.Keys[0]
	}
	if len(d.Body) > 0 {
		b := d.Body
		if len(b) > maxShownBody {
			b = b[:maxShownBody]
		}
		vm.Body = taxid.MaskText(prettyJSON(b))
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
