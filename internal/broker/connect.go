package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
	"github.com/gridmq/gridmq/internal/topic"
)

// connectFailed answers a CONNECT that could not be decoded. An unknown
// protocol level gets CONNACK 0x01 in the 3.1.1 form every level can read
// [MQTT-3.1.2-2]; other malformed CONNECTs close the connection, after a v5
// CONNACK with the reason when the level is known to be 5.
func (c *conn) connectFailed(pk packet.Packet, err error) error {
	var pe *packet.Error
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Code == packet.UnsupportedProtocolVersion {
		// A wrong protocol name is not MQTT at all: close without a word
		// [MQTT-3.1.2-1]. A known name at an unknown level gets 0x01.
		if cp, ok := pk.(*packet.Connect); ok && (cp.ProtocolName == "MQTT" || cp.ProtocolName == "MQIsdp") {
			c.writeConnack(packet.V311, &packet.Connack{ReasonCode: pe.Code})
		}
		return err
	}
	if cp, ok := pk.(*packet.Connect); ok && cp.ProtocolVersion == packet.V5 {
		c.writeConnack(packet.V5, &packet.Connack{ReasonCode: pe.Code})
	}
	return err
}

// refuse answers CONNECT with a failure code and ends the connection
// [MQTT-3.2.2-6] [MQTT-3.2.2-7].
func (c *conn) refuse(code packet.ReasonCode, why string) error {
	ack := &packet.Connack{ReasonCode: code}
	if c.version == packet.V5 {
		c.outMu.Lock()
		c.ctl = appendWithReason(c.ctl, ack, &ack.Properties, why, c.maxPacketOut)
		c.outMu.Unlock()
		c.srv.stats.packetsSent.Add(1)
	} else {
		c.writeConnack(c.version, ack)
	}
	return packet.Errorf(code, "%s", why)
}

// writeConnack queues a refusing CONNACK; closeWith flushes it.
func (c *conn) writeConnack(version byte, ack *packet.Connack) {
	c.outMu.Lock()
	c.ctl = ack.Encode(c.ctl, version)
	c.outMu.Unlock()
	c.srv.stats.packetsSent.Add(1)
}

