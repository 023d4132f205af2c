package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/store"
)

// A persistent session (one that outlives its connection: Clean Start false
// in 3.1.1, Session Expiry above 0 in 5.0) is kept in the data dir as one
// session record and one record per subscription, so that a restarted broker
// resumes it with Session Present and its subscriptions, and counts its
// expiry from when its client went away.
const (
	kindSession      byte = 'S' // key: client id; value: sessionRecord
	kindSubscription byte = 'U' // key: client id, 0, filter; value: subOptions
)

// Session record versions: 1 has no will; 2 adds the will (durable_will.go).
const (
	sessionRecordV1 = 1
	sessionRecordV2 = 2
)

// sessionRecord is what a session record holds.
type sessionRecord struct {
	version      byte          // the client's protocol level
	expiry       time.Duration // neverExpires, or how long it outlives its connection
	disconnected time.Time     // zero while a connection is attached
	anonymous    bool
	username     string
	incarnation  uint64 // names its queue's records (durable_queue.go); 0 in version 1
	// will is the attached connection's will, or while disconnected the
	// will waiting out its delay; nil when there is none.
	will *will
}

func (r *sessionRecord) append(dst []byte) []byte {
	dst = append(dst, sessionRecordV2, r.version)
	secs := uint32(0xFFFFFFFF)
	if r.expiry != neverExpires {
		secs = uint32(r.expiry / time.Second)
	}
	dst = binary.BigEndian.AppendUint32(dst, secs)
	var at int64
	if !r.disconnected.IsZero() {
		at = r.disconnected.UnixNano()
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(at))
	anon := byte(0)
	if r.anonymous {
		anon = 1
	}
	dst = append(dst, anon)
	dst = binary.BigEndian.AppendUint64(dst, r.incarnation)
	dst = binary.AppendUvarint(dst, uint64(len(r.username)))
	dst = append(dst, r.username...)
	return appendWill(dst, r.will)
}

var errBadSessionRecord = errors.New("session record does not decode")

func decodeSessionRecord(b []byte) (sessionRecord, error) {
	var r sessionRecord
	if len(b) < 15 || (b[0] != sessionRecordV1 && b[0] != sessionRecordV2) {
		return r, errBadSessionRecord
	}
	r.version = b[1]
	r.expiry = expiryInterval(binary.BigEndian.Uint32(b[2:]))
	if at := int64(binary.BigEndian.Uint64(b[6:])); at != 0 {
		r.disconnected = time.Unix(0, at)
	}
	r.anonymous = b[14] == 1
	if b[0] == sessionRecordV1 {
		r.username = string(b[15:])
		return r, nil
	}
	if len(b) < 23 {
		return r, errBadSessionRecord
	}
	r.incarnation = binary.BigEndian.Uint64(b[15:])
	b = b[23:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return r, errBadSessionRecord
	}
	r.username = string(b[k : k+int(n)])
	w, err := decodeWill(b[k+int(n):])
	if err != nil {
		return r, err
	}
	r.will = w
	return r, nil
}

func subscriptionKey(clientID, filter string) []byte {
	k := make([]byte, 0, len(clientID)+1+len(filter))
	return append(append(append(k, clientID...), 0), filter...)
}

func appendSubOptions(dst []byte, o subOptions) []byte {
	flags := byte(0)
	if o.NoLocal {
		flags |= 1
	}
	if o.RetainAsPublished {
		flags |= 2
	}
	var id uint32
	if len(o.SubIDs) > 0 {
		id = o.SubIDs[0]
	}
	return binary.BigEndian.AppendUint32(append(dst, o.QoS, flags, o.RetainHandling), id)
}

func decodeSubOptions(b []byte) (subOptions, error) {
	if len(b) != 7 || b[0] > 2 || b[2] > 2 {
		return subOptions{}, errors.New("subscription record does not decode")
	}
	o := subOptions{QoS: b[0], NoLocal: b[1]&1 != 0, RetainAsPublished: b[1]&2 != 0, RetainHandling: b[2]}
	if id := binary.BigEndian.Uint32(b[3:]); id > packet.MaxRemainingLength {
		return subOptions{}, fmt.Errorf("subscription identifier %d out of range", id)
	} else if id != 0 {
		o.SubIDs = []uint32{id}
	}
	return o, nil
}

// sessionOpLocked is the put of st's session record: who its client is,
// its expiry, when its client left, and the will that a crash must not
// lose: the attached connection's, or the one waiting out its delay.
// Caller holds st.mu.
func (st *sessionState) sessionOpLocked() store.Op {
	r := sessionRecord{version: st.version, expiry: st.expiry, disconnected: st.left, will: st.will, incarnation: st.incarnation}
	if !st.left.IsZero() {
		r.will = st.pendingWill
	}
	if id := st.ident.Load(); id != nil {
		r.anonymous, r.username = id.anonymous, id.username
	}
	return store.Op{Kind: kindSession, Key: []byte(st.id), Value: r.append(nil)}
}

// forgetOpsLocked are the deletes of st's records: session, subscriptions,
// queued messages and inbound QoS 2 ids. It is no longer persisted
// afterwards. Caller holds st.mu.
func (st *sessionState) forgetOpsLocked(ops []store.Op) []store.Op {
	if !st.persisted {
		return ops
	}
	st.persisted = false
	ops = append(ops, store.Op{Kind: kindSession, Key: []byte(st.id), Delete: true})
	for _, f := range st.filters {
		ops = append(ops, store.Op{Kind: kindSubscription, Key: subscriptionKey(st.id, f), Delete: true})
	}
	for _, seq := range st.outbox.Unstore(nil) {
		ops = append(ops, store.Op{Kind: kindQueued, Key: st.queuedKey(seq), Delete: true})
	}
	for _, id := range st.inbound.IDs() {
		ops = append(ops, store.Op{Kind: kindInbound, Key: st.inboundKey(id), Delete: true})
	}
	return ops
}

// splitSubscriptionKey is subscriptionKey's inverse.
func splitSubscriptionKey(k []byte) (clientID, filter string, err error) {
	for i, b := range k {
		if b == 0 {
			return string(k[:i]), string(k[i+1:]), nil
		}
	}
	return "", "", fmt.Errorf("subscription key %q has no separator", k)
}
