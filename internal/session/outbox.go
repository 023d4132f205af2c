package session

import "time"

// Delivery is one message on its way to one subscriber.
type Delivery struct {
	// Fields are ordered so that the small ones share one word: a queue of a
	// million deliveries is a million of these.
	Msg    *Message
	SubIDs []uint32 // subscription identifiers to carry; shared, never modified
	// Seq is the delivery's place in its session's queue, set by Push for
	// QoS 1 and 2; its packet identifier is derived from it (PacketIDFor).
	Seq    uint64
	QoS    byte // the lower of the message's and the subscription's QoS
	Retain bool // retain flag as sent

	// Stored is set by the caller of Push when the delivery is also kept in
	// the data dir, where Seq names it.
	Stored bool
	// Unwritten is set by Push for a stored QoS 2 delivery and cleared by
	// Durable once the data dir has it: it is not sent before, so that a
	// crash cannot make the broker route it again for a publisher that was
	// never acknowledged after the subscriber already had it.
	Unwritten bool

	// Set by the outbox when the delivery enters the in-flight window.
	PacketID uint16
	Dup      bool // being sent again after a reconnect [MQTT-4.4.0-1]
	Released bool // QoS 2: PUBREC received, PUBREL owed; awaiting PUBCOMP
}

// PacketIDFor is the packet identifier of the QoS 1 or 2 delivery at seq in
// its session's queue: 1 to 65535 in turn [MQTT-2.2.1-3]. Deriving it from
// the place in the queue means a restarted broker resends a message with
// its original identifier [MQTT-4.4.0-1] without having written the
// identifier down before sending, which exactly-once needs: a client that
// has the message but not our PUBREL must see the same identifier again.
func PacketIDFor(seq uint64) uint16 {
	return uint16((seq-1)%65535 + 1)
}

// DropReason says why a delivery was discarded; every drop is counted by reason.
type DropReason int

const (
	DropQueueFull   DropReason = iota // QoS 1/2 beyond max_queued_messages for an offline or stalled subscriber
	DropStalledQoS0                   // QoS 0 for a connected subscriber that made no progress for the stall timeout
	DropOfflineQoS0                   // QoS 0 for an offline session (queue_qos0_messages is off)
	DropExpired                       // Message Expiry Interval elapsed while queued [MQTT-3.3.2-5]
	DropTooLarge                      // larger than the client's Maximum Packet Size [MQTT-3.1.2-25]
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"queue_full", "stalled_qos0", "offline_qos0", "expired", "too_large"}

func (r DropReason) String() string { return dropNames[r] }

// Verdict is the outcome of Outbox.Push.
type Verdict int

const (
	Queued  Verdict = iota
	Full            // the subscriber is keeping up but its queue is full: the publisher should wait
	Dropped         // discarded; the DropReason says why
)

// Limits bound an outbox.
type Limits struct {
	// Flow is how many QoS 0, and separately QoS 1/2, messages wait for a
	// connected client that keeps up before publishers are made to wait:
	// flow control, whatever MaxQueued says. For a stalled client it is the
	// QoS 0 limit. 0 means none.
	Flow int
	// MaxQueued bounds the QoS 1/2 messages kept beyond those in flight for
	// a stalled or offline session; past it they are dropped. 0 means no limit.
	MaxQueued int
	// MaxQueuedBytes bounds the same messages by their topic and payload
	// bytes; 0 means no limit.
	MaxQueuedBytes int64
	QueueQoS0      bool // keep QoS 0 for an offline session (counted against MaxQueued)
}

// Overflow is the limits doubled: how far a queue may grow for deliveries
// whose publisher cannot wait for room.
func (l Limits) Overflow() Limits {
	l.MaxQueued *= 2
	l.MaxQueuedBytes *= 2
	l.Flow *= 2
	return l
}

// Drained reports whether the queue of qos's kind (QoS 0, or QoS 1/2) has
// fallen to three quarters of what makes publishers wait under lim, so that
// waiting publishers are woken for a batch of room, not for every message
// sent. It is true when the kind has no limit.
func (o *Outbox) Drained(qos byte, lim Limits) bool {
	limit, queued := lim.Flow, o.queued0
	if qos > 0 {
		queued = o.queued12
		if lim.MaxQueued > 0 && (limit == 0 || lim.MaxQueued < limit) {
			limit = lim.MaxQueued
		}
	}
	if qos > 0 && lim.MaxQueuedBytes > 0 && o.bytes12 > lim.MaxQueuedBytes-lim.MaxQueuedBytes/4 {
		return false
	}
	return limit == 0 || queued <= limit-limit/4
}

