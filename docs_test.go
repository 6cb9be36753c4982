package main

// The documents a newcomer reads first agree with the code: README's project structure table and the package
// table of docs/architecture.md name every package (and main's files), and the import graph drawn in
// docs/architecture.md#import-rules is the one the code has.

import (
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/klavi-demo/portal"

// goPackage is one directory of the module with Go code that is not only tests.
type goPackage struct {
	dir     string          // slash-separated, relative to the module root; "." for main
	files   []string        // its non-test Go files
	imports map[string]bool // the module's packages its non-test files import (directories), itself excluded
}

// walkModuleFiles calls visit for every file of the module, inside an os.Root (a symlink cannot lead the walk out
// of it), skipping what is not the project's own: VCS data, downloaded tools, fixtures, build and test output.
func walkModuleFiles(t *testing.T, visit func(fsys fs.FS, p string) error) {
	t.Helper()
	root, err := os.OpenRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	fsys := root.FS()
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "node_modules", "vendor", "testdata", "artifacts", "data", "bin":
				return fs.SkipDir
			}
			return nil
		}
		return visit(fsys, p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// modulePackages reads every package of the module: the directories holding non-test Go files, and what those
// files import of the module (build tags ignored: every file counts).
func modulePackages(t *testing.T) map[string]*goPackage {
	t.Helper()
	pkgs := map[string]*goPackage{}
	fset := token.NewFileSet()
	walkModuleFiles(t, func(fsys fs.FS, p string) error {
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := path.Dir(p)
		pk := pkgs[dir]
		if pk == nil {
			pk = &goPackage{dir: dir, imports: map[string]bool{}}
			pkgs[dir] = pk
		}
		pk.files = append(pk.files, path.Base(p))
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if rel, ok := strings.CutPrefix(ip, modulePath+"/"); ok && rel != dir {
				pk.imports[rel] = true
			}
		}
		return nil
	})
	for _, want := range []string{".", "handlers", "flow", "consent", "store", "klavi/taxid"} {
		if pkgs[want] == nil {
			t.Fatalf("package %s not found: the walk is broken", want)
		}
	}
	return pkgs
}

// mdSection returns the lines of doc's section that starts with the heading line (up to the next heading of the
// same or a higher level).
func mdSection(t *testing.T, doc, heading string) []string {
	t.Helper()
	lines := strings.Split(doc, "\n")
	level := strings.Index(heading, " ")
	for i, l := range lines {
		if l != heading {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if n := strings.Index(lines[j], " "); n > 0 && n <= level && strings.Trim(lines[j][:n], "#") == "" {
				return lines[i+1 : j]
			}
		}
		return lines[i+1:]
	}
	t.Fatalf("no %q section", heading)
	return nil
}

var backticked = regexp.MustCompile("`([^`]+)`")

// tableNames returns the backticked names in the first cell of a markdown table's rows, and the whole text of
// the rows.
func tableNames(section []string) (first map[string]bool, rows string) {
	first = map[string]bool{}
	var b strings.Builder
	for _, l := range section {
		if !strings.HasPrefix(l, "| ") {
			continue
		}
		b.WriteString(l + "\n")
		cells := strings.Split(l, " | ")
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			first[m[1]] = true
		}
	}
	return first, b.String()
}

// TestStructureTablesNameEveryPackage: every package has its row in README's project structure table and in
// docs/architecture.md's package table (README may name a sub-package such as klavi/taxid in its parent's row),
// main's rows name each of its files, and every directory a table names exists.
func TestStructureTablesNameEveryPackage(t *testing.T) {
	t.Parallel()
	pkgs := modulePackages(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	arch, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	readmeFirst, readmeRows := tableNames(mdSection(t, string(readme), "## Project structure"))
	archFirst, archRows := tableNames(mdSection(t, string(arch), "## Packages"))
	for _, dir := range slices.Sorted(maps.Keys(pkgs)) {
		if dir == "." {
			for _, f := range pkgs[dir].files {
				if !readmeFirst[f] {
					t.Errorf("README's project structure table does not name main's %s", f)
				}
				if !strings.Contains(archRows, "`"+f+"`") {
					t.Errorf("docs/architecture.md's package table does not name main's %s", f)
				}
			}
			continue
		}
		if !readmeFirst[dir+"/"] && !strings.Contains(readmeRows, "`"+dir+"`") {
			t.Errorf("README's project structure table has no row for %s/", dir)
		}
		if !archFirst[dir+"/"] {
			t.Errorf("docs/architecture.md's package table has no row for %s/", dir)
		}
	}
	for table, names := range map[string]map[string]bool{"README": readmeFirst, "docs/architecture.md": archFirst} {
		for name := range names {
			if dir, ok := strings.CutSuffix(name, "/"); ok {
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					t.Errorf("%s's table names %s, which is not a directory", table, name)
				}
			}
		}
	}
}

// TestImportGraphIsTheDocumentedOne: the graph in docs/architecture.md#import-rules ("a ──► b, c"; klavi/taxid
// counted with klavi) is exactly what each package's non-test files import of the module. e2e is left out: its
// code is tests.
func TestImportGraphIsTheDocumentedOne(t *testing.T) {
	t.Parallel()
	arch, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	section := strings.Join(mdSection(t, string(arch), "## Import rules"), "\n")
	_, rest, ok := strings.Cut(section, "```\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no diagram in the import rules section")
	}
	drawn := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		from, to, ok := strings.Cut(l, "──►")
		if !ok {
			t.Fatalf("diagram line without ──►: %q", l)
		}
		var targets []string
		if to = strings.TrimSpace(to); to != "(no project package)" {
			for _, p := range strings.Split(to, ",") {
				targets = append(targets, strings.TrimSpace(p))
			}
		}
		for _, p := range strings.Split(from, ",") {
			drawn[strings.TrimSpace(p)] = slices.Sorted(slices.Values(targets))
		}
	}
	counted := func(dir string) string {
		switch dir {
		case ".":
			return "main"
		case "klavi/taxid":
			return "klavi"
		}
		return dir
	}
	actual := map[string]map[string]bool{}
	for dir, p := range modulePackages(t) {
		if dir == "e2e" {
			continue
		}
		from := counted(dir)
		if actual[from] == nil {
			actual[from] = map[string]bool{}
		}
		for imp := range p.imports {
			if to := counted(imp); to != from {
				actual[from][to] = true
			}
		}
	}
	for from, tos := range actual {
		want := slices.Sorted(maps.Keys(tos))
		got, ok := drawn[from]
		switch {
		case !ok:
			t.Errorf("the import diagram has no line for %s (it imports %v)", from, want)
		case !slices.Equal(got, want):
			t.Errorf("the import diagram says %s ──► %v; the code imports %v", from, got, want)
		}
	}
	for from := range drawn {
		if actual[from] == nil {
			t.Errorf("the import diagram names %s, which is not a package", from)
		}
	}
}
