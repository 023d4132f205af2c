package broker

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
	"github.com/gridmq/gridmq/internal/topic"
)

// handlePublish takes one PUBLISH from the client: topic alias, checks,
// QoS 2 de-duplication, retain, routing, then the acknowledgement, which is
// sent only once the message is in every subscriber's queue.
func (c *conn) handlePublish(p *packet.Publish) error {
	s := c.srv
	st := c.sess
	s.stats.publishReceived.Add(1)
	v5 := c.version == packet.V5

	if len(p.Properties.SubscriptionIDs) > 0 {
		return packet.Errorf(packet.ProtocolError, "subscription identifier in a PUBLISH from a client [MQTT-3.3.4-6]")
	}
	name := p.Topic
	if v5 && p.Properties.Has(packet.PropTopicAlias) {
		alias := p.Properties.TopicAlias
		if alias == 0 || alias > s.opts.MaxTopicAlias {
			return packet.Errorf(packet.TopicAliasInvalid, "topic alias %d outside 1..%d [MQTT-3.3.2-9]", alias, s.opts.MaxTopicAlias)
		}
		if len(name) == 0 {
			t := c.inAliases.Get(alias)
			if t == "" {
				return packet.Errorf(packet.ProtocolError, "topic alias %d is not set", alias)
			}
			name = unsafeBytes(t)
		} else {
			if err := topic.ValidateName(name); err != nil {
				return packet.Errorf(packet.TopicNameInvalid, "topic %q: %v [MQTT-3.3.2-2]", name, err)
			}
			c.inAliases.Set(alias, string(name), s.opts.MaxTopicAlias) // [MQTT-3.3.2-12]
		}
	} else if len(name) == 0 {
		return packet.Errorf(packet.ProtocolError, "empty topic without a topic alias [MQTT-4.7.3-1]")
	}
	if err := topic.ValidateName(name); err != nil {
		return packet.Errorf(packet.TopicNameInvalid, "topic %q: %v [MQTT-3.3.2-2]", name, err)
	}
	if p.QoS > s.opts.MaxQoS {
		return packet.Errorf(packet.QoSNotSupported, "QoS %d above the maximum QoS %d [MQTT-3.2.2-11]", p.QoS, s.opts.MaxQoS)
	}
	if p.Retain && !s.opts.RetainAvailable {
		return packet.Errorf(packet.RetainNotSupported, "retain is not available [MQTT-3.2.2-14]")
	}

	// Refusals that keep the connection: the publisher is told (v5) and the
	// message goes nowhere.
	refusal := packet.Success
	switch {
	case s.opts.MessageSizeLimit > 0 && uint32(len(p.Payload)) > s.opts.MessageSizeLimit:
		refusal = packet.QuotaExceeded
		s.log.Info("dropped PUBLISH above message_size_limit", "client", c.clientID, "bytes", len(p.Payload))
	case isSysTopic(name):
		refusal = packet.NotAuthorized // $SYS is the broker's, read-only to clients
	case s.opts.Authorizer != nil && !s.opts.Authorizer.CanPublish(c.clientID, c.username, c.anonymous, unsafeString(name)):
		refusal = packet.NotAuthorized
	case v5 && p.Properties.Has(packet.PropPayloadFormat) && p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload):
		refusal = packet.PayloadFormatInvalid // [MQTT-3.3.2-4] allows the check
	}

	var keepID []store.Op // an inbound QoS 2 packet id of a persistent session
	if p.QoS == 2 {
		st.mu.Lock()
		dup := st.inbound.Has(p.PacketID)
		// Receive Maximum exists in v5 only; before it a client may have
		// any number of QoS 2 messages waiting for PUBREL.
		full := v5 && !dup && st.inbound.Len() >= c.receiveMaximum()
		if !dup && !full && refusal == packet.Success {
			st.inbound.Add(p.PacketID)
			if st.persisted {
				keepID = []store.Op{{Kind: kindInbound, Key: st.inboundKey(p.PacketID)}}
			}
		}
		st.mu.Unlock()
		if full {
			return packet.Errorf(packet.ReceiveMaximumExceeded, "more than %d QoS 2 messages unacknowledged [MQTT-3.3.4-9]", c.receiveMaximum())
		}
		if dup {
			// Already routed: acknowledge again, never deliver twice [MQTT-4.3.3-10].
			c.sendAck(packet.PUBREC, p.PacketID, packet.Success)
			return nil
		}
	}
	if refusal == packet.Success {
		msg := session.NewMessage(p, time.Now(), st)
		if len(name) != len(p.Topic) || (len(name) > 0 && &name[0] != &p.Topic[0]) {
			msg.Topic = string(name) // resolved from a topic alias
		}
		if s.opts.Durable != nil && (p.QoS > 0 || p.Retain) {
			s.opts.Durable.AwaitRoom() // before making commits, holding no lock
		}
		if p.QoS > 0 && s.opts.Durable != nil {
			// What the data dir keeps of the message is there before the
			// acknowledgement: it waits for every commit publish makes.
			c.pub.kind, c.pub.id = packet.PUBACK, p.PacketID
			if p.QoS == 2 {
				c.pub.kind = packet.PUBREC
			}
			quota := s.publish(msg, c)
			if quota && v5 && p.QoS == 2 {
				st.forgetInbound(p.PacketID)
				keepID = nil
			}
			if c.commitPublish(keepID, quota) {
				return nil
			}
			if quota && v5 {
				refusal = packet.QuotaExceeded
			}
		} else if s.publish(msg, c) && v5 && p.QoS > 0 {
			refusal = packet.QuotaExceeded // a subscriber's queue was full: it does not get this one
			if p.QoS == 2 {
				st.forgetInbound(p.PacketID)
			}
		}
	} else if !v5 {
		refusal = packet.Success // 3.1.1 has no way to say no: acknowledge and drop
	}
	switch p.QoS {
	case 1:
		c.sendAck(packet.PUBACK, p.PacketID, refusal)
	case 2:
		c.sendAck(packet.PUBREC, p.PacketID, refusal)
	}
	return nil
}

