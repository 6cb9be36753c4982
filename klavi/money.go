package klavi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is a decimal money amount exactly as Klavi sends it, e.g. "1000.0400" (4 decimals, '.' separator).
// It is never converted to a float; use Units for arithmetic. When the JSON value is a number instead of a
// string, its literal text is kept as is.
type Amount string

// UnitsPerCurrencyUnit is the scale of Units: amounts are counted in 1/10000 of the currency unit.
const UnitsPerCurrencyUnit = 10000

// Units returns the amount in 1/10000 of the currency unit ("1000.0400" → 10000400, "-0.5" → -5000).
//
// Accepted: an optional leading '-' or '+', one or more ASCII digits, then optionally '.' and one or more
// digits. Fewer than 4 decimals are padded; more than 4 are accepted only when the extra digits are all zero
// (the value stays exact). Anything else (empty, spaces, ",", exponents, "1.", ".5", a non-zero 5th decimal,
// overflow of int64) is an error. Error texts never quote the value: a malformed amount field may hold
// anything, a CPF or CNPJ included, and errors end up in logs.
func (a Amount) Units() (int64, error) {
	s := string(a)
	if s == "" {
		return 0, errors.New("klavi: empty amount")
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
		if frac == "" {
			return 0, errors.New("klavi: invalid amount: no digits after the decimal point")
		}
	}
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, errors.New("klavi: invalid amount: not a plain decimal number")
	}
	if len(frac) > 4 {
		for _, c := range frac[4:] {
			if c != '0' {
				return 0, errors.New("klavi: invalid amount: more than 4 significant decimals")
			}
		}
		frac = frac[:4]
	}
	for len(frac) < 4 {
		frac += "0"
	}
	// Work in uint64 so that -9223372036854775808 (in units) is representable.
	var u uint64
	for _, c := range intPart + frac {
		d := uint64(c - '0') //nolint:gosec // G115: c is an ASCII digit (checked above)
		if u > (math.MaxUint64-d)/10 {
			return 0, errors.New("klavi: invalid amount: out of range")
		}
		u = u*10 + d
	}
	if neg {
		if u > uint64(math.MaxInt64)+1 {
			return 0, errors.New("klavi: invalid amount: out of range")
		}
		return int64(-u), nil //nolint:gosec // G115: u <= MaxInt64+1, and two's complement makes MinInt64 exact
	}
	if u > math.MaxInt64 {
		return 0, errors.New("klavi: invalid amount: out of range")
	}
	return int64(u), nil
}

// FormatUnits is the inverse of Units: 10000400 → "1000.0400", -5000 → "-0.5000". Always 4 decimals.
func FormatUnits(u int64) Amount {
	neg := u < 0
	var m uint64
	if neg {
		m = uint64(-(u + 1)) + 1 //nolint:gosec // G115: -(u+1) >= 0; the +1 after the conversion keeps MinInt64 exact
	} else {
		m = uint64(u)
	}
	s := strconv.FormatUint(m/UnitsPerCurrencyUnit, 10) + "." + fmt.Sprintf("%04d", m%UnitsPerCurrencyUnit)
	if neg {
		s = "-" + s
	}
	return Amount(s)
}

// UnmarshalJSON accepts a JSON string or a JSON number; a number's literal text is kept without going
// through float64. null leaves the amount empty.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("klavi: empty amount")
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Amount(s)
		return nil
	case 'n':
		if string(b) == "null" {
			*a = ""
			return nil
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*a = Amount(n.String())
		return nil
	}
	return fmt.Errorf("klavi: amount must be a string or a number")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
