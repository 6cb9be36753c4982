package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Webhook headers (docs/klavi.md#signature).
const (
	signatureHeader = "X-Klavi-Signature"
	timestampHeader = "X-Klavi-Timestamp"
)

// eventWire is the API event envelope (docs/klavi.md#events). Deliveries carry
// a JSON array holding exactly one of these, or the bare object with
// Options.EventsAsObject.
type eventWire struct {
	PartnerAppID string         `json:"partnerAppId"`
	EventID      string         `json:"eventId"`
	EventType    string         `json:"eventType"`
	EventName    string         `json:"eventName"`
	EventTime    string         `json:"eventTime"`
	Payload      any            `json:"payload"`
	ExternalInfo map[string]any `json:"externalInfo"`
}

// linkEventPayload is the payload of link_created (docs/klavi.md#events).
type linkEventPayload struct {
	PersonalTaxID string `json:"personalTaxId"`
	BusinessTaxID string `json:"businessTaxId"`
	LinkID        string `json:"linkId"`
}

// consentEventPayload is the payload of every consent_* event (docs/klavi.md#events).
type consentEventPayload struct {
	PersonalTaxID string           `json:"personalTaxId"`
	BusinessTaxID string           `json:"businessTaxId"`
	LinkID        string           `json:"linkId"`
	Consents      eventConsentWire `json:"consents"`
}

// eventConsentWire is the `consents` object (singular, not an array) of a
// consent event payload.
type eventConsentWire struct {
	ConsentID       string `json:"consentId"`
	ExternalTrackID string `json:"externalTrackId"`
	InstitutionCode string `json:"institutionCode"`
}

// productEventPayload is the payload of the product_* events, as we assume it (docs/klavi.md#events).
type productEventPayload struct {
	RequestID       string   `json:"requestId"`
	TaxID           string   `json:"taxId"`
	LinkID          string   `json:"linkId"`
	ConsentIDs      []string `json:"consentIds"`
	ProductName     string   `json:"productName,omitempty"`
	Products        []string `json:"products,omitempty"`
	ProductReportID string   `json:"productReportId,omitempty"`
	Code            int      `json:"code"`
	Message         string   `json:"message"`
}

// delivery is one webhook POST with its retries.
type delivery struct {
	url string
	// body returns the bytes to send: the same bytes on every attempt (and, in the duplicate scenario, for both
	// deliveries). A report's are generated on the first call (queueBuilt); nil means there is nothing to send.
	body        func() []byte
	badFirstSig bool          // scenario: the first attempt carries a wrong signature
	done        chan struct{} // closed once delivered, abandoned or cancelled
}

// outbox keeps one FIFO queue per key (a link id) so deliveries about the
// same link, hence the same consent, go out strictly in order; different
// keys are delivered concurrently.
type outbox struct {
	mu     sync.Mutex
	queues map[string][]*delivery // present key = a drain goroutine is running
	closed bool
}

// goTracked runs f in a goroutine counted by the WaitGroup unless the
// sandbox is closed; it reports whether f was started.
func (s *Sandbox) goTracked(f func()) bool {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if s.out.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// enqueue appends deliveries to key's queue, starting its drain goroutine
// when idle. Safe to call with s.mu held (the outbox never takes s.mu).
func (s *Sandbox) enqueue(key string, ds ...*delivery) {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if s.out.closed {
		for _, d := range ds {
			close(d.done)
		}
		return
	}
	q, running := s.out.queues[key]
	s.out.queues[key] = append(q, ds...)
	if !running {
		s.wg.Add(1)
		go s.drain(key)
	}
}

func (s *Sandbox) drain(key string) {
	defer s.wg.Done()
	for {
		s.out.mu.Lock()
		q := s.out.queues[key]
		if len(q) == 0 {
			delete(s.out.queues, key)
			s.out.mu.Unlock()
			return
		}
		d := q[0]
		q[0] = nil // the queue's array must not keep a delivered body alive
		s.out.queues[key] = q[1:]
		s.out.mu.Unlock()
		s.deliver(d)
		close(d.done)
	}
}

// sign returns the lowercase hex HMAC-SHA256 of body keyed with secret (docs/klavi.md#signature).
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// deliver POSTs d like Klavi: any 2xx is success; non-2xx or a network
// error is retried up to maxRetries times after RetryBase, 2·RetryBase, ...
// Each attempt has its own timeout (attemptTimeout, 10 s). Close cancels
// waiting and sending.
func (s *Sandbox) deliver(d *delivery) {
	if d.url == "" {
		return
	}
	for attempt := 0; attempt <= maxRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(s.o.RetryBase << (attempt - 1))
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if s.attempt(d, attempt) {
			return
		}
		if s.ctx.Err() != nil {
			return
		}
	}
	s.log.Warn("sandbox webhook abandoned", "attempts", maxRetries+1)
}

func (s *Sandbox) attempt(d *delivery, n int) bool {
	select { // a sending slot first; the attempt's timeout starts once it has one
	case s.sending <- struct{}{}:
		defer func() { <-s.sending }()
	case <-s.ctx.Done():
		return false
	}
	body := d.body()
	if body == nil {
		s.log.Warn("sandbox webhook not sent: its report could not be generated")
		return true // nothing to retry
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	sig := sign(s.o.SecretKey, body)
	if d.badFirstSig && n == 0 {
		sig = sign("not-the-secret:"+s.o.SecretKey, body)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "klavi-sandbox/1")
	req.Header.Set(signatureHeader, sig)
	req.Header.Set(timestampHeader, strconv.FormatInt(s.now().Unix(), 10))
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// partnerAppID is a stable 8-digit id derived from the access key, like the
// numeric partnerAppId in Klavi's examples.
func (s *Sandbox) partnerAppID() string {
	sum := sha256.Sum256([]byte("partner:" + s.o.AccessKey))
	n := uint64(0)
	for _, b := range sum[:8] {
		n = n<<8 | uint64(b)
	}
	return strconv.FormatUint(10000000+n%90000000, 10)
}

// emit builds one event envelope and queues it for EventsURL under key.
// consentEvent marks consent_* events, which the "no consent webhook"
// scenario drops and the "bad signature" scenario signs wrongly at first.
// The duplicate scenario queues the same bytes twice. It returns the last
// queued delivery, or nil. Safe with or without s.mu held; callers that
// need ordering against other events of the key hold it.
func (s *Sandbox) emit(key string, sc scenario, consentEvent bool, name string, payload any, ext map[string]any) *delivery {
	if consentEvent && sc == scenarioNoConsentWebhook {
		return nil
	}
	body := s.encodeEvent(name, payload, ext)
	if body == nil {
		return nil
	}
	return s.queueBody(key, s.o.EventsURL, body, sc, consentEvent && sc == scenarioBadSignature)
}

// encodeEvent builds the wire bytes of one event stamped now (eventTime and
// eventId), as an array or, with EventsAsObject, a bare object; nil if it
// cannot be encoded.
func (s *Sandbox) encodeEvent(name string, payload any, ext map[string]any) []byte {
	now := s.now()
	if ext == nil {
		ext = map[string]any{}
	}
	ev := eventWire{
		PartnerAppID: s.partnerAppID(),
		EventID:      strconv.FormatInt(now.UnixMilli(), 10) + "-" + randomHex(12),
		EventType:    "api",
		EventName:    name,
		EventTime:    now.Format(isoMillis),
		Payload:      payload,
		ExternalInfo: ext,
	}
	var body []byte
	var err error
	if s.o.EventsAsObject {
		body, err = json.Marshal(ev)
	} else {
		body, err = json.Marshal([]eventWire{ev})
	}
	if err != nil {
		s.log.Error("sandbox event encode failed", "event", name)
		return nil
	}
	return body
}

// holdLocked keeps body, the consent_authorised event of an "events out of
// order" consent, instead of queueing it: the consent's next event (e.g.
// consent_revoked) is queued first and the held bytes right after it
// (releaseHeldLocked). So that nothing is lost, a timer releases it after
// holdRelease if no other event came first. Caller holds s.mu.
func (s *Sandbox) holdLocked(c *consent, body []byte) {
	c.held = body
	wait := s.holdRelease
	s.goTracked(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
			return // Close: nothing more is sent
		case <-t.C:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.releaseHeldLocked(c)
	})
}

// releaseHeldLocked queues c's held event, if any, behind whatever is
// already queued for its link. The bytes are the ones built when the event
// was held: same eventId, the earlier eventTime. Caller holds s.mu.
func (s *Sandbox) releaseHeldLocked(c *consent) {
	if c.held == nil {
		return
	}
	body := c.held
	c.held = nil
	s.queueBody(c.linkID, s.o.EventsURL, body, c.scen, false)
}

// queueBody queues body for url (twice for the duplicate scenario).
func (s *Sandbox) queueBody(key, url string, body []byte, sc scenario, badFirstSig bool) *delivery {
	return s.queue(key, url, func() []byte { return body }, sc, badFirstSig)
}

// queueBuilt queues the bytes build returns for url, built when the delivery is first sent (once, also for the
// duplicate scenario's second delivery).
func (s *Sandbox) queueBuilt(key, url string, build func() []byte, sc scenario) *delivery {
	return s.queue(key, url, sync.OnceValue(build), sc, false)
}

func (s *Sandbox) queue(key, url string, body func() []byte, sc scenario, badFirstSig bool) *delivery {
	d := &delivery{url: url, body: body, badFirstSig: badFirstSig, done: make(chan struct{})}
	if sc == scenarioDuplicate {
		d2 := &delivery{url: url, body: body, done: make(chan struct{})}
		s.enqueue(key, d, d2)
		return d2
	}
	s.enqueue(key, d)
	return d
}