func (c *conn) handleConnect(cp *packet.Connect) error {
	s := c.srv
	v5 := cp.ProtocolVersion == packet.V5
	c.outMu.Lock()
	c.version = cp.ProtocolVersion
	c.outMu.Unlock()
	if v5 && cp.Properties.Has(packet.PropMaximumPacketSize) {
		c.maxPacketOut = cp.Properties.MaximumPacketSize // bounds even a refusal
	}

	if v5 && cp.Properties.Has(packet.PropAuthData) && !cp.Properties.Has(packet.PropAuthMethod) {
		return c.refuse(packet.ProtocolError, "authentication data without an authentication method")
	}
	if v5 && cp.Properties.Has(packet.PropAuthMethod) {
		return c.refuse(packet.BadAuthenticationMethod, "authentication method "+cp.Properties.AuthMethod+" is not supported")
	}
	if err := c.admit(cp); err != nil {
		return err
	}

	id, assigned := cp.ClientID, false
	if id == "" {
		switch {
		case cp.ProtocolVersion == packet.V31:
			return c.refuse(packet.ClientIdentifierNotValid, "MQTT 3.1 requires a client identifier")
		case cp.ProtocolVersion == packet.V311 && !cp.CleanStart:
			return c.refuse(packet.ClientIdentifierNotValid, "empty client identifier with clean session 0 [MQTT-3.1.3-8]")
		case !s.opts.AllowZeroLengthClientID:
			return c.refuse(packet.ClientIdentifierNotValid, "empty client identifiers are not allowed")
		}
		id, assigned = newClientID(), true // [MQTT-3.1.3-6]
	}
	c.clientID = id
	if a := s.opts.Authorizer; a != nil && cp.Will != nil && !a.CanPublish(id, c.username, c.anonymous, cp.Will.Topic) {
		return c.refuse(packet.NotAuthorized, "not allowed to publish the will on "+cp.Will.Topic)
	}

	ack := packet.Connack{ReasonCode: packet.Success}
	keepAlive := cp.KeepAlive
	if max := s.opts.MaxKeepAlive; max < 65535 && (keepAlive > max || keepAlive == 0) {
		if !v5 && keepAlive > max {
			return c.refuse(packet.ClientIdentifierNotValid, "keep alive above max_keepalive")
		}
		if v5 {
			keepAlive = max // [MQTT-3.2.2-21]
			ack.Properties.ServerKeepAlive = max
			ack.Properties.Set(packet.PropServerKeepAlive)
		}
	}
	c.keepAlive = time.Duration(keepAlive) * 1500 * time.Millisecond

	receiveMax := 65535
	expiry := time.Duration(0)
	if v5 {
		p := &cp.Properties
		if p.Has(packet.PropReceiveMaximum) {
			receiveMax = int(p.ReceiveMaximum)
		}
		c.aliasMaxOut = p.TopicAliasMaximum
		c.outAliases.Reset(c.aliasMaxOut) // before any writer runs for this connection
		if p.Has(packet.PropSessionExpiry) {
			expiry = expiryInterval(p.SessionExpiry)
		}
	} else if !cp.CleanStart {
		expiry = neverExpires
		if s.opts.PersistentClientExpiration > 0 {
			expiry = s.opts.PersistentClientExpiration
		}
	}

	var w *will
	if cp.Will != nil {
		var err error
		if w, err = c.newWill(cp.Will); err != nil {
			return err
		}
	}

	if v5 {
		p := &ack.Properties
		if assigned {
			p.AssignedClientID = id // [MQTT-3.2.2-16]
			p.Set(packet.PropAssignedClientID)
		}
		if m := s.opts.MaxInflightMessages; m > 0 && m < 65535 {
			p.ReceiveMaximum = uint16(m)
			p.Set(packet.PropReceiveMaximum)
		}
		if s.opts.MaxQoS < 2 {
			p.MaximumQoS = s.opts.MaxQoS
			p.Set(packet.PropMaximumQoS)
		}
		if !s.opts.RetainAvailable {
			p.RetainAvailable = 0
			p.Set(packet.PropRetainAvailable)
		}
		if s.opts.MaxPacketSize > 0 {
			p.MaximumPacketSize = s.opts.MaxPacketSize
			p.Set(packet.PropMaximumPacketSize)
		}
		if s.opts.MaxTopicAlias > 0 {
			p.TopicAliasMaximum = s.opts.MaxTopicAlias
			p.Set(packet.PropTopicAliasMaximum)
		}
		if cp.Properties.Has(packet.PropRequestResponseInfo) && cp.Properties.RequestResponseInfo == 1 {
			// The basis of response topics this client may use (5.0 section 4.10).
			p.ResponseInfo = "response/" + id
			p.Set(packet.PropResponseInfo)
		}
		p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable = 1, 1, 1
		p.Set(packet.PropWildcardSubAvailable)
		p.Set(packet.PropSubIDAvailable)
		p.Set(packet.PropSharedSubAvailable)
	}

	window := receiveMax
	if m := s.opts.MaxInflightMessages; m > 0 && m < window {
		window = m
	}
	limits := session.Limits{
		Flow:           flowLimit(s.opts.MaxQueuedMessages),
		MaxQueued:      s.opts.MaxQueuedMessages,
		MaxQueuedBytes: s.opts.MaxQueuedBytes,
		QueueQoS0:      s.opts.QueueQoS0Messages,
	}
	return s.attach(c, attachRequest{
		id: id, cleanStart: cp.CleanStart, expiry: expiry, will: w,
		window: window, limits: limits, ack: &ack,
	})
}

// flowLimit is how many messages of each kind wait for a connected client
// before its publishers are slowed down: enough to absorb bursts, bounded so
// that a slow reader costs bounded memory even when max_queued_messages is 0
// (which means: never drop).
func flowLimit(maxQueued int) int {
	const flow = 1000
	if maxQueued > 0 && maxQueued < flow {
		return maxQueued
	}
	return flow
}

