// Package taxid holds the pure rules for Brazilian tax ids: CPF (people, 11 digits) and CNPJ (companies, 14
// characters, numeric or the alphanumeric format introduced by IN RFB nº 2.229/2024 for registrations from
// July 2026). It validates check digits, normalises user input, formats and masks values, and masks every
// valid id found inside free text or JSON.
//
// Nothing here logs, and no error carries the value it was given: tax ids are personal data under the LGPD,
// and error texts end up in logs.
package taxid

import (
	"errors"
)

// Kind tells a CPF from a CNPJ.
type Kind int

const (
	// CPF is the individual taxpayer id: 9 digits + 2 check digits.
	CPF Kind = iota + 1
	// CNPJ is the company id: 8-character root + 4-character order ([0-9A-Z]) + 2 numeric check digits.
	CNPJ
)

// String returns "CPF" or "CNPJ" ("unknown" otherwise).
func (k Kind) String() string {
	switch k {
	case CPF:
		return "CPF"
	case CNPJ:
		return "CNPJ"
	}
	return "unknown"
}

// Sentinel errors. They deliberately say what is wrong, never with which value, so they are safe to log.
var (
	ErrEmpty       = errors.New("taxid: empty")
	ErrLength      = errors.New("taxid: wrong length")
	ErrChars       = errors.New("taxid: invalid characters")
	ErrCheckDigits = errors.New("taxid: check digits do not match")
	ErrRepeated    = errors.New("taxid: repeated characters")
)

// Lengths of the normalised forms.
const (
	CPFLength  = 11
	CNPJLength = 14
)

// maxInput bounds the raw input Normalize looks at. The longest legitimate input, a formatted CNPJ, is 18
// bytes; the margin allows for stray spaces while refusing to walk megabytes a client may post.
const maxInput = 64

// Normalize strips the formatting characters '.', '/', '-' and ASCII space, and upper-cases ASCII letters.
// Anything else (non-ASCII such as full-width digits or homoglyphs, NUL, tabs, newlines, other punctuation)
// is rejected with ErrChars, because silently dropping it would let a lookalike string pass as a tax id.
// It returns ErrEmpty when nothing is left and ErrLength when the input is absurdly long (> 64 bytes). It
// does not check length or check digits; see ValidateCPF, ValidateCNPJ and Validate.
func Normalize(s string) (string, error) {
	if len(s) > maxInput {
		return "", ErrLength
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == '/' || c == '-' || c == ' ':
			// formatting: dropped
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
			out = append(out, c)
		case c >= 'a' && c <= 'z':
			out = append(out, c-'a'+'A')
		default:
			return "", ErrChars
		}
	}
	if len(out) == 0 {
		return "", ErrEmpty
	}
	return string(out), nil
}

// ValidateCPF normalises s and checks it is a CPF: 11 digits, not all the same, both check digits right.
// It returns the normalised 11 digits.
func ValidateCPF(s string) (string, error) {
	n, err := Normalize(s)
	if err != nil {
		return "", err
	}
	if err := checkCPF(n); err != nil {
		return "", err
	}
	return n, nil
}

// ValidateCNPJ normalises s and checks it is a CNPJ: 14 characters matching [0-9A-Z]{12}[0-9]{2} (lower-case
// input is accepted and upper-cased), the 12 base characters not all the same, both check digits right.
// Numeric CNPJs are the special case of the alphanumeric rule where every character is a digit. Formatting
// characters are stripped wherever they are, so a partly formatted 12.ABC.345/01DE35 is accepted.
// It returns the normalised 14 characters.
func ValidateCNPJ(s string) (string, error) {
	n, err := Normalize(s)
	if err != nil {
		return "", err
	}
	if err := checkCNPJ(n); err != nil {
		return "", err
	}
	return n, nil
}

// Validate accepts either kind, choosing by the normalised length (11 → CPF, 14 → CNPJ), and returns the
// kind with the normalised value. Other lengths give ErrLength.
func Validate(s string) (Kind, string, error) {
	n, err := Normalize(s)
	if err != nil {
		return 0, "", err
	}
	switch len(n) {
	case CPFLength:
		if err := checkCPF(n); err != nil {
			return 0, "", err
		}
		return CPF, n, nil
	case CNPJLength:
		if err := checkCNPJ(n); err != nil {
			return 0, "", err
		}
		return CNPJ, n, nil
	}
	return 0, "", ErrLength
}

// CompleteCPF returns the CPF whose first nine digits are base: base followed by its two check digits. A base that
// is not nine digits, or is nine equal ones, is refused as ValidateCPF would refuse the result. Load runs use it to
// give every simulated person a CPF of their own.
func CompleteCPF(base string) (string, error) {
	if len(base) != CPFLength-2 {
		return "", ErrLength
	}
	for i := 0; i < len(base); i++ {
		if !isDigit(base[i]) {
			return "", ErrChars
		}
	}
	if allSame(base) {
		return "", ErrRepeated
	}
	return base + cpfCheckDigits(base), nil
}

// checkCPF validates an already normalised string.
func checkCPF(n string) error {
	if len(n) != CPFLength {
		return ErrLength
	}
	for i := 0; i < len(n); i++ {
		if !isDigit(n[i]) {
			return ErrChars
		}
	}
	// A base of nine equal digits yields equal check digits too (111.111.111-11 passes the sums), so these are
	// refused by rule rather than by arithmetic.
	if allSame(n[:9]) {
		return ErrRepeated
	}
	if cpfCheckDigits(n[:9]) != n[9:] {
		return ErrCheckDigits
	}
	return nil
}

// checkCNPJ validates an already normalised string.
func checkCNPJ(n string) error {
	if len(n) != CNPJLength {
		return ErrLength
	}
	for i := 0; i < 12; i++ {
		if !isDigit(n[i]) && !(n[i] >= 'A' && n[i] <= 'Z') {
			return ErrChars
		}
	}
	if !isDigit(n[12]) || !isDigit(n[13]) {
		return ErrChars
	}
	// 00.000.000/0000-00 passes the sums; a base of twelve equal characters is never a real registration.
	if allSame(n[:12]) {
		return ErrRepeated
	}
	if cnpjCheckDigits(n[:12]) != n[12:] {
		return ErrCheckDigits
	}
	return nil
}

// cpfCheckDigits returns the two check digits for a 9-digit base (weights 10..2, then 11..2).
func cpfCheckDigits(base string) string {
	d1 := dv(base, []int{10, 9, 8, 7, 6, 5, 4, 3, 2})
	d2 := dv(base+string(d1), []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2})
	return string([]byte{d1, d2})
}

var (
	cnpjW1 = []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	cnpjW2 = []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
)

// cnpjCheckDigits returns the two check digits for a 12-character base in [0-9A-Z].
func cnpjCheckDigits(base string) string {
	d1 := dv(base, cnpjW1)
	d2 := dv(base+string(d1), cnpjW2)
	return string([]byte{d1, d2})
}

// dv computes one modulo-11 check digit. Each character is worth its ASCII code minus 48, which gives the
// digits their value and 'A'..'Z' 17..42, as the alphanumeric CNPJ rule specifies. Remainders 0 and 1 give 0.
func dv(s string, weights []int) byte {
	sum := 0
	for i, w := range weights {
		sum += int(s[i]-'0') * w
	}
	r := sum % 11
	if r < 2 {
		return '0'
	}
	return byte('0' + 11 - r)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allSame(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return true
}
