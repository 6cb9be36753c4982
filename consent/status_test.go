package consent

import "testing"

func TestStatusOrderAndFinality(t *testing.T) {
	if len(All) != 9 {
		t.Fatalf("All has %d statuses, want the nine Klavi sends", len(All))
	}
	last := 0
	for _, s := range All {
		if !s.Known() || s.Rank() < last {
			t.Errorf("%s: known %v, rank %d after %d", s, s.Known(), s.Rank(), last)
		}
		last = s.Rank()
	}
	terminal := map[Status]bool{Rejected: true, Error: true, Expired: true, Revoked: true, DeletedByUser: true}
	for _, s := range append(All, "SOMETHING_NEW", "") {
		if s.Terminal() != terminal[s] {
			t.Errorf("%q.Terminal() = %v", s, s.Terminal())
		}
	}
	if Status("authorised").Known() || Status("SOMETHING_NEW").Rank() != 0 {
		t.Error("unknown or differently cased statuses are known")
	}
	if got := TerminalSQL(); got != "('REJECTED', 'ERROR', 'EXPIRED', 'REVOKED', 'DELETED_BY_USER')" {
		t.Errorf("TerminalSQL() = %s", got)
	}
}

// The full transition table is tested through the store (TestSetStatusTransitions); these are the rules people ask
// about.
func TestMovesTo(t *testing.T) {
	for _, c := range []struct {
		from, to Status
		want     bool
	}{
		{Started, Authorised, true},
		{AwaitingLGPDAuthorisation, AwaitingAuthorisation, false}, // never backwards
		{Authorised, Rejected, false},                             // an authorised consent can end, not fail
		{Authorised, Revoked, true},
		{Revoked, Authorised, false}, // a late consent_authorised after the revocation
		{"", Started, true},
		{Started, "SOMETHING_NEW", false}, // unknown: pending, check again later
		{Authorised, Authorised, false},
	} {
		if got := c.from.MovesTo(c.to); got != c.want {
			t.Errorf("%q.MovesTo(%q) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	if !Revoked.TakesEffect(Revoked) || Revoked.TakesEffect(Authorised) {
		t.Error("TakesEffect: the same status takes effect, a stale one does not")
	}
}

func TestValidIDAndCleanText(t *testing.T) {
	for id, want := range map[string]bool{"ac246093-353b-4310-bd9c-c6ce0b278de8": true, "a_b": true, "": false,
		"a b": false, "../x": false, string(make([]byte, MaxIDLen+1)): false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
	if got := CleanText(" a\nb\x00ção\xff ", 100); got != "a b ção" {
		t.Errorf("CleanText = %q", got)
	}
	if got := CleanText("ãããã", 5); got != "ãã" {
		t.Errorf("cut inside a rune: %q", got)
	}
}
