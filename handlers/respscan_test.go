// The response scanner: every answer a handler test receives through env.do or cookieClient.do is searched for a
// CPF/CNPJ in clear (docs/reliability.md#access-model: pages, downloads and JSON show them masked). Three things
// are not leaks and are left out: an operator's download of a report's original JSON (?original=1), which is the
// point of it; a form shown again with what its own request typed (the start form after a mistake, the sign-in
// form); and the start page's made-up examples (withoutExamples).

package handlers

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/klavi/taxid"
)

// assertNoTaxIDInResponse fails the test when the response to method path (which sent reqBody) carries a valid
// CPF/CNPJ in clear. An .xlsx workbook is read inside (its sheets are compressed XML).
func assertNoTaxIDInResponse(t *testing.T, method, path string, reqBody []byte, status int, header http.Header, body []byte) {
	t.Helper()
	if status == http.StatusOK && strings.Contains(path, "original=1") {
		return
	}
	typed := map[string]bool{}
	for _, f := range responseTaxIDs(http.Header{}, []byte(requestText(path, reqBody))) {
		typed[f] = true
	}
	for _, f := range responseTaxIDs(header, withoutExamples(body)) {
		if !typed[f] {
			t.Errorf("%s %s (%d): the response carries %s", method, path, status, f)
		}
	}
}

// requestText is what a request typed: its path and query and its form body, decoded.
func requestText(path string, body []byte) string {
	text := path + "\n" + string(body)
	if u, err := url.QueryUnescape(text); err == nil {
		return u
	}
	return text
}

// withoutExamples drops the made-up ids the start page shows on purpose: the table of the sandbox's test ids
// (views.ScenarioTable) and the example in the tax id field's hint (start.cpf_hint).
func withoutExamples(body []byte) []byte {
	body = cut(body, `data-testid="sandbox-hints"`, "</section>")
	return cut(body, `id="tax_id_hint"`, "</p>")
}

// cut removes from body what lies from the first from to the next to after it.
func cut(body []byte, from, to string) []byte {
	start := bytes.Index(body, []byte(from))
	if start < 0 {
		return body
	}
	end := bytes.Index(body[start:], []byte(to))
	if end < 0 {
		return body[:start]
	}
	return append(append([]byte(nil), body[:start]...), body[start+end:]...)
}

// responseTaxIDs lists, masked, the valid CPFs/CNPJs standing in clear in a response body.
func responseTaxIDs(header http.Header, body []byte) []string {
	text := string(body)
	if strings.Contains(header.Get("Content-Type"), "spreadsheetml") {
		text = xlsxText(body)
	}
	var out []string
	for _, m := range logCPF.FindAllStringSubmatch(text, -1) {
		if n, err := taxid.ValidateCPF(m[1]); err == nil {
			out = append(out, "the CPF "+taxid.Mask(n))
		}
	}
	for _, m := range logCNPJ.FindAllStringSubmatch(text, -1) {
		if n, err := taxid.ValidateCNPJ(m[1]); err == nil {
			out = append(out, "the CNPJ "+taxid.Mask(n))
		}
	}
	return out
}

// xlsxText is the text of every part of a workbook, or a note saying it is not one.
func xlsxText(b []byte) string {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Sprintf("(not a workbook: %v)", err)
	}
	var sb strings.Builder
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			continue
		}
		_, _ = io.Copy(&sb, io.LimitReader(rc, 64<<20)) // a test's workbook is small; bounded all the same
		_ = rc.Close()
		sb.WriteByte('\n')
	}
	return sb.String()
}

// The scanner itself: a CPF in clear in a page, none in a masked one, a CNPJ inside a workbook.
func TestResponseScannerCatches(t *testing.T) {
	t.Parallel()
	html := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	if got := responseTaxIDs(html, []byte(`<td>529.982.247-25</td><td>***.982.247-**</td>`)); len(got) != 1 {
		t.Errorf("page: %v, want the one CPF in clear", got)
	}
	if got := responseTaxIDs(html, []byte(`<td>***.982.247-**</td> id 52998224725123 amount 1000.04`)); len(got) != 0 {
		t.Errorf("masked page: %v, want nothing", got)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("xl/worksheets/sheet1.xml")
	_, _ = w.Write([]byte(`<c t="inlineStr"><is><t>PIX 11.222.333/0001-81</t></is></c>`))
	_ = zw.Close()
	page := []byte(`<section class="card" data-testid="sandbox-hints"><td>529.982.247-25</td></section>` +
		`<p class="hint" id="tax_id_hint">Ex.: 529.982.247-25</p><p>111.444.777-35</p>`)
	if got := responseTaxIDs(html, withoutExamples(page)); len(got) != 1 || got[0] != "the CPF ***.444.777-**" {
		t.Errorf("start page: %v, want only the CPF outside the examples", got)
	}
	xlsx := http.Header{"Content-Type": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}
	if got := responseTaxIDs(xlsx, buf.Bytes()); len(got) != 1 {
		t.Errorf("workbook: %v, want the CNPJ inside it", got)
	}
}
