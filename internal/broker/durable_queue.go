package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// A persistent session's QoS 1 and 2 messages are kept in the data dir
// from the moment they are queued for it until its client has acknowledged
// them, one record each, so that nothing its publisher was acknowledged for
// is lost to a crash. The record is keyed by the delivery's place in the
// session's queue, which also gives its packet identifier
// (session.PacketIDFor): a restarted broker resends it under the same one.
// QoS 2 packet identifiers received from the client and not yet released
// are kept too, so that a PUBLISH sent again after a restart is still
// recognised as a duplicate [MQTT-4.3.3-10].
//
// Both are keyed by the session's incarnation, a random number its session
// record holds, not by its client id: a session that ended and a later one
// of the same client never share a key, so a put that lands after the
// delete of the session it belonged to is an orphan, removed at start, and
// never mistaken for the new session's.
const (
	kindQueued  byte = 'Q' // key: incarnation (8 bytes), seq (8 bytes); value: queuedRecord
	kindInbound byte = 'I' // key: incarnation (8 bytes), packet id (2 bytes); value: none
)

const queuedRecordVersion = 1

// queuedRecord flags.
const (
	queuedQoSMask  = 0x03
	queuedRetain   = 0x04
	queuedReleased = 0x08 // PUBREC received, PUBREL owed: the message itself is no longer kept
)

// newIncarnation names a session in the data dir; never 0.
func newIncarnation() uint64 {
	for {
		if n := rand.Uint64(); n != 0 {
			return n
		}
	}
}

// queuedKey is the key of the delivery at seq in st's queue; big-endian, so
// a session's records sort in queue order.
func (st *sessionState) queuedKey(seq uint64) []byte {
	k := make([]byte, 0, 16)
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(k, st.incarnation), seq)
}

// inboundKey is the key of an inbound QoS 2 packet identifier of st.
func (st *sessionState) inboundKey(id uint16) []byte {
	k := make([]byte, 0, 10)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(k, st.incarnation), id)
}

// splitIncarnationKey splits a key made by queuedKey (n 8) or inboundKey
// (n 2).
func splitIncarnationKey(k []byte, n int) (incarnation uint64, rest []byte, err error) {
	if len(k) != 8+n {
		return 0, nil, fmt.Errorf("key %x is not an incarnation and %d bytes", k, n)
	}
	return binary.BigEndian.Uint64(k), k[8:], nil
}

// appendQueuedRecord appends the stored form of d: version, flags, its
// subscription identifiers, and unless it is released, its message.
func appendQueuedRecord(dst []byte, d *session.Delivery) []byte {
	flags := d.QoS & queuedQoSMask
	if d.Retain {
		flags |= queuedRetain
	}
	if d.Released {
		flags |= queuedReleased
	}
	dst = append(dst, queuedRecordVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(len(d.SubIDs)))
	for _, id := range d.SubIDs {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	if d.Released {
		return dst
	}
	return session.AppendRecord(dst, d.Msg)
}

var errBadQueuedRecord = errors.New("queued message record does not decode")

// decodeQueuedRecord is appendQueuedRecord's inverse; seq comes from the key.
func decodeQueuedRecord(b []byte, seq uint64) (session.Delivery, error) {
	d := session.Delivery{Seq: seq}
	if len(b) < 3 || b[0] != queuedRecordVersion || b[1]&queuedQoSMask == 0 || b[1]&queuedQoSMask > 2 {
		return d, errBadQueuedRecord
	}
	d.QoS = b[1] & queuedQoSMask
	d.Retain = b[1]&queuedRetain != 0
	d.Released = b[1]&queuedReleased != 0
	b = b[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return d, errBadQueuedRecord
	}
	b = b[k:]
	if n > 0 {
		d.SubIDs = make([]uint32, n)
		for i := range d.SubIDs {
			id, k := binary.Uvarint(b)
			if k <= 0 || id == 0 || id > packet.MaxRemainingLength { // 1..268,435,455 (MQTT 5.0 section 3.8.2.1.2)
				return d, errBadQueuedRecord
			}
			d.SubIDs[i] = uint32(id)
			b = b[k:]
		}
	}
	if d.Released {
		if len(b) != 0 || d.QoS != 2 {
			return d, errBadQueuedRecord
		}
		return d, nil
	}
	m, err := session.DecodeRecord(b)
	if err != nil {
		return d, err
	}
	d.Msg = m
	return d, nil
}

// storeQueuedLocked keeps in the data dir the delivery Push has just
// queued for st (d.Stored set); from, when not nil, is the connection whose
// PUBLISH it comes from, and its acknowledgement waits for the disk.
//
// A QoS 1 delivery is sent at once, so its put is handed over before the
// lock is released, before the client can acknowledge it: the delete that
// acknowledgement causes comes after it. A QoS 2 delivery is not sent
// before it is on disk (session.Outbox), so its put can wait for the end
// of the PUBLISH and go in one commit with the publisher's packet id
// (conn.commitPublish): after a crash either both are there, or neither
// and the publisher sends the message again. Caller holds st.mu.
func (st *sessionState) storeQueuedLocked(d *session.Delivery, from *conn) {
	seq := st.outbox.LastSeq()
	op := store.Op{Kind: kindQueued, Key: st.queuedKey(seq), Value: appendQueuedRecord(nil, d)}
	if d.QoS == 2 && from != nil && from.pub.kind != 0 {
		from.pub.ops = append(from.pub.ops, op)
		from.pub.copies = append(from.pub.copies, storedCopy{st, seq})
		return
	}
	if d.QoS == 1 {
		st.srv.opts.Durable.Commit([]store.Op{op}, from.ackAfterCommit())
		return
	}
	st.srv.opts.Durable.Commit([]store.Op{op}, onCopiesStored([]storedCopy{{st, seq}}, from.ackAfterCommit()))
}

// storedCopy names a QoS 2 delivery waiting for the disk.
type storedCopy struct {
	st  *sessionState
	seq uint64
}

// onCopiesStored is the callback of a commit holding copies: it lets the
// QoS 2 ones be sent, or takes back those that could not be stored, since
// their publisher is not acknowledged and sends the message again. Then it
// calls done, when not nil.
func onCopiesStored(copies []storedCopy, done func(error)) func(error) {
	return func(err error) {
		for _, c := range copies {
			st := c.st
			st.mu.Lock()
			if err != nil {
				st.outbox.Cancel(c.seq)
			}
			st.outbox.Durable(c.seq)
			conn := st.conn
			ready := conn != nil && st.outbox.Pending()
			// A session that ended (or stopped keeping its state) while the
			// copy waited had its records deleted before this put landed.
			orphan := err == nil && (st.ended || !st.persisted)
			st.mu.Unlock()
			if ready {
				conn.kick()
			}
			if orphan {
				st.deleteQueued(c.seq)
			}
		}
		if done != nil {
			done(err)
		}
	}
}

// deleteQueued removes the records of st's deliveries at seqs, once they
// have been acknowledged or discarded. Nothing waits for the delete: if a
// power loss undid it, a QoS 1 message would be delivered again, which QoS
// 1 allows, and a QoS 2 client would be sent its PUBREL again (the record
// was marked released before the first PUBREL went out), never the message.
func (st *sessionState) deleteQueued(seqs ...uint64) {
	if len(seqs) == 0 {
		return
	}
	ops := make([]store.Op, len(seqs))
	for i, seq := range seqs {
		ops[i] = store.Op{Kind: kindQueued, Key: st.queuedKey(seq), Delete: true}
	}
	st.srv.opts.Durable.CommitLazy(ops)
}
