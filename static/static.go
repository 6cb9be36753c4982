// Package static embeds the portal's CSS, JavaScript and images and serves them under /static/ with content-hash
// cache busting (docs/architecture.md#static-files): pages link to URL(name), which carries ?v=<hash>, so a file
// can be cached for a year and a new build still reaches every browser.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"sync"
)

//go:embed css js img
var files embed.FS

// FS is the embedded file tree (css/, js/, img/).
var FS fs.FS = files

var (
	hashOnce sync.Once
	hashes   map[string]string
)

func computeHashes() {
	hashes = map[string]string{}
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		hashes[p] = hex.EncodeToString(sum[:])[:12]
		return nil
	})
}

// URL returns the public URL of an embedded file such as "css/app.css", with a ?v=<content hash> suffix.
// An unknown name still gets a usable URL (without the suffix) so a typo shows as a 404 in the browser.
func URL(name string) string {
	hashOnce.Do(computeHashes)
	name = strings.TrimPrefix(name, "/")
	if h, ok := hashes[name]; ok {
		return "/static/" + name + "?v=" + h
	}
	return "/static/" + name
}

// Handler serves the embedded files; mount it with the /static/ prefix stripped. Requests carrying ?v= are
// content-addressed and cached for a year; directory listings are refused.
func Handler() http.Handler {
	fsrv := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		fsrv.ServeHTTP(w, r)
	})
}
