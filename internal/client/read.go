package client

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gridmq/gridmq/internal/packet"
)

// maxInterned bounds the topic strings the reader keeps so that a message
// on a topic seen before costs no allocation.
const maxInterned = 4096

// readLoop is the reader goroutine. It owns the end of the connection:
// when reading stops it stops the keep alive and the writer, and closes done.
func (c *Client) readLoop() {
	err := c.readPackets()
	c.fail(err) // no effect when Close or Disconnect ended the connection
	c.stopKeepAlive()
	c.closeOut()
	c.writerWG.Wait()
	c.reader.Release()
	close(c.done)
}

func (c *Client) readPackets() error {
	for {
		if c.reader.Buffered() == 0 {
			// The next read may block: send what the packets read so far
			// called for. (With a partial packet buffered the rest is on
			// its way, as the server is writing it.)
			c.flushAcks()
		}
		pk, err := c.reader.ReadPacket(c.version)
		if err != nil {
			return c.readErr(err)
		}
		switch p := pk.(type) {
		case *packet.Publish:
			err = c.handlePublish(p)
		case *packet.Ack:
			c.handleAck(p)
		case *packet.Suback:
			c.complete(p.PacketID, packet.SUBSCRIBE, 0, result{codes: p.ReasonCodes})
		case *packet.Unsuback:
			c.complete(p.PacketID, packet.UNSUBSCRIBE, 0, result{codes: p.ReasonCodes})
		case *packet.Pingresp:
			c.pingOutstanding.Store(false)
		case *packet.Disconnect:
			reason := "the server sent DISCONNECT"
			if s := p.Properties.ReasonString; s != "" {
				reason += ": " + s
			}
			return fmt.Errorf("client: %s: %w", c.addr, &packet.Error{Code: p.ReasonCode, Reason: reason})
		default:
			err = packet.Errorf(packet.ProtocolError, "unexpected %v from the server", pk.Type())
		}
		if err != nil {
			return fmt.Errorf("client: %s: %w", c.addr, err)
		}
	}
}

func (c *Client) readErr(err error) error {
	var pe *packet.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("client: %s closed the connection: %w", c.addr, err)
	case errors.As(err, &pe):
		return fmt.Errorf("client: bad packet from %s: %w", c.addr, err)
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("client: %s: %w", c.addr, ErrClosed)
	}
	return fmt.Errorf("client: %s: %w", c.addr, err)
}

// handlePublish delivers an incoming PUBLISH and acknowledges it: QoS 1
// with PUBACK after OnMessage returns, QoS 2 with PUBREC, delivering it only
// the first time its packet identifier arrives until PUBREL releases it.
func (c *Client) handlePublish(p *packet.Publish) error {
	if c.version == packet.V5 && p.Properties.Has(packet.PropTopicAlias) {
		// CONNECT announced no Topic Alias Maximum, so the server may send none.
		return packet.Errorf(packet.TopicAliasInvalid, "topic alias from the server, which was allowed none")
	}
	if len(p.Topic) == 0 {
		return packet.Errorf(packet.ProtocolError, "PUBLISH without a topic")
	}
	switch p.QoS {
	case 0:
		c.deliver(p)
	case 1:
		c.deliver(p)
		c.sendAck(packet.PUBACK, p.PacketID, packet.Success)
	case 2:
		if _, seen := c.inbound[p.PacketID]; !seen {
			c.deliver(p)
			if c.inbound == nil {
				c.inbound = make(map[uint16]struct{})
			}
			c.inbound[p.PacketID] = struct{}{}
		}
		c.sendAck(packet.PUBREC, p.PacketID, packet.Success)
	}
	return nil
}

func (c *Client) deliver(p *packet.Publish) {
	if c.opts.OnMessage == nil {
		return
	}
	m := &c.msg
	m.Topic = c.intern(p.Topic)
	m.Payload = p.Payload
	m.QoS, m.Retain, m.Dup = p.QoS, p.Retain, p.Dup
	if c.version == packet.V5 {
		m.Properties = &p.Properties
	}
	c.opts.OnMessage(m)
	*m = Message{} // hold no reference to the read buffer
}

