package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// subOptions are what the subscription index keeps for one subscription.
type subOptions struct {
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	// SubIDs is the subscription identifier as a one-element slice shared by
	// every delivery it produces, or nil; never modified.
	SubIDs []uint32
}

// will is a will message waiting for its connection to end.
type will struct {
	msg    *session.Message // a template: Expiry counts from publication
	expiry time.Duration    // Message Expiry Interval; 0 means none
	delay  time.Duration    // Will Delay Interval
}

// neverExpires is a session expiry that does not end.
const neverExpires time.Duration = -1

// sessionState is one client's session as the broker holds it: it lives
// from the CONNECT that creates it until it ends (clean disconnect, expiry,
// or a Clean Start that replaces it), across any number of connections.
type sessionState struct {
	id          string
	srv         *Server
	ident       atomic.Pointer[identity] // who its client is, for delivery-time checks
	incarnation uint64                   // names its records in the data dir; set once

	mu          sync.Mutex // guards the fields below
	conn        *conn      // attached connection; nil while offline
	version     byte       // protocol level of its newest connection
	left        time.Time  // when its client went away; zero while attached
	outbox      session.Outbox
	inbound     session.Inbound
	limits      session.Limits
	filters     []string      // subscribed, as sent; their options live in the index
	expiry      time.Duration // how long the session outlives its connection; neverExpires
	expiryTimer *time.Timer
	will        *will // of the attached connection
	pendingWill *will // of a closed connection, waiting out its delay
	willTimer   *time.Timer
	progress    uint64           // bumped when the writer takes messages or the client acknowledges one
	stalled     bool             // a publisher waited a whole stall timeout without progress
	spaceWait   [2]chan struct{} // by kind (QoS 0, QoS 1/2): closed when the queue has drained; made by a waiting publisher
	ended       bool
	persisted   bool // its records are in the data dir (durable_session.go)
}

func newSessionState(s *Server, id string) *sessionState {
	st := &sessionState{id: id, srv: s}
	if s.opts.Durable != nil {
		st.incarnation = newIncarnation()
	}
	return st
}

// progressedLocked records that the client is keeping up and wakes the
// publishers waiting for room in its queue. Caller holds st.mu.
func (st *sessionState) progressedLocked() {
	st.progress++
	st.stalled = false
	for kind, wait := range st.spaceWait {
		if wait != nil && st.outbox.Drained(byte(kind), st.limits) {
			close(wait)
			st.spaceWait[kind] = nil
		}
	}
}

// notifySpaceLocked wakes every publisher waiting for room in the queue:
// the session ended, lost its connection, or dropped messages.
// Caller holds st.mu.
func (st *sessionState) notifySpaceLocked() {
	for kind, wait := range st.spaceWait {
		if wait != nil {
			close(wait)
			st.spaceWait[kind] = nil
		}
	}
}

// forgetFilter removes filter from the session's list. Caller holds st.mu.
func (st *sessionState) forgetFilter(filter string) {
	for i, f := range st.filters {
		if f == filter {
			st.filters = append(st.filters[:i], st.filters[i+1:]...)
			return
		}
	}
}

// pending reports whether the writer has something to send.
func (st *sessionState) pending() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.outbox.Pending()
}

// online reports whether a connection is attached.
func (st *sessionState) online() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.conn != nil
}

// stopTimersLocked stops expiry and will-delay timers. Caller holds st.mu.
func (st *sessionState) stopTimersLocked() {
	if st.expiryTimer != nil {
		st.expiryTimer.Stop()
		st.expiryTimer = nil
	}
	if st.willTimer != nil {
		st.willTimer.Stop()
		st.willTimer = nil
	}
}

func (st *sessionState) stopTimers() {
	st.mu.Lock()
	st.stopTimersLocked()
	st.mu.Unlock()
}

