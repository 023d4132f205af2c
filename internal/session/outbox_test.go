package session

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// sent is what a test observes of one Delivery returned by Next.
type sent struct {
	Topic    string
	QoS      byte
	ID       uint16
	Dup      bool
	Released bool
}

// push queues one delivery per QoS, on messages named prefix0, prefix1, ...,
// and fails the test unless each is Queued.
func push(t testing.TB, o *Outbox, lim Limits, online bool, prefix string, qos ...byte) {
	t.Helper()
	for i, q := range qos {
		d := Delivery{Msg: &Message{Topic: prefix + strconv.Itoa(i), QoS: q}, QoS: q}
		if v, r := o.Push(d, lim, online, false); v != Queued {
			t.Fatalf("setup push %d (QoS %d): got %v/%v, want Queued", i, q, v, r)
		}
	}
}

// drain calls Next until it returns nothing and records what came out. It
// also checks that Pending, asked before each call, agreed with Next
// whenever nothing expired on the way.
func drain(t testing.TB, o *Outbox, now time.Time) (out []sent, expired int) {
	t.Helper()
	for range 1 << 20 {
		pending := o.Pending()
		d, ok, exp := o.Next(now)
		expired += exp
		if exp == 0 && pending != ok {
			t.Errorf("after %v: Pending() = %v but Next ok = %v", out, pending, ok)
		}
		if !ok {
			return out, expired
		}
		out = append(out, sentOf(d))
	}
	t.Fatal("Next never ran dry")
	return nil, 0
}

// next calls Next once and fails unless it returns a delivery.
func next(t testing.TB, o *Outbox) sent {
	t.Helper()
	d, ok, _ := o.Next(time.Time{})
	if !ok {
		t.Fatal("Next returned nothing")
	}
	return sentOf(d)
}

// releasedTopic stands for the topic of a released QoS 2 delivery.
const releasedTopic = "(PUBREL)"

// sentOf is what the client sees of d. A released QoS 2 delivery is a
// PUBREL and no longer holds its message; it is shown by the topic it had.
func sentOf(d Delivery) sent {
	topic := releasedTopic
	if d.Msg != nil {
		topic = d.Msg.Topic
	}
	return sent{topic, d.QoS, d.PacketID, d.Dup, d.Released}
}

