package klavi

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Circuit breaker defaults (docs/reliability.md#circuit-breaker).
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
)

// WithBreaker sets the circuit breaker: after failures consecutive failed calls the client stops calling Klavi
// for cooldown, then lets one probe call through. failures <= 0 (or cooldown <= 0) disables the breaker.
// Default: 5 failures, 30 s.
func WithBreaker(failures int, cooldown time.Duration) Option {
	return func(c *Client) {
		if failures <= 0 || cooldown <= 0 {
			failures, cooldown = 0, 0
		}
		c.brk.threshold, c.brk.cooldown = failures, cooldown
	}
}

// breaker is a consecutive-failures circuit breaker around the outbound calls (docs/reliability.md#circuit-breaker).
//
// Why: when Klavi is down, every page that needs it would otherwise hold its request for the whole retry
// sequence (up to the call timeout) and add load to a service that is already failing. Once the breaker is
// open, calls fail at once, without any network I/O, with an error that is ErrUnavailable (and
// ErrCircuitOpen), so pages can show "Klavi indisponível, tente novamente" immediately.
//
// What counts: one public call's HTTP exchange after the client's own retries, token calls (POST /auth,
// GET /refresh) included, since they reach the same service. A failure is a network error, a timeout, a 5xx or
// a 429. Any other answer (4xx business errors, a 401 that triggers re-authentication, a malformed 2xx body)
// proves Klavi is reachable and counts as a success, which resets the streak. A call canceled by its caller
// says nothing about Klavi and is not counted either way.
//
// States: closed (calls go through; failures are counted), open (calls fail fast until the cooldown has
// passed on the client's clock, see WithNow), half-open (one probe call goes through, the others fail fast; a
// success closes the breaker, a failure re-opens it for another cooldown). A probe that is still running after
// a whole cooldown no longer blocks: the next call becomes a new probe, so a lost probe cannot keep the breaker
// shut forever.
type breaker struct {
	threshold int           // consecutive failures that open the breaker; 0 disables it
	cooldown  time.Duration // how long it stays open

	mu         sync.Mutex
	failures   int       // consecutive failures while closed
	openUntil  time.Time // zero while closed
	probing    bool      // half-open: a probe is in flight
	probeSince time.Time
}

// outcome is how one call's result is counted.
type outcome int

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeIgnored
)

// classify maps a call's result to an outcome. ctx is the call's context.
func classify(ctx context.Context, err error) outcome {
	switch {
	case err == nil:
		return outcomeSuccess
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return outcomeIgnored
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited):
		return outcomeFailure // network error, timeout (context.DeadlineExceeded), 5xx, 429
	}
	return outcomeSuccess
}

// blocked reports whether a call starting now would be refused, without taking the probe slot. It lets a
// public call fail before fetching a token.
func (b *breaker) blocked(now time.Time) bool {
	if b.threshold <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return false
	case now.Before(b.openUntil):
		return true
	}
	return b.probing && now.Sub(b.probeSince) < b.cooldown
}

// allow reports whether a call may go out now and, when it may, whether it is the half-open probe.
func (b *breaker) allow(now time.Time) (ok, probe bool) {
	if b.threshold <= 0 {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return true, false
	case now.Before(b.openUntil):
		return false, false
	case b.probing && now.Sub(b.probeSince) < b.cooldown:
		return false, false
	}
	b.probing, b.probeSince = true, now
	return true, true
}

// record counts the result of a call that allow let through.
func (b *breaker) record(now time.Time, probe bool, o outcome) {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch o {
	case outcomeSuccess:
		// Any answer closes the breaker, a late one from before it opened included: Klavi is reachable.
		b.failures, b.openUntil, b.probing = 0, time.Time{}, false
	case outcomeFailure:
		switch {
		case probe:
			b.openUntil, b.probing = now.Add(b.cooldown), false
		case b.openUntil.IsZero():
			b.failures++
			if b.failures >= b.threshold {
				b.openUntil = now.Add(b.cooldown)
			}
		}
		// A failure of a call started before the breaker opened neither extends the cooldown nor ends a probe.
	case outcomeIgnored:
		if probe {
			b.probing = false // let the next call probe
		}
	}
}

// openError is what a refused call returns.
func openError(op string) error {
	return &opError{op: op, msg: "Klavi is temporarily unavailable (circuit breaker open), try again later",
		kinds: []error{ErrUnavailable, ErrCircuitOpen}}
}
