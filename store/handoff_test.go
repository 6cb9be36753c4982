package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A hand-off is spent once, only before its expiry; a newer one of the same desktop session replaces an unused
// one; once spent it pairs the desktop with the phone on its link only.
func TestHandoffSingleUseExpiryAndPairing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		if err := s.CreateLink(ctx, Link{ID: "L1", SessionID: "desk", PersonType: "personal", TokenExpiresAt: t0.Add(30 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateHandoff(ctx, Handoff{LinkID: "L1", SessionID: "desk"}, hashIs("h0")); err == nil {
			t.Error("a hand-off without an expiry was stored")
		}
		first, err := s.CreateHandoff(ctx, Handoff{LinkID: "L1", SessionID: "desk", DeviceRef: "D",
			Lang: "en", ExpiresAt: c.Now().Add(10 * time.Minute)}, hashIs("h1"))
		if err != nil || first == 0 {
			t.Fatalf("CreateHandoff = %d, %v", first, err)
		}
		// A new code for the same desktop session replaces the unused one.
		second, err := s.CreateHandoff(ctx, Handoff{LinkID: "L1", SessionID: "desk", DeviceRef: "D",
			Lang: "en", ExpiresAt: c.Now().Add(10 * time.Minute)}, hashIs("h2"))
		if err != nil || second == first {
			t.Fatalf("second CreateHandoff = %d, %v", second, err)
		}
		if _, err := s.HandoffByToken(ctx, "h1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the replaced code is still there: %v", err)
		}
		if _, err := s.UseHandoff(ctx, "h1", "P", c.Now()); !errors.Is(err, ErrNotFound) {
			t.Errorf("the replaced code was spent: %v", err)
		}
		// Duplicate token hashes are refused.
		if _, err := s.CreateHandoff(ctx, Handoff{LinkID: "L1", SessionID: "other", ExpiresAt: c.Now().Add(time.Minute)}, hashIs("h2")); err == nil {
			t.Error("a duplicate token hash was stored")
		}

		c.Advance(time.Minute)
		h, err := s.UseHandoff(ctx, "h2", "P", c.Now())
		if err != nil {
			t.Fatalf("UseHandoff: %v", err)
		}
		if h.ID != second || h.LinkID != "L1" || h.SessionID != "desk" || h.DeviceRef != "D" || h.Lang != "en" ||
			h.PhoneDeviceRef != "P" || h.UsedAt == nil || !h.UsedAt.Equal(c.Now()) || !h.CreatedAt.Equal(t0) {
			t.Errorf("spent hand-off = %+v", h)
		}
		if _, err := s.UseHandoff(ctx, "h2", "Q", c.Now()); !errors.Is(err, ErrNotFound) {
			t.Errorf("second use: %v", err)
		}
		again, err := s.Handoff(ctx, second)
		if err != nil || again.PhoneDeviceRef != "P" {
			t.Errorf("after a replay: %+v, %v", again, err)
		}
		// A new code for the desktop does not delete the spent one (it pairs the browsers).
		if _, err := s.CreateHandoff(ctx, Handoff{LinkID: "L1", SessionID: "desk", DeviceRef: "D",
			ExpiresAt: c.Now().Add(10 * time.Minute)}, hashIs("h3")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			link, desk, phone string
			want              bool
		}{{"L1", "D", "P", true}, {"L2", "D", "P", false}, {"L1", "P", "D", false}, {"L1", "D", "Q", false},
			{"L1", "", "P", false}, {"L1", "X", "P", false}} {
			if got, err := s.HandoffPaired(ctx, tc.link, tc.desk, tc.phone); err != nil || got != tc.want {
				t.Errorf("HandoffPaired(%s, %s, %s) = %v, %v; want %v", tc.link, tc.desk, tc.phone, got, err, tc.want)
			}
		}

		// Expiry: not spendable at or after expires_at.
		c.Advance(10 * time.Minute)
		if _, err := s.UseHandoff(ctx, "h3", "P", c.Now()); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired code spent: %v", err)
		}
		if _, err := s.UseHandoff(ctx, "nope", "P", c.Now()); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown code: %v", err)
		}
		if _, err := s.UseHandoff(ctx, "h3", "", c.Now()); err == nil {
			t.Error("spent without a device ref")
		}

		// The sweep removes the expired unused code, keeps the pairing until HandoffPairingLife.
		if _, err := s.SweepAccess(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.HandoffByToken(ctx, "h3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired unused code kept: %v", err)
		}
		if ok, _ := s.HandoffPaired(ctx, "L1", "D", "P"); !ok {
			t.Error("the sweep ended a fresh pairing")
		}
		c.Advance(HandoffPairingLife)
		if _, err := s.SweepAccess(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.HandoffPaired(ctx, "L1", "D", "P"); ok {
			t.Error("pairing outlived HandoffPairingLife")
		}
	})
}