// TestOutboxPush covers every verdict of Push: each queue is bounded and
// says why it refuses.
func TestOutboxPush(t *testing.T) {
	type pre struct {
		online bool
		qos    []byte
		send   int // how many to take with Next afterwards (into flight)
	}
	tests := []struct {
		name            string
		lim             Limits
		pre             []pre
		qos             byte
		online, stalled bool
		want            Verdict
		reason          DropReason
	}{
		// QoS 0 for a connected subscriber: bounded by Flow only.
		{name: "qos0 online empty", lim: Limits{Flow: 2}, qos: 0, online: true, want: Queued},
		{name: "qos0 online below Flow", lim: Limits{Flow: 2}, pre: []pre{{online: true, qos: []byte{0}}},
			qos: 0, online: true, want: Queued},
		{name: "qos0 online below Flow stalled", lim: Limits{Flow: 2}, pre: []pre{{online: true, qos: []byte{0}}},
			qos: 0, online: true, stalled: true, want: Queued},
		{name: "qos0 online at Flow", lim: Limits{Flow: 2}, pre: []pre{{online: true, qos: []byte{0, 0}}},
			qos: 0, online: true, want: Full},
		{name: "qos0 online at Flow stalled", lim: Limits{Flow: 2}, pre: []pre{{online: true, qos: []byte{0, 0}}},
			qos: 0, online: true, stalled: true, want: Dropped, reason: DropStalledQoS0},
		{name: "qos0 online Flow counts QoS 0 apart from QoS 1/2", lim: Limits{Flow: 2},
			pre: []pre{{online: true, qos: []byte{1, 2, 0}}}, qos: 0, online: true, want: Queued},
		// QoS 1/2 for a connected subscriber: Flow makes publishers wait
		// whatever MaxQueued says; MaxQueued bounds what a stalled one keeps.
		{name: "qos1 online at Flow", lim: Limits{Flow: 2}, pre: []pre{{online: true, qos: []byte{1, 2}}},
			qos: 1, online: true, want: Full},
		{name: "qos1 online at Flow stalled, MaxQueued 0 never drops", lim: Limits{Flow: 2},
			pre: []pre{{online: true, qos: []byte{1, 2}}}, qos: 1, online: true, stalled: true, want: Queued},
		{name: "qos2 online at Flow stalled, below MaxQueued", lim: Limits{Flow: 2, MaxQueued: 3},
			pre: []pre{{online: true, qos: []byte{1, 2}}}, qos: 2, online: true, stalled: true, want: Queued},
		{name: "qos0 online Flow 0 is unlimited", pre: []pre{{online: true, qos: make([]byte, 1000)}},
			qos: 0, online: true, stalled: true, want: Queued},
		{name: "qos0 online ignores MaxQueued", lim: Limits{MaxQueued: 1},
			pre: []pre{{online: true, qos: []byte{1}}}, qos: 0, online: true, stalled: true, want: Queued},
		// QoS 0 for an offline session.
		{name: "qos0 offline not kept", lim: Limits{MaxQueued: 10}, qos: 0, want: Dropped, reason: DropOfflineQoS0},
		{name: "qos0 offline not kept, queue full", lim: Limits{MaxQueued: 1}, pre: []pre{{qos: []byte{1}}},
			qos: 0, want: Dropped, reason: DropOfflineQoS0},
		{name: "qos0 offline kept below MaxQueued", lim: Limits{MaxQueued: 3, QueueQoS0: true},
			pre: []pre{{qos: []byte{1, 0}}}, qos: 0, want: Queued},
		{name: "qos0 offline kept at MaxQueued of QoS 1/2", lim: Limits{MaxQueued: 2, QueueQoS0: true},
			pre: []pre{{qos: []byte{1, 2}}}, qos: 0, want: Dropped, reason: DropQueueFull},
		{name: "qos0 offline kept at MaxQueued of mixed", lim: Limits{MaxQueued: 2, QueueQoS0: true},
			pre: []pre{{qos: []byte{0, 1}}}, qos: 0, want: Dropped, reason: DropQueueFull},
		{name: "qos0 offline kept, QoS 0 queued while online counts", lim: Limits{MaxQueued: 2, QueueQoS0: true},
			pre: []pre{{online: true, qos: []byte{0, 0}}}, qos: 0, want: Dropped, reason: DropQueueFull},
		{name: "qos0 offline kept, MaxQueued 0 is unlimited", lim: Limits{QueueQoS0: true},
			pre: []pre{{qos: make([]byte, 1000)}}, qos: 0, want: Queued},
		// QoS 1/2.
		{name: "qos1 online below MaxQueued", lim: Limits{MaxQueued: 2}, pre: []pre{{online: true, qos: []byte{1}}},
			qos: 1, online: true, want: Queued},
		{name: "qos1 online at MaxQueued", lim: Limits{MaxQueued: 2}, pre: []pre{{online: true, qos: []byte{1, 2}}},
			qos: 1, online: true, want: Full},
		{name: "qos2 online at MaxQueued", lim: Limits{MaxQueued: 2}, pre: []pre{{online: true, qos: []byte{2, 2}}},
			qos: 2, online: true, want: Full},
		{name: "qos1 online at MaxQueued stalled", lim: Limits{MaxQueued: 2}, pre: []pre{{online: true, qos: []byte{1, 2}}},
			qos: 1, online: true, stalled: true, want: Dropped, reason: DropQueueFull},
		{name: "qos2 online at MaxQueued stalled", lim: Limits{MaxQueued: 2}, pre: []pre{{online: true, qos: []byte{1, 2}}},
			qos: 2, online: true, stalled: true, want: Dropped, reason: DropQueueFull},
		{name: "qos1 offline at MaxQueued", lim: Limits{MaxQueued: 2}, pre: []pre{{qos: []byte{1, 2}}},
			qos: 1, want: Dropped, reason: DropQueueFull},
		{name: "qos2 offline at MaxQueued", lim: Limits{MaxQueued: 2}, pre: []pre{{qos: []byte{2, 1}}},
			qos: 2, want: Dropped, reason: DropQueueFull},
		{name: "qos1 offline at MaxQueued, stalled flag ignored", lim: Limits{MaxQueued: 2}, pre: []pre{{qos: []byte{1, 2}}},
			qos: 1, stalled: true, want: Dropped, reason: DropQueueFull},
		{name: "qos1 online, queued QoS 0 does not count", lim: Limits{MaxQueued: 2, QueueQoS0: true},
			pre: []pre{{online: true, qos: []byte{0, 0, 1}}}, qos: 1, online: true, want: Queued},
		{name: "qos1 offline, kept QoS 0 counts", lim: Limits{MaxQueued: 2, QueueQoS0: true},
			pre: []pre{{qos: []byte{0, 1}}}, qos: 1, want: Dropped, reason: DropQueueFull},
		{name: "qos1 in flight does not count", lim: Limits{MaxQueued: 2},
			pre: []pre{{online: true, qos: []byte{1, 2}, send: 2}, {online: true, qos: []byte{1}}},
			qos: 2, online: true, want: Queued},
		{name: "qos1 MaxQueued 0 is unlimited offline", pre: []pre{{qos: slices.Repeat([]byte{1, 2}, 500)}},
			qos: 1, want: Queued},
		{name: "qos2 MaxQueued 0 is unlimited stalled", pre: []pre{{online: true, qos: slices.Repeat([]byte{1, 2}, 500)}},
			qos: 2, online: true, stalled: true, want: Queued},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(0)
			for _, p := range tc.pre {
				push(t, &o, tc.lim, p.online, "pre", p.qos...)
				for range p.send {
					next(t, &o)
				}
			}
			before := o.Len()
			d := Delivery{Msg: &Message{Topic: "new", QoS: tc.qos}, QoS: tc.qos}
			v, r := o.Push(d, tc.lim, tc.online, tc.stalled)
			if v != tc.want || (v == Dropped && r != tc.reason) {
				t.Fatalf("Push = %v/%v, want %v/%v", v, r, tc.want, tc.reason)
			}
			wantLen := before
			if v == Queued {
				wantLen++
			}
			if got := o.Len(); got != wantLen {
				t.Errorf("Len after Push = %d, want %d", got, wantLen)
			}
			// A refused message must not be in the queue: the last one out is
			// "new" exactly when it was queued.
			out, _ := drain(t, &o, time.Time{})
			last := ""
			if len(out) > 0 {
				last = out[len(out)-1].Topic
			}
			if (last == "new") != (v == Queued) {
				t.Errorf("verdict %v, but the last message delivered is %q", v, last)
			}
		})
	}
}

func TestDropReasonString(t *testing.T) {
	want := map[DropReason]string{
		DropQueueFull:   "queue_full",
		DropStalledQoS0: "stalled_qos0",
		DropOfflineQoS0: "offline_qos0",
		DropExpired:     "expired",
		DropTooLarge:    "too_large",
	}
	if len(want) != int(NumDropReasons) {
		t.Fatalf("table has %d reasons, NumDropReasons is %d", len(want), NumDropReasons)
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(r), r.String(), s)
		}
	}
}

func TestOutboxSetWindow(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{-1, 65535}, {0, 65535}, {1, 1}, {20, 20}, {65535, 65535}, {65536, 65535}, {1 << 20, 65535},
	} {
		var o Outbox
		o.SetWindow(tc.n)
		if o.window != tc.want {
			t.Errorf("SetWindow(%d): window %d, want %d", tc.n, o.window, tc.want)
		}
	}
}

