package sandbox

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
)

// bankJS is the bank and LGPD pages' only script (static/bank.js): the pending state of the buttons that lead to
// a wait. The pages work without it; their Content-Security-Policy allows scripts from the sandbox itself and
// nothing else (cspBank).
//
//go:embed static/bank.js
var bankJS []byte

// bankJSVersion is a hash of the script, put on its URL so that a browser never keeps an older copy.
var bankJSVersion = func() string {
	sum := sha256.Sum256(bankJS)
	return hex.EncodeToString(sum[:6])
}()

// bankJSURL is where the bank pages load the script from.
var bankJSURL = "/bank/static/bank.js?v=" + bankJSVersion

// handleBankScript: GET /bank/static/bank.js.
func (s *Sandbox) handleBankScript(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == bankJSVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(bankJS)
}
