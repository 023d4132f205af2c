package broker

import (
	"time"

	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/topic"
)

// publish applies a message's retain flag to the retained store and routes
// it to every matching subscription: the straight line of one PUBLISH. from
// is the publishing client's connection, nil for the broker's own messages
// (wills, $SYS).
//
// With a data dir, what the broker must keep of the message (its retained
// change, its copies queued for persistent sessions) goes to disk, and the
// acknowledgement from's reader owes for it waits for that (see
// conn.ackAfterCommit).
//
// It reports whether a subscriber's queue limits made it drop a QoS 1 or 2
// copy of the message, which an MQTT 5 publisher is told (0x97).
func (s *Server) publish(msg *session.Message, from *conn) (quotaExceeded bool) {
	m := s.index.Match(msg.Topic)
	// Decided before the message is shared with the retained store or a queue.
	msg.Fanout = len(m.Plain)+len(m.Groups) > 1
	if msg.Retain {
		s.keepRetained(msg, from)
	}
	return s.route(msg, m, from)
}

// route delivers msg once to each subscriber with a matching subscription,
// at the highest QoS of its matching subscriptions [MQTT-3.3.5-1] and with
// all their subscription identifiers [MQTT-3.3.4-3], and to one member of
// each matching shared subscription group [MQTT-4.8.2-2].
func (s *Server) route(msg *session.Message, m *topic.Matches[*sessionState, subOptions], from *conn) (quotaExceeded bool) {
	plain := m.Plain
	for i := 0; i < len(plain); {
		j := i + 1
		for j < len(plain) && plain[j].Subscriber == plain[i].Subscriber {
			j++
		}
		if d, ok := mergeDelivery(msg, plain[i:j]); ok && s.mayReceive(plain[i].Subscriber, msg.Topic) {
			if !s.deliver(plain[i].Subscriber, d, from) && d.QoS > 0 {
				quotaExceeded = true
			}
		}
		i = j
	}
	for _, g := range m.Groups {
		if e, ok := pickMember(g); ok && s.mayReceive(e.Subscriber, msg.Topic) {
			d, _ := mergeDelivery(msg, []topic.Entry[*sessionState, subOptions]{e})
			if !s.deliver(e.Subscriber, d, from) && d.QoS > 0 {
				quotaExceeded = true
			}
		}
	}
	return quotaExceeded
}

// mergeDelivery builds the one delivery a subscriber gets for all of its
// subscriptions that match, leaving out No Local ones for its own messages
// [MQTT-3.8.3-3]. ok is false when none remains.
func mergeDelivery(msg *session.Message, subs []topic.Entry[*sessionState, subOptions]) (session.Delivery, bool) {
	d := session.Delivery{Msg: msg}
	n := 0
	for _, e := range subs {
		o := &e.Options
		if o.NoLocal && msg.Origin == any(e.Subscriber) {
			continue
		}
		if n == 0 || o.QoS > d.QoS {
			d.QoS = o.QoS
		}
		if o.RetainAsPublished && msg.Retain {
			d.Retain = true // [MQTT-3.3.1-12]
		}
		if len(o.SubIDs) > 0 {
			if d.SubIDs == nil {
				d.SubIDs = o.SubIDs // shared, no allocation in the common case
			} else {
				d.SubIDs = append(append([]uint32(nil), d.SubIDs...), o.SubIDs...)
			}
		}
		n++
	}
	d.QoS = min(d.QoS, msg.QoS)
	return d, n > 0
}

// pickMember chooses the group member to receive the next message: round
// robin, skipping members whose session is offline, or the next member in
// turn if all are offline (its session queues the message).
func pickMember(g *topic.Group[*sessionState, subOptions]) (topic.Entry[*sessionState, subOptions], bool) {
	n := len(g.Members)
	if n == 0 {
		return topic.Entry[*sessionState, subOptions]{}, false
	}
	start := int(g.Next() % uint32(n))
	for k := range n {
		e := g.Members[(start+k)%n]
		if e.Subscriber.online() {
			return e, true
		}
	}
	return g.Members[start], true
}