// TestOutboxNextOrder checks that messages leave in the order they were
// queued, whatever their QoS [MQTT-4.6.0-6], and that QoS 1/2 take packet
// identifiers from 1 up [MQTT-2.2.1-3].
func TestOutboxNextOrder(t *testing.T) {
	tests := []struct {
		name   string
		window int
		qos    []byte
		want   []sent
	}{
		{name: "qos0 only passes straight through", window: 1, qos: []byte{0, 0, 0},
			want: []sent{{"m0", 0, 0, false, false}, {"m1", 0, 0, false, false}, {"m2", 0, 0, false, false}}},
		{name: "mixed FIFO, ids from 1", window: 10, qos: []byte{0, 1, 2, 0, 1, 2},
			want: []sent{{"m0", 0, 0, false, false}, {"m1", 1, 1, false, false}, {"m2", 2, 2, false, false},
				{"m3", 0, 0, false, false}, {"m4", 1, 3, false, false}, {"m5", 2, 4, false, false}}},
		// Strict FIFO: a QoS 0 at the head goes with the window full, but a
		// QoS 1 that does not fit holds back the QoS 0 behind it.
		{name: "window holds back everything behind", window: 2, qos: []byte{1, 0, 2, 0, 1, 0},
			want: []sent{{"m0", 1, 1, false, false}, {"m1", 0, 0, false, false}, {"m2", 2, 2, false, false},
				{"m3", 0, 0, false, false}}},
		{name: "window 1", window: 1, qos: []byte{2, 1},
			want: []sent{{"m0", 2, 1, false, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(tc.window)
			push(t, &o, Limits{}, true, "m", tc.qos...)
			got, _ := drain(t, &o, time.Time{})
			if !slices.Equal(got, tc.want) {
				t.Errorf("Next gave\n %+v\nwant\n %+v", got, tc.want)
			}
			if inflight := o.Inflight(); inflight > tc.window {
				t.Errorf("Inflight %d exceeds window %d", inflight, tc.window)
			}
			if o.Len() != len(tc.qos)-countQoS0(got) {
				t.Errorf("Len %d, want %d", o.Len(), len(tc.qos)-countQoS0(got))
			}
		})
	}
}

func countQoS0(s []sent) int {
	n := 0
	for _, v := range s {
		if v.QoS == 0 {
			n++
		}
	}
	return n
}

// TestOutboxWindowCompleteFreesSlot checks that a full window blocks the
// queue until a PUBACK/PUBCOMP frees a slot, and then only one more goes:
// the server never has more unacknowledged QoS 1/2 PUBLISHes than the
// client's Receive Maximum [MQTT-3.3.4-9].
func TestOutboxWindowCompleteFreesSlot(t *testing.T) {
	var o Outbox
	o.SetWindow(2)
	push(t, &o, Limits{}, true, "m", 1, 1, 0, 2, 0, 1)

	got, _ := drain(t, &o, time.Time{})
	want := []sent{{"m0", 1, 1, false, false}, {"m1", 1, 2, false, false}, {"m2", 0, 0, false, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("first drain %+v, want %+v", got, want)
	}
	if o.Pending() {
		t.Fatal("Pending with a full window and a QoS 1 at the head")
	}
	if !complete(&o, 1) {
		t.Fatal("Complete(1) = false")
	}
	if !o.Pending() {
		t.Fatal("not Pending after Complete freed a slot")
	}
	got, _ = drain(t, &o, time.Time{})
	want = []sent{{"m3", 2, 3, false, false}, {"m4", 0, 0, false, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("after Complete(1) %+v, want %+v", got, want)
	}
	if !complete(&o, 3) {
		t.Fatal("Complete(3) = false")
	}
	got, _ = drain(t, &o, time.Time{})
	// Identifiers go on upwards: 1 is free again but 4 comes next.
	want = []sent{{"m5", 1, 4, false, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("after Complete(3) %+v, want %+v", got, want)
	}
	if o.Inflight() != 2 || o.Len() != 2 {
		t.Errorf("Inflight %d Len %d, want 2 and 2", o.Inflight(), o.Len())
	}
}

// TestOutboxPacketIDs runs well past a wrap of the 16-bit space with some
// identifiers held in flight throughout, and checks every id against a
// model: the id follows from the message's place in the queue, is never 0
// [MQTT-2.2.1-3], and a message whose id is still in flight waits until it
// is free [MQTT-2.2.1-2].
func TestOutboxPacketIDs(t *testing.T) {
	tests := []struct {
		name string
		hold []int // indexes (0-based) of messages left in flight for a while
	}{
		{name: "none held", hold: nil},
		{name: "low ids held", hold: []int{0, 1, 2, 4}},
		{name: "ids around the wrap held", hold: []int{65533, 65534, 65535, 65537}},
		{name: "scattered", hold: []int{6, 100, 40000, 65536, 70000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(0)
			inflight := map[uint16]bool{}
			m := &Message{Topic: "t", QoS: 1}
			waited := 0
			for i := range 65535 + 10000 {
				if v, _ := o.Push(Delivery{Msg: m, QoS: 1}, Limits{}, true, false); v != Queued {
					t.Fatalf("push %d: %v", i, v)
				}
				want := uint16(i%65535 + 1)
				d, ok, _ := o.Next(time.Time{})
				if !ok {
					if !inflight[want] {
						t.Fatalf("Next %d: nothing, though id %d is free", i, want)
					}
					// The holder of the id is acknowledged at last: the
					// message waiting for its id goes.
					complete(&o, want)
					delete(inflight, want)
					waited++
					if d, ok, _ = o.Next(time.Time{}); !ok {
						t.Fatalf("Next %d: nothing after id %d was freed", i, want)
					}
				}
				if d.PacketID != want || d.PacketID == 0 {
					t.Fatalf("message %d: id %d, want %d (in flight %d)", i, d.PacketID, want, len(inflight))
				}
				if slices.Contains(tc.hold, i) {
					inflight[d.PacketID] = true
				} else if !complete(&o, d.PacketID) {
					t.Fatalf("Complete(%d) = false", d.PacketID)
				}
			}
			if o.Inflight() != len(inflight) {
				t.Errorf("Inflight %d, want %d", o.Inflight(), len(inflight))
			}
			if held := len(tc.hold); waited > held {
				t.Errorf("waited for an id %d times, with %d held", waited, held)
			}
		})
	}
}

// TestOutboxExpiry checks that a message whose Message Expiry Interval has
// passed is not sent [MQTT-3.3.2-5] and is counted.
func TestOutboxExpiry(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	tests := []struct {
		name        string
		expiry      []time.Time // one message each, QoS from qos
		qos         []byte
		want        []sent
		wantExpired int
	}{
		{name: "expired in the past", expiry: []time.Time{at(-time.Second)}, qos: []byte{1}, wantExpired: 1},
		{name: "expiring now is expired", expiry: []time.Time{now}, qos: []byte{2}, wantExpired: 1},
		{name: "one nanosecond left", expiry: []time.Time{at(time.Nanosecond)}, qos: []byte{1},
			want: []sent{{"m0", 1, 1, false, false}}},
		{name: "zero never expires", expiry: []time.Time{{}}, qos: []byte{0},
			want: []sent{{"m0", 0, 0, false, false}}},
		// An expired QoS 1/2 message had its place in the queue, and so the
		// packet id that goes with it; live ones keep their order.
		{name: "mixed", qos: []byte{1, 0, 0, 2, 1, 0},
			expiry: []time.Time{at(-time.Hour), at(time.Hour), at(-time.Millisecond), now, {}, at(-1)},
			want:   []sent{{"m1", 0, 0, false, false}, {"m4", 1, 3, false, false}}, wantExpired: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(10)
			for i, q := range tc.qos {
				m := &Message{Topic: "m" + string(rune('0'+i)), QoS: q, Expiry: tc.expiry[i]}
				if v, _ := o.Push(Delivery{Msg: m, QoS: q}, Limits{}, true, false); v != Queued {
					t.Fatalf("push %d: %v", i, v)
				}
			}
			got, expired := drain(t, &o, now)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Next gave %+v, want %+v", got, tc.want)
			}
			if expired != tc.wantExpired {
				t.Errorf("expired %d, want %d", expired, tc.wantExpired)
			}
			if o.Len() != o.Inflight() {
				t.Errorf("Len %d with %d in flight: expired messages still queued", o.Len(), o.Inflight())
			}
		})
	}
}

// TestOutboxExpiryCountPerCall checks that expired counts only what the one
// call discarded.
func TestOutboxExpiryCountPerCall(t *testing.T) {
	now := time.Unix(1e9, 0)
	old := now.Add(-time.Second)
	var o Outbox
	o.SetWindow(10)
	for i, e := range []time.Time{old, old, {}, old, {}} {
		q := byte(i % 3)
		o.Push(Delivery{Msg: &Message{Topic: "m", Expiry: e}, QoS: q}, Limits{}, true, false)
	}
	var counts []int
	for {
		_, ok, exp := o.Next(now)
		counts = append(counts, exp)
		if !ok {
			break
		}
	}
	if want := []int{2, 1, 0}; !slices.Equal(counts, want) {
		t.Errorf("expired per call %v, want %v", counts, want)
	}
}

// TestOutboxCompleteRelease checks the acknowledgement paths: PUBACK ends a
// QoS 1, PUBREC turns a QoS 2 into an owed PUBREL [MQTT-4.3.3-4] and
// PUBCOMP ends it; a PUBREC with an error code ends it too (Complete).
func TestOutboxCompleteRelease(t *testing.T) {
	type op struct {
		release bool // Release, else Complete
		id      uint16
		want    bool
	}
	// Each case starts with m0 QoS 1 (id 1) and m1 QoS 2 (id 2) in flight
	// and m2 QoS 2 queued behind a window of 2.
	tests := []struct {
		name         string
		ops          []op
		wantInflight []sent // in order, after the ops (seen through Resume)
	}{
		{name: "PUBACK", ops: []op{{false, 1, true}},
			wantInflight: []sent{{"m1", 2, 2, true, false}, {"m2", 2, 3, false, false}}},
		{name: "PUBACK twice", ops: []op{{false, 1, true}, {false, 1, false}},
			wantInflight: []sent{{"m1", 2, 2, true, false}, {"m2", 2, 3, false, false}}},
		{name: "unknown ids", ops: []op{{false, 0, false}, {false, 3, false}, {true, 0, false}, {true, 3, false}, {false, 65535, false}},
			wantInflight: []sent{{"m0", 1, 1, true, false}, {"m1", 2, 2, true, false}}},
		{name: "PUBREC for QoS 1 is refused", ops: []op{{true, 1, false}},
			wantInflight: []sent{{"m0", 1, 1, true, false}, {"m1", 2, 2, true, false}}},
		{name: "PUBREC then PUBCOMP", ops: []op{{true, 2, true}, {false, 2, true}},
			wantInflight: []sent{{"m0", 1, 1, true, false}, {"m2", 2, 3, false, false}}},
		{name: "PUBREC keeps it in flight", ops: []op{{true, 2, true}},
			wantInflight: []sent{{"m0", 1, 1, true, false}, {releasedTopic, 2, 2, false, true}}},
		// A repeated PUBREC is answered with PUBREL again [MQTT-4.3.3-4].
		{name: "PUBREC twice", ops: []op{{true, 2, true}, {true, 2, true}},
			wantInflight: []sent{{"m0", 1, 1, true, false}, {releasedTopic, 2, 2, false, true}}},
		{name: "PUBREC with error code completes", ops: []op{{false, 2, true}, {true, 2, false}},
			wantInflight: []sent{{"m0", 1, 1, true, false}, {"m2", 2, 3, false, false}}},
		{name: "both done", ops: []op{{true, 2, true}, {false, 1, true}, {false, 2, true}},
			wantInflight: []sent{{"m2", 2, 3, false, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(2)
			push(t, &o, Limits{}, true, "m", 1, 2, 2)
			next(t, &o)
			next(t, &o)
			if release(&o, 3) {
				t.Fatal("Release of a QoS 2 not yet in flight = true")
			}
			for _, p := range tc.ops {
				var got bool
				if p.release {
					got = release(&o, p.id)
				} else {
					got = complete(&o, p.id)
				}
				if got != p.want {
					t.Fatalf("release=%v id %d: got %v, want %v", p.release, p.id, got, p.want)
				}
			}
			// After Resume the in-flight entries come back first and
			// anything that fits the window follows.
			o.Resume()
			got, _ := drain(t, &o, time.Time{})
			if !slices.Equal(got, tc.wantInflight) {
				t.Errorf("after ops: %+v, want %+v", got, tc.wantInflight)
			}
		})
	}
}

// TestOutboxResume checks the resend of a resumed session: every in-flight
// message with its original packet id [MQTT-4.4.0-1] in its original order,
// PUBLISHes with DUP [MQTT-3.3.1-1] and released QoS 2 as PUBREL (a
// PUBREL has no DUP flag), then the queue, whose messages are not DUP.
func TestOutboxResume(t *testing.T) {
	var o Outbox
	o.SetWindow(4)
	push(t, &o, Limits{}, true, "a", 1, 2, 2, 1)
	for range 4 {
		next(t, &o)
	}
	if !release(&o, 3) {
		t.Fatal("Release(3) = false")
	}
	push(t, &o, Limits{}, true, "q", 0, 1)
	if o.Inflight() != 4 || o.Len() != 6 {
		t.Fatalf("Inflight %d Len %d, want 4 and 6", o.Inflight(), o.Len())
	}

	o.Resume()
	got, _ := drain(t, &o, time.Time{})
	want := []sent{
		{"a0", 1, 1, true, false},
		{"a1", 2, 2, true, false},
		{releasedTopic, 2, 3, false, true}, // PUBREL, not a PUBLISH
		{"a3", 1, 4, true, false},
		{"q0", 0, 0, false, false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after Resume\n %+v\nwant\n %+v", got, want)
	}
	// The window is full: q1 waits for an acknowledgement, and is not DUP.
	if !complete(&o, 4) {
		t.Fatal("Complete(4) = false")
	}
	got, _ = drain(t, &o, time.Time{})
	if want := []sent{{"q1", 1, 5, false, false}}; !slices.Equal(got, want) {
		t.Fatalf("after Complete(4) %+v, want %+v", got, want)
	}

	// A second reconnect before anything is acknowledged sends them all again.
	o.Resume()
	got, _ = drain(t, &o, time.Time{})
	want = []sent{{"a0", 1, 1, true, false}, {"a1", 2, 2, true, false}, {releasedTopic, 2, 3, false, true}, {"q1", 1, 5, true, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("after second Resume\n %+v\nwant\n %+v", got, want)
	}
}

// TestOutboxResumeIgnoresExpiry checks that a QoS 2 message once sent is
// resent after a reconnect even if its expiry has passed meanwhile
// [MQTT-4.3.3-7], and so is its PUBREL; only the queue is expired.
func TestOutboxResumeIgnoresExpiry(t *testing.T) {
	sentAt := time.Unix(1e9, 0)
	later := sentAt.Add(time.Hour)
	var o Outbox
	o.SetWindow(10)
	for i, q := range []byte{2, 2, 1} {
		m := &Message{Topic: "m" + strconv.Itoa(i), QoS: q, Expiry: sentAt.Add(time.Minute)}
		o.Push(Delivery{Msg: m, QoS: q}, Limits{}, true, false)
	}
	next(t, &o)
	next(t, &o)
	release(&o, 2)
	o.Resume()
	got, expired := drain(t, &o, later)
	want := []sent{{"m0", 2, 1, true, false}, {releasedTopic, 2, 2, false, true}}
	if !slices.Equal(got, want) || expired != 1 {
		t.Errorf("after Resume an hour later: %+v, %d expired; want %+v, 1 expired", got, expired, want)
	}
}

func TestOutboxResumeEmpty(t *testing.T) {
	var o Outbox
	o.SetWindow(2)
	push(t, &o, Limits{}, false, "m", 1, 2)
	o.Resume()
	got, _ := drain(t, &o, time.Time{})
	want := []sent{{"m0", 1, 1, false, false}, {"m1", 2, 2, false, false}}
	if !slices.Equal(got, want) {
		t.Errorf("Resume with nothing in flight: %+v, want %+v", got, want)
	}
}

// TestOutboxCompleteDuringResend acknowledges one message after the first
// has been resent; the rest keep their order and nothing is sent twice.
func TestOutboxCompleteDuringResend(t *testing.T) {
	tests := []struct {
		name     string
		complete uint16
		want     []sent // after the first resend
	}{
		{name: "already resent", complete: 1,
			want: []sent{{"m1", 1, 2, true, false}, {"m2", 2, 3, true, false}, {"m3", 1, 4, true, false}, {"q0", 1, 5, false, false}}},
		{name: "next to resend", complete: 2,
			want: []sent{{"m2", 2, 3, true, false}, {"m3", 1, 4, true, false}, {"q0", 1, 5, false, false}}},
		{name: "later one", complete: 3,
			want: []sent{{"m1", 1, 2, true, false}, {"m3", 1, 4, true, false}, {"q0", 1, 5, false, false}}},
		{name: "last one", complete: 4,
			want: []sent{{"m1", 1, 2, true, false}, {"m2", 2, 3, true, false}, {"q0", 1, 5, false, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(4)
			push(t, &o, Limits{}, true, "m", 1, 1, 2, 1)
			for range 4 {
				next(t, &o)
			}
			push(t, &o, Limits{}, true, "q", 1)
			o.Resume()
			if first := next(t, &o); first != (sent{"m0", 1, 1, true, false}) {
				t.Fatalf("first resend %+v", first)
			}
			if !complete(&o, tc.complete) {
				t.Fatalf("Complete(%d) = false", tc.complete)
			}
			got, _ := drain(t, &o, time.Time{})
			if !slices.Equal(got, tc.want) {
				t.Errorf("rest\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// TestOutboxDropQoS0 checks that ending a connection can discard the queued
// QoS 0 messages (session state holds them only optionally, MQTT 5.0
// section 4.1) and keeps the QoS 1/2 ones in their order.
func TestOutboxDropQoS0(t *testing.T) {
	tests := []struct {
		name     string
		qos      []byte
		send     int
		wantN    int
		wantRest []sent
	}{
		{name: "empty", wantN: 0},
		{name: "none", qos: []byte{1, 2}, wantN: 0,
			wantRest: []sent{{"m0", 1, 1, false, false}, {"m1", 2, 2, false, false}}},
		{name: "only", qos: []byte{0, 0, 0}, wantN: 3},
		{name: "mixed keeps order", qos: []byte{0, 1, 0, 2, 0, 1, 0}, wantN: 4,
			wantRest: []sent{{"m1", 1, 1, false, false}, {"m3", 2, 2, false, false}, {"m5", 1, 3, false, false}}},
		{name: "in flight untouched", qos: []byte{1, 0, 2, 0}, send: 1, wantN: 2,
			wantRest: []sent{{"m2", 2, 2, false, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			o.SetWindow(10)
			push(t, &o, Limits{}, true, "m", tc.qos...)
			for range tc.send {
				next(t, &o)
			}
			inflight := o.Inflight()
			if n := o.DropQoS0(); n != tc.wantN {
				t.Errorf("DropQoS0 = %d, want %d", n, tc.wantN)
			}
			if want := len(tc.qos) - tc.send - tc.wantN + inflight; o.Len() != want {
				t.Errorf("Len %d, want %d", o.Len(), want)
			}
			if o.Inflight() != inflight {
				t.Errorf("Inflight %d, want %d", o.Inflight(), inflight)
			}
			if n := o.DropQoS0(); n != 0 {
				t.Errorf("second DropQoS0 = %d, want 0", n)
			}
			got, _ := drain(t, &o, time.Time{})
			if !slices.Equal(got, tc.wantRest) {
				t.Errorf("rest %+v, want %+v", got, tc.wantRest)
			}
		})
	}
}

// TestOutboxDropQoS0Counts checks the queue limits see the dropped QoS 0
// messages gone and the QoS 1/2 ones still there.
func TestOutboxDropQoS0Counts(t *testing.T) {
	var o Outbox
	o.SetWindow(10)
	lim := Limits{Flow: 2, MaxQueued: 4, QueueQoS0: true}
	push(t, &o, Limits{}, true, "m", 0, 1, 0, 1, 1)
	d0 := Delivery{Msg: &Message{Topic: "x"}, QoS: 0}
	d1 := Delivery{Msg: &Message{Topic: "y", QoS: 1}, QoS: 1}
	steps := []struct {
		name   string
		drop   bool // DropQoS0 first, expecting wantN
		wantN  int
		d      Delivery
		online bool
		want   Verdict
	}{
		{name: "offline QoS 1, 3 QoS 1 and 2 QoS 0 queued", d: d1, want: Dropped},
		{name: "online QoS 0 at Flow", d: d0, online: true, want: Full},
		{name: "offline QoS 1 after DropQoS0", drop: true, wantN: 2, d: d1, want: Queued},
		{name: "offline QoS 1, 4 QoS 1 queued", d: d1, want: Dropped},
		{name: "online QoS 0 after DropQoS0", d: d0, online: true, want: Queued},
	}
	for _, s := range steps {
		if s.drop {
			if n := o.DropQoS0(); n != s.wantN {
				t.Fatalf("DropQoS0 = %d, want %d", n, s.wantN)
			}
		}
		if v, _ := o.Push(s.d, lim, s.online, false); v != s.want {
			t.Errorf("%s: %v, want %v", s.name, v, s.want)
		}
	}
}

func TestOutboxLenInflightClear(t *testing.T) {
	var o Outbox
	o.SetWindow(2)
	check := func(step string, wantLen, wantInflight int) {
		t.Helper()
		if o.Len() != wantLen || o.Inflight() != wantInflight {
			t.Errorf("%s: Len %d Inflight %d, want %d and %d", step, o.Len(), o.Inflight(), wantLen, wantInflight)
		}
	}
	check("zero", 0, 0)
	push(t, &o, Limits{}, true, "m", 1, 2, 1, 0, 2)
	check("pushed", 5, 0)
	next(t, &o)
	next(t, &o)
	check("two sent", 5, 2)
	complete(&o, 1)
	check("one acknowledged", 4, 1)
	next(t, &o)
	check("third sent", 4, 2)

	o.Clear()
	check("cleared", 0, 0)
	if _, ok, _ := o.Next(time.Time{}); ok || o.Pending() {
		t.Fatal("Next or Pending after Clear")
	}
	if complete(&o, 2) || release(&o, 2) {
		t.Error("an id from before Clear is still known")
	}
	// The window survives Clear; packet ids and queue counts start over.
	lim := Limits{MaxQueued: 3}
	push(t, &o, lim, false, "n", 2, 1, 1)
	got, _ := drain(t, &o, time.Time{})
	if want := []sent{{"n0", 2, 1, false, false}, {"n1", 1, 2, false, false}}; !slices.Equal(got, want) {
		t.Errorf("after Clear %+v, want %+v", got, want)
	}
}

// TestRingModel pushes and pops at random against a slice, seeded so every
// run is the same walk. Each cycle of 500 steps first leans to pushes, so
// a small ring whose head has moved grows while wrapped around; then a
// burst grows it past the size it gives back, and pops win until it is
// empty again.
func TestRingModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r ring
	var model []uint16
	var seq uint16
	pushOne := func() {
		seq++
		r.push(Delivery{PacketID: seq})
		model = append(model, seq)
	}
	var grewWrapped, emptiedLarge, maxBuf int
	for step := range 4000 {
		pushOdds := 6 // in 10
		if step%500 == 200 {
			for range 100 + rng.IntN(400) {
				pushOne()
			}
		}
		if step%500 >= 200 {
			pushOdds = 2
		}
		n := rng.IntN(8)
		if rng.IntN(10) < pushOdds {
			for range n {
				if r.size == len(r.buf) && r.head != 0 {
					grewWrapped++
				}
				pushOne()
			}
		} else {
			for range n {
				if len(model) == 0 {
					break
				}
				if got := r.peek().PacketID; got != model[0] {
					t.Fatalf("step %d: peek %d, want %d", step, got, model[0])
				}
				large := len(r.buf) > 64
				if got := r.pop().PacketID; got != model[0] {
					t.Fatalf("step %d: pop %d, want %d", step, got, model[0])
				}
				model = model[1:]
				if len(model) == 0 {
					if large {
						emptiedLarge++
					}
					if len(r.buf) > 64 {
						t.Fatalf("step %d: empty ring holds a buffer of %d", step, len(r.buf))
					}
				}
			}
		}
		if r.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, r.len(), len(model))
		}
		maxBuf = max(maxBuf, len(r.buf))
	}
	for len(model) > 0 {
		if got := r.pop().PacketID; got != model[0] {
			t.Fatalf("final drain: pop %d, want %d", got, model[0])
		}
		model = model[1:]
	}
	if len(r.buf) > 64 || r.head != 0 || r.size != 0 {
		t.Errorf("drained ring: buffer %d head %d size %d, want at most 64, 0, 0", len(r.buf), r.head, r.size)
	}
	// The walk must have exercised what it is meant to test.
	t.Logf("grew while wrapped %d times, emptied a large buffer %d times, largest buffer %d", grewWrapped, emptiedLarge, maxBuf)
	if grewWrapped < 5 || emptiedLarge < 3 || maxBuf < 512 {
		t.Error("the walk is too weak to test growth, wrap-around and shrinking")
	}
}

// TestOutboxReleasesMemory checks that a burst does not pin its buffers
// once the queue and the in-flight window are empty again.
func TestOutboxReleasesMemory(t *testing.T) {
	var o Outbox
	o.SetWindow(0)
	push(t, &o, Limits{}, true, "m", slices.Repeat([]byte{0, 1, 2}, 400)...)
	if len(o.queue.buf) < 1200 {
		t.Fatalf("queue buffer %d after 1200 pushes", len(o.queue.buf))
	}
	got, _ := drain(t, &o, time.Time{})
	if len(got) != 1200 {
		t.Fatalf("drained %d, want 1200", len(got))
	}
	if o.queue.buf != nil {
		t.Errorf("empty queue holds a buffer of %d", len(o.queue.buf))
	}
	for _, s := range got {
		if s.QoS > 0 && !complete(&o, s.ID) {
			t.Fatalf("Complete(%d) = false", s.ID)
		}
	}
	if o.inflight != nil {
		t.Errorf("empty in-flight window holds a slice of cap %d", cap(o.inflight))
	}

	// A small queue keeps its buffer: no allocation per message.
	push(t, &o, Limits{}, true, "s", 1, 1)
	drain(t, &o, time.Time{})
	complete(&o, 1)
	complete(&o, 2)
	if o.queue.buf == nil || o.inflight == nil {
		t.Errorf("small buffers were dropped: queue %v, in flight %v", o.queue.buf == nil, o.inflight == nil)
	}
}

func BenchmarkOutboxPushNext(b *testing.B) {
	var o Outbox
	o.SetWindow(100)
	m := &Message{Topic: "sensors/1/temp", Payload: []byte("21.5"), QoS: 1}
	lim := Limits{MaxQueued: 1000, Flow: 1000}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := o.Push(Delivery{Msg: m, QoS: 1}, lim, true, false); v != Queued {
			b.Fatalf("Push: %v", v)
		}
		d, ok, _ := o.Next(now)
		if !ok {
			b.Fatal("Next returned nothing")
		}
		if !complete(&o, d.PacketID) {
			b.Fatal("Complete = false")
		}
	}
}

// A client that reconnects with a smaller Receive Maximum is not sent more
// unacknowledged QoS 1/2 PUBLISHes than it allows [MQTT-3.3.4-9]. A PUBREL
// is not a PUBLISH and may go.
func TestOutboxResumeRespectsWindow(t *testing.T) {
	var o Outbox
	o.SetWindow(5)
	push(t, &o, Limits{}, true, "m", 1, 2, 1, 2, 1)
	for range 5 {
		next(t, &o)
	}
	release(&o, 4)

	// The client comes back with Receive Maximum 2.
	o.SetWindow(2)
	o.Resume()
	got, _ := drain(t, &o, time.Time{})
	want := []sent{{"m0", 1, 1, true, false}, {"m1", 2, 2, true, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("resent %+v with a window of 2; want %+v", got, want)
	}
	// An acknowledgement frees a slot for m2; the PUBREL for m3 follows at
	// once, and m4 waits, since m2 and m3 are unacknowledged and fill the window.
	complete(&o, 1)
	got, _ = drain(t, &o, time.Time{})
	if want := []sent{{"m2", 1, 3, true, false}, {releasedTopic, 2, 4, false, true}}; !slices.Equal(got, want) {
		t.Fatalf("after PUBACK 1: %+v, want %+v", got, want)
	}
	complete(&o, 2)
	if got, _ = drain(t, &o, time.Time{}); len(got) != 0 {
		t.Fatalf("after PUBCOMP 2: %+v, want nothing", got)
	}
	complete(&o, 4)
	got, _ = drain(t, &o, time.Time{})
	if want := []sent{{"m4", 1, 5, true, false}}; !slices.Equal(got, want) {
		t.Fatalf("after PUBCOMP 4: %+v, want %+v", got, want)
	}
}

// Drained is what wakes waiting publishers: a quarter of the limit of the
// kind they wait on must have been sent first, the lower of Flow and
// MaxQueued limiting QoS 1/2.
func TestDrained(t *testing.T) {
	var o Outbox
	o.SetWindow(10)
	lim := Limits{Flow: 8, MaxQueued: 4}
	for range 4 {
		o.Push(Delivery{Msg: &Message{}, QoS: 1}, lim, true, false)
		o.Push(Delivery{Msg: &Message{}, QoS: 0}, lim, true, false)
	}
	if o.Drained(1, lim) || !o.Drained(0, lim) {
		t.Fatalf("4 of 4 QoS 1 and 4 of 8 QoS 0 queued: Drained = %v, %v; want false, true", o.Drained(1, lim), o.Drained(0, lim))
	}
	o.Next(time.Now()) // the QoS 1 message at the head goes in flight
	if !o.Drained(1, lim) {
		t.Error("3 of 4 QoS 1 queued: not drained")
	}
	if !o.Drained(1, Limits{}) {
		t.Error("no limit: not drained")
	}
}

// MaxQueuedBytes bounds QoS 1/2 messages kept for an offline or stalled
// session by topic and payload bytes, as max_queued_bytes does in Mosquitto;
// a connected client that keeps up makes its publishers wait instead.
func TestMaxQueuedBytes(t *testing.T) {
	lim := Limits{MaxQueuedBytes: 100}
	msg := &Message{Topic: "t/1", Payload: make([]byte, 37)} // 40 bytes
	var o Outbox
	for i, want := range []Verdict{Queued, Queued, Dropped} {
		v, reason := o.Push(Delivery{Msg: msg, QoS: 1}, lim, false, false)
		if v != want || (v == Dropped && reason != DropQueueFull) {
			t.Fatalf("offline push %d: %v (%v), want %v", i+1, v, reason, want)
		}
	}
	if v, _ := o.Push(Delivery{Msg: msg, QoS: 1}, lim, true, false); v != Full {
		t.Errorf("connected client keeping up: %v, want Full", v)
	}
	if v, _ := o.Push(Delivery{Msg: msg, QoS: 1}, lim, true, true); v != Dropped {
		t.Errorf("stalled client: %v, want Dropped", v)
	}
	o.SetWindow(10)
	o.Next(time.Now()) // one goes in flight: its bytes no longer count
	if v, _ := o.Push(Delivery{Msg: msg, QoS: 1}, lim, false, false); v != Queued {
		t.Errorf("after one left the queue: %v, want Queued", v)
	}
	if v, _ := o.Push(Delivery{Msg: msg, QoS: 0}, Limits{MaxQueuedBytes: 1, QueueQoS0: true}, false, false); v != Queued {
		t.Errorf("QoS 0 counted against the byte limit: %v", v)
	}
}

// complete and release report only whether the packet id was in flight.
func complete(o *Outbox, id uint16) bool { _, ok := o.Complete(id); return ok }
func release(o *Outbox, id uint16) bool  { _, ok := o.Release(id); return ok }

// A stored QoS 2 delivery does not enter the in-flight window before the
// data dir has it; QoS 1 and unstored deliveries do not wait, and a
// stored QoS 2 delivery at the head holds back those behind it, so that
// order is kept [MQTT-4.6.0-6].
func TestOutboxQoS2WaitsForDurable(t *testing.T) {
	var o Outbox
	o.SetWindow(10)
	m := func(topic string) *Message { return &Message{Topic: topic, QoS: 2} }
	o.Push(Delivery{Msg: m("a"), QoS: 1, Stored: true}, Limits{}, true, false)
	o.Push(Delivery{Msg: m("b"), QoS: 2, Stored: true}, Limits{}, true, false)
	o.Push(Delivery{Msg: m("c"), QoS: 1, Stored: true}, Limits{}, true, false)
	o.Push(Delivery{Msg: m("d"), QoS: 2}, Limits{}, true, false)
	got, _ := drain(t, &o, time.Time{})
	if want := []sent{{"a", 1, 1, false, false}}; !slices.Equal(got, want) {
		t.Fatalf("before the disk: %+v, want %+v", got, want)
	}
	o.Durable(2)
	got, _ = drain(t, &o, time.Time{})
	if want := []sent{{"b", 2, 2, false, false}, {"c", 1, 3, false, false}, {"d", 2, 4, false, false}}; !slices.Equal(got, want) {
		t.Fatalf("after: %+v, want %+v", got, want)
	}

	// Commits of different publishers may land in another order than
	// their copies were queued: one on disk does not vouch for an older one.
	o.Push(Delivery{Msg: m("e"), QoS: 2, Stored: true}, Limits{}, true, false)
	o.Push(Delivery{Msg: m("f"), QoS: 2, Stored: true}, Limits{}, true, false)
	o.Durable(6)
	if got, _ := drain(t, &o, time.Time{}); len(got) != 0 {
		t.Fatalf("sent %+v while the older copy is not on disk", got)
	}
	o.Durable(5)
	got, _ = drain(t, &o, time.Time{})
	if want := []sent{{"e", 2, 5, false, false}, {"f", 2, 6, false, false}}; !slices.Equal(got, want) {
		t.Fatalf("once both are on disk: %+v, want %+v", got, want)
	}
}

// Restore puts deliveries read back from the data dir where they were:
// every one up to the newest released QoS 2 message is in flight, its
// PUBLISH resent with DUP or its PUBREL owed, with the packet ids their
// places give [MQTT-4.4.0-1]; the rest wait in the queue, with DUP set
// since they may have been sent. New deliveries follow them.
func TestOutboxRestore(t *testing.T) {
	var o Outbox
	o.SetWindow(10)
	msg := func(topic string) *Message { return &Message{Topic: topic, QoS: 2} }
	stored := []Delivery{
		{Msg: msg("a"), QoS: 1, Seq: 3},
		{QoS: 2, Seq: 4, Released: true},
		{Msg: msg("c"), QoS: 2, Seq: 7},
		{Msg: msg("d"), QoS: 1, Seq: 65536},
	}
	o.Restore(len(stored), func(i int) Delivery { return stored[i] }, 65536)
	o.Push(Delivery{Msg: msg("new"), QoS: 2, Stored: true}, Limits{}, true, false)
	got, _ := drain(t, &o, time.Time{})
	want := []sent{
		{"a", 1, 3, true, false}, {releasedTopic, 2, 4, false, true},
		{"c", 2, 7, true, false}, {"d", 1, 1, true, false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after Restore: %+v, want %+v", got, want)
	}
	o.Durable(o.LastSeq())
	if got := next(t, &o); got != (sent{"new", 2, 2, false, false}) {
		t.Fatalf("new delivery: %+v, want id 2 (seq 65537) and no DUP", got)
	}
	if o.Len() != 5 || o.Inflight() != 5 {
		t.Errorf("Len %d Inflight %d, want 5 and 5", o.Len(), o.Inflight())
	}
}

// Cancel takes back a delivery wherever it is; Unstore lists every stored
// delivery, once; TakeDropped lists stored deliveries that expired.
func TestOutboxForgetsStored(t *testing.T) {
	var o Outbox
	o.SetWindow(1)
	now := time.Now()
	for i, exp := range []time.Time{{}, {}, now.Add(-time.Second), {}} {
		m := &Message{Topic: strconv.Itoa(i), QoS: 1, Expiry: exp}
		o.Push(Delivery{Msg: m, QoS: 1, Stored: i != 3}, Limits{}, true, false)
	}
	if !o.Cancel(2) || o.Cancel(2) {
		t.Fatal("Cancel(2) did not take it back exactly once")
	}
	if got := next(t, &o); got.Topic != "0" {
		t.Fatalf("first delivery %+v, want 0", got)
	}
	complete(&o, 1)
	if got, _ := drain(t, &o, now); len(got) != 1 || got[0].Topic != "3" {
		t.Fatalf("after the expired one: %+v, want only 3", got)
	}
	if got := o.TakeDropped(nil); !slices.Equal(got, []uint64{3}) {
		t.Errorf("TakeDropped = %v, want [3]", got)
	}
	o.Push(Delivery{Msg: &Message{Topic: "5", QoS: 1}, QoS: 1, Stored: true}, Limits{}, true, false)
	if got := o.Unstore(nil); !slices.Equal(got, []uint64{5}) {
		t.Errorf("Unstore = %v, want [5] (4 was never stored)", got)
	}
	if got := o.Unstore(nil); len(got) != 0 {
		t.Errorf("second Unstore = %v, want none", got)
	}
}

// A message expires unsent only while its onward delivery cannot have
// started [MQTT-3.3.2-5]: one read back after a restart (DUP) may have
// reached the client, and one still waiting for the disk would be put
// after its delete.
func TestOutboxExpiryLeavesPossiblySent(t *testing.T) {
	var o Outbox
	o.SetWindow(10)
	now := time.Now()
	past := now.Add(-time.Second)
	stored := []Delivery{{Msg: &Message{Topic: "restored", QoS: 2, Expiry: past}, QoS: 2, Seq: 1}}
	o.Restore(len(stored), func(i int) Delivery { return stored[i] }, 1)
	o.Push(Delivery{Msg: &Message{Topic: "waiting", QoS: 2, Expiry: past}, QoS: 2, Stored: true}, Limits{}, true, false)
	got, expired := drain(t, &o, now)
	if want := []sent{{"restored", 2, 1, true, false}}; !slices.Equal(got, want) || expired != 0 {
		t.Fatalf("got %+v (%d expired), want the restored one sent again and nothing expired", got, expired)
	}
	o.Durable(2)
	if got, expired := drain(t, &o, now); len(got) != 0 || expired != 1 {
		t.Fatalf("once on disk: got %+v, %d expired; want it expired", got, expired)
	}
	if got := o.TakeDropped(nil); !slices.Equal(got, []uint64{2}) {
		t.Errorf("TakeDropped = %v, want [2]", got)
	}
}
