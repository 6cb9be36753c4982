package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/store"
)

// operatorCLI runs `portal operator ...` against its own database, keeping everything written to stdout and
// stderr so that a test can check that a password never appears there.
type operatorCLI struct {
	t      *testing.T
	dbPath string
	all    bytes.Buffer // every byte run wrote, to either stream, plus every error it returned
}

func newOperatorCLI(t *testing.T) *operatorCLI {
	return &operatorCLI{t: t, dbPath: filepath.Join(t.TempDir(), "data", "p.db")}
}

// run calls run() with args after "operator" and stdin, returning stdout and the error.
func (c *operatorCLI) run(stdin io.Reader, args ...string) (string, error) {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"operator"}, args...),
		envFrom(map[string]string{"DATABASE_PATH": c.dbPath}), stdin, &stdout, &stderr)
	c.all.Write(stdout.Bytes())
	c.all.Write(stderr.Bytes())
	if err != nil {
		c.all.WriteString(err.Error())
	}
	return stdout.String(), err
}

func (c *operatorCLI) open() *store.Store {
	c.t.Helper()
	st, err := store.Open(context.Background(), c.dbPath, time.Now)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

// The whole life of an operator from the command line: add, list, duplicate and weak passwords refused, remove,
// remove again refused; the stored hash verifies, the audit trail records both changes, no password is printed.
func TestOperatorAddListRemove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const pw = "correct horse battery staple"
	c := newOperatorCLI(t)

	out, err := c.run(nil, "list")
	if err != nil || out != "no operators\n" {
		t.Fatalf("list on a new database = %q, %v; want \"no operators\"", out, err)
	}

	before := time.Now().UTC().Truncate(time.Second)
	out, err = c.run(strings.NewReader(pw+"\n"), "add", "--email", "Ana@Example.com")
	if err != nil || out != "operator added: ana@example.com\n" {
		t.Fatalf("add = %q, %v", out, err)
	}

	out, err = c.run(nil, "list")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "ana@example.com" || strings.Count(out, "\n") != 1 {
		t.Fatalf("list = %q, want one line: ana@example.com <time>", out)
	}
	created, err := time.Parse(time.RFC3339, f[1])
	if err != nil || !strings.HasSuffix(f[1], "Z") || created.Before(before) || created.After(time.Now().Add(time.Second)) {
		t.Errorf("listed creation time %q (%v), want now in UTC, RFC 3339", f[1], err)
	}

	st := c.open()
	o, err := st.OperatorByEmail(ctx, "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(o.PasswordHash, "$argon2id$") || !auth.CheckPassword(o.PasswordHash, pw) {
		t.Errorf("stored hash %q does not verify the password", o.PasswordHash)
	}
	if auth.CheckPassword(o.PasswordHash, pw+"\n") {
		t.Error("the trailing newline became part of the password")
	}

	if _, err := c.run(strings.NewReader("another good password\n"), "add", "--email", "ana@example.com"); err == nil ||
		!strings.Contains(err.Error(), "ana@example.com is already an operator") {
		t.Errorf("duplicate add: err = %v", err)
	}
	if _, err := c.run(strings.NewReader("too short\n"), "add", "--email", "bob@example.com"); err == nil ||
		!strings.Contains(err.Error(), "the password must have at least 12 characters") {
		t.Errorf("short password: err = %v", err)
	}
	if _, err := st.OperatorByEmail(ctx, "bob@example.com"); err == nil {
		t.Error("an operator was stored despite the short password")
	}

	out, err = c.run(nil, "remove", "--email", "ana@example.com")
	if err != nil || out != "operator removed: ana@example.com\n" {
		t.Fatalf("remove = %q, %v", out, err)
	}
	if out, err = c.run(nil, "list"); err != nil || out != "no operators\n" {
		t.Errorf("list after remove = %q, %v", out, err)
	}
	if _, err := c.run(nil, "remove", "--email", "ana@example.com"); err == nil ||
		!strings.Contains(err.Error(), "no operator with email ana@example.com") {
		t.Errorf("second remove: err = %v", err)
	}

	page, err := st.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Rows { // newest first
		if e.Actor != "cli" || e.Target != "ana@example.com" || !e.OK {
			t.Errorf("audit entry %+v, want actor cli, target ana@example.com, ok", e)
		}
		got = append(got, e.Action)
	}
	if strings.Join(got, ",") != "operator_removed,operator_added" {
		t.Errorf("audit actions = %v, want operator_removed, operator_added", got)
	}

	for _, secret := range []string{pw, "another good password", "too short"} {
		if strings.Contains(c.all.String(), secret) {
			t.Errorf("the password %q appears in the output: %q", secret, c.all.String())
		}
	}
}

// Removing an operator ends its sessions.
func TestOperatorRemoveEndsSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newOperatorCLI(t)
	if _, err := c.run(strings.NewReader("correct horse battery staple\n"), "add", "--email", "ana@example.com"); err != nil {
		t.Fatal(err)
	}
	st := c.open()
	o, err := st.OperatorByEmail(ctx, "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.SaveSession(ctx, store.Session{IDHash: "h1", OperatorID: o.ID, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run(nil, "remove", "--email", "ana@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "h1"); err == nil {
		t.Error("the removed operator's session still exists")
	}
}

