//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// Accessibility: axe-core runs in every page the suite visits (portal and sandbox pages alike, every width and
// theme a test uses), after the page has loaded. It is injected as an init script of each browser context, so it
// needs no change to the pages and is not stopped by their Content-Security-Policy, and it reports back through a
// binding. A serious or critical violation of WCAG 2.0/2.1/2.2 A and AA fails the test that visited the page.
// make e2e-deps installs the pinned axe-core from npm; AXE_PATH points at axe.min.js.

// axeTags are the rule sets checked.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
	// axeChecked counts the pages checked in this run, for the summary line.
	axeChecked atomic.Int64
)

func loadAxe() (string, error) {
	axeOnce.Do(func() {
		path := os.Getenv("AXE_PATH")
		if path == "" {
			matches, _ := filepath.Glob(filepath.Join("..", ".cache", "axe-core", "*", "package", "axe.min.js"))
			if len(matches) > 0 {
				path = matches[len(matches)-1]
			}
		}
		if path == "" {
			axeErr = fmt.Errorf("axe-core not found: run make e2e-deps (or set AXE_PATH)")
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			axeErr = err
			return
		}
		axeSource = string(b)
	})
	return axeSource, axeErr
}

// axeRunner defines the check (__portalAxeCheck: run axe on the document as it is now and report the serious and
// critical violations) and runs it once per loaded document, a moment after load so that app.js has set the theme
// and wired the page. axeNow runs the same check on a state reached without a page load.
const axeRunner = `(() => {
  if (window.top !== window || !window.__portalAxeReport) return;
  window.__portalAxeCheck = async () => {
    if (!document.contentType || document.contentType.indexOf("html") < 0 || !window.axe) return;
    const theme = document.documentElement.getAttribute("data-theme") ||
      (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    try {
      const r = await axe.run(document, { runOnly: { type: "tag", values: %s }, resultTypes: ["violations"] });
      const v = r.violations.filter(x => x.impact === "serious" || x.impact === "critical").map(x => ({
        id: x.id, impact: x.impact, help: x.help,
        nodes: x.nodes.slice(0, 5).map(n => n.target.join(" ") + (n.failureSummary ? " — " + n.failureSummary.split("\n").slice(1, 2).join("") : "")) }));
      await window.__portalAxeReport(JSON.stringify({ url: location.pathname, width: innerWidth, theme: theme, violations: v }));
    } catch (e) {
      await window.__portalAxeReport(JSON.stringify({ url: location.pathname, width: innerWidth, theme: theme, error: String(e) }));
    }
  };
  addEventListener("load", () => setTimeout(async () => {
    await window.__portalAxeCheck();
    window.__portalAxeDone = true;
  }, 250));
})();`

type axeReport struct {
	URL        string `json:"url"`
	Width      int    `json:"width"`
	Theme      string `json:"theme"`
	Error      string `json:"error"`
	Violations []struct {
		ID     string   `json:"id"`
		Impact string   `json:"impact"`
		Help   string   `json:"help"`
		Nodes  []string `json:"nodes"`
	} `json:"violations"`
}

// withAxe makes every page of bctx check itself with axe after loading; a serious or critical violation fails t
// (reported once per rule, page, width and theme).
func withAxe(t *testing.T, bctx playwright.BrowserContext) {
	t.Helper()
	src, err := loadAxe()
	if err != nil {
		t.Fatal(err)
	}
	tags, _ := json.Marshal(axeTags)
	var mu sync.Mutex
	seen := map[string]bool{}
	done := false // set when the test is over: a report still in flight then is dropped, not logged on a finished test
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
	})
	err = bctx.ExposeBinding("__portalAxeReport", func(_ *playwright.BindingSource, args ...any) any {
		if len(args) != 1 {
			return nil
		}
		s, _ := args[0].(string)
		var r axeReport
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			t.Errorf("axe: unreadable report: %v", err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if done {
			return nil
		}
		axeChecked.Add(1)
		if r.Error != "" {
			t.Errorf("axe could not check %s (%d px, %s): %s", r.URL, r.Width, r.Theme, r.Error)
			return nil
		}
		for _, v := range r.Violations {
			key := v.ID + " " + r.URL + " " + fmt.Sprint(r.Width) + " " + r.Theme
			if seen[key] {
				continue
			}
			seen[key] = true
			t.Errorf("accessibility (axe %s, %s) on %s at %d px, %s theme: %s\n  %s", v.ID, v.Impact, r.URL, r.Width,
				r.Theme, v.Help, strings.Join(v.Nodes, "\n  "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("axe binding: %v", err)
	}
	if err := bctx.AddInitScript(playwright.Script{Content: playwright.String(src)}); err != nil {
		t.Fatalf("axe init script: %v", err)
	}
	if err := bctx.AddInitScript(playwright.Script{Content: playwright.String(fmt.Sprintf(axeRunner, tags))}); err != nil {
		t.Fatalf("axe runner: %v", err)
	}
}

// axeDone waits until axe has checked the page now shown (the runner sets a flag when its report is in).
func axeDone(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	// Polled with Evaluate: WaitForFunction evaluates a string in the page, which the portal's CSP forbids.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		done, err := page.Evaluate("() => window.__portalAxeDone === true")
		if err == nil && done == true {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("axe did not finish checking %s within 30 s", what)
}

// axeNow checks the page as it is now, for a state reached without loading a page (a pressed button's wait, say);
// its serious and critical violations fail t like those found after a load.
func axeNow(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	axeDone(t, page, what+" (its load)") // axe runs one check at a time
	checked, err := page.Evaluate("async () => { if (!window.__portalAxeCheck) return false; await window.__portalAxeCheck(); return true; }")
	must(t, err, "check "+what+" with axe")
	if checked != true {
		t.Errorf("axe is not loaded in %s", what)
	}
}

// TestAccessibilitySweep visits the pages no other test walks through in full (the operator's lists and details,
// this browser's consents, sign-in, the not-found page) at desktop and phone widths, in the light and the dark
// colour scheme, and waits for axe to check each one. The flow's pages are checked by the tests that walk them.
func TestAccessibilitySweep(t *testing.T) {
	t.Parallel()
	for _, scheme := range []*playwright.ColorScheme{playwright.ColorSchemeLight, playwright.ColorSchemeDark} {
		for _, size := range [][2]int{{1280, 900}, {390, 844}} {
			t.Run(fmt.Sprintf("%s-%d", *scheme, size[0]), func(t *testing.T) {
				t.Parallel()
				page := newPage(t, size[0], size[1], func(o *playwright.BrowserNewContextOptions) { o.ColorScheme = scheme })
				visit := func(path string) {
					t.Helper()
					_, err := page.Goto(shared.URL + path)
					must(t, err, "open "+path)
					axeDone(t, page, path)
				}
				visit("/login")
				visit("/does-not-exist")
				visit("/me")
				signIn(t, page)
				axeDone(t, page, "the page after signing in")
				for _, path := range []string{"/consents", "/webhooks", "/webhooks/simulate", "/audit", "/me"} {
					visit(path)
				}
				// The inbox may be empty when this test runs first; a delivery's page is checked when there is one.
				_, err := page.Goto(shared.URL + "/webhooks")
				must(t, err, "open the inbox")
				if n, _ := page.GetByTestId("webhook-open").Count(); n > 0 {
					must(t, page.GetByTestId("webhook-open").First().Click(), "open a delivery")
					axeDone(t, page, "a delivery")
				}
			})
		}
	}
}
