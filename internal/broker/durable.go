package broker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// Durable keeps what the broker must not lose across a crash; internal/store
// implements it on the data dir. Commit calls done once the ops are on disk
// (as its durability setting defines it), in the order of the calls.
type Durable interface {
	Commit(ops []store.Op, done func(error))
	Scan(fn func(kind byte, key, value []byte) error) error
}

// Record kinds in the data dir.
const (
	kindRetained byte = 'R' // key: topic; value: session.AppendRecord
)

// keepRetained applies a retained message (or its deletion, for an empty
// payload) to the retained store and, with a data dir, to disk; done, when
// not nil, is called once the change is durable. $SYS topics are the
// broker's own and are made again at start, so they are not kept on disk.
// The lock makes memory and disk see the changes of one topic in the same
// order when publishers race.
func (s *Server) keepRetained(msg *session.Message, done func(error)) {
	d := s.opts.Durable
	if d == nil || isSysTopic(unsafeBytes(msg.Topic)) {
		s.setRetained(msg)
		if done != nil {
			done(nil)
		}
		return
	}
	op := store.Op{Kind: kindRetained, Key: []byte(msg.Topic)}
	if len(msg.Payload) == 0 {
		op.Delete = true
	} else {
		op.Value = session.AppendRecord(nil, msg)
	}
	s.retainMu.Lock()
	s.setRetained(msg)
	d.Commit([]store.Op{op}, done)
	s.retainMu.Unlock()
}

func (s *Server) setRetained(msg *session.Message) {
	if len(msg.Payload) == 0 {
		s.retained.Delete(msg.Topic) // [MQTT-3.3.1-6] [MQTT-3.3.1-7]
	} else {
		s.retained.Set(msg.Topic, msg) // [MQTT-3.3.1-5]
	}
}

// Recovered says what Recover brought back.
type Recovered struct {
	Retained        int // retained messages
	Expired         int // retained messages that expired while the broker was down, now removed
	Sessions        int // persistent sessions, resumed with their subscriptions
	Subscriptions   int
	SessionsExpired int // sessions that expired while the broker was down, now removed
}

// Recover loads what the data dir holds; call it once, before Serve. A
// record that does not decode is an error naming it: the data dir is not
// what this broker wrote, and starting without it would lose it silently.
func (s *Server) Recover() (Recovered, error) {
	var r Recovered
	d := s.opts.Durable
	if d == nil {
		return r, nil
	}
	now := time.Now()
	var expired []store.Op
	sessions := map[string]sessionRecord{}
	subs := map[string]map[string]subOptions{}
	err := d.Scan(func(kind byte, key, value []byte) error {
		switch kind {
		case kindSession:
			rec, err := decodeSessionRecord(value)
			if err != nil {
				return fmt.Errorf("session %q: %w", key, err)
			}
			sessions[string(key)] = rec
		case kindSubscription:
			id, filter, err := splitSubscriptionKey(key)
			if err == nil {
				var o subOptions
				if o, err = decodeSubOptions(value); err == nil {
					if subs[id] == nil {
						subs[id] = map[string]subOptions{}
					}
					subs[id][filter] = o
				}
			}
			if err != nil {
				return fmt.Errorf("subscription %q: %w", key, err)
			}
		case kindRetained:
			m, err := session.DecodeRecord(value)
			if err != nil {
				return fmt.Errorf("retained message on %q: %w", key, err)
			}
			if m.Expired(now) {
				expired = append(expired, store.Op{Kind: kindRetained, Key: append([]byte(nil), key...), Delete: true})
				r.Expired++
				return nil
			}
			s.retained.Set(m.Topic, m)
			r.Retained++
		default:
			return fmt.Errorf("unknown record kind %q", kind)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	s.mu.Lock()
	expired = append(expired, s.recoverSessions(sessions, subs, &r)...)
	s.mu.Unlock()
	if len(expired) > 0 {
		d.Commit(expired, nil)
	}
	return r, nil
}

// errNotKept closes a client whose change could not be made durable and
// that cannot be told otherwise (a 3.1 or 3.1.1 publisher, a subscriber).
var errNotKept = &packet.Error{Code: packet.UnspecifiedError, Reason: "the change could not be stored"}

// heldAck is a QoS 1 or 2 acknowledgement that waits for two things: the
// message's retained change on disk (kept, from the commit's callback) and
// its routing (routed, from the reader), so that it can say whether a
// subscriber's queue refused the message. Whichever comes last sends it.
// Until then c's later control packets wait behind it (see commitInOrder), so
// acknowledgements keep the order of the PUBLISHes [MQTT-4.6.0-2]
// [MQTT-4.6.0-3].
type heldAck struct {
	c     *conn
	kind  packet.Type
	id    uint16
	left  atomic.Int32
	quota bool  // set by routed
	err   error // set by kept
}

func (c *conn) holdAck(kind packet.Type, id uint16) *heldAck {
	c.ackWaits.Add(1)
	a := &heldAck{c: c, kind: kind, id: id}
	a.left.Store(2)
	return a
}

func (a *heldAck) kept(err error) {
	a.err = err
	if a.left.Add(-1) == 0 {
		a.send()
	}
}

func (a *heldAck) routed(quotaExceeded bool) {
	a.quota = quotaExceeded
	if a.left.Add(-1) == 0 {
		a.send()
	}
}

func (a *heldAck) send() {
	c := a.c
	defer c.ackWaits.Add(-1)
	code := packet.Success
	if a.quota && c.version == packet.V5 {
		code = packet.QuotaExceeded
	}
	if a.err != nil {
		c.srv.log.Error("a message could not be stored; its publisher is not acknowledged", "client", c.clientID, "err", a.err.Error())
		if c.version != packet.V5 {
			c.closeWith(errNotKept)
			return
		}
		code = packet.UnspecifiedError
		if errors.Is(a.err, store.ErrFull) {
			code = packet.QuotaExceeded
		}
	}
	ack := packet.Ack{Kind: a.kind, PacketID: a.id, ReasonCode: code}
	c.outMu.Lock()
	if !c.closing {
		c.ctl = ack.Encode(c.ctl, c.version)
	}
	c.outMu.Unlock()
	c.srv.stats.packetsSent.Add(1)
	c.kick()
}

// commitInOrder hands ops (none for a packet that only keeps its turn) to
// the data dir and sends an encoded control packet once they are durable,
// after every packet still waiting there: the commit queue's callbacks run
// in order. then, when not nil, runs after the packet is queued. If the
// change cannot be stored the connection is closed: an acknowledgement for
// state that would not survive a restart would be a broken promise, and the
// client finds out by reconnecting. Reader goroutine only.
func (c *conn) commitInOrder(ops []store.Op, pkt []byte, then func()) {
	pkt = append([]byte(nil), pkt...)
	c.ackWaits.Add(1)
	c.srv.opts.Durable.Commit(ops, func(err error) {
		defer c.ackWaits.Add(-1)
		if err != nil {
			c.srv.log.Error("could not store a change; closing the connection", "client", c.clientID, "err", err.Error())
			c.closeWith(errNotKept)
			return
		}
		c.outMu.Lock()
		if !c.closing {
			c.ctl = append(c.ctl, pkt...)
		}
		c.outMu.Unlock()
		c.kick()
		if then != nil {
			then()
		}
	})
}
