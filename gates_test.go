package main

// Source gates that golangci-lint cannot express, because they judge what a line compares or which SQL text it
// runs. They read every Go file of the module (comments stripped at //, any build tag):
//
//   - TestGateMACsComparedInConstantTime: a MAC, signature or digest compared with ==, != or a non-constant-time
//     helper (bytes.Equal, strings.EqualFold, reflect.DeepEqual, slices.Equal) outside tests; use hmac.Equal or
//     subtle.ConstantTimeCompare, or the comparison leaks timing.
//   - TestGateNoPragmaViaExec: a PRAGMA run through Exec/ExecContext outside store/migrations; it reaches one
//     pooled connection only, so connection settings belong in the DSN (_pragma=).
//
// The other banned patterns (chi's middleware.RealIP, tls InsecureSkipVerify, httprate's header-keyed limiters)
// are forbidigo rules in .golangci.yml. This file holds the needles and planted examples, so the walk skips it.

import (
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoGoFile is one Go source file of the module, with its lines (comments kept) and whether it is a test.
type repoGoFile struct {
	path  string // relative to the module root, slash-separated
	lines []string
	test  bool
}

func repoGoFiles(t *testing.T) []repoGoFile {
	t.Helper()
	if _, err := os.Stat("go.mod"); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	// Walk inside an os.Root so that a symlink cannot lead the walk out of the module.
	root, err := os.OpenRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	fsys := root.FS()
	var out []repoGoFile
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "vendor", "testdata":
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || p == "gates_test.go" {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, repoGoFile{path: p, lines: strings.Split(string(b), "\n"), test: strings.HasSuffix(p, "_test.go")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("only %d Go files found: the walk is broken", len(out))
	}
	return out
}

// codeOf drops a trailing // comment (good enough for these gates: the needles never sit in string literals
// containing "//").
func codeOf(line string) string {
	if i := strings.Index(line, "//"); i >= 0 {
		return line[:i]
	}
	return line
}

var (
	// A MAC, signature or digest compared with ==, != or a non-constant-time equality helper.
	macIdent    = `[\w.\[\]()]*(?i:sig|mac|digest)[\w.\[\]()]*`
	macEqOp     = regexp.MustCompile(`(` + macIdent + `)\s*(==|!=)\s*([^\s&|;{),]+)|([^\s&|;{(,]+)\s*(==|!=)\s*(` + macIdent + `)`)
	macEqHelper = regexp.MustCompile(`(?i)(bytes\.Equal|strings\.EqualFold|reflect\.DeepEqual|slices\.Equal)\([^)]*(sig|mac|digest)`)
	// Exec of a PRAGMA: connection settings belong in the DSN (_pragma=), where modernc applies them to every
	// pooled connection.
	numericRE  = regexp.MustCompile(`^[0-9*]+`)
	pragmaExec = regexp.MustCompile(`(?i)\.Exec(Context)?\([^"` + "`" + `]*["` + "`" + `]\s*PRAGMA\s+(\w+)`)
)

// macCompareReviewed are lines the MAC gate matches that were reviewed and compare no secret value.
var macCompareReviewed = []struct{ path, contains string }{
	{"sandbox/webhooks.go", "sc == scenarioBadSignature"}, // a scenario enum, not a MAC
}

func macReviewed(path, line string) bool {
	for _, r := range macCompareReviewed {
		if r.path == path && strings.Contains(line, r.contains) {
			return true
		}
	}
	return false
}

// macCompareFindings reports the lines of files that compare MACs with something other than hmac.Equal or
// subtle.ConstantTimeCompare.
func macCompareFindings(files []repoGoFile) []string {
	var out []string
	for _, f := range files {
		if f.test {
			continue // tests compare expected signatures freely
		}
		for i, line := range f.lines {
			code := codeOf(line)
			if macReviewed(f.path, line) {
				continue
			}
			if macEqHelper.MatchString(code) {
				out = append(out, f.path+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
				continue
			}
			for _, m := range macEqOp.FindAllStringSubmatch(code, -1) {
				left, right := m[1], m[3]
				if left == "" {
					left, right = m[6], m[4]
				}
				// len(sig) != 64, sig == "", mac != nil: shape checks, not comparisons of secret values.
				if strings.HasPrefix(left, "len(") || strings.HasPrefix(right, "len(") ||
					right == `""` || right == "nil" || numericRE.MatchString(right) {
					continue
				}
				out = append(out, f.path+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
	}
	return out
}

func TestGateMACsComparedInConstantTime(t *testing.T) {
	t.Parallel()
	for _, f := range macCompareFindings(repoGoFiles(t)) {
		t.Errorf("MAC compared without hmac.Equal/subtle.ConstantTimeCompare: %s", f)
	}
	// The gate itself catches what it is meant to.
	bad := []repoGoFile{{path: "x.go", lines: []string{
		`	if got != expectedMAC {`,
		`	return sig == klavi.Sign(secret, body)`,
		`	if bytes.Equal(mac.Sum(nil), sig) {`,
		`	ok := hex.EncodeToString(mac.Sum(nil)) == r.Header.Get("X-Klavi-Signature")`,
	}}}
	if n := len(macCompareFindings(bad)); n != 4 {
		t.Errorf("gate found %d of 4 planted comparisons", n)
	}
	good := []repoGoFile{{path: "y.go", lines: []string{
		`	if secretKey == "" || len(signature) != 2*sha256.Size {`,
		`	return hmac.Equal(got, mac.Sum(nil))`,
		`	if sig == "" {`,
	}}}
	if f := macCompareFindings(good); len(f) != 0 {
		t.Errorf("gate flags shape checks: %v", f)
	}
}

// pragmaExecAllowed are PRAGMAs that are one-off operations on the database rather than per-connection
// settings: running them on one pooled connection is correct (store.Close checkpoints the WAL).
var pragmaExecAllowed = map[string]bool{"wal_checkpoint": true, "optimize": true}

func pragmaExecFindings(files []repoGoFile) []string {
	var out []string
	for _, f := range files {
		if strings.HasPrefix(f.path, "store/migrations/") {
			continue
		}
		for i, line := range f.lines {
			for _, m := range pragmaExec.FindAllStringSubmatch(codeOf(line), -1) {
				if !pragmaExecAllowed[strings.ToLower(m[2])] {
					out = append(out, f.path+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
				}
			}
		}
	}
	return out
}

func TestGateNoPragmaViaExec(t *testing.T) {
	t.Parallel()
	for _, f := range pragmaExecFindings(repoGoFiles(t)) {
		t.Errorf("PRAGMA through db.Exec reaches one pooled connection only; put it in the DSN (_pragma=): %s", f)
	}
	bad := []repoGoFile{{path: "store/x.go", lines: []string{
		`	db.Exec("PRAGMA busy_timeout = 5000")`,
		"	_, err := w.ExecContext(ctx, `PRAGMA journal_mode=WAL`)",
	}}}
	if n := len(pragmaExecFindings(bad)); n != 2 {
		t.Errorf("gate found %d of 2 planted PRAGMA execs", n)
	}
	if f := pragmaExecFindings([]repoGoFile{{path: "store/y.go", lines: []string{`	s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")`}}}); len(f) != 0 {
		t.Errorf("gate flags the shutdown checkpoint: %v", f)
	}
}