// size is what a queued delivery counts against MaxQueuedBytes.
func (d *Delivery) size() int64 {
	if d.Msg == nil {
		return 0
	}
	return int64(len(d.Msg.Topic) + len(d.Msg.Payload))
}

// Outbox is a session's outbound state: messages not yet sent, in FIFO
// order, and the in-flight window of QoS 1/2 messages awaiting
// acknowledgement, in send order. The caller synchronizes.
type Outbox struct {
	queue    ring
	queued0  int   // QoS 0 entries in queue
	queued12 int   // QoS 1/2 entries in queue
	bytes12  int64 // their topic and payload bytes

	inflight   []Delivery // sent (or to resend), awaiting PUBACK, PUBREC or PUBCOMP; in Seq order
	resendFrom int        // inflight[resendFrom:] are still to be (re)sent
	window     int        // in-flight limit: min(server max_inflight_messages, client Receive Maximum)

	lastSeq uint64   // of the newest QoS 1/2 delivery pushed
	dropped []uint64 // Seq of stored deliveries discarded (expired) since TakeDropped
}

// SetWindow sets the in-flight limit for the current connection.
func (o *Outbox) SetWindow(n int) {
	if n <= 0 || n > 65535 {
		n = 65535
	}
	o.window = n
}

// Push queues d or says why not. online is whether a connection is attached;
// stalled whether that connection has made no progress for the stall timeout.
func (o *Outbox) Push(d Delivery, lim Limits, online, stalled bool) (Verdict, DropReason) {
	if online {
		queued := o.queued0
		if d.QoS > 0 {
			queued = o.queued12
		}
		if lim.Flow > 0 && queued >= lim.Flow {
			switch {
			case !stalled:
				return Full, 0
			case d.QoS == 0:
				return Dropped, DropStalledQoS0
			}
		}
		if d.QoS == 0 {
			o.queued0++
			o.queue.push(d)
			return Queued, 0
		}
	}
	if d.QoS == 0 && !lim.QueueQoS0 {
		return Dropped, DropOfflineQoS0
	}
	queued := o.queued12
	if !online {
		queued += o.queued0 // QoS 0 kept for an offline session counts too
	}
	over := lim.MaxQueued > 0 && queued >= lim.MaxQueued
	if d.QoS > 0 && lim.MaxQueuedBytes > 0 && o.bytes12+d.size() > lim.MaxQueuedBytes {
		over = true
	}
	if over {
		if online && !stalled {
			return Full, 0
		}
		return Dropped, DropQueueFull
	}
	if d.QoS == 0 {
		o.queued0++
	} else {
		o.lastSeq++
		d.Seq = o.lastSeq
		d.Unwritten = d.Stored && d.QoS == 2
		o.queued12++
		o.bytes12 += d.size()
	}
	o.queue.push(d)
	return Queued, 0
}

// LastSeq is the Seq Push gave the newest QoS 1 or 2 delivery it queued.
func (o *Outbox) LastSeq() uint64 { return o.lastSeq }

// Durable records that the stored delivery at seq is in the data dir. It
// looks from the newest queued delivery back, where the deliveries waiting
// for the disk are.
func (o *Outbox) Durable(seq uint64) {
	for i := o.queue.len() - 1; i >= 0; i-- {
		d := o.queue.at(i)
		if d.QoS == 0 {
			continue
		}
		if d.Seq <= seq {
			if d.Seq == seq {
				d.Unwritten = false
			}
			return
		}
	}
}

// Next returns the next packet to write: first in-flight messages still to be
// resent, then the head of the queue if the window allows. Expired messages
// are discarded on the way and counted in expired.
func (o *Outbox) Next(now time.Time) (d Delivery, ok bool, expired int) {
	if o.resendFrom < len(o.inflight) {
		v := &o.inflight[o.resendFrom]
		if !v.Released && o.resendFrom >= o.window {
			// The client came back with a smaller Receive Maximum: a PUBLISH
			// waits for a slot like a new one [MQTT-3.3.4-9]; a PUBREL may go.
			return Delivery{}, false, 0
		}
		o.resendFrom++
		return *v, true, 0
	}
	for o.queue.len() > 0 {
		head := o.queue.peek()
		// A message expires only if its onward delivery has not started
		// [MQTT-3.3.2-5]: not one read back after a restart (Dup), which
		// may have reached the client, whose QoS 2 state would then hold
		// its packet id; and not one still waiting for the disk, whose put
		// would land after the delete.
		if !head.Dup && !head.Unwritten && head.Msg.Expired(now) {
			if v := o.pop(); v.Stored {
				o.dropped = append(o.dropped, v.Seq)
			}
			expired++
			continue
		}
		if head.QoS == 0 {
			return o.pop(), true, expired
		}
		if !o.sendable(head) {
			return Delivery{}, false, expired
		}
		v := o.pop()
		v.PacketID = PacketIDFor(v.Seq)
		o.inflight = append(o.inflight, v)
		o.resendFrom = len(o.inflight)
		return v, true, expired
	}
	return Delivery{}, false, expired
}

