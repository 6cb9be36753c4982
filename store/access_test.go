package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSessionsExpireAndDie(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		ss := Session{IDHash: "h1", Data: map[string]string{"sid": "abc", "lang": "en"}, ExpiresAt: t0.Add(30 * time.Minute)}
		if err := s.SaveSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
		got, err := s.Session(ctx, "h1")
		if err != nil || got.Data["sid"] != "abc" || got.Data["lang"] != "en" || got.OperatorID != 0 || !got.CreatedAt.Equal(t0) {
			t.Fatalf("Session = %+v, %v", got, err)
		}
		// Saving again keeps the creation time and moves the rest.
		c.Advance(10 * time.Minute)
		got.OperatorID, got.SeenAt, got.ExpiresAt = 7, c.Now(), c.Now().Add(30*time.Minute)
		got.Data["lang"] = "pt-BR"
		if err := s.SaveSession(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.Session(ctx, "h1")
		if again.OperatorID != 7 || again.Data["lang"] != "pt-BR" || !again.CreatedAt.Equal(t0) || !again.SeenAt.Equal(c.Now()) {
			t.Errorf("after save: %+v", again)
		}
		// Past its expiry a session is gone, before and after the sweep.
		c.Advance(31 * time.Minute)
		if _, err := s.Session(ctx, "h1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		if n, err := s.SweepAccess(ctx, time.Hour); err != nil || n != 1 {
			t.Errorf("sweep = %d, %v", n, err)
		}
		// Deleting the operator's sessions kills every copy.
		for i := range 3 {
			if err := s.SaveSession(ctx, Session{IDHash: fmt.Sprint("op", i), OperatorID: 9, ExpiresAt: c.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.DeleteOperatorSessions(ctx, 9); err != nil || n != 3 {
			t.Errorf("DeleteOperatorSessions = %d, %v", n, err)
		}
		if err := s.DeleteSession(ctx, "nope"); err != nil {
			t.Errorf("deleting a missing session: %v", err)
		}
	})
}

func TestOperators(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		if n, _ := s.CountOperators(ctx); n != 0 {
			t.Fatalf("operators = %d", n)
		}
		o, err := s.AddOperator(ctx, " Ana@Example.COM ", "hash1")
		if err != nil || o.ID == 0 || o.Email != "ana@example.com" {
			t.Fatalf("AddOperator = %+v, %v", o, err)
		}
		if _, err := s.AddOperator(ctx, "ana@example.com", "x"); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate email: %v", err)
		}
		if got, err := s.OperatorByEmail(ctx, "ANA@example.com"); err != nil || got.ID != o.ID || got.PasswordHash != "hash1" {
			t.Errorf("OperatorByEmail = %+v, %v", got, err)
		}
		if err := s.SaveSession(ctx, Session{IDHash: "s", OperatorID: o.ID, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetOperatorPassword(ctx, o.ID, "hash2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(ctx, "s"); !errors.Is(err, ErrNotFound) {
			t.Error("a password change left a session alive")
		}
		if err := s.RemoveOperator(ctx, "ana@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveOperator(ctx, "ana@example.com"); !errors.Is(err, ErrNotFound) {
			t.Errorf("removing twice: %v", err)
		}
		if list, _ := s.Operators(ctx); len(list) != 0 {
			t.Errorf("operators after removal: %+v", list)
		}
	})
}

func TestAuditIsAppendOnlyAndPaged(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		for i := range 5 {
			if err := s.AddAudit(ctx, AuditEntry{Actor: "ana@example.com", Action: "signin", IP: "127.0.0.1", OK: i%2 == 0,
				Target: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		p, err := s.Audit(ctx, 0, 2)
		if err != nil || len(p.Rows) != 2 || p.Rows[0].Target != "4" || p.Next == 0 {
			t.Fatalf("first page = %+v, %v", p, err)
		}
		p, _ = s.Audit(ctx, p.Next, 2)
		p, _ = s.Audit(ctx, p.Next, 2)
		if len(p.Rows) != 1 || p.Rows[0].Target != "0" || p.Next != 0 || !p.Rows[0].OK {
			t.Errorf("last page = %+v", p)
		}
		if _, err := s.w.ExecContext(ctx, `UPDATE audit SET actor = 'x'`); err == nil {
			t.Error("an audit row was changed")
		}
		if _, err := s.w.ExecContext(ctx, `DELETE FROM audit`); err == nil {
			t.Error("audit rows were deleted")
		}
	})
}

func TestLoginFailuresLockAndClear(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		var until time.Time
		for i := 1; i <= 5; i++ {
			var err error
			if until, err = s.RecordLoginFailure(ctx, "k", 15*time.Minute, 5, 15*time.Minute); err != nil {
				t.Fatal(err)
			}
			if (i < 5) != until.IsZero() {
				t.Fatalf("failure %d: locked until %v", i, until)
			}
		}
		if got, _ := s.LoginLockedUntil(ctx, "k"); !got.Equal(until) || !until.Equal(t0.Add(15*time.Minute)) {
			t.Errorf("locked until %v, want %v", got, until)
		}
		c.Advance(16 * time.Minute)
		if got, _ := s.LoginLockedUntil(ctx, "k"); !got.IsZero() {
			t.Errorf("still locked after the lock: %v", got)
		}
		// After the lock a new window starts from one failure.
		if u, _ := s.RecordLoginFailure(ctx, "k", 15*time.Minute, 5, 15*time.Minute); !u.IsZero() {
			t.Errorf("first failure of a new window locked until %v", u)
		}
		if err := s.ClearLoginFailures(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.SweepAccess(ctx, time.Hour); n != 0 {
			t.Errorf("sweep removed %d sessions", n)
		}
	})
}

func TestSetupTokenOnceAndOnlyFirstOperator(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, c, _ := openTest(t, be)
		ctx := context.Background()
		if err := s.CreateSetupToken(ctx, "tok", t0.Add(15*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.SetupTokenValid(ctx, "tok"); !ok {
			t.Fatal("fresh token invalid")
		}
		o, err := s.UseSetupToken(ctx, "tok", "first@example.com", "h")
		if err != nil || o.ID == 0 {
			t.Fatalf("UseSetupToken = %+v, %v", o, err)
		}
		if _, err := s.UseSetupToken(ctx, "tok", "second@example.com", "h"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second use: %v", err)
		}
		if err := s.CreateSetupToken(ctx, "tok2", c.Now().Add(15*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseSetupToken(ctx, "tok2", "second@example.com", "h"); !errors.Is(err, ErrConflict) {
			t.Errorf("setup with an operator present: %v", err)
		}
		if err := s.CreateSetupToken(ctx, "tok3", c.Now().Add(15*time.Minute)); err != nil {
			t.Fatal(err)
		}
		c.Advance(16 * time.Minute)
		if ok, _ := s.SetupTokenValid(ctx, "tok3"); ok {
			t.Error("expired token valid")
		}
	})
}