// endSession removes a session for good: its subscriptions, its queue, and
// publishes a will still waiting out its delay [MQTT-3.1.3-9]. With
// onlyIfIdle it does nothing if a connection has attached meanwhile; the
// check and the end are one critical section, so a CONNECT cannot resume a
// session that is ending.
func (s *Server) endSession(st *sessionState, onlyIfIdle bool) {
	s.mu.Lock()
	st.mu.Lock()
	if st.ended || (onlyIfIdle && st.conn != nil) {
		st.mu.Unlock()
		s.mu.Unlock()
		return
	}
	if s.sessions[st.id] == st {
		delete(s.sessions, st.id)
	}
	if ops := st.forgetOpsLocked(nil); len(ops) > 0 {
		// Under both locks, so that a session made for the same client id
		// afterwards writes its record after this delete.
		s.opts.Durable.Commit(ops, nil)
	}
	s.mu.Unlock()
	st.ended = true
	filters := st.filters
	st.filters = nil
	st.outbox.Clear()
	pw := st.pendingWill
	st.pendingWill = nil
	st.stopTimersLocked()
	st.notifySpaceLocked()
	st.mu.Unlock()

	for _, filter := range filters {
		s.index.Unsubscribe(st, filter)
	}
	if pw != nil && !s.isClosing() {
		s.publishWill(pw)
	}
}

// connectionLost runs when c, attached to its session, has ended: it
// detaches the session, then publishes or schedules the will and ends or
// schedules the end of the session.
func (s *Server) connectionLost(c *conn, st *sessionState, keepWill bool) {
	st.mu.Lock()
	if st.conn != c {
		st.mu.Unlock()
		return
	}
	st.conn = nil
	st.notifySpaceLocked()
	if !st.limits.QueueQoS0 {
		if n := st.outbox.DropQoS0(); n > 0 {
			s.stats.drop(session.DropOfflineQoS0, uint64(n))
		}
	}
	w := st.will
	st.will = nil
	if !keepWill || s.isClosing() {
		w = nil
	}
	expiry := st.expiry
	if w != nil && w.delay > 0 {
		// The will waits for its delay or the end of the session, whichever
		// comes first [MQTT-3.1.3-9]; endSession publishes it in the latter case.
		st.pendingWill = w
		if expiry == neverExpires || (expiry != 0 && w.delay < expiry) {
			st.willTimer = time.AfterFunc(w.delay, func() { s.willDelayElapsed(st) })
		}
		w = nil
	}
	if expiry != 0 && !s.isClosing() {
		if expiry != neverExpires {
			st.expiryTimer = time.AfterFunc(expiry, func() { s.expireSession(st) })
		}
	}
	st.left = time.Now()
	// The record notes when the client left (its expiry counts from then,
	// also while the broker is down) and keeps a delayed will; with a will
	// to publish now, publishWillOf writes it.
	if st.persisted && expiry != 0 && w == nil {
		s.opts.Durable.Commit([]store.Op{st.sessionOpLocked()}, nil)
	}
	st.mu.Unlock()

	if expiry == 0 {
		s.endSession(st, true)
	}
	if w != nil {
		s.publishWillOf(st, w)
	}
}

func (s *Server) willDelayElapsed(st *sessionState) {
	st.mu.Lock()
	w := st.pendingWill
	st.pendingWill = nil
	st.willTimer = nil
	if st.conn != nil {
		w = nil
	}
	st.mu.Unlock()
	if w != nil && !s.isClosing() {
		s.publishWillOf(st, w)
	}
}

// publishWillOf publishes w, the will of st's client, and then, if st keeps
// its state in the data dir and its client is still away, writes st's
// record, which no longer holds w. In that order: a crash in between
// publishes the will again rather than never. st may be nil (a session
// that ended).
func (s *Server) publishWillOf(st *sessionState, w *will) {
	s.publishWill(w)
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.persisted && st.conn == nil {
		s.opts.Durable.Commit([]store.Op{st.sessionOpLocked()}, nil)
	}
	st.mu.Unlock()
}

func (s *Server) expireSession(st *sessionState) {
	s.endSession(st, true)
}

// publishWill publishes a will message as if its client had sent it.
func (s *Server) publishWill(w *will) {
	t := w.msg
	msg := &session.Message{Topic: t.Topic, Payload: t.Payload, QoS: t.QoS, Retain: t.Retain, Props: t.Props, Origin: t.Origin}
	if w.expiry > 0 {
		msg.Expiry = time.Now().Add(w.expiry)
	}
	s.publish(msg, nil)
}