// sendable reports whether the QoS 1 or 2 delivery at the head of the queue
// may enter the in-flight window: there is a slot, it is in the data dir if
// it must be, and its packet identifier is free. The identifier is taken
// only when a message 65535 places older is still unacknowledged; the
// delivery then waits for it [MQTT-2.2.1-2].
func (o *Outbox) sendable(head *Delivery) bool {
	if len(o.inflight) >= o.window {
		return false
	}
	if head.Unwritten {
		return false
	}
	if len(o.inflight) == 0 || o.inflight[0].Seq+65535 > head.Seq {
		return true // in Seq order: nothing in flight is old enough to clash
	}
	return o.find(PacketIDFor(head.Seq)) < 0
}

// Pending reports whether Next would return something if the window allows.
func (o *Outbox) Pending() bool {
	if o.resendFrom < len(o.inflight) {
		return o.inflight[o.resendFrom].Released || o.resendFrom < o.window
	}
	if o.queue.len() == 0 {
		return false
	}
	head := o.queue.peek()
	return head.QoS == 0 || o.sendable(head)
}

func (o *Outbox) pop() Delivery {
	v := o.queue.pop()
	if v.QoS == 0 {
		o.queued0--
	} else {
		o.queued12--
		o.bytes12 -= v.size()
	}
	return v
}

func (o *Outbox) find(id uint16) int {
	for i := range o.inflight {
		if o.inflight[i].PacketID == id {
			return i
		}
	}
	return -1
}

func (o *Outbox) remove(i int) {
	copy(o.inflight[i:], o.inflight[i+1:])
	o.inflight[len(o.inflight)-1] = Delivery{}
	o.inflight = o.inflight[:len(o.inflight)-1]
	if i < o.resendFrom {
		o.resendFrom--
	}
	if len(o.inflight) == 0 && cap(o.inflight) > 64 {
		o.inflight = nil // give back the memory of a burst
	}
}

// Complete ends the in-flight QoS 1 (PUBACK) or QoS 2 (PUBCOMP, or a PUBREC
// with an error code) message with this packet id and returns it; false if
// none is in flight.
func (o *Outbox) Complete(id uint16) (Delivery, bool) {
	i := o.find(id)
	if i < 0 {
		return Delivery{}, false
	}
	d := o.inflight[i]
	o.remove(i)
	return d, true
}

// InFlight returns the in-flight delivery with this packet id.
func (o *Outbox) InFlight(id uint16) (Delivery, bool) {
	i := o.find(id)
	if i < 0 {
		return Delivery{}, false
	}
	return o.inflight[i], true
}

// Release records a PUBREC for a QoS 2 message: from now on PUBREL is what
// is owed for it [MQTT-4.3.3-4], and the message itself is no longer
// needed. A repeated PUBREC is answered again. It returns the delivery as
// released; false if no in-flight QoS 2 message has this id. A stored
// delivery is released only once the data dir says so: until then it is
// resent as a PUBLISH, which a client still waiting for PUBREL answers
// with PUBREC again [MQTT-4.3.3-10].
func (o *Outbox) Release(id uint16) (Delivery, bool) {
	i := o.find(id)
	if i < 0 || o.inflight[i].QoS != 2 {
		return Delivery{}, false
	}
	v := &o.inflight[i]
	v.Released = true
	v.Msg = nil
	v.SubIDs = nil
	return *v, true
}

// Resume marks every in-flight message to be sent again, in order, with DUP
// set on PUBLISHes, as a resumed session requires [MQTT-4.4.0-1].
func (o *Outbox) Resume() {
	for i := range o.inflight {
		o.inflight[i].Dup = !o.inflight[i].Released
	}
	o.resendFrom = 0
}

// Len is the number of messages queued and in flight.
func (o *Outbox) Len() int { return o.queue.len() + len(o.inflight) }

// Inflight is the number of messages in flight.
func (o *Outbox) Inflight() int { return len(o.inflight) }

