package views

import (
	"context"
	"fmt"
)

// Lang is a UI language. Portuguese (Brazil) is the default; English is the alternative.
type Lang string

const (
	PT Lang = "pt-BR"
	EN Lang = "en"
)

// ParseLang maps a user-supplied value to a supported language, defaulting to PT.
func ParseLang(s string) Lang {
	switch s {
	case "en", "en-US", "en-GB", "EN":
		return EN
	default:
		return PT
	}
}

type langKey struct{}

// WithLang returns a context carrying the request's UI language. Handlers set it once per request;
// components read it through T and LangFrom (the only cross-cutting value views take from context).
func WithLang(ctx context.Context, l Lang) context.Context {
	return context.WithValue(ctx, langKey{}, l)
}

// LangFrom returns the language carried by ctx, or PT.
func LangFrom(ctx context.Context) Lang {
	if l, ok := ctx.Value(langKey{}).(Lang); ok {
		return l
	}
	return PT
}

// messages maps a key to its Portuguese and English text. Files add their own keys with register in init.
var messages = map[string][2]string{}

// register adds translations; a key registered twice is a programming error.
func register(m map[string][2]string) {
	for k, v := range m {
		if _, dup := messages[k]; dup {
			panic("views: duplicate message key " + k)
		}
		messages[k] = v
	}
}

// T returns the text for key in the context's language. A missing key returns the key itself so that a gap is
// visible in review instead of rendering an empty string.
func T(ctx context.Context, key string) string {
	v, ok := messages[key]
	if !ok {
		return key
	}
	if LangFrom(ctx) == EN && v[1] != "" {
		return v[1]
	}
	return v[0]
}

// HasMessage reports whether key is in the catalogue with both languages, for packages that pick keys themselves.
func HasMessage(key string) bool {
	v, ok := messages[key]
	return ok && v[0] != "" && v[1] != ""
}

// Tf is T with fmt.Sprintf arguments.
func Tf(ctx context.Context, key string, args ...any) string {
	return fmt.Sprintf(T(ctx, key), args...)
}
