// Package e2e holds the end-to-end tests: the real portal binary, with its embedded Klavi sandbox, driven by
// headless chromium through playwright-go. They carry the build tag e2e; run them with `make e2e`.
package e2e