// DropQoS0 discards queued QoS 0 messages, as when a connection ends and the
// session does not keep them; it returns how many.
func (o *Outbox) DropQoS0() int {
	if o.queued0 == 0 {
		return 0
	}
	n := o.queued0
	var kept ring
	for o.queue.len() > 0 {
		if v := o.queue.pop(); v.QoS > 0 {
			kept.push(v)
		}
	}
	o.queue = kept
	o.queued0 = 0
	return n
}

// Clear forgets everything.
func (o *Outbox) Clear() { *o = Outbox{window: o.window} }

// TakeDropped appends to dst the Seq of every stored delivery the outbox
// has discarded since the last call, so that the caller deletes them from
// the data dir.
func (o *Outbox) TakeDropped(dst []uint64) []uint64 {
	dst = append(dst, o.dropped...)
	o.dropped = o.dropped[:0]
	if cap(o.dropped) > 64 {
		o.dropped = nil
	}
	return dst
}

// Unstore appends to dst the Seq of every stored delivery, queued or in
// flight, and marks none of them stored any more: the session no longer
// keeps its state in the data dir.
func (o *Outbox) Unstore(dst []uint64) []uint64 {
	for i := range o.inflight {
		if o.inflight[i].Stored {
			dst = append(dst, o.inflight[i].Seq)
			o.inflight[i].Stored = false
		}
	}
	for i := 0; i < o.queue.len(); i++ {
		if d := o.queue.at(i); d.Stored {
			dst = append(dst, d.Seq)
			d.Stored = false
		}
	}
	return o.TakeDropped(dst)
}

// Cancel removes the delivery at seq, queued or in flight, as if it had
// never been pushed: its message could not be stored, so its publisher was
// not acknowledged and will send it again. False if it is not there.
func (o *Outbox) Cancel(seq uint64) bool {
	for i := range o.inflight {
		if o.inflight[i].Seq == seq && o.inflight[i].QoS > 0 {
			o.remove(i)
			return true
		}
	}
	var kept ring
	found := false
	for o.queue.len() > 0 {
		v := o.queue.pop()
		if !found && v.QoS > 0 && v.Seq == seq {
			found = true
			o.queued12--
			o.bytes12 -= v.size()
			continue
		}
		kept.push(v)
	}
	o.queue = kept
	return found
}

// Restore refills an empty outbox with n deliveries read back from the
// data dir after a restart, at(i) being the i-th in Seq order. Each may or
// may not have reached the client before: PUBLISHes are sent again with
// DUP set [MQTT-4.4.0-1], and a QoS 2 message whose PUBREC had arrived is
// owed its PUBREL. Those up to the newest released one were in flight, and
// go back there, so the in-flight window stays in Seq order. lastSeq is the
// newest Seq the session had, which new deliveries follow, so that no
// packet id the client may still hold is given to another message.
func (o *Outbox) Restore(n int, at func(i int) Delivery, lastSeq uint64) {
	o.lastSeq = lastSeq
	last := -1
	for i := range n {
		if at(i).Released {
			last = i
		}
	}
	o.queue.reserve(n - last - 1)
	for i := range n {
		d := at(i)
		d.Stored = true
		d.Dup = !d.Released
		if d.Seq > o.lastSeq {
			o.lastSeq = d.Seq
		}
		if i <= last {
			d.PacketID = PacketIDFor(d.Seq)
			o.inflight = append(o.inflight, d)
			continue
		}
		if d.QoS == 0 {
			o.queued0++
		} else {
			o.queued12++
			o.bytes12 += d.size()
		}
		o.queue.push(d)
	}
	o.resendFrom = 0
}

// ring is a FIFO of deliveries that grows by doubling and gives its memory
// back when it empties, so an idle session holds no buffer.
type ring struct {
	buf        []Delivery
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) push(d Delivery) {
	if r.size == len(r.buf) {
		r.reserve(max(8, len(r.buf)))
	}
	r.buf[(r.head+r.size)%len(r.buf)] = d
	r.size++
}

// reserve makes room for n more deliveries.
func (r *ring) reserve(n int) {
	if r.size+n <= len(r.buf) {
		return
	}
	buf := make([]Delivery, r.size+n)
	k := copy(buf, r.buf[r.head:min(r.head+r.size, len(r.buf))])
	copy(buf[k:], r.buf[:r.size-k])
	r.buf, r.head = buf, 0
}

func (r *ring) peek() *Delivery { return &r.buf[r.head] }

// at returns the i-th delivery from the head.
func (r *ring) at(i int) *Delivery { return &r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) pop() Delivery {
	v := r.buf[r.head]
	r.buf[r.head] = Delivery{}
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	if r.size == 0 {
		r.head = 0
		if len(r.buf) > 64 {
			r.buf = nil
		}
	}
	return v
}
