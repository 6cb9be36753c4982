// Package logbuf provides a Buffer that tests hand to a logger (or a child process's stderr) and read while
// other goroutines may still be writing to it.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer guarded by a mutex, safe for concurrent Write and String. The zero value is ready
// to use and keeps everything written.
type Buffer struct {
	// Max, when above 0, bounds the memory of a long, chatty writer (the load test's portal): a Write that finds
	// more than Max bytes held empties the buffer first, so what is kept is the newest output.
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max > 0 && b.b.Len() > b.Max {
		b.b.Reset()
	}
	return b.b.Write(p)
}

// String returns everything written so far (since the last reset, with Max).
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