// deliver queues d for st on behalf of from, the publishing connection.
//
// When st's queue is full and its client is keeping up, the publisher's
// reader waits, which stops reading from that publisher: TCP backpressure
// instead of loss. A subscriber that makes no progress for a whole stall
// timeout while a publisher waits is stalled: it holds no one back any more,
// its messages are dropped or queued up to the limit, and every drop is
// counted. No clock is read unless a queue is full.
//
// A reader never waits on a session whose progress needs that reader:
// its own (the acknowledgements it would wait for are behind the packet it
// is handling) or one whose reader is itself waiting in deliver (two
// clients publishing to each other). Nor does it wait while it holds QoS 2
// copies for the end of the PUBLISH (conn.commitPublish): they hold back
// their subscribers' queues until then. The broker's own messages (from is
// nil) never wait either. Those deliveries may overflow the queue limits up
// to twice their size instead.
//
// It reports false when d was dropped because the subscriber's queue is at
// its limits.
func (s *Server) deliver(st *sessionState, d session.Delivery, from *conn) (queued bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil { // we waited
			timer.Stop()
			from.delivering.Store(false)
		}
	}()
	for {
		st.mu.Lock()
		if st.ended {
			st.mu.Unlock()
			return true
		}
		c := st.conn
		d.Stored = st.persisted && d.QoS > 0
		verdict, reason := st.outbox.Push(d, st.limits, c != nil, st.stalled)
		if verdict == session.Full && (from == nil || c == from || c.delivering.Load() || len(from.pub.copies) > 0) {
			verdict, reason = st.outbox.Push(d, st.limits.Overflow(), c != nil, true)
		}
		if verdict == session.Queued && d.Stored {
			st.storeQueuedLocked(&d, from)
		}
		if verdict != session.Full {
			// With the in-flight window full, the message waits for an
			// acknowledgement, whose handling sends it: touching the
			// subscriber's socket now would only contend with its reader.
			ready := verdict == session.Queued && st.outbox.Pending()
			st.mu.Unlock()
			switch {
			case verdict == session.Dropped:
				s.stats.drop(reason, 1)
			case c != nil && !ready:
			case c != nil && from != nil:
				from.flushLater(c)
			case c != nil:
				c.kick()
			}
			return verdict != session.Dropped || reason != session.DropQueueFull
		}
		kind := min(d.QoS, 1)
		if st.spaceWait[kind] == nil {
			st.spaceWait[kind] = make(chan struct{})
		}
		wake, seen := st.spaceWait[kind], st.progress
		st.mu.Unlock()
		c.kick()
		from.flushPending() // what this reader owes others must not wait with it

		from.delivering.Store(true)
		if timer == nil {
			timer = time.NewTimer(s.opts.StallTimeout)
		} else {
			timer.Reset(s.opts.StallTimeout)
		}
		select {
		case <-wake:
		case <-timer.C:
			st.mu.Lock()
			if st.progress == seen && st.conn == c {
				st.stalled = true
				s.log.Info("subscriber stalled: its messages beyond the queue limits are dropped until it reads again", "client", st.id)
			}
			st.mu.Unlock()
		case <-s.done:
			return true
		}
	}
}

// deliverAll queues d for st regardless of the queue limits. It is for the
// retained messages a SUBSCRIBE asks for: a snapshot, bounded by the
// retained store, that the subscribing client's own reader, from, produces.
func (s *Server) deliverAll(st *sessionState, d session.Delivery, from *conn) {
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return
	}
	c := st.conn
	d.Stored = st.persisted && d.QoS > 0
	st.outbox.Push(d, session.Limits{QueueQoS0: true}, c != nil, false)
	if d.Stored {
		st.storeQueuedLocked(&d, nil) // no acknowledgement waits for a retained copy
	}
	st.mu.Unlock()
	if c != nil {
		from.flushLater(c)
	}
}