// newWill validates the will in CONNECT and keeps a copy of it.
func (c *conn) newWill(in *packet.Will) (*will, error) {
	s := c.srv
	if err := topic.ValidateName([]byte(in.Topic)); err != nil {
		return nil, c.refuse(packet.TopicNameInvalid, "will topic: "+err.Error())
	}
	if in.QoS > s.opts.MaxQoS {
		return nil, c.refuse(packet.QoSNotSupported, "will QoS above the maximum QoS [MQTT-3.2.2-12]")
	}
	if in.Retain && !s.opts.RetainAvailable {
		return nil, c.refuse(packet.RetainNotSupported, "will retain is not available [MQTT-3.2.2-13]")
	}
	// A will is published as if the client had sent it: the same rules.
	if isSysTopic([]byte(in.Topic)) {
		return nil, c.refuse(packet.NotAuthorized, "will topic in $SYS, which is the broker's")
	}
	if s.opts.MessageSizeLimit > 0 && uint32(len(in.Payload)) > s.opts.MessageSizeLimit {
		return nil, c.refuse(packet.PacketTooLarge, "will payload above message_size_limit")
	}
	if in.Properties.Has(packet.PropPayloadFormat) && in.Properties.PayloadFormat == 1 && !utf8.Valid(in.Payload) {
		return nil, c.refuse(packet.PayloadFormatInvalid, "will payload is not UTF-8 as its format says")
	}
	w := &will{msg: &session.Message{
		Topic:   in.Topic,
		Payload: append([]byte(nil), in.Payload...),
		QoS:     in.QoS,
		Retain:  in.Retain,
		Props:   session.ForwardedProperties(&in.Properties),
	}}
	if in.Properties.Has(packet.PropWillDelay) {
		w.delay = time.Duration(in.Properties.WillDelay) * time.Second
	}
	if in.Properties.Has(packet.PropMessageExpiry) {
		w.expiry = time.Duration(in.Properties.MessageExpiry) * time.Second
	}
	return w, nil
}

type attachRequest struct {
	id         string
	cleanStart bool
	expiry     time.Duration
	will       *will
	window     int
	limits     session.Limits
	ack        *packet.Connack
}

// attach binds c to the session for its client id: it takes over a session
// still attached to another connection [MQTT-3.1.4-2] (v5: DISCONNECT 0x8E
// [MQTT-3.1.4-3]), discards it on Clean Start [MQTT-3.1.2-4], or resumes it
// with Session Present [MQTT-3.2.2-2]. CONNACK is queued before the session
// is attached, so it precedes every message resent or delivered.
func (s *Server) attach(c *conn, r attachRequest) error {
	deadline := time.Now().Add(takeoverTimeout)
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return errShutdown
		}
		st := s.sessions[r.id]
		var old *conn
		ending := false
		if st != nil {
			st.mu.Lock()
			old = st.conn
			// Detached with expiry 0: it is about to end, not to be resumed.
			ending = st.ended || (old == nil && st.expiry == 0)
			st.mu.Unlock()
		}
		if old != nil {
			s.mu.Unlock()
			old.closeWith(errTakenOver)
			select {
			case <-old.done:
			case <-time.After(time.Until(deadline)):
				return c.refuse(packet.ServerBusy, "previous connection of this client did not close")
			}
			continue
		}

		var stale *sessionState
		var ops []store.Op // the data dir's changes, submitted under s.mu
		if st != nil && (r.cleanStart || ending) {
			stale, st = st, nil
			stale.mu.Lock()
			ops = stale.forgetOpsLocked(ops)
			stale.mu.Unlock()
		}
		present := st != nil
		if st == nil {
			st = newSessionState(s, r.id)
			s.sessions[r.id] = st
		}
		r.ack.SessionPresent = present

		c.outMu.Lock()
		c.ctl = r.ack.Encode(c.ctl, c.version)
		c.connacked = true
		c.sess = st
		c.outMu.Unlock()

		st.mu.Lock()
		st.stopTimersLocked()
		st.pendingWill = nil // a new connection cancels a delayed will [MQTT-3.1.3-9]
		st.conn = c
		st.version = c.version
		st.left = time.Time{}
		st.ident.Store(&identity{clientID: r.id, username: c.username, anonymous: c.anonymous})
		st.expiry = r.expiry
		st.will = r.will
		st.limits = r.limits
		st.stalled = false
		st.outbox.SetWindow(r.window)
		if present {
			st.outbox.Resume() // resend unacknowledged messages with DUP [MQTT-4.4.0-1]
		}
		if s.opts.Durable != nil {
			if r.expiry != 0 {
				st.persisted = true
				ops = append(ops, st.sessionOpLocked())
			} else {
				ops = st.forgetOpsLocked(ops) // resumed with expiry 0: it ends with this connection
			}
			if len(ops) > 0 {
				s.opts.Durable.Commit(ops, nil)
			}
		}
		st.mu.Unlock()
		s.mu.Unlock()

		s.stats.packetsSent.Add(1)
		s.stats.connected()
		s.stats.connectsTotal.Add(1)
		if stale != nil {
			s.endSession(stale, false)
		}
		c.flushLater(c) // CONNACK, and a resumed session's messages
		return nil
	}
}

// newClientID makes an identifier for a client that sent none.
func newClientID() string {
	var b [12]byte
	rand.Read(b[:])
	return "auto-" + hex.EncodeToString(b[:])
}