// intern returns the topic as a string, allocating only for a topic not
// seen before (the map lookup with string(b) does not allocate).
func (c *Client) intern(b []byte) string {
	if s, ok := c.topics[string(b)]; ok {
		return s
	}
	s := string(b)
	if c.topics == nil {
		c.topics = make(map[string]string)
	}
	if len(c.topics) < maxInterned {
		c.topics[s] = s
	}
	return s
}

// handleAck handles PUBACK, PUBREC and PUBCOMP of outgoing PUBLISHes and
// PUBREL of incoming QoS 2 ones. An acknowledgement for an identifier not
// in flight is ignored, except that PUBREC and PUBREL are answered (v5 with
// Packet Identifier Not Found) so the server can end its flow.
func (c *Client) handleAck(a *packet.Ack) {
	id := a.PacketID
	switch a.Kind {
	case packet.PUBACK:
		c.complete(id, packet.PUBLISH, packet.PUBACK, ackResult(a))
	case packet.PUBREC:
		if c.version == packet.V5 && a.ReasonCode.IsError() {
			// A failed PUBREC ends the flow: no PUBREL [MQTT-4.3.3-4].
			c.complete(id, packet.PUBLISH, packet.PUBREC, ackResult(a))
			return
		}
		code := packet.Success
		if !c.advance(id) {
			code = packet.PacketIdentifierNotFound
		}
		c.sendAck(packet.PUBREL, id, code)
	case packet.PUBREL:
		code := packet.Success
		if _, ok := c.inbound[id]; ok {
			delete(c.inbound, id)
		} else {
			code = packet.PacketIdentifierNotFound
		}
		c.sendAck(packet.PUBCOMP, id, code)
	case packet.PUBCOMP:
		c.complete(id, packet.PUBLISH, packet.PUBCOMP, ackResult(a))
	}
}

func ackResult(a *packet.Ack) result {
	if !a.ReasonCode.IsError() {
		return result{}
	}
	reason := fmt.Sprintf("%v of packet %d", a.Kind, a.PacketID)
	if s := a.Properties.ReasonString; s != "" {
		reason += ": " + s
	}
	return result{err: &packet.Error{Code: a.ReasonCode, Reason: reason}}
}

// sendAck queues an acknowledgement; it never waits. (Reason codes are
// written in v5 only.) The writer starts at the next flushAcks, so the
// acknowledgements of every packet in one read go out in one write.
func (c *Client) sendAck(kind packet.Type, id uint16, code packet.ReasonCode) {
	a := packet.Ack{Kind: kind, PacketID: id, ReasonCode: code}
	c.outMu.Lock()
	if !c.outClosed {
		c.appendOnly(func(b []byte) []byte { return a.Encode(b, c.version) })
		c.acksQueued = true
	}
	c.outMu.Unlock()
}

// flushAcks sends the acknowledgements queued since the last call. The
// reader calls it before it may block reading. When no writer runs, the
// reader writes them itself, once and without waiting for room, which
// spares a goroutine hand-off on every round trip of a QoS 1 subscriber;
// what the socket does not take goes to a writer goroutine, so the reader
// never blocks on a server that is not reading.
func (c *Client) flushAcks() {
	if !c.acksQueued {
		return
	}
	c.outMu.Lock()
	c.acksQueued = false
	if c.raw == nil || c.writing || len(c.out) == 0 || c.outDone {
		c.startWriterLocked()
		c.outMu.Unlock()
		return
	}
	c.writing = true // the socket is ours until we hand the rest on
	buf := c.takeLocked()
	c.outMu.Unlock()

	n, err := c.acks.WriteOnce(c.raw, buf)

	c.outMu.Lock()
	c.writing = false
	if !c.wroteLocked(buf, n, err) {
		return
	}
	c.startWriterLocked() // for the rest, and what was queued meanwhile
	c.outMu.Unlock()
}
