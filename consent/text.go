package consent

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLen bounds the ids the portal accepts from outside (consentId, linkId, eventId, externalTrackId).
const MaxIDLen = 64

// ValidID reports whether s is a plausible Klavi or portal id: 1–64 characters of [A-Za-z0-9_-]. Ids from a
// query string or a webhook are checked with it before they reach the database or a page.
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CleanText makes untrusted free text (a bank's error description, Klavi's failure message) safe to store and
// show: control characters become spaces, invalid UTF-8 is dropped, and it is cut to max bytes on a rune boundary.
func CleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
