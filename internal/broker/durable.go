package broker

import (
	"errors"
	"sync/atomic"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// Durable keeps what the broker must not lose across a crash; internal/store
// implements it on the data dir. Commit calls done once the ops are on disk
// (as its durability setting defines it), in the order of the calls; it
// never waits for the disk, so it may be called under the broker's locks,
// and done, which runs on another goroutine (at once only after the store
// is closed), may take them. AwaitRoom is the back-pressure: a reader calls it,
// holding no lock, before it makes more commits, and it waits while too many
// are waiting for the disk.
type Durable interface {
	Commit(ops []store.Op, done func(error))
	// CommitLazy commits ops that need no fsync of their own: deletes of
	// delivered messages, which a power loss can only bring back as a
	// duplicate delivery, never lose.
	CommitLazy(ops []store.Op)
	AwaitRoom()
	Scan(fn func(kind byte, key, value []byte) error) error
	Count(kind byte) int // live records of a kind, for Recover to make room
}

// Record kinds in the data dir.
const (
	kindRetained byte = 'R' // key: topic; value: session.AppendRecord
)

// keepRetained applies a retained message (or its deletion, for an empty
// payload) to the retained store and, with a data dir, to disk, where the
// acknowledgement of the PUBLISH from is handling waits for it. $SYS topics
// are the broker's own and are made again at start, so they are not kept on
// disk. The lock makes memory and disk see the changes of one topic in the
// same order when publishers race.
func (s *Server) keepRetained(msg *session.Message, from *conn) {
	d := s.opts.Durable
	if d == nil || isSysTopic(unsafeBytes(msg.Topic)) {
		s.setRetained(msg)
		return
	}
	op := store.Op{Kind: kindRetained, Key: []byte(msg.Topic)}
	if len(msg.Payload) == 0 {
		op.Delete = true
	} else {
		op.Value = session.AppendRecord(nil, msg)
	}
	kept := from.ackAfterCommit()
	s.retainMu.Lock()
	prev, hadPrev := s.retained.Get(msg.Topic)
	s.setRetained(msg)
	// The callback runs on the committer (Commit calls back at once only
	// after Close, when no client publishes), so it may take retainMu.
	d.Commit([]store.Op{op}, func(err error) {
		if err != nil {
			s.unsetRetained(msg, prev, hadPrev)
		}
		if kept != nil {
			kept(err)
		}
	})
	s.retainMu.Unlock()
}

// unsetRetained takes back a retained change that could not be stored,
// unless a later one has replaced it: its publisher is refused, and the
// broker must not serve what a restart would not bring back.
func (s *Server) unsetRetained(msg, prev *session.Message, hadPrev bool) {
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	cur, ok := s.retained.Get(msg.Topic)
	if ok != (len(msg.Payload) > 0) || (ok && cur != msg) {
		return // changed again since
	}
	if hadPrev {
		s.retained.Set(msg.Topic, prev)
	} else {
		s.retained.Delete(msg.Topic)
	}
}

func (s *Server) setRetained(msg *session.Message) {
	if len(msg.Payload) == 0 {
		s.retained.Delete(msg.Topic) // [MQTT-3.3.1-6] [MQTT-3.3.1-7]
	} else {
		s.retained.Set(msg.Topic, msg) // [MQTT-3.3.1-5]
	}
}

// errNotKept closes a client whose change could not be made durable and
// that cannot be told otherwise (a 3.1 or 3.1.1 publisher, a subscriber).
var errNotKept = &packet.Error{Code: packet.UnspecifiedError, Reason: "the change could not be stored"}

// pendingAck is the acknowledgement owed for the PUBLISH a reader is
// handling; the kind is 0 when none is owed or no data dir is kept.
type pendingAck struct {
	kind packet.Type // PUBACK or PUBREC
	id   uint16
	held *heldAck // made by the first commit the message causes
	// The message's QoS 2 copies for persistent sessions, committed
	// together at the end of the PUBLISH (commitPublish).
	ops    []store.Op
	copies []storedCopy
}

// commitPublish commits, as one, the QoS 2 copies the PUBLISH being handled
// left for the end and keepID, the publisher's QoS 2 packet id when its
// session is persistent, and lets the acknowledgement go once every commit
// of the message is durable. It reports false when no commit was made, and
// the reader acknowledges at once. Reader goroutine of c only.
func (c *conn) commitPublish(keepID []store.Op, quotaExceeded bool) bool {
	ops := append(c.pub.ops, keepID...)
	if len(ops) > 0 {
		c.srv.opts.Durable.Commit(ops, onCopiesStored(c.pub.copies, c.ackAfterCommit()))
	}
	held := c.pub.held
	clear(c.pub.ops)
	c.pub = pendingAck{ops: c.pub.ops[:0]} // copies belong to the callback now
	if held == nil {
		return false
	}
	held.routed(quotaExceeded)
	return true
}

// ackAfterCommit returns the callback of a commit that the acknowledgement
// of the PUBLISH c is handling must wait for, or nil when none is owed (QoS
// 0, the broker's own messages, c nil). Reader goroutine of c only.
func (c *conn) ackAfterCommit() func(error) {
	if c == nil || c.pub.kind == 0 {
		return nil
	}
	if c.pub.held == nil {
		c.pub.held = c.holdAck(c.pub.kind, c.pub.id)
	}
	c.pub.held.left.Add(1)
	return c.pub.held.kept
}

// heldAck is a QoS 1 or 2 acknowledgement that waits for what the broker
// keeps of the message to be on disk (each commit calls kept) and for its
// routing (routed, from the reader), so that it can say whether a
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
	err   error // the first failure; set by kept, which runs on the committer alone
	// idForgotten: a failed QoS 2 PUBLISH's packet id has been taken out of
	// the session's inbound state (forgetInboundID).
	idForgotten bool
}

func (c *conn) holdAck(kind packet.Type, id uint16) *heldAck {
	c.ackWaits.Add(1)
	a := &heldAck{c: c, kind: kind, id: id}
	a.left.Store(1) // routed
	return a
}

func (a *heldAck) kept(err error) {
	if err != nil && a.err == nil {
		a.err = err
	}
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
	if a.err != nil && a.kind == packet.PUBREC && !a.idForgotten && a.forgetInboundID() {
		return // send runs again once the id is gone from the disk
	}
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

// forgetInboundID ends a QoS 2 exchange that failed: the message was not
// kept, and its publisher, refused or disconnected unacknowledged, may send
// it again under this id, or another message under it, neither of which
// may be taken for a duplicate [MQTT-4.3.3-10]. The id leaves the session
// in memory and, for a persistent session, on disk before the client hears:
// it reports true when send must wait for that delete.
func (a *heldAck) forgetInboundID() bool {
	a.idForgotten = true
	st := a.c.sess
	if !st.forgetInbound(a.id) {
		return false
	}
	a.c.srv.opts.Durable.Commit([]store.Op{{Kind: kindInbound, Key: st.inboundKey(a.id), Delete: true}}, func(error) { a.send() })
	return true
}

// commitAndWait hands ops to the data dir and waits until they are durable,
// and with them every commit c made before: the acknowledgements those
// hold are queued by then. It returns errNotKept, which closes the
// connection, if the change could not be stored. Reader goroutine only.
func (c *conn) commitAndWait(ops []store.Op) error {
	done := make(chan error, 1)
	c.srv.opts.Durable.Commit(ops, func(err error) { done <- err })
	if err := <-done; err != nil {
		c.srv.log.Error("could not store a change; closing the connection", "client", c.clientID, "err", err.Error())
		return errNotKept
	}
	return nil
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
