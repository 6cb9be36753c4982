package auth

import (
	"strings"
	"testing"
)

func TestHashAndCheckPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash = %q, want the PHC form with its parameters", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Error("the right password is refused")
	}
	for _, wrong := range []string{"", "correct horse batter", "Correct horse battery", strings.Repeat("x", 2000)} {
		if CheckPassword(h, wrong) {
			t.Errorf("%q accepted", wrong)
		}
	}
	// A fresh salt each time: the same password never hashes alike.
	h2, _ := HashPassword("correct horse battery", DefaultParams)
	if h2 == h {
		t.Error("two hashes of one password are equal")
	}
	// Hashes made with other parameters stay verifiable.
	cheap, _ := HashPassword("correct horse battery", Params{Time: 1, Memory: 64, Threads: 1})
	if !CheckPassword(cheap, "correct horse battery") || !strings.Contains(cheap, "m=64,t=1,p=1") {
		t.Errorf("parameters not kept with the hash: %q", cheap)
	}
}

func TestNewPasswordRulesAndBadHashes(t *testing.T) {
	t.Parallel()
	if _, err := HashPassword("elevenchars", DefaultParams); err != ErrPasswordTooShort {
		t.Errorf("11 characters: %v", err)
	}
	if err := CheckNewPassword("çççççççççççç"); err != nil { // 12 characters, 24 bytes
		t.Errorf("12 non-ASCII characters refused: %v", err)
	}
	if err := CheckNewPassword(strings.Repeat("a", 1025)); err != ErrPasswordTooLong {
		t.Errorf("1025 bytes: %v", err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=64,t=1,p=1$!!$a2V5"} {
		if CheckPassword(bad, "anything at all") {
			t.Errorf("hash %q matched", bad)
		}
	}
	DummyCheck("whatever", Params{Time: 1, Memory: 64, Threads: 1}) // must not panic
}
