// Package auth holds what signing in needs apart from HTTP: password hashing (argon2id), sign-in throttling keys
// and the OpenID Connect client. handlers serves the pages; store keeps operators, sessions and the audit trail.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// MinPasswordLen is the shortest password accepted, in characters.
const MinPasswordLen = 12

// maxPasswordLen bounds the work one sign-in attempt can ask of argon2 (bytes).
const maxPasswordLen = 1024

// ErrPasswordTooShort and ErrPasswordTooLong say why a new password is refused.
var (
	ErrPasswordTooShort = fmt.Errorf("auth: the password must have at least %d characters", MinPasswordLen)
	ErrPasswordTooLong  = fmt.Errorf("auth: the password must have at most %d bytes", maxPasswordLen)
	errBadHash          = errors.New("auth: not an argon2id hash")
)

// Params are argon2id's cost parameters. They are stored with every hash, so raising them later keeps old
// hashes verifiable.
type Params struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultParams follow OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): about 30 ms on one core here.
var DefaultParams = Params{Time: 2, Memory: 19 * 1024, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// CheckNewPassword says whether a password may be set: at least MinPasswordLen characters, at most 1024 bytes.
func CheckNewPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return ErrPasswordTooShort
	case len(pw) > maxPasswordLen:
		return ErrPasswordTooLong
	}
	return nil
}

// HashPassword returns the argon2id hash of pw with a fresh random salt, as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded base64).
func HashPassword(pw string, p Params) (string, error) {
	if err := CheckNewPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches the hash, comparing in constant time. A malformed hash (or an empty
// one: an operator who signs in only by single sign-on) never matches.
func CheckPassword(hash, pw string) bool {
	p, salt, key, err := parseHash(hash)
	if err != nil || len(pw) > maxPasswordLen {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key))) //nolint:gosec // G115: parseHash bounds len(key) to 16..64
	return subtle.ConstantTimeCompare(got, key) == 1
}

// DummyCheck does the work of CheckPassword against a fixed hash made with p, so that a sign-in for an unknown
// email takes as long as one for a known email and the answer time does not tell them apart.
func DummyCheck(pw string, p Params) { CheckPassword(dummyHash(p), pw) }

// dummyHashes holds one fixed hash per parameter set, each made on first use, not at start: hashing costs as much
// as a sign-in.
var dummyHashes sync.Map // Params → string

func dummyHash(p Params) string {
	if h, ok := dummyHashes.Load(p); ok {
		return h.(string)
	}
	h, _ := HashPassword("dummy password for unknown emails", p)
	dummyHashes.Store(p, h)
	return h
}

func parseHash(h string) (Params, []byte, []byte, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errBadHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Time == 0 || p.Threads == 0 || p.Memory < 8*uint32(p.Threads) || p.Memory > 1<<21 || p.Time > 16 {
		return Params{}, nil, nil, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, errBadHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