// Piped stdin: one line, only its line ending dropped (spaces are part of the password); the last line may lack
// a newline; an *os.File that is not a terminal is read the same way.
func TestOperatorAddReadsOneLine(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("  from a file  \r\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, tt := range []struct {
		email string
		stdin io.Reader
		want  string
	}{
		{"nonl@example.com", strings.NewReader("no newline at all"), "no newline at all"},
		{"spaces@example.com", strings.NewReader(" spaces kept inside \n"), " spaces kept inside "},
		{"file@example.com", f, "  from a file  "},
	} {
		c := newOperatorCLI(t)
		if _, err := c.run(tt.stdin, "add", "--email", tt.email); err != nil {
			t.Fatalf("%s: %v", tt.email, err)
		}
		o, err := c.open().OperatorByEmail(context.Background(), tt.email)
		if err != nil {
			t.Fatal(err)
		}
		if !auth.CheckPassword(o.PasswordHash, tt.want) {
			t.Errorf("%s: stored hash does not verify %q", tt.email, tt.want)
		}
	}
}

func TestOperatorUsageAndInputErrors(t *testing.T) {
	t.Parallel()
	c := newOperatorCLI(t)
	good := func() io.Reader { return strings.NewReader("correct horse battery staple\n") }
	for _, tt := range []struct {
		name  string
		stdin io.Reader
		args  []string
		want  string
	}{
		{"no subcommand", nil, nil, "usage: portal operator add --email EMAIL | portal operator passwd --email EMAIL | portal operator list"},
		{"unknown subcommand", nil, []string{"grant"}, `unknown subcommand "grant"`},
		{"add without email", good(), []string{"add"}, "--email is required"},
		{"remove without email", nil, []string{"remove"}, "--email is required"},
		{"empty email", good(), []string{"add", "--email", ""}, "--email is required"},
		{"unknown flag", good(), []string{"add", "--email", "a@example.com", "--admin"}, "usage: portal operator add"},
		{"password as an argument", good(), []string{"add", "--email", "a@example.com", "hunter2hunter2"}, "unexpected argument"},
		{"list with an argument", nil, []string{"list", "x"}, "usage: portal operator list"},
		{"no @", good(), []string{"add", "--email", "ana.example.com"}, "exactly one @"},
		{"two @", good(), []string{"add", "--email", "ana@b@example.com"}, "exactly one @"},
		{"space", good(), []string{"add", "--email", "ana @example.com"}, "spaces"},
		{"display name", good(), []string{"add", "--email", "Ana<ana@example.com>"}, "not a bare email address"},
		{"too long", good(), []string{"add", "--email", strings.Repeat("a", 250) + "@x.io"}, "at most 254"},
		{"empty stdin", strings.NewReader(""), []string{"add", "--email", "a@example.com"}, "no password on stdin"},
		{"nil stdin", nil, []string{"add", "--email", "a@example.com"}, "no password on stdin"},
		{"empty password", strings.NewReader("\n"), []string{"add", "--email", "a@example.com"}, "at least 12 characters"},
		{"long password", strings.NewReader(strings.Repeat("x", 2000) + "\n"), []string{"add", "--email", "a@example.com"}, "at most 1024 bytes"},
	} {
		_, err := c.run(tt.stdin, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line containing %q", tt.name, err, tt.want)
		}
	}
	if out, err := c.run(nil, "list"); err != nil || out != "no operators\n" {
		t.Errorf("after the refusals list = %q, %v; want no operators", out, err)
	}
	if out, err := c.run(nil, "add", "-h"); err != nil || !strings.HasPrefix(out, "usage: portal operator add") {
		t.Errorf("add -h = %q, %v", out, err)
	}
}

// The operator commands use DATABASE_URL as the server does.
func TestOperatorUsesDatabaseURL(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"operator", "list"},
		envFrom(map[string]string{"DATABASE_URL": unreachablePostgres(t)}), nil, io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v, want one naming DATABASE_URL without the password", err)
	}
}

// A database that cannot be opened is named in the error, as when serving.
func TestOperatorFailsClearlyWhenTheDatabaseIsUnwritable(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"operator", "list"},
		envFrom(map[string]string{"DATABASE_PATH": filepath.Join(file, "p.db")}), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_PATH") {
		t.Fatalf("err = %v, want one naming DATABASE_PATH", err)
	}
}

// passwd sets a new password, which is the only one that works afterwards, and ends the operator's sessions.
func TestOperatorPasswd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newOperatorCLI(t)
	if _, err := c.run(strings.NewReader("correct horse battery staple\n"), "add", "--email", "ana@example.com"); err != nil {
		t.Fatal(err)
	}
	st := c.open()
	o, _ := st.OperatorByEmail(ctx, "ana@example.com")
	if err := st.SaveSession(ctx, store.Session{IDHash: "h1", OperatorID: o.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run(strings.NewReader("short\n"), "passwd", "--email", "ana@example.com"); err == nil {
		t.Error("a short new password was accepted")
	}
	out, err := c.run(strings.NewReader("a brand new passphrase\n"), "passwd", "--email", "ANA@example.com")
	if err != nil || !strings.Contains(out, "password changed, sessions ended: ana@example.com") {
		t.Fatalf("passwd: %q, %v", out, err)
	}
	o, _ = st.OperatorByEmail(ctx, "ana@example.com")
	if !auth.CheckPassword(o.PasswordHash, "a brand new passphrase") || auth.CheckPassword(o.PasswordHash, "correct horse battery staple") {
		t.Error("the stored hash does not match the new password only")
	}
	if _, err := st.Session(ctx, "h1"); err == nil {
		t.Error("a session survived the password change")
	}
	if _, err := c.run(strings.NewReader("a brand new passphrase\n"), "passwd", "--email", "nobody@example.com"); err == nil {
		t.Error("passwd for an unknown operator succeeded")
	}
	a, _ := st.Audit(ctx, 0, 10)
	if len(a.Rows) == 0 || a.Rows[0].Action != "operator_password_changed" || a.Rows[0].Actor != "cli" {
		t.Errorf("audit = %+v", a.Rows)
	}
}