// The token's hash is asked for with the new row's id and stored in the same transaction; without one nothing is
// stored and the session's unused code stays. The desktop's language follows a switch while the code is unused, never
// after it was spent.
func TestHandoffTokenHashFromIDAndLang(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		h := Handoff{LinkID: "L1", SessionID: "desk", DeviceRef: "D", Lang: "pt-BR", ExpiresAt: c.Now().Add(10 * time.Minute)}
		byID := func(id int64) string { return fmt.Sprintf("hash-of-%d", id) }
		first, err := s.CreateHandoff(ctx, h, byID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.HandoffByToken(ctx, byID(first))
		if err != nil || got.ID != first {
			t.Fatalf("by the id's hash: %+v, %v", got, err)
		}
		if _, err := s.CreateHandoff(ctx, h, hashIs("")); err == nil {
			t.Error("a hand-off without a token hash was stored")
		}
		if _, err := s.CreateHandoff(ctx, h, nil); err == nil {
			t.Error("a hand-off without a token hash function was stored")
		}
		if got, err := s.Handoff(ctx, first); err != nil || got.TokenHash != byID(first) {
			t.Errorf("a failed create replaced the session's unused code: %+v, %v", got, err)
		}
		second, err := s.CreateHandoff(ctx, h, byID)
		if err != nil || second == first {
			t.Fatalf("second: %d, %v", second, err)
		}
		if _, err := s.HandoffByToken(ctx, byID(first)); !errors.Is(err, ErrNotFound) {
			t.Errorf("the replaced code is still there: %v", err)
		}

		if err := s.SetHandoffLang(ctx, second, "en"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Handoff(ctx, second); err != nil || got.Lang != "en" || got.TokenHash != byID(second) {
			t.Errorf("after the switch: %+v, %v", got, err)
		}
		if _, err := s.UseHandoff(ctx, byID(second), "P", c.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHandoffLang(ctx, second, "pt-BR"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Handoff(ctx, second); err != nil || got.Lang != "en" {
			t.Errorf("a spent code's language changed: %+v, %v", got, err)
		}
		if err := s.SetHandoffLang(ctx, 1<<40, "en"); err != nil {
			t.Errorf("an unknown hand-off: %v", err)
		}
	})
}

// Of many phones spending one code at once, exactly one wins.
func TestHandoffConcurrentUse(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		if _, err := s.CreateHandoff(ctx, Handoff{LinkID: "L", SessionID: "desk", DeviceRef: "D",
			ExpiresAt: c.Now().Add(10 * time.Minute)}, hashIs("h")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UseHandoff(ctx, "h", "P"+string(rune('a'+i)), c.Now())
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, ErrNotFound) {
					t.Errorf("UseHandoff: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d phones spent one code", wins)
		}
	})
}

// ConsentsForLink lists a link's consents newest first; a device's list (/me) includes what a phone it handed off to
// started on that link, and nothing the phone started elsewhere.
func TestConsentsForLinkAndHandedOffListing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		add := func(id, link, device string) {
			t.Helper()
			c.Advance(time.Second)
			if err := s.CreateConsent(ctx, Consent{ID: id, LinkID: link, SessionID: "s", InstitutionCode: id,
				DeviceRef: device}); err != nil {
				t.Fatal(err)
			}
		}
		add("c1", "L1", "D")
		add("c2", "L1", "P")
		add("c3", "L2", "P")
		add("c4", "L1", "")
		list, err := s.ConsentsForLink(ctx, "L1")
		if err != nil || len(list) != 3 || list[0].ID != "c4" || list[1].ID != "c2" || list[2].ID != "c1" {
			t.Fatalf("ConsentsForLink = %v, %v", ids(list), err)
		}
		if none, err := s.ConsentsForLink(ctx, "nope"); err != nil || len(none) != 0 {
			t.Errorf("unknown link: %v, %v", none, err)
		}
		mine := func(device string) []string {
			t.Helper()
			got, err := s.ListConsents(ctx, ConsentFilter{DeviceRef: device})
			if err != nil {
				t.Fatal(err)
			}
			return ids(got)
		}
		if got := mine("D"); len(got) != 1 || got[0] != "c1" {
			t.Errorf("before the hand-off, D lists %v", got)
		}
		if _, err := s.CreateHandoff(ctx, Handoff{LinkID: "L1", SessionID: "desk", DeviceRef: "D",
			ExpiresAt: c.Now().Add(10 * time.Minute)}, hashIs("h")); err != nil {
			t.Fatal(err)
		}
		if got := mine("D"); len(got) != 1 {
			t.Errorf("an unused hand-off pairs already: %v", got)
		}
		if _, err := s.UseHandoff(ctx, "h", "P", c.Now()); err != nil {
			t.Fatal(err)
		}
		if got := mine("D"); len(got) != 2 || got[0] != "c2" || got[1] != "c1" {
			t.Errorf("after the hand-off, D lists %v, want [c2 c1]", got)
		}
		if got := mine("P"); len(got) != 2 || got[0] != "c3" || got[1] != "c2" {
			t.Errorf("the phone lists %v, want only its own [c3 c2]", got)
		}
	})
}

func ids(list []Consent) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.ID)
	}
	return out
}

// hashIs is a CreateHandoff token hash that does not depend on the id.
func hashIs(hash string) func(int64) string { return func(int64) string { return hash } }
