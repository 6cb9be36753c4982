package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"golang.org/x/term"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/store"
)

// Usage lines of `portal operator`; every usage error is one of them on one line.
const (
	operatorUsage = "usage: portal operator add --email EMAIL | portal operator passwd --email EMAIL | " +
		"portal operator list | portal operator remove --email EMAIL"
	operatorAddUsage    = "usage: portal operator add --email EMAIL (the password is read from stdin)"
	operatorPasswdUsage = "usage: portal operator passwd --email EMAIL (the new password is read from stdin)" //nolint:gosec // G101: a usage line, not a credential
	operatorListUsage   = "usage: portal operator list"
	operatorRemoveUsage = "usage: portal operator remove --email EMAIL"
)

// cliActor is the audit trail's actor for changes made from the command line.
const cliActor = "cli"

// maxEmailLen is the longest address accepted (RFC 5321's path limit less the angle brackets).
const maxEmailLen = 254

// maxPasswordLine bounds how much of a piped stdin is read; auth refuses anything over 1024 bytes anyway.
const maxPasswordLine = 4096

// operatorHashParams are argon2id's costs for passwords set by the CLI; tests lower them.
var operatorHashParams = auth.DefaultParams

// runOperator runs `portal operator <add|list|remove>` against the database the server would use (DATABASE_URL, or
// else DATABASE_PATH; created and migrated as the server would). It never starts a server and never prints or
// logs a password. args are the
// words after "operator".
func runOperator(ctx context.Context, args []string, cfg config, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(operatorUsage)
	}
	sub, rest := args[0], args[1:]
	var usage string
	switch sub {
	case "add":
		usage = operatorAddUsage
	case "passwd":
		usage = operatorPasswdUsage
	case "list":
		usage = operatorListUsage
	case "remove":
		usage = operatorRemoveUsage
	case "help", "-h", "-help", "--help":
		_, _ = fmt.Fprintln(stdout, operatorUsage)
		return nil
	default:
		return fmt.Errorf("operator: unknown subcommand %q; %s", sub, operatorUsage)
	}

	fs := flag.NewFlagSet("portal operator "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// flag prints its own one-line reason (e.g. "flag provided but not defined: -x") to stderr; the usage line
	// comes back as run's error, so the default multi-line usage would only repeat it.
	fs.Usage = func() {}
	var email string
	if sub != "list" {
		fs.StringVar(&email, "email", "", "the operator's email address")
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprintln(stdout, usage)
			return nil
		}
		return errors.New(usage)
	}
	if fs.NArg() > 0 {
		// Not echoed: a stray argument to add may well be a password.
		return fmt.Errorf("operator %s: unexpected argument after the flags; %s", sub, usage)
	}
	if sub != "list" && email == "" {
		return fmt.Errorf("operator %s: --email is required; %s", sub, usage)
	}

	st, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub {
	case "add":
		return operatorAdd(ctx, st, email, stdin, stdout, stderr)
	case "passwd":
		return operatorPasswd(ctx, st, email, stdin, stdout, stderr)
	case "list":
		return operatorList(ctx, st, stdout)
	default:
		return operatorRemove(ctx, st, email, stdout)
	}
}

// operatorAdd validates the email, reads and checks the password from stdin, stores the operator with the
// password's argon2id hash and records "operator_added" in the audit trail.
func operatorAdd(ctx context.Context, st *store.Store, email string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := validEmail(email); err != nil {
		return fmt.Errorf("operator add: %w", err)
	}
	email = store.NormalizeEmail(email)
	// Refuse a taken email before asking for a password; AddOperator still refuses it if one appears meanwhile.
	switch _, err := st.OperatorByEmail(ctx, email); {
	case err == nil:
		return fmt.Errorf("operator add: %s is already an operator", email)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("operator add: %w", err)
	}

	pw, err := readNewPassword(ctx, email, stdin, stderr)
	if err != nil {
		return fmt.Errorf("operator add: %w", err)
	}
	hash, err := auth.HashPassword(pw, operatorHashParams)
	if err != nil {
		return fmt.Errorf("operator add: %w", err)
	}
	o, err := st.AddOperator(ctx, email, hash)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("operator add: %s is already an operator", email)
	}
	if err != nil {
		return fmt.Errorf("operator add: %w", err)
	}
	if err := st.AddAudit(ctx, store.AuditEntry{Actor: cliActor, Action: "operator_added", Target: o.Email, OK: true}); err != nil {
		return fmt.Errorf("operator add: %s was added but the audit entry was not written: %w", o.Email, err)
	}
	_, _ = fmt.Fprintf(stdout, "operator added: %s\n", o.Email)
	return nil
}

