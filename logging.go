package main

import (
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/klavi-demo/portal/handlers"
)

// sensitiveKeys are attribute names whose values never reach a log line (docs/reliability.md#logs).
var sensitiveKeys = map[string]bool{
	"personaltaxid": true, "businesstaxid": true, "taxid": true, "cpf": true, "cnpj": true,
	"authorization": true, "accesstoken": true, "linktoken": true, "token": true,
	"secretkey": true, "accesskey": true, "email": true, "phone": true, "body": true,
	"consentredirecturl": true, "query": true,
}

// taxIDPattern is the backstop: anything shaped like a CPF or CNPJ inside a logged string is replaced.
var taxIDPattern = regexp.MustCompile(`\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b|\b[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}\b`)

// newLogger returns a logger in format ("text", key=value lines, or "json", one object per line) that redacts
// sensitive attributes by name and tax-id-shaped substrings, and adds request_id to every line logged with a
// request's context. Both formats go through the same redaction and request-id wrapper.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(handlers.LogRequestID(h))
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if sensitiveKeys[strings.ToLower(strings.ReplaceAll(a.Key, "_", ""))] {
		return slog.String(a.Key, "[redacted]")
	}
	if a.Value.Kind() == slog.KindString {
		if s := a.Value.String(); mayHoldTaxID(s) && taxIDPattern.MatchString(s) {
			return slog.String(a.Key, taxIDPattern.ReplaceAllString(s, "[redacted]"))
		}
	}
	return a
}

// mayHoldTaxID is a cheap test run before taxIDPattern on every logged string: a CPF has 11 digits and a CNPJ 14
// digits or capital letters, so a string with fewer than 11 such characters cannot match. Most log values (routes,
// methods, messages) are ruled out without running the regular expression (docs/benchmarks.md#pages).
func mayHoldTaxID(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' {
			if n++; n >= 11 {
				return true
			}
		}
	}
	return false
}
