// Package consent holds what every layer says about a consent in the same words: its status (the nine values
// Klavi sends, their order and which are final) and its timeline lines as message keys. It imports nothing of
// the project, so store, flow, handlers and views can all use it; klavi keeps its own wire type and callers
// convert at that edge (consent.Status(k.Status)).
package consent

import "strings"

// Status is a consent's status as Klavi spells it (British spelling). Unknown values are possible (Klavi may add
// some): they are neither final nor a success, only "pending, check again later".
type Status string

// The nine statuses. Only Authorised allows requesting reports.
const (
	Started                   Status = "STARTED"
	AwaitingAuthorisation     Status = "AWAITING_AUTHORISATION"
	AwaitingLGPDAuthorisation Status = "AWAITING_LGPD_AUTHORISATION"
	Authorised                Status = "AUTHORISED"
	Rejected                  Status = "REJECTED"
	Error                     Status = "ERROR"
	Expired                   Status = "EXPIRED"
	Revoked                   Status = "REVOKED"
	DeletedByUser             Status = "DELETED_BY_USER"
)

// All lists the statuses in flow order: the four steps to an authorisation, then the five final statuses.
var All = []Status{Started, AwaitingAuthorisation, AwaitingLGPDAuthorisation, Authorised,
	Rejected, Error, Expired, Revoked, DeletedByUser}

// rankTerminal is the rank shared by every final status: none of them follows another.
const rankTerminal = 5

// Rank orders the statuses for forward-only moves: STARTED 1, AWAITING_AUTHORISATION 2,
// AWAITING_LGPD_AUTHORISATION 3, AUTHORISED 4, every terminal status 5; 0 for an unknown or empty status.
func (s Status) Rank() int {
	switch s {
	case Started:
		return 1
	case AwaitingAuthorisation:
		return 2
	case AwaitingLGPDAuthorisation:
		return 3
	case Authorised:
		return 4
	case Rejected, Error, Expired, Revoked, DeletedByUser:
		return rankTerminal
	}
	return 0
}

// Known reports whether s is one of the nine statuses (exact, case-sensitive).
func (s Status) Known() bool { return s.Rank() > 0 }

// Terminal reports whether no further change can follow: REJECTED, ERROR, EXPIRED, REVOKED and DELETED_BY_USER.
// AUTHORISED is not terminal (it can still become REVOKED, EXPIRED or DELETED_BY_USER), nor is an unknown status.
func (s Status) Terminal() bool { return s.Rank() == rankTerminal }

// MovesTo reports whether a consent in status s changes when status to is observed. A consent only moves
// forward: STARTED → AWAITING_AUTHORISATION → AWAITING_LGPD_AUTHORISATION → AUTHORISED, any of these → a
// terminal status, and AUTHORISED only to REVOKED, EXPIRED or DELETED_BY_USER. A terminal status never changes,
// and an unknown one never replaces anything. s == to is not a move (see TakesEffect).
func (s Status) MovesTo(to Status) bool {
	toRank := to.Rank()
	if toRank == 0 || s == to {
		return false
	}
	fromRank := s.Rank() // an unknown or empty current status ranks 0: anything known replaces it
	switch {
	case fromRank == rankTerminal:
		return false
	case s == Authorised:
		return to == Revoked || to == Expired || to == DeletedByUser
	}
	return toRank > fromRank
}

// TakesEffect reports whether observing to leaves a consent in status s in status to: the same status, or a
// forward move. A late or reordered observation of an older status does not.
func (s Status) TakesEffect(to Status) bool { return s == to || s.MovesTo(to) }

// TerminalSQL is the terminal statuses as an SQL list, "('REJECTED', 'ERROR', ...)", in the order of All. Queries
// use it verbatim so that they match the partial index built with the same list.
func TerminalSQL() string {
	var b strings.Builder
	b.WriteByte('(')
	for _, s := range All {
		if !s.Terminal() {
			continue
		}
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		b.WriteString("'" + string(s) + "'")
	}
	b.WriteByte(')')
	return b.String()
}
