package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// ssoEnv is a complete single sign-on configuration; tests drop or change one variable.
func ssoEnv(issuer string) map[string]string {
	return map[string]string{"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "portal", "OIDC_CLIENT_SECRET": "s3cret",
		"OIDC_ALLOWED_EMAILS": "Ana@Example.com, @ops.example.com"}
}

func TestLoadConfigSSO(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envFrom(nil))
	if err != nil || c.OIDCIssuer != "" {
		t.Fatalf("no OIDC_*: issuer %q, err %v; want single sign-on off", c.OIDCIssuer, err)
	}
	for _, issuer := range []string{"https://idp.example.com/realms/ops", "http://127.0.0.1:5556/dex", "http://localhost:8081",
		"http://[::1]:9000/oidc"} {
		c, err := loadConfig(envFrom(ssoEnv(issuer)))
		if err != nil {
			t.Errorf("issuer %s: %v", issuer, err)
			continue
		}
		if c.OIDCIssuer != issuer || c.OIDCClientID != "portal" || c.OIDCClientSecret != "s3cret" {
			t.Errorf("issuer %s: config = %q %q %q", issuer, c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret)
		}
		if !c.OIDCAllowed.Allows("ana@example.com") || !c.OIDCAllowed.Allows("Bia@OPS.example.com") ||
			c.OIDCAllowed.Allows("bia@example.com") {
			t.Errorf("issuer %s: the allow-list does not follow OIDC_ALLOWED_EMAILS", issuer)
		}
	}
}

func TestLoadConfigSSOErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	without := func(name string) map[string]string {
		env := ssoEnv("https://idp.example.com")
		delete(env, name)
		return env
	}
	with := func(name, value string) map[string]string {
		env := ssoEnv("https://idp.example.com")
		env[name] = value
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no issuer", without("OIDC_ISSUER"), "OIDC_ISSUER: required"},
		{"no client id", without("OIDC_CLIENT_ID"), "OIDC_CLIENT_ID: required"},
		{"no client secret", without("OIDC_CLIENT_SECRET"), "OIDC_CLIENT_SECRET: required"},
		{"allow-list alone", map[string]string{"OIDC_ALLOWED_EMAILS": "@example.com"}, "OIDC_ISSUER: required"},
		{"no allow-list", without("OIDC_ALLOWED_EMAILS"), "OIDC_ALLOWED_EMAILS: required"},
		{"blank allow-list", with("OIDC_ALLOWED_EMAILS", " , "), "OIDC_ALLOWED_EMAILS: required"},
		{"allow-list entry neither address nor domain", with("OIDC_ALLOWED_EMAILS", "@example.com,ops"), `OIDC_ALLOWED_EMAILS: "ops"`},
		{"http issuer on another host", with("OIDC_ISSUER", "http://idp.example.com"), "OIDC_ISSUER: must be https"},
		{"issuer not a URL", with("OIDC_ISSUER", "idp.example.com"), "OIDC_ISSUER"},
		{"issuer with a query", with("OIDC_ISSUER", "https://idp.example.com/?tenant=1"), "OIDC_ISSUER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(envFrom(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the client secret: %v", err)
			}
		})
	}
}

// A provider whose discovery document cannot be read stops the start with one line naming OIDC_ISSUER, without
// the provider's (multi-line) answer.
func TestRunFailsClearlyWhenOIDCDiscoveryFails(t *testing.T) {
	t.Parallel()
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>\n<body>no such realm</body>\n</html>", http.StatusNotFound)
	}))
	defer idp.Close()
	env := ssoEnv(idp.URL + "/realms/nope")
	env["ADDR"], env["SANDBOX_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	env["DATABASE_PATH"] = filepath.Join(t.TempDir(), "p.db")
	err := run(context.Background(), nil, envFrom(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "OIDC_ISSUER "+idp.URL+"/realms/nope: ") ||
		!strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %q, want one line naming OIDC_ISSUER and the 404", err)
	}
}
