package views

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/a-h/templ"
)

// memo renders c once per language and then writes the same bytes, for fragments whose output is a function of key and
// the language alone: the sandbox's scenario table, the step indicator, the theme icons. Escaping their texts and
// building their classes on every request was a visible share of a page's CPU (docs/benchmarks.md#pages). The keys
// are a fixed set named in the templates, so the cache is bounded by keys × languages.
func memo(key string, c templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		k := memoKey{key: key, lang: LangFrom(ctx)}
		if b, ok := memos.Load(k); ok {
			_, err := w.Write(b.([]byte))
			return err
		}
		var buf bytes.Buffer
		if err := c.Render(ctx, &buf); err != nil {
			return err
		}
		memos.Store(k, buf.Bytes())
		_, err := w.Write(buf.Bytes())
		return err
	})
}

type memoKey struct {
	key  string
	lang Lang
}

// memos maps a memoKey to the fragment's bytes.
var memos sync.Map
