package client

import (
	"context"
	"time"
)

// The write path. Every packet is encoded, under outMu, onto the end of one
// buffer; a writer goroutine takes the whole buffer and writes it with one
// system call, then takes whatever was queued meanwhile, and ends when
// nothing is left. So a fast publisher gets many packets into each write,
// and a lone packet goes out at once.
//
// The caller does not write itself, even when nobody is writing: a single
// publisher would then pay one system call per packet (measured: ten times
// slower at QoS 0), could block on a full socket beyond its context, and
// the reader could block on a server that does not read while it writes.
// The reader queues its acknowledgements and starts the writer once it has
// handled every packet of what it read, so they share a write.
//
// The buffer is bounded for PUBLISH: past maxPending bytes a publisher waits
// for the writer (back-pressure, nothing is dropped). Acknowledgements and
// pings never wait, so the reader never blocks on the writer; they are
// bounded by the server's in-flight window.
const (
	maxPending = 64 << 10
	// maxKeptBuffer is the largest write buffer kept for reuse; one grown
	// by a large PUBLISH is left to the garbage collector.
	maxKeptBuffer = 256 << 10
)

// send queues one packet and starts a writer if none runs. With mayWait it
// first waits while maxPending bytes are already queued, or until ctx is
// done.
func (c *Client) send(ctx context.Context, mayWait bool, encode func([]byte) []byte) error {
	c.outMu.Lock()
	if mayWait {
		for len(c.out) >= maxPending && !c.outClosed {
			if err := c.waitOut(ctx); err != nil {
				c.outMu.Unlock()
				return err
			}
		}
	}
	if c.outClosed {
		c.outMu.Unlock()
		return c.closedErr()
	}
	c.appendOnly(encode)
	c.startWriterLocked()
	c.outMu.Unlock()
	return nil
}

// sendLast queues the last packet (DISCONNECT), closes the buffer to
// everything after it and starts a writer if none runs.
func (c *Client) sendLast(encode func([]byte) []byte) error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.outClosed {
		return c.closedErr()
	}
	c.appendOnly(encode)
	c.outClosed = true
	c.startWriterLocked()
	return nil
}

// appendOnly encodes onto out. Caller holds c.outMu.
func (c *Client) appendOnly(encode func([]byte) []byte) {
	n := len(c.out)
	c.out = encode(c.out)
	c.queued += uint64(len(c.out) - n)
}

// takeLocked takes everything queued, leaving the spare buffer to queue
// into. Caller holds c.outMu.
func (c *Client) takeLocked() []byte {
	buf := c.out
	c.out, c.spare = c.spare[:0], nil
	return buf
}

// startWriterLocked starts a writer goroutine when bytes are queued and
// nobody writes. Caller holds c.outMu.
func (c *Client) startWriterLocked() {
	if !c.writing && len(c.out) > 0 && !c.outDone {
		c.writing = true
		c.writerWG.Add(1)
		go c.writeLoop()
	}
}

// stopWritingLocked marks the end of a writer. Caller holds c.outMu.
func (c *Client) stopWritingLocked() {
	c.writing = false
	if c.outClosed {
		c.spare = nil
	}
	c.wakeOutWaiters() // Disconnect waits for the last writer
}

// writeLoop is the writer goroutine: it writes batches until nothing is
// queued.
func (c *Client) writeLoop() {
	defer c.writerWG.Done()
	for {
		c.outMu.Lock()
		if len(c.out) == 0 || c.outDone {
			c.stopWritingLocked()
			c.outMu.Unlock()
			return
		}
		buf := c.takeLocked()
		c.outMu.Unlock()
		c.write(buf)
	}
}

// write writes one batch with no lock held. A failed write ends the
// connection.
func (c *Client) write(buf []byte) {
	n, err := c.conn.Write(buf)
	c.outMu.Lock()
	if c.wroteLocked(buf, n, err) {
		c.outMu.Unlock()
	}
}

// wroteLocked records that n bytes of buf were written: what was not goes
// back before anything queued meanwhile, and a buffer written whole becomes
// the spare. Caller holds c.outMu. After a failed write it ends the
// connection, releasing c.outMu, and reports false.
func (c *Client) wroteLocked(buf []byte, n int, err error) bool {
	c.lastSent.Store(int64(time.Since(c.start)))
	if err != nil {
		c.writeErr = err
		c.closeOutLocked()
		c.outMu.Unlock()
		c.fail(err)
		return false
	}
	c.written += uint64(n)
	if n < len(buf) {
		c.out = append(append(make([]byte, 0, len(buf)-n+len(c.out)), buf[n:]...), c.out...)
	} else if cap(buf) <= maxKeptBuffer && c.spare == nil {
		c.spare = buf[:0]
	}
	c.wakeOutWaiters()
	return true
}

// wakeOutWaiters wakes the senders waiting for room, Flush and Disconnect.
// Caller holds c.outMu.
func (c *Client) wakeOutWaiters() {
	if c.outWaiters > 0 {
		c.outCond.Broadcast()
	}
}

// waitOut waits on outCond until woken or ctx is done. Caller holds c.outMu.
func (c *Client) waitOut(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		c.outMu.Lock()
		c.outCond.Broadcast()
		c.outMu.Unlock()
	})
	c.outWaiters++
	c.outCond.Wait()
	c.outWaiters--
	stop()
	return ctx.Err()
}

// closeOut drops what is queued, refuses anything more and wakes every
// waiter: the connection is ending. No writer goroutine starts after it.
func (c *Client) closeOut() {
	c.outMu.Lock()
	c.closeOutLocked()
	c.outMu.Unlock()
}

// closeOutLocked is closeOut. Caller holds c.outMu.
func (c *Client) closeOutLocked() {
	c.outClosed, c.outDone = true, true
	c.out, c.spare = nil, nil
	c.outCond.Broadcast()
}

// awaitWriter waits until no writer runs. Caller holds c.outMu.
func (c *Client) awaitWriter() {
	for c.writing {
		c.outWaiters++
		c.outCond.Wait()
		c.outWaiters--
	}
}

// Flush waits until every packet queued before the call has been written
// to the connection (not acknowledged: see Drain).
func (c *Client) Flush(ctx context.Context) error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	target := c.queued
	for c.written < target {
		if c.outDone || (c.outClosed && !c.writing) {
			return c.closedErr()
		}
		if err := c.waitOut(ctx); err != nil {
			return err
		}
	}
	return nil
}
