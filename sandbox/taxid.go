package sandbox

import (
	"errors"
	"strings"
)

// The sandbox validates CPF/CNPJ on its own, independently of the portal's
// klavi/taxid package: a wrong check-digit rule must not hide on both sides
// of the wire at once.

var errTaxID = errors.New("invalid tax id")

// normalizeTaxID strips the usual punctuation (. / - and spaces) and
// upper-cases ASCII letters. Any other character makes the value invalid.
func normalizeTaxID(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '.' || r == '/' || r == '-' || r == ' ':
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			return "", errTaxID
		}
	}
	if b.Len() == 0 {
		return "", errTaxID
	}
	return b.String(), nil
}

// checkDigit applies the mod-11 rule shared by CPF and CNPJ: remainder < 2
// gives 0, otherwise 11 - remainder. Values are ASCII - 48, so digits keep
// their value and letters of the alphanumeric CNPJ become 17..42.
func checkDigit(s string, weights []int) byte {
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

func allSame(s string) bool {
	return strings.Count(s, s[:1]) == len(s)
}

// validCPF reports whether s (already normalised) is an 11-digit CPF with
// correct check digits that is not a repeated-digit string.
func validCPF(s string) bool {
	if len(s) != 11 || allSame(s) {
		return false
	}
	for i := 0; i < 11; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	w1 := []int{10, 9, 8, 7, 6, 5, 4, 3, 2}
	w2 := []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2}
	return checkDigit(s, w1) == s[9] && checkDigit(s, w2) == s[10]
}

// validCNPJ reports whether s (already normalised) is a CNPJ: 12 characters
// in [0-9A-Z] (the alphanumeric CNPJ of IN RFB 2.229/2024), not all the
// same, followed by two numeric check digits. The repetition rule looks at
// the 12 base characters: 111111111111 has check digits 80, so testing the
// whole string would let 11.111.111/1111-80 through.
func validCNPJ(s string) bool {
	if len(s) != 14 || allSame(s[:12]) {
		return false
	}
	for i := 0; i < 14; i++ {
		c := s[i]
		digit := c >= '0' && c <= '9'
		if i >= 12 && !digit {
			return false
		}
		if !digit && (c < 'A' || c > 'Z') {
			return false
		}
	}
	w1 := []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	w2 := []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	return checkDigit(s, w1) == s[12] && checkDigit(s, w2) == s[13]
}

// parseCPF normalises s and returns the 11-digit CPF, or errTaxID.
func parseCPF(s string) (string, error) {
	n, err := normalizeTaxID(s)
	if err != nil || !validCPF(n) {
		return "", errTaxID
	}
	return n, nil
}

// parseCNPJ normalises s and returns the 14-character CNPJ, or errTaxID.
func parseCNPJ(s string) (string, error) {
	n, err := normalizeTaxID(s)
	if err != nil || !validCNPJ(n) {
		return "", errTaxID
	}
	return n, nil
}
