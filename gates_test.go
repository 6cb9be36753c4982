package main

// Source gates that golangci-lint cannot express, because they judge what a line compares, which SQL text it
// runs or which document a comment cites. They read the module's files (the first two: every Go file, comments
// stripped at //, any build tag):
//
//   - TestGateMACsComparedInConstantTime: a MAC, signature or digest compared with ==, != or a non-constant-time
//     helper (bytes.Equal, strings.EqualFold, reflect.DeepEqual, slices.Equal) outside tests; use hmac.Equal or
//     subtle.ConstantTimeCompare, or the comparison leaks timing.
//   - TestGateNoPragmaViaExec: a PRAGMA run through Exec/ExecContext outside store/migrations; it reaches one
//     pooled connection only, so connection settings belong in the DSN (_pragma=).
//   - TestGateDocCitationsResolve: a comment (or a README/docs link) citing docs/<name>.md#<section> names a
//     document and a heading that exist, and code spells the path docs/<name>.md.
//
// The other banned patterns (chi's middleware.RealIP, tls InsecureSkipVerify, httprate's header-keyed limiters)
// are forbidigo rules in .golangci.yml. This file holds the needles and planted examples, so the walk skips it.

import (
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
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

// docCitation is a reference to docs/<name>.md, with its #section when it names one.
var (
	docCitation = regexp.MustCompile(`(?:^|[^\w/.-])((?:docs/)?)([\w-]+\.md)(?:#([\w-]+))?`)
	// A markdown link's target: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// docCitationFileExt are the files whose comments may cite docs/ (besides Makefile).
	docCitationFileExt = []string{".go", ".templ", ".sql", ".yml", ".yaml", ".js", ".css", ".sh", ".py"}
)

// docCitationExempt are files that keep an old citation on purpose.
var docCitationExempt = map[string]string{
	// Applied migrations are never edited (docs/architecture.md#store); its "reliability.md §1 step 6" is
	// docs/reliability.md's report re-request.
	"store/migrations/0002_poll_repeats_and_report_rerequest.sql": "applied migration",
}

// githubSlug is the anchor GitHub gives a heading: lower case, letters, digits, '_' and '-' kept, spaces become
// '-', everything else dropped.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// mdAnchors is the set of heading anchors of a markdown text (repeated headings get -1, -2, ... as on GitHub;
// fenced code is skipped).
func mdAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimLeft(line, "#")
		if h == "" || h[0] != ' ' {
			continue
		}
		a := githubSlug(h)
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// docCitationFindings checks every docs/*.md citation in files (path → text): the document exists (docs maps a
// document's path, e.g. "docs/reliability.md", to its anchors) and so does the section it names. Code and
// configuration must spell the path docs/<name>.md; markdown files link relative to themselves.
func docCitationFindings(files map[string]string, docs map[string]map[string]bool) []string {
	var out []string
	check := func(where, doc, anchor string) {
		anchors, ok := docs[doc]
		switch {
		case !ok:
			out = append(out, where+": "+doc+" does not exist")
		case anchor != "" && !anchors[anchor]:
			out = append(out, where+": "+doc+" has no section #"+anchor)
		}
	}
	for p, text := range files {
		if docCitationExempt[p] != "" {
			continue
		}
		for i, line := range strings.Split(text, "\n") {
			where := p + ":" + strconv.Itoa(i+1)
			if strings.HasSuffix(p, ".md") {
				for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
					target, anchor, _ := strings.Cut(m[1], "#")
					if target != "" && !strings.HasSuffix(target, ".md") || strings.Contains(target, "://") {
						continue // a web page or a file that is not a document (its existence is git's business)
					}
					doc := p
					if target != "" {
						doc = path.Join(path.Dir(p), target)
					}
					check(where, doc, anchor)
				}
				continue
			}
			for _, m := range docCitation.FindAllStringSubmatch(line, -1) {
				prefix, name, anchor := m[1], m[2], m[3]
				if name == "README.md" {
					continue
				}
				if prefix == "" {
					out = append(out, where+": "+name+" is cited without docs/ (cite docs/"+name+")")
					continue
				}
				check(where, "docs/"+name, anchor)
			}
		}
	}
	sort.Strings(out)
	return out
}

// repoTextFiles reads the module's files that may cite the docs, and the markdown files (README.md, docs/*.md).
func repoTextFiles(t *testing.T) (files map[string]string, docs map[string]map[string]bool) {
	t.Helper()
	files, docs = map[string]string{}, map[string]map[string]bool{}
	walkModuleFiles(t, func(fsys fs.FS, p string) error {
		base := path.Base(p)
		isMD := strings.HasSuffix(p, ".md") && (p == "README.md" || strings.HasPrefix(p, "docs/"))
		cites := base == "Makefile" || slices.ContainsFunc(docCitationFileExt, func(ext string) bool { return strings.HasSuffix(p, ext) })
		if p == "gates_test.go" || strings.HasSuffix(p, "_templ.go") || (!isMD && !cites) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[p] = string(b)
		if isMD {
			docs[p] = mdAnchors(string(b))
		}
		return nil
	})
	for _, want := range []string{"README.md", "docs/architecture.md", "docs/reliability.md", "docs/klavi.md"} {
		if docs[want] == nil {
			t.Fatalf("%s not found: the walk is broken", want)
		}
	}
	return files, docs
}

// TestGateDocCitationsResolve: every comment or link citing docs/<name>.md#<section> names a document and a
// section that exist (docs/architecture.md, docs/reliability.md, docs/klavi.md), so a renamed heading breaks the
// build instead of leaving comments that point nowhere.
func TestGateDocCitationsResolve(t *testing.T) {
	t.Parallel()
	files, docs := repoTextFiles(t)
	for _, f := range docCitationFindings(files, docs) {
		t.Error(f)
	}
	// The gate itself catches what it is meant to.
	planted := map[string]string{
		"x/a.go":    "// see docs/reliability.md#no-such-section\n// and docs/missing.md\n// and reliability.md#durable-inbox\n",
		"docs/x.md": "[a](reliability.md#no-such-section) [b](#nowhere) [c](architecture.md#store)",
		"x/b.sql":   "-- docs/reliability.md#durable-inbox, docs/architecture.md#import-rules and README.md are fine",
	}
	testDocs := map[string]map[string]bool{
		"docs/reliability.md":  mdAnchors("# Reliability\n\n## Durable inbox\n"),
		"docs/architecture.md": mdAnchors("## Import rules\n```\n## not a heading\n```\n### Store\n## Store\n"),
		"docs/x.md":            {},
	}
	got := docCitationFindings(planted, testDocs)
	want := []string{
		"docs/x.md:1: docs/reliability.md has no section #no-such-section",
		"docs/x.md:1: docs/x.md has no section #nowhere",
		"x/a.go:1: docs/reliability.md has no section #no-such-section",
		"x/a.go:2: docs/missing.md does not exist",
		"x/a.go:3: reliability.md is cited without docs/ (cite docs/reliability.md)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("planted citations:\ngot  %q\nwant %q", got, want)
	}
	if a := testDocs["docs/architecture.md"]; !a["store"] || !a["store-1"] || a["not-a-heading"] {
		t.Errorf("anchors = %v", a)
	}
	if got := githubSlug(" Webhook inbox, replay and simulate"); got != "webhook-inbox-replay-and-simulate" {
		t.Errorf("githubSlug = %q", got)
	}
}
