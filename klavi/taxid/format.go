package taxid

import "strings"

// FormatCPF returns the CPF in its usual form, 529.982.247-25. The input may be formatted or not; if it does
// not normalise to 11 characters it is returned unchanged. Check digits are not verified.
func FormatCPF(n string) string {
	v, err := Normalize(n)
	if err != nil || len(v) != CPFLength {
		return n
	}
	return v[0:3] + "." + v[3:6] + "." + v[6:9] + "-" + v[9:11]
}

// FormatCNPJ returns the CNPJ in its usual form, 12.ABC.345/01DE-35 (upper case). If the input does not
// normalise to 14 characters it is returned unchanged. Check digits are not verified.
func FormatCNPJ(n string) string {
	v, err := Normalize(n)
	if err != nil || len(v) != CNPJLength {
		return n
	}
	return v[0:2] + "." + v[2:5] + "." + v[5:8] + "/" + v[8:12] + "-" + v[12:14]
}

// MaskCPF returns ***.982.247-** for 529.982.247-25: the first three and the two check digits hidden, the
// display convention used by Brazilian public bodies. Anything that is not 11 characters after
// normalisation gives "***", so a mask never echoes an unexpected value.
func MaskCPF(n string) string {
	v, err := Normalize(n)
	if err != nil || len(v) != CPFLength {
		return "***"
	}
	return "***." + v[3:6] + "." + v[6:9] + "-**"
}

// MaskCNPJ returns 12.ABC.***/****-35 for 12.ABC.345/01DE-35: the start of the root and the check digits stay
// visible so a user can recognise their company; the rest is hidden. Anything that is not 14 characters after
// normalisation gives "***".
func MaskCNPJ(n string) string {
	v, err := Normalize(n)
	if err != nil || len(v) != CNPJLength {
		return "***"
	}
	return v[0:2] + "." + v[2:5] + ".***/****-" + v[12:14]
}

// Mask masks a CPF or CNPJ, choosing by the normalised length; anything else gives "***".
func Mask(n string) string {
	v, err := Normalize(n)
	if err != nil {
		return "***"
	}
	switch len(v) {
	case CPFLength:
		return MaskCPF(v)
	case CNPJLength:
		return MaskCNPJ(v)
	}
	return "***"
}

// layout describes one written form of an id: group sizes, the optional separator after each group, and how
// many leading characters may be letters (the rest must be digits).
type layout struct {
	groups []int
	seps   []byte
	alnum  int
	kind   Kind
}

var (
	cnpjLayout = layout{groups: []int{2, 3, 3, 4, 2}, seps: []byte{'.', '.', '/', '-'}, alnum: 12, kind: CNPJ}
	cpfLayout  = layout{groups: []int{3, 3, 3, 2}, seps: []byte{'.', '.', '-'}, alnum: 0, kind: CPF}
)

// match tries to read an id written with l at s[i:], each separator optional. It returns the end offset and
// the normalised characters, or ok=false.
func (l layout) match(s string, i int) (end int, norm string, ok bool) {
	var b [CNPJLength]byte
	n := 0
	for g, size := range l.groups {
		for k := 0; k < size; k++ {
			if i >= len(s) {
				return 0, "", false
			}
			c := s[i]
			switch {
			case isDigit(c):
			case n < l.alnum && c >= 'A' && c <= 'Z':
			case n < l.alnum && c >= 'a' && c <= 'z':
				c = c - 'a' + 'A'
			default:
				return 0, "", false
			}
			b[n] = c
			n++
			i++
		}
		// A separator is either there or not; when it is, the next group cannot start with it, so taking it is
		// the only way to continue: the match is deterministic.
		if g < len(l.seps) && i < len(s) && s[i] == l.seps[g] {
			i++
		}
	}
	return i, string(b[:n]), true
}

// MaskText returns s with every check-digit-valid CPF or CNPJ replaced by its mask (MaskCPF / MaskCNPJ). Ids are
// found formatted (529.982.247-25, 12.ABC.345/01DE-35), partly formatted or bare (52998224725), in any case, as
// long as they stand alone: the characters just before and after are not letters or digits, so a longer number
// or an identifier that merely contains eleven digits is left alone. Numbers whose check digits do not match are
// left alone as well: they are not tax ids, and masking every 11-digit number would ruin amounts and ids in
// reports. An id inside a JSON string stays a valid JSON string (the mask has no quote or backslash; a JSON
// escape like \n just before the id counts as a boundary); an id written as a bare JSON number becomes text,
// so mask JSON for display, not for parsing again (Klavi sends tax ids as strings).
func MaskText(s string) string {
	var out strings.Builder
	last := 0 // s[last:] not yet copied
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) || !leftBoundary(s, i) {
			i++
			continue
		}
		if end, mask, ok := maskAt(s, i); ok {
			if out.Len() == 0 {
				out.Grow(len(s))
			}
			out.WriteString(s[last:i])
			out.WriteString(mask)
			last, i = end, end
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// leftBoundary reports whether an id may start at s[i]: at the start, after a character that is not a letter
// or digit, or right after a JSON escape such as \n or \t in raw JSON text ("...CPF\n52998224725...").
func leftBoundary(s string, i int) bool {
	if i == 0 || !isAlnum(s[i-1]) {
		return true
	}
	return i >= 2 && s[i-2] == '\\' && strings.IndexByte("nrtbf", s[i-1]) >= 0
}

// maskAt reports whether a standalone valid id starts at s[i], preferring CNPJ (the longer form).
func maskAt(s string, i int) (end int, mask string, ok bool) {
	for _, l := range []layout{cnpjLayout, cpfLayout} {
		end, norm, ok := l.match(s, i)
		if !ok || (end < len(s) && isAlnum(s[end])) {
			continue
		}
		switch l.kind {
		case CNPJ:
			if checkCNPJ(norm) == nil {
				return end, MaskCNPJ(norm), true
			}
		case CPF:
			if checkCPF(norm) == nil {
				return end, MaskCPF(norm), true
			}
		}
	}
	return 0, "", false
}

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// MaskErr is err's text for a log line: cut to 500 bytes, every CPF/CNPJ masked (MaskText); "" for nil. Klavi's
// errors never carry personal data; this is the backstop for wrapped driver errors and the like.
func MaskErr(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return MaskText(msg)
}

// MaskPanic is the text of a recovered panic value for a log line, every CPF/CNPJ masked.
func MaskPanic(v any) string {
	switch x := v.(type) {
	case error:
		return MaskErr(x)
	case string:
		return MaskText(x)
	default:
		return "non-error panic"
	}
}
