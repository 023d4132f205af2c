package broker

// A reader hands the packets it produces for other connections (and its
// own acknowledgements) to those connections' sockets itself, once it has
// handled everything one read brought: one write per connection per read,
// with no goroutine woken. Only when a socket cannot take everything, or
// another goroutine is writing to it, does a writer goroutine take over.
// At a trickle of messages this makes the path of one PUBLISH two reads and
// two writes; under load a read brings many packets, so the writes batch.

// maxFlushTargets bounds the connections a reader collects before it
// writes: a PUBLISH that fans out to more subscribers wakes their writers
// instead, which then write on other cores in parallel.
const maxFlushTargets = 16

// flushLater records that t has something to send, to be written when the
// reader of c is about to read again. Reader goroutine of c only.
func (c *conn) flushLater(t *conn) {
	if t.raw == nil || c.raw == nil {
		t.kick() // a transport that cannot be written without blocking
		return
	}
	for _, p := range c.flushSet {
		if p == t {
			return
		}
	}
	if len(c.flushSet) == maxFlushTargets {
		t.kick()
		return
	}
	c.flushSet = append(c.flushSet, t)
}

// flushPending writes what c's reader collected. It is called before each
// read from c's socket, before the reader waits for room in a queue, and
// when the connection ends, so nothing collected is left behind.
func (c *conn) flushPending() {
	for i, t := range c.flushSet {
		t.writeNow()
		c.flushSet[i] = nil
	}
	c.flushSet = c.flushSet[:0]
	if cap(c.flushSet) > maxFlushTargets {
		c.flushSet = nil
	}
}

// writeNow writes c's control packets and queued messages from the calling
// goroutine with one non-blocking write, if no one else is writing to c.
// What the socket does not take, or what arrives meanwhile, is left to the
// writer goroutine, in order.
func (c *conn) writeNow() {
	if !c.writeMu.TryLock() {
		c.kick() // the writer holds the socket; make sure it looks again
		return
	}
	c.outMu.Lock()
	if c.closing {
		c.outMu.Unlock()
		c.writeMu.Unlock()
		c.kick()
		return
	}
	w := flushScratches.Get().(*flushScratch)
	w.buf = append(w.buf[:0], c.ctl...)
	c.ctl = c.ctl[:0]
	st := c.sess
	c.outMu.Unlock()

	if st != nil {
		w.buf = c.appendDeliveries(w.buf, st, &w.batch)
	}
	var n int
	var err error
	if len(w.buf) > 0 {
		n, err = w.w.WriteOnce(c.raw, w.buf)
		c.srv.stats.bytesSent.Add(uint64(n))
	}
	if err != nil {
		c.writeMu.Unlock()
		w.release()
		c.writeFailed(err)
		return
	}
	// What is left for the writer goroutine. A delivery queued after this
	// look is not missed: its reader finds writeMu held and kicks.
	more := false
	if st != nil {
		st.mu.Lock()
		if n > 0 {
			st.progressedLocked() // the client took what we wrote
		}
		more = st.outbox.Pending()
		st.mu.Unlock()
	}
	c.outMu.Lock()
	if n < len(w.buf) {
		// The rest goes before anything queued since: we still hold writeMu.
		c.ctl = append(append(make([]byte, 0, len(w.buf)-n+len(c.ctl)), w.buf[n:]...), c.ctl...)
	}
	more = more || len(c.ctl) > 0
	c.outMu.Unlock()
	c.writeMu.Unlock()
	w.release()
	if more {
		c.kick()
	}
}
