package diag

import (
	"net"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Environment is the Klavi the portal talks to, shown on the diagnostics page and as a banner on every page, so
// that nobody takes a demo for production or the reverse.
type Environment string

// The environments.
const (
	// EnvEmbedded: KLAVI_BASE_URL is empty, so the binary runs its own offline sandbox; or it points at a loopback
	// host, which can only be another replica's embedded sandbox (`make cluster`), never Klavi.
	EnvEmbedded Environment = "embedded"
	// EnvSandbox: Klavi's own sandbox (its host name says "sandbox"): real Klavi, test banks and test data.
	EnvSandbox Environment = "sandbox"
	// EnvProduction: any other Klavi: real banks, real people's data.
	EnvProduction Environment = "production"
)

// EnvironmentOf classifies KLAVI_BASE_URL.
func EnvironmentOf(baseURL string) Environment {
	if strings.TrimSpace(baseURL) == "" {
		return EnvEmbedded
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return EnvProduction // the client refuses it anyway; never claim a sandbox on doubt
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" {
		return EnvEmbedded
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return EnvEmbedded
	}
	if strings.Contains(host, "sandbox") {
		return EnvSandbox
	}
	return EnvProduction
}

// BuildInfo is what this binary knows of its own build.
type BuildInfo struct {
	Version    string    // the Makefile's stamp (git describe), else the module version ("(devel)" for a plain go build)
	Commit     string    // vcs.revision, "" when built outside a repository (or with -buildvcs=false)
	CommitTime time.Time // vcs.time: when that commit was made
	Modified   bool      // vcs.modified: built from a tree with uncommitted changes
	BuiltAt    time.Time // when the binary was built, as the Makefile stamps it; zero when unknown
	GoVersion  string
}

// readBuild reads the build information embedded by the Go toolchain; the stamped values win.
func readBuild(version, commit, builtAt string) BuildInfo {
	b := BuildInfo{Version: version, GoVersion: runtime.Version()}
	b.BuiltAt, _ = time.Parse(time.RFC3339, builtAt)
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.CommitTime, _ = time.Parse(time.RFC3339, s.Value)
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if commit != "" {
		b.Commit = commit
	}
	return b
}