// forgetInbound takes id out of the inbound QoS 2 state: PUBREC with an
// error code (here 0x97) ends the exchange, and the client may use the id
// for a new message at once, which must not be taken for a duplicate. It
// reports whether the session keeps its state in the data dir.
func (st *sessionState) forgetInbound(id uint16) (persisted bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.inbound.Remove(id)
	return st.persisted
}

// receiveMaximum is the Receive Maximum the server advertised.
func (c *conn) receiveMaximum() int {
	if m := c.srv.opts.MaxInflightMessages; m > 0 && m < 65535 {
		return m
	}
	return 65535
}

// sendAck queues PUBACK, PUBREC, PUBREL or PUBCOMP. It encodes from a
// value, not through the Packet interface, so an acknowledgement allocates
// nothing.
func (c *conn) sendAck(kind packet.Type, id uint16, code packet.ReasonCode) {
	a := packet.Ack{Kind: kind, PacketID: id, ReasonCode: code}
	if c.ackWaits.Load() > 0 {
		var b [8]byte
		c.commitInOrder(nil, a.Encode(b[:0], c.version), nil)
		return
	}
	c.outMu.Lock()
	if c.closing {
		c.outMu.Unlock()
		return
	}
	c.ctl = a.Encode(c.ctl, c.version)
	c.controlQueued()
}

// handleAck processes PUBACK, PUBREC, PUBREL and PUBCOMP from the client.
// For a persistent session the data dir follows: a released inbound QoS 2
// id is forgotten, and an outbound QoS 2 message marked released, before
// the PUBCOMP or PUBREL that ends the client's doubt about it; a delivery
// the client has acknowledged is deleted.
func (c *conn) handleAck(a *packet.Ack) error {
	st := c.sess
	switch a.Kind {
	case packet.PUBREL:
		st.mu.Lock()
		found := st.inbound.Remove(a.PacketID)
		keep := found && st.persisted
		st.mu.Unlock()
		code := packet.Success
		if !found {
			code = packet.PacketIdentifierNotFound
		}
		if keep {
			// Once the client has PUBCOMP it may use the id for a new
			// message, which a restarted broker must not take for this one.
			pubcomp := packet.Ack{Kind: packet.PUBCOMP, PacketID: a.PacketID}
			c.commitInOrder([]store.Op{{Kind: kindInbound, Key: st.inboundKey(a.PacketID), Delete: true}}, pubcomp.Encode(nil, c.version), nil)
			c.srv.stats.packetsSent.Add(1)
			return nil
		}
		c.sendAck(packet.PUBCOMP, a.PacketID, code)
		return nil
	case packet.PUBREC:
		st.mu.Lock()
		var d session.Delivery
		var ok bool
		switch {
		case a.ReasonCode.IsError():
			d, ok = st.outbox.Complete(a.PacketID) // the receiver refused it: done
		default:
			if d, ok = st.outbox.InFlight(a.PacketID); ok && d.QoS == 2 && d.Stored {
				d.Released = true // in memory once on disk: see below
			} else {
				d, ok = st.outbox.Release(a.PacketID)
			}
		}
		st.progressedLocked()
		more := st.outbox.Pending()
		st.mu.Unlock()
		switch {
		case a.ReasonCode.IsError():
			if ok && d.Stored {
				st.deleteQueued(d.Seq)
			}
			if more {
				c.flushLater(c)
			}
		case ok && d.Stored:
			// Once the client has PUBREL it forgets the id, so a restarted
			// broker must send PUBREL again, not the message: the record
			// says released before any PUBREL goes out, this one or one
			// sent again on a reconnection, which is why the outbox hears
			// of the release only once it is on disk.
			id := a.PacketID // a is the reader's, reused for the next packet
			pubrel := packet.Ack{Kind: packet.PUBREL, PacketID: id}
			op := store.Op{Kind: kindQueued, Key: st.queuedKey(d.Seq), Value: appendQueuedRecord(nil, &d)}
			c.commitInOrder([]store.Op{op}, pubrel.Encode(nil, c.version), func() {
				st.mu.Lock()
				st.outbox.Release(id)
				st.mu.Unlock()
			})
			c.srv.stats.packetsSent.Add(1)
		case ok:
			c.sendAck(packet.PUBREL, a.PacketID, packet.Success) // [MQTT-4.3.3-4]
		default:
			c.sendAck(packet.PUBREL, a.PacketID, packet.PacketIdentifierNotFound)
		}
		return nil
	default: // PUBACK, PUBCOMP
		st.mu.Lock()
		d, ok := st.outbox.Complete(a.PacketID)
		st.progressedLocked()
		more := st.outbox.Pending() // a slot freed for a message waiting on the window
		st.mu.Unlock()
		if ok && d.Stored {
			st.deleteQueued(d.Seq)
		}
		if more {
			c.flushLater(c)
		}
		return nil
	}
}

func isSysTopic(name []byte) bool {
	return len(name) >= 4 && string(name[:4]) == "$SYS" && (len(name) == 4 || name[4] == '/')
}

func isSysFilter(filter string) bool {
	return filter == "$SYS" || strings.HasPrefix(filter, "$SYS/")
}
