package broker

import (
	"encoding/binary"
	"runtime"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
)

const (
	// writeBatchBytes is how much the writer gathers before one Write call:
	// hundreds of small messages per system call, yet small enough that a
	// slow reader completes a write, which counts as progress, well within
	// the stall timeout.
	writeBatchBytes = 16 << 10
	// writeBatchDeliveries bounds the deliveries taken from the session per lock.
	writeBatchDeliveries = 256
)

// kick makes sure a writer is running to send what is queued for c.
func (c *conn) kick() {
	c.outMu.Lock()
	if c.writing {
		c.wakeWriterLocked()
		c.outMu.Unlock()
		return
	}
	if c.closing {
		c.outMu.Unlock()
		return
	}
	c.writing = true
	c.writerWG.Add(1)
	c.outMu.Unlock()
	go c.writeLoop()
}

// wakeWriterLocked wakes a writer lingering for more work. Caller holds c.outMu.
func (c *conn) wakeWriterLocked() {
	if c.writerIdle {
		c.writerIdle = false
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// writeLoop drains control packets and queued messages without blocking,
// writes them with one call, and repeats until nothing is left; then it
// lingers for lingerFor, holding no buffer, in case more comes, and exits.
// While closing it sends only control packets, then closes the socket.
// No lock is held during the write.
func (c *conn) writeLoop() {
	defer c.writerWG.Done()
	var (
		scratch *flushScratch // borrowed while there is work, so a lingering writer holds none
		out     []byte
		timer   *time.Timer
	)
	borrow := func() {
		if scratch == nil {
			scratch = flushScratches.Get().(*flushScratch)
			out = scratch.buf[:0]
		}
	}
	giveBack := func() {
		if scratch == nil {
			return
		}
		scratch.buf = out
		scratch.release()
		scratch, out = nil, nil
	}
	defer func() {
		giveBack()
		if timer != nil {
			timer.Stop()
		}
	}()
	yielded, lingered := false, false
	for {
		borrow()
		c.writeMu.Lock()
		c.outMu.Lock()
		out = append(out, c.ctl...)
		c.ctl = c.ctl[:0]
		if cap(c.ctl) > 1024 {
			c.ctl = nil
		}
		closing, st := c.closing, c.sess
		c.outMu.Unlock()

		if !closing && st != nil {
			for len(out) < writeBatchBytes {
				n := len(out)
				out = c.appendDeliveries(out, st, &scratch.batch)
				if len(out) == n {
					break
				}
			}
		}
		if len(out) == 0 {
			c.writeMu.Unlock()
			if !yielded {
				// Give publishers on other cores a moment: under a steady
				// stream the next message is usually there already.
				yielded = true
				runtime.Gosched()
				continue
			}
			c.outMu.Lock()
			if len(c.ctl) == 0 && (c.closing || st == nil || !st.pending()) {
				if !c.closing && !lingered {
					if c.wake == nil {
						c.wake = make(chan struct{}, 1)
					}
					c.writerIdle = true
					wake := c.wake
					c.outMu.Unlock()
					giveBack()
					if timer == nil {
						timer = time.NewTimer(lingerFor)
					} else {
						timer.Reset(lingerFor)
					}
					select {
					case <-wake:
						timer.Stop()
						yielded = false
					case <-timer.C:
						lingered = true
					}
					c.outMu.Lock()
					c.writerIdle = false
					c.outMu.Unlock()
					continue
				}
				c.writing = false
				c.writerIdle = false
				c.wake = nil // an idle connection holds none
				closing := c.closing
				c.outMu.Unlock()
				if closing {
					c.closeSocket() // outside the lock: a TLS close may block
				}
				return
			}
			c.outMu.Unlock()
			continue
		}
		yielded, lingered = false, false
		n, err := c.nc.Write(out)
		c.writeMu.Unlock()
		c.srv.stats.bytesSent.Add(uint64(n))
		if st != nil && err == nil && !closing {
			st.mu.Lock()
			st.progressedLocked() // the client took what we wrote
			st.mu.Unlock()
		}
		out = out[:0]
		if err != nil {
			c.writeFailed(err)
		}
	}
}

// writeFailed ends c after a write to its socket failed: nothing more is
// sent, and closing the socket makes its reader finish the connection.
func (c *conn) writeFailed(err error) {
	c.outMu.Lock()
	c.closing = true
	if c.closeErr == nil {
		c.closeErr = err
	}
	c.ctl = c.ctl[:0]
	c.outMu.Unlock()
	c.closeSocket()
}

// appendDeliveries takes the next messages the session may send (within
// the in-flight window) and appends their PUBLISH (or PUBREL) packets to out.
// Deliveries are copied out under the session lock and encoded after it.
func (c *conn) appendDeliveries(out []byte, st *sessionState, batchp *[]session.Delivery) []byte {
	now := time.Now()
	batch := (*batchp)[:0]
	var expired int
	budget := writeBatchBytes - len(out) // so a batch of large messages is not copied whole
	st.mu.Lock()
	for len(batch) < writeBatchDeliveries && (len(batch) == 0 || budget > 0) {
		d, ok, exp := st.outbox.Next(now)
		expired += exp
		if !ok {
			break
		}
		batch = append(batch, d)
		if d.Msg != nil {
			budget -= len(d.Msg.Topic) + len(d.Msg.Payload) + 8
		}
	}
	if len(batch) > 0 {
		st.progressedLocked()
	} else if expired > 0 {
		st.notifySpaceLocked() // room was made, though nothing was sent
	}
	var discarded []uint64
	if expired > 0 {
		discarded = st.outbox.TakeDropped(nil)
	}
	st.mu.Unlock()
	*batchp = batch
	if expired > 0 {
		c.srv.stats.drop(session.DropExpired, uint64(expired))
		st.deleteQueued(discarded...)
	}

	var tooLarge []uint16
	for i := range batch {
		d := &batch[i]
		if d.Released {
			rel := packet.Ack{Kind: packet.PUBREL, PacketID: d.PacketID}
			out = rel.Encode(out, c.version)
			c.srv.stats.packetsSent.Add(1)
			continue
		}
		var ok bool
		out, ok = c.appendPublish(out, d, now)
		if !ok {
			c.srv.stats.drop(session.DropTooLarge, 1)
			if d.QoS > 0 {
				tooLarge = append(tooLarge, d.PacketID)
			}
		}
		batch[i] = session.Delivery{} // drop references for the GC
	}
	if len(tooLarge) > 0 {
		// A message the client may not receive is treated as delivered [MQTT-3.1.2-25].
		var discarded []uint64
		st.mu.Lock()
		for _, id := range tooLarge {
			if d, ok := st.outbox.Complete(id); ok && d.Stored {
				discarded = append(discarded, d.Seq)
			}
		}
		st.mu.Unlock()
		st.deleteQueued(discarded...)
	}
	return out
}

// appendPublish encodes one delivery for this connection's protocol level:
// per-delivery properties (subscription identifiers, remaining expiry, topic
// alias) on top of the message's forwarded ones. It reports false, encoding
// nothing, when the packet would exceed the client's Maximum Packet Size.
func (c *conn) appendPublish(out []byte, d *session.Delivery, now time.Time) ([]byte, bool) {
	m := d.Msg
	if m.Fanout && (c.version != packet.V5 || (d.SubIDs == nil && m.Expiry.IsZero() && c.aliasMaxOut == 0)) {
		return c.appendSharedHeader(out, d)
	}
	p := packet.Publish{
		Dup:      d.Dup,
		QoS:      d.QoS,
		Retain:   d.Retain,
		PacketID: d.PacketID,
		Topic:    unsafeBytes(m.Topic),
		Payload:  m.Payload,
	}
	if c.version == packet.V5 {
		if m.Props != nil {
			p.Properties = *m.Props
		}
		p.Properties.SubscriptionIDs = d.SubIDs
		if !m.Expiry.IsZero() {
			p.Properties.MessageExpiry = m.RemainingExpiry(now)
			p.Properties.Set(packet.PropMessageExpiry)
		}
		if c.aliasMaxOut > 0 {
			// Take an alias only if the packet with topic and alias fits:
			// a new alias adds three bytes; a known one only removes the topic.
			p.Properties.TopicAlias = 1
			p.Properties.Set(packet.PropTopicAlias)
			fits := c.maxPacketOut == 0 || uint32(p.EncodedLen(packet.V5)) <= c.maxPacketOut
			alias, known := uint16(0), false
			if fits {
				alias, known = c.outAliases.Lookup(m.Topic)
			}
			if alias == 0 {
				p.Properties.Clear(packet.PropTopicAlias)
			} else {
				p.Properties.TopicAlias = alias
				if known {
					p.Topic = nil // [MQTT-3.3.2-12]: the alias stands for the topic
				}
			}
		}
	}
	if c.maxPacketOut > 0 && uint32(p.EncodedLen(c.version)) > c.maxPacketOut {
		return out, false
	}
	c.srv.stats.publishSent.Add(1)
	c.srv.stats.packetsSent.Add(1)
	return p.Encode(out, c.version), true
}

// appendSharedHeader sends a delivery of a message that goes to many
// subscribers by copying its header, encoded once per wire variant, and
// patching the flags and the packet identifier.
func (c *conn) appendSharedHeader(out []byte, d *session.Delivery) ([]byte, bool) {
	m := d.Msg
	h := m.Header(c.version, d.QoS > 0)
	if c.maxPacketOut > 0 && uint32(len(h)+len(m.Payload)) > c.maxPacketOut {
		return out, false
	}
	start := len(out)
	out = append(append(out, h...), m.Payload...)
	first := byte(packet.PUBLISH)<<4 | d.QoS<<1
	if d.Dup {
		first |= 0x08
	}
	if d.Retain {
		first |= 0x01
	}
	out[start] = first
	if d.QoS > 0 {
		off := start + packet.PublishPacketIDOffset(out[start:])
		binary.BigEndian.PutUint16(out[off:], d.PacketID)
	}
	c.srv.stats.publishSent.Add(1)
	c.srv.stats.packetsSent.Add(1)
	return out, true
}
