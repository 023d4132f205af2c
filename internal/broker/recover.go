package broker

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// Recovered says what Recover brought back.
type Recovered struct {
	Retained        int // retained messages
	Expired         int // retained messages that expired while the broker was down, now removed
	Sessions        int // persistent sessions, resumed with their subscriptions
	Subscriptions   int
	SessionsExpired int // sessions that expired while the broker was down, now removed
	Queued          int // messages queued for or in flight to persistent sessions
	QueuedExpired   int // queued QoS 1 messages whose Message Expiry passed while the broker was down, now removed
	Wills           int // wills due while the broker was down or at its crash, published at start
	WillsPending    int // wills still waiting out their delay
}

// recoveredSession gathers one client's records during the scan.
type recoveredSession struct {
	rec  *sessionRecord // nil until (unless) its session record is seen
	subs map[string]subOptions
}

// recoveredQueue is what the data dir holds for one session incarnation:
// its queued deliveries (a run of recoveredDeliveries) and inbound ids.
type recoveredQueue struct {
	queued  []recoveredDelivery
	inbound []uint16
	lastSeq uint64 // the newest seq seen, of a record kept or dropped
}

// recoveredDelivery is a queued delivery and the incarnation it belongs to.
type recoveredDelivery struct {
	incarnation uint64
	session.Delivery
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
	var drop []store.Op
	clients := map[string]*recoveredSession{}
	client := func(id string) *recoveredSession {
		c := clients[id]
		if c == nil {
			c = &recoveredSession{}
			clients[id] = c
		}
		return c
	}
	// Every queued delivery goes into one slice of the right size, sorted
	// into one run per session once all are read: with a million of them,
	// growing a slice per session would copy them over and over.
	queued := make([]recoveredDelivery, 0, d.Count(kindQueued))
	queues := map[uint64]*recoveredQueue{}
	queue := func(incarnation uint64) *recoveredQueue {
		q := queues[incarnation]
		if q == nil {
			q = &recoveredQueue{}
			queues[incarnation] = q
		}
		return q
	}
	err := d.Scan(func(kind byte, key, value []byte) error {
		switch kind {
		case kindSession:
			rec, err := decodeSessionRecord(value)
			if err != nil {
				return fmt.Errorf("session %q: %w", key, err)
			}
			client(string(key)).rec = &rec
		case kindSubscription:
			id, filter, err := splitSubscriptionKey(key)
			if err == nil {
				var o subOptions
				if o, err = decodeSubOptions(value); err == nil {
					c := client(id)
					if c.subs == nil {
						c.subs = map[string]subOptions{}
					}
					c.subs[filter] = o
				}
			}
			if err != nil {
				return fmt.Errorf("subscription %q: %w", key, err)
			}
		case kindQueued:
			inc, seq, err := splitIncarnationKey(key, 8)
			var q session.Delivery
			if err == nil {
				q, err = decodeQueuedRecord(value, binary.BigEndian.Uint64(seq))
			}
			if err != nil {
				return fmt.Errorf("queued message %x: %w", key, err)
			}
			qq := queue(inc)
			qq.lastSeq = max(qq.lastSeq, q.Seq)
			// An expired QoS 1 message goes; an expired QoS 2 one may have
			// reached the client, whose state then holds its packet id
			// until PUBREL, so it is sent again [MQTT-3.3.2-5].
			if q.Msg != nil && q.QoS == 1 && q.Msg.Expired(now) {
				drop = append(drop, store.Op{Kind: kindQueued, Key: append([]byte(nil), key...), Delete: true})
				r.QueuedExpired++
				return nil
			}
			queued = append(queued, recoveredDelivery{inc, q})
		case kindInbound:
			inc, pid, err := splitIncarnationKey(key, 2)
			if err != nil {
				return fmt.Errorf("inbound packet id %x: %w", key, err)
			}
			qq := queue(inc)
			qq.inbound = append(qq.inbound, binary.BigEndian.Uint16(pid))
		case kindRetained:
			m, err := session.DecodeRecord(value)
			if err != nil {
				return fmt.Errorf("retained message on %q: %w", key, err)
			}
			if m.Expired(now) {
				drop = append(drop, store.Op{Kind: kindRetained, Key: append([]byte(nil), key...), Delete: true})
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
	slices.SortFunc(queued, func(a, b recoveredDelivery) int {
		return cmp.Or(cmp.Compare(a.incarnation, b.incarnation), cmp.Compare(a.Seq, b.Seq))
	})
	for start := 0; start < len(queued); {
		end := start + 1
		for end < len(queued) && queued[end].incarnation == queued[start].incarnation {
			end++
		}
		queue(queued[start].incarnation).queued = queued[start:end]
		start = end
	}
	s.mu.Lock()
	var due []dueWill
	for id, c := range clients {
		var q *recoveredQueue
		if c.rec != nil && c.rec.incarnation != 0 {
			q = queues[c.rec.incarnation]
			delete(queues, c.rec.incarnation)
		}
		var w dueWill
		drop, w = s.recoverSession(id, c, q, now, drop, &r)
		if w.will != nil {
			due = append(due, w)
		}
	}
	s.mu.Unlock()
	for inc, q := range queues { // orphans: their session ended
		drop = deleteQueue(drop, inc, q)
	}
	// Wills are published once every session is back, so that each gets
	// its copy, and leave the data dir (a record without them, or deleted
	// with its expired session) only after: a crash in between publishes
	// them again rather than never.
	for _, w := range due {
		s.publishWillOf(w.of, w.will)
	}
	r.Wills = len(due)
	if len(drop) > 0 {
		d.Commit(drop, nil)
	}
	return r, nil
}

// dueWill is a will to publish at start, and the session it belonged to if
// that session goes on.
type dueWill struct {
	will *will
	of   *sessionState
}

// recoverSession rebuilds one persistent session found in the data dir as
// a session whose client is away: subscribed, with its queue and its
// inbound QoS 2 ids, expiring from when the client left (from now for one
// that was connected when the broker stopped). A session that expired
// meanwhile, or records left from one that ended, are deleted. It returns
// the ops to commit and a will that is due now: that of a connection the
// crash ended, or one whose delay ran out while the broker was down.
// Caller holds s.mu.
func (s *Server) recoverSession(id string, c *recoveredSession, q *recoveredQueue, now time.Time, ops []store.Op, r *Recovered) ([]store.Op, dueWill) {
	if q == nil {
		q = &recoveredQueue{}
	}
	rec := c.rec
	remaining := time.Duration(0)
	if rec != nil {
		remaining = rec.expiry
		if rec.expiry != neverExpires && !rec.disconnected.IsZero() {
			remaining = rec.expiry - now.Sub(rec.disconnected)
		}
	}
	if rec == nil || remaining == 0 || (remaining < 0 && remaining != neverExpires) {
		if rec != nil {
			ops = append(ops, store.Op{Kind: kindSession, Key: []byte(id), Delete: true})
			r.SessionsExpired++
		}
		for f := range c.subs {
			ops = append(ops, store.Op{Kind: kindSubscription, Key: subscriptionKey(id, f), Delete: true})
		}
		if rec != nil {
			ops = deleteQueue(ops, rec.incarnation, q)
		}
		if rec != nil && rec.will != nil {
			return ops, dueWill{will: rec.will} // a session's end publishes its will [MQTT-3.1.3-9]
		}
		return ops, dueWill{}
	}

	st := newSessionState(s, id)
	if rec.incarnation != 0 {
		st.incarnation = rec.incarnation
	}
	st.ident.Store(&identity{clientID: id, username: rec.username, anonymous: rec.anonymous})
	st.version = rec.version
	st.expiry = rec.expiry
	st.left = rec.disconnected
	if st.left.IsZero() {
		st.left = now // connected when the broker stopped: it left then
	}
	st.limits = session.Limits{Flow: flowLimit(s.opts.MaxQueuedMessages), MaxQueued: s.opts.MaxQueuedMessages,
		MaxQueuedBytes: s.opts.MaxQueuedBytes, QueueQoS0: s.opts.QueueQoS0Messages}
	st.persisted = true
	for f, o := range c.subs {
		s.index.Subscribe(st, f, o)
		st.filters = append(st.filters, f)
		r.Subscriptions++
	}
	st.outbox.Restore(len(q.queued), func(i int) session.Delivery { return q.queued[i].Delivery }, q.lastSeq)
	r.Queued += len(q.queued)
	for _, pid := range q.inbound {
		st.inbound.Add(pid)
	}
	if w := rec.will; w != nil {
		w.msg.Origin = st
		delay := w.delay
		if !rec.disconnected.IsZero() {
			delay -= now.Sub(rec.disconnected)
		}
		if delay <= 0 {
			return s.keepRecovered(st, remaining, ops, r), dueWill{will: w, of: st}
		}
		st.pendingWill = w
		r.WillsPending++
		if remaining == neverExpires || delay < remaining {
			st.willTimer = time.AfterFunc(delay, func() { s.willDelayElapsed(st) })
		}
	}
	if rec.disconnected.IsZero() || rec.incarnation == 0 {
		// Its client left when the broker stopped: its expiry and will
		// delay count from now, also across another crash. (A record
		// from before incarnations gets one.)
		ops = append(ops, st.sessionOpLocked())
	}
	return s.keepRecovered(st, remaining, ops, r), dueWill{}
}

// keepRecovered registers a recovered session and arms its expiry.
// Caller holds s.mu.
func (s *Server) keepRecovered(st *sessionState, remaining time.Duration, ops []store.Op, r *Recovered) []store.Op {
	if remaining != neverExpires {
		st.expiryTimer = time.AfterFunc(remaining, func() { s.expireSession(st) })
	}
	s.sessions[st.id] = st
	r.Sessions++
	return ops
}

// deleteQueue adds the deletes of an incarnation's queue records to ops.
func deleteQueue(ops []store.Op, incarnation uint64, q *recoveredQueue) []store.Op {
	st := sessionState{incarnation: incarnation}
	for _, d := range q.queued {
		ops = append(ops, store.Op{Kind: kindQueued, Key: st.queuedKey(d.Seq), Delete: true})
	}
	for _, pid := range q.inbound {
		ops = append(ops, store.Op{Kind: kindInbound, Key: st.inboundKey(pid), Delete: true})
	}
	return ops
}
