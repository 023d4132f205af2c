package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gridmq/gridmq/internal/session"
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

const sessionRecordVersion = 1

// sessionRecord is what a session record holds.
type sessionRecord struct {
	version      byte          // the client's protocol level
	expiry       time.Duration // neverExpires, or how long it outlives its connection
	disconnected time.Time     // zero while a connection is attached
	anonymous    bool
	username     string
}

func (r *sessionRecord) append(dst []byte) []byte {
	dst = append(dst, sessionRecordVersion, r.version)
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
	return append(append(dst, anon), r.username...)
}

var errBadSessionRecord = errors.New("session record does not decode")

func decodeSessionRecord(b []byte) (sessionRecord, error) {
	var r sessionRecord
	if len(b) < 15 || b[0] != sessionRecordVersion {
		return r, errBadSessionRecord
	}
	r.version = b[1]
	r.expiry = expiryInterval(binary.BigEndian.Uint32(b[2:]))
	if at := int64(binary.BigEndian.Uint64(b[6:])); at != 0 {
		r.disconnected = time.Unix(0, at)
	}
	r.anonymous = b[14] == 1
	r.username = string(b[15:])
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
	if id := binary.BigEndian.Uint32(b[3:]); id != 0 {
		o.SubIDs = []uint32{id}
	}
	return o, nil
}

// sessionOp is the put of st's session record. Caller holds st.mu.
func (st *sessionState) sessionOpLocked(version byte, disconnected time.Time) store.Op {
	r := sessionRecord{version: version, expiry: st.expiry, disconnected: disconnected}
	if id := st.ident.Load(); id != nil {
		r.anonymous, r.username = id.anonymous, id.username
	}
	return store.Op{Kind: kindSession, Key: []byte(st.id), Value: r.append(nil)}
}

// forgetOpsLocked are the deletes of st's records; it is no longer
// persisted afterwards. Caller holds st.mu.
func (st *sessionState) forgetOpsLocked(ops []store.Op) []store.Op {
	if !st.persisted {
		return ops
	}
	st.persisted = false
	ops = append(ops, store.Op{Kind: kindSession, Key: []byte(st.id), Delete: true})
	for _, f := range st.filters {
		ops = append(ops, store.Op{Kind: kindSubscription, Key: subscriptionKey(st.id, f), Delete: true})
	}
	return ops
}

// recoverSessions rebuilds the persistent sessions found in the data dir as
// sessions whose client is away: subscribed, queueing, and expiring from
// when the client left (from now for one that was connected when the broker
// stopped). Expired sessions and subscriptions whose session is gone are
// deleted.
func (s *Server) recoverSessions(sessions map[string]sessionRecord, subs map[string]map[string]subOptions, r *Recovered) []store.Op {
	now := time.Now()
	var drop []store.Op
	limits := session.Limits{Flow: flowLimit(s.opts.MaxQueuedMessages), MaxQueued: s.opts.MaxQueuedMessages,
		MaxQueuedBytes: s.opts.MaxQueuedBytes, QueueQoS0: s.opts.QueueQoS0Messages}
	for id, rec := range sessions {
		left := rec.disconnected
		if left.IsZero() {
			left = now
		}
		remaining := rec.expiry
		if rec.expiry != neverExpires {
			remaining = rec.expiry - now.Sub(left)
			if remaining <= 0 {
				drop = append(drop, store.Op{Kind: kindSession, Key: []byte(id), Delete: true})
				for f := range subs[id] {
					drop = append(drop, store.Op{Kind: kindSubscription, Key: subscriptionKey(id, f), Delete: true})
				}
				delete(subs, id)
				r.SessionsExpired++
				continue
			}
		}
		st := newSessionState(s, id)
		st.ident.Store(&identity{clientID: id, username: rec.username, anonymous: rec.anonymous})
		st.expiry = rec.expiry
		st.limits = limits
		st.persisted = true
		for f, o := range subs[id] {
			s.index.Subscribe(st, f, o)
			st.filters = append(st.filters, f)
			r.Subscriptions++
		}
		delete(subs, id)
		if remaining != neverExpires {
			st.expiryTimer = time.AfterFunc(remaining, func() { s.expireSession(st) })
		}
		s.sessions[id] = st
		r.Sessions++
	}
	for id, fs := range subs { // no session record: left over from a session that ended
		for f := range fs {
			drop = append(drop, store.Op{Kind: kindSubscription, Key: subscriptionKey(id, f), Delete: true})
		}
	}
	return drop
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