// operatorPasswd sets a new password (read from stdin, as for add) and ends every session of the operator at once,
// then records "operator_password_changed" in the audit trail.
func operatorPasswd(ctx context.Context, st *store.Store, email string, stdin io.Reader, stdout, stderr io.Writer) error {
	email = store.NormalizeEmail(email)
	o, err := st.OperatorByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("operator passwd: no operator with email %s", email)
	}
	if err != nil {
		return fmt.Errorf("operator passwd: %w", err)
	}
	pw, err := readNewPassword(ctx, email, stdin, stderr)
	if err != nil {
		return fmt.Errorf("operator passwd: %w", err)
	}
	hash, err := auth.HashPassword(pw, operatorHashParams)
	if err != nil {
		return fmt.Errorf("operator passwd: %w", err)
	}
	if err := st.SetOperatorPassword(ctx, o.ID, hash); err != nil {
		return fmt.Errorf("operator passwd: %w", err)
	}
	if err := st.AddAudit(ctx, store.AuditEntry{Actor: cliActor, Action: "operator_password_changed", Target: o.Email, OK: true}); err != nil {
		return fmt.Errorf("operator passwd: the password was changed but the audit entry was not written: %w", err)
	}
	_, _ = fmt.Fprintf(stdout, "password changed, sessions ended: %s\n", o.Email)
	return nil
}

// operatorList prints one line per operator, by email: the email and its creation time (UTC, RFC 3339).
func operatorList(ctx context.Context, st *store.Store, stdout io.Writer) error {
	ops, err := st.Operators(ctx)
	if err != nil {
		return fmt.Errorf("operator list: %w", err)
	}
	if len(ops) == 0 {
		_, _ = fmt.Fprintln(stdout, "no operators")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, o := range ops {
		_, _ = fmt.Fprintf(tw, "%s\t%s\n", o.Email, o.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// operatorRemove deletes the operator and its sessions and records "operator_removed" in the audit trail. The
// email is not checked for form: whatever is stored can be removed.
func operatorRemove(ctx context.Context, st *store.Store, email string, stdout io.Writer) error {
	email = store.NormalizeEmail(email)
	err := st.RemoveOperator(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("operator remove: no operator with email %s", email)
	}
	if err != nil {
		return fmt.Errorf("operator remove: %w", err)
	}
	if err := st.AddAudit(ctx, store.AuditEntry{Actor: cliActor, Action: "operator_removed", Target: email, OK: true}); err != nil {
		return fmt.Errorf("operator remove: %s was removed but the audit entry was not written: %w", email, err)
	}
	_, _ = fmt.Fprintf(stdout, "operator removed: %s\n", email)
	return nil
}

// validEmail accepts a bare address (no display name, no comments) of at most 254 characters with exactly one
// @ and no white space.
func validEmail(email string) error {
	switch {
	case len(email) > maxEmailLen:
		return fmt.Errorf("the email must have at most %d characters", maxEmailLen)
	case strings.IndexFunc(email, unicode.IsSpace) >= 0:
		return fmt.Errorf("%q is not an email address (it has spaces)", email)
	case strings.Count(email, "@") != 1:
		return fmt.Errorf("%q is not an email address (it needs exactly one @)", email)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return fmt.Errorf("%q is not a bare email address such as ana@example.com", email)
	}
	return nil
}

// readNewPassword reads the new password from stdin and checks it with auth.CheckNewPassword. On a terminal it
// prompts (on stderr) twice without echo; otherwise it reads one line and drops only its line ending, so
// spaces in the password are kept. The password is never passed through argv or the environment.
func readNewPassword(ctx context.Context, email string, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		pw, err := promptPassword(ctx, fd, stderr, "Password for "+email+": ")
		if err != nil {
			return "", err
		}
		if err := auth.CheckNewPassword(pw); err != nil {
			return "", err
		}
		again, err := promptPassword(ctx, fd, stderr, "Repeat the password: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the passwords do not match")
		}
		return pw, nil
	}

	if stdin == nil {
		stdin = strings.NewReader("")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if line == "" {
		return "", errors.New(`no password on stdin (pipe one line, e.g. printf '%s\n' "$PW" | portal operator add --email EMAIL)`)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if err := auth.CheckNewPassword(line); err != nil {
		return "", err
	}
	return line, nil
}

// promptPassword writes prompt to w and reads one line from the terminal fd without echo. If ctx ends first
// (Ctrl-C: main turns SIGINT into a cancelled context) it restores the terminal and returns at once.
func promptPassword(ctx context.Context, fd int, w io.Writer, prompt string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	_, _ = fmt.Fprint(w, prompt)
	type result struct {
		pw  []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		done <- result{pw, err}
	}()
	select {
	case r := <-done:
		_, _ = fmt.Fprintln(w)
		if r.err != nil {
			return "", fmt.Errorf("reading the password: %w", r.err)
		}
		return string(r.pw), nil
	case <-ctx.Done():
		// The reading goroutine stays blocked until the process exits, which it is about to.
		_ = term.Restore(fd, state)
		_, _ = fmt.Fprintln(w)
		return "", errors.New("interrupted")
	}
}
