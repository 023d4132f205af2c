package broker

import (
	"sync"

	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/sockio"
)

// flushScratch is what one write to a connection needs, by a reader or the
// writer goroutine: the bytes, the deliveries they were encoded from, and a
// non-blocking socket writer. Pooled, so that an idle connection holds none.
type flushScratch struct {
	buf   []byte
	batch []session.Delivery
	w     *sockio.Writer
}

var flushScratches = sync.Pool{New: func() any {
	return &flushScratch{
		buf:   make([]byte, 0, writeBatchBytes+4096),
		batch: make([]session.Delivery, 0, writeBatchDeliveries),
		w:     sockio.NewWriter(),
	}
}}

func (f *flushScratch) release() {
	if cap(f.buf) > 4*writeBatchBytes {
		return // let an outsized buffer go
	}
	f.buf = f.buf[:0] // appendDeliveries has already cleared the batch
	flushScratches.Put(f)
}
