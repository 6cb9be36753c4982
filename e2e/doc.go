// Package e2e holds the end-to-end tests: the real portal binary, with its embedded Klavi sandbox, driven by
// headless chromium through playwright-go. They carry the build tag e2e; run them with `make e2e`.
//
// The browser tests call t.Parallel: each owns its browser contexts (and, where the sandbox or a list lookup keys
// on it, its tax id) and they share one portal, so go test runs GOMAXPROCS of them at a time; so does the single
// sign-on test, with a portal and a provider of its own. The crash test and TestReplicas stay sequential and run
// alone, first: they SIGKILL portals at random moments under a stream of webhooks and wait for redeliveries, which
// should not compete with browsers for the CPU. Every test talks to the shared portal from 127.0.0.1, so all of them together
// share its per-client limit on the flow posts (POST /start, /consents, /consents/{id}/retry: 60 a minute); the
// suite makes about 50 such posts in all, so the limit cannot be reached however fast the tests run. Tests that
// would add many more flows should start a portal of their own.
package e2e
