package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAllowList(t *testing.T) {
	t.Parallel()
	a, err := ParseAllowList(" Ana@Example.com ,, @Ops.Example.com ")
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]bool{
		"ana@example.com":        true,
		"ANA@EXAMPLE.COM":        true,
		" ana@example.com ":      true,
		"bia@ops.example.com":    true,
		"Bia@OPS.example.com":    true,
		"bia@example.com":        false, // the address is listed, not its domain
		"bia@x.ops.example.com":  false, // a domain entry does not cover subdomains
		"bia@ops.example.com.br": false,
		"ops.example.com":        false,
		"@ops.example.com":       false,
		"ana@example.com@evil.x": false,
		"":                       false,
	} {
		if got := a.Allows(email); got != want {
			t.Errorf("Allows(%q) = %v, want %v", email, got, want)
		}
	}
	if a.Empty() {
		t.Error("Empty() = true for a list with entries")
	}
	if e, err := ParseAllowList(" , "); err != nil || !e.Empty() || e.Allows("ana@example.com") {
		t.Errorf("blank list: err %v, empty %v", err, e.Empty())
	}
	var zero AllowList
	if zero.Allows("ana@example.com") {
		t.Error("the zero AllowList admits someone")
	}
	for _, bad := range []string{"ops", "@", "@-ops.example.com", "@ops..example.com", "Ana <ana@example.com>", "@ops.example.com/x"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted it", bad)
		}
	}
}

func TestProviderErrorKeepsOnlyOAuthCodes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"access_denied":           "access_denied",
		"temporarily_unavailable": "temporarily_unavailable",
		"Access Denied <script>":  "error",
		strings.Repeat("a", 41):   "error",
		"":                        "error",
	} {
		if got := ProviderError(in); got != want {
			t.Errorf("ProviderError(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewOIDCDiscoveryErrorIsOneLine(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "first\nsecond\nthird", http.StatusInternalServerError)
	}))
	defer srv.Close()
	allowed, _ := ParseAllowList("@example.com")
	_, err := NewOIDC(context.Background(), OIDCConfig{Issuer: srv.URL, ClientID: "c", RedirectURL: "http://127.0.0.1/cb",
		Allowed: allowed, HTTPClient: srv.Client()})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err = %q, want one line with the status", err)
	}
	if _, err := NewOIDC(context.Background(), OIDCConfig{Issuer: srv.URL, ClientID: "c", RedirectURL: "http://127.0.0.1/cb"}); err == nil {
		t.Error("NewOIDC accepted an empty allow-list")
	}
}
