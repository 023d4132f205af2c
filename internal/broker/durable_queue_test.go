package broker

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// sessionExpiry is CONNECT properties asking for a session that outlives
// its connection by secs.
func sessionExpiry(secs uint32) packet.Properties {
	var p packet.Properties
	p.SessionExpiry = secs
	p.Set(packet.PropSessionExpiry)
	return p
}

// publishAcked sends a QoS 1 or 2 PUBLISH and reads its PUBACK or PUBREC,
// which it returns; for QoS 2 it completes the exchange with PUBREL.
func publishAcked(t *testing.T, c *client, id uint16, qos byte, topic, payload string) *packet.Ack {
	t.Helper()
	c.send(&packet.Publish{QoS: qos, PacketID: id, Topic: []byte(topic), Payload: []byte(payload)})
	a, ok := c.mustRecv().(*packet.Ack)
	if !ok || a.PacketID != id {
		t.Fatalf("PUBLISH %d: got %+v, want its acknowledgement", id, a)
	}
	ack := *a
	if qos == 2 {
		c.send(&packet.Ack{Kind: packet.PUBREL, PacketID: id})
		if p, ok := c.mustRecv().(*packet.Ack); !ok || p.Kind != packet.PUBCOMP || p.PacketID != id {
			t.Fatalf("PUBREL %d: got %+v, want PUBCOMP", id, p)
		}
	}
	return &ack
}

// recvPublish reads the next packet and fails unless it is a PUBLISH; the
// result is a copy that outlives the next read.
func recvPublish(t *testing.T, c *client) packet.Publish {
	t.Helper()
	pk := c.mustRecv()
	p, ok := pk.(*packet.Publish)
	if !ok {
		t.Fatalf("got %v, want PUBLISH", pk.Type())
	}
	cp := *p
	cp.Topic = append([]byte(nil), p.Topic...)
	cp.Payload = append([]byte(nil), p.Payload...)
	return cp
}

// expectNothing sends PINGREQ and fails unless PINGRESP is the next packet:
// nothing else was queued for the client.
func expectNothing(t *testing.T, c *client) {
	t.Helper()
	c.send(&packet.Pingreq{})
	if p := c.mustRecv(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v, want nothing more (PINGRESP)", p.Type())
	}
}

// Messages acknowledged to their publisher while a persistent session's
// client was away are in the data dir: after a restart the session is
// resumed with Session Present [MQTT-3.2.2-2] and gets them, QoS 1 and 2,
// in order [MQTT-4.6.0-6], each with DUP set, since the broker cannot know
// whether it was sent before [MQTT-4.4.0-1], and with the packet id its
// place in the queue gives. Once acknowledged they are deleted: the next
// start finds none.
func TestQueuedMessagesSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }

	run(func(ln *pipeListener) {
		for _, v := range []byte{packet.V5, packet.V311} {
			c := newClient(t, ln.Dial(), v)
			id := map[byte]string{packet.V5: "sub5", packet.V311: "sub3"}[v]
			c.connect(&packet.Connect{ClientID: id, Properties: map[byte]packet.Properties{packet.V5: sessionExpiry(3600)}[v]})
			c.subscribe(1, "site/#", 2)
			c.nc.Close()
		}
		pub := newClient(t, ln.Dial(), packet.V5)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i, qos := range []byte{1, 2, 1, 2} {
			if a := publishAcked(t, pub, uint16(i+1), qos, "site/m", string(rune('a'+i))); a.ReasonCode != packet.Success {
				t.Fatalf("PUBLISH %d refused: %v", i+1, a.ReasonCode)
			}
		}
		pub.nc.Close()
	})

	got := run(func(ln *pipeListener) {
		for _, v := range []byte{packet.V5, packet.V311} {
			c := newClient(t, ln.Dial(), v)
			id := map[byte]string{packet.V5: "sub5", packet.V311: "sub3"}[v]
			ack := c.connect(&packet.Connect{ClientID: id, Properties: map[byte]packet.Properties{packet.V5: sessionExpiry(3600)}[v]})
			if !ack.SessionPresent {
				t.Errorf("%s: Session Present 0 after a restart", id)
			}
			// A PUBREL may come after a later PUBLISH: only PUBRELs keep
			// the order of their PUBRECs [MQTT-4.6.0-4].
			got, released := 0, 0
			for got < 4 || released < 2 {
				switch p := c.mustRecv().(type) {
				case *packet.Publish:
					i := got
					qos := []byte{1, 2, 1, 2}[i]
					want := uint16(i + 1)
					if string(p.Payload) != string(rune('a'+i)) || p.QoS != qos || !p.Dup || p.PacketID != want {
						t.Fatalf("%s: message %d = %q QoS %d DUP %v id %d, want %q QoS %d DUP id %d",
							id, i, p.Payload, p.QoS, p.Dup, p.PacketID, string(rune('a'+i)), qos, want)
					}
					kind := packet.PUBACK
					if qos == 2 {
						kind = packet.PUBREC
					}
					c.send(&packet.Ack{Kind: kind, PacketID: p.PacketID})
					got++
				case *packet.Ack:
					if p.Kind != packet.PUBREL || (p.PacketID != 2 && p.PacketID != 4) {
						t.Fatalf("%s: got %v %d, want PUBREL 2 or 4", id, p.Kind, p.PacketID)
					}
					c.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID})
					released++
				default:
					t.Fatalf("%s: got %v", id, p.Type())
				}
			}
			expectNothing(t, c)
			c.nc.Close()
		}
	})
	if got.Queued != 8 || got.Sessions != 2 {
		t.Errorf("Recover = %+v, want 2 sessions and 8 queued messages", got)
	}
	if got := run(func(*pipeListener) {}); got.Queued != 0 || got.Sessions != 2 {
		t.Errorf("after every message was acknowledged, Recover = %+v, want 2 sessions and none queued", got)
	}
}

// QoS 2 state in flight to a client survives a restart: a message whose
// PUBREC the broker had is owed only its PUBREL, sent again with the same
// packet id [MQTT-4.3.3-4]; one the client had not acknowledged is sent
// again with DUP and the same packet id, so a client that had it does not
// deliver it twice [MQTT-4.3.3-10].
func TestOutboundQoS2SurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }
	var releasedID, unackedID uint16
	run(func(ln *pipeListener) {
		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "sub"})
		sub.subscribe(1, "t", 2)
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		publishAcked(t, pub, 1, 2, "t", "first")
		publishAcked(t, pub, 2, 2, "t", "second")

		p := recvPublish(t, sub)
		releasedID = p.PacketID
		sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
		p2 := recvPublish(t, sub) // not acknowledged
		unackedID = p2.PacketID
		if r, ok := sub.mustRecv().(*packet.Ack); !ok || r.Kind != packet.PUBREL || r.PacketID != releasedID {
			t.Fatalf("got %+v, want PUBREL %d", r, releasedID)
		}
		// No PUBCOMP: the broker stops owing PUBREL before the client answers.
		sub.nc.Close()
		pub.nc.Close()
	})
	run(func(ln *pipeListener) {
		sub := newClient(t, ln.Dial(), packet.V311)
		if ack := sub.connect(&packet.Connect{ClientID: "sub"}); !ack.SessionPresent {
			t.Error("Session Present 0 after a restart")
		}
		if r, ok := sub.mustRecv().(*packet.Ack); !ok || r.Kind != packet.PUBREL || r.PacketID != releasedID {
			t.Fatalf("got %+v, want PUBREL %d again, not the message", r, releasedID)
		}
		p := recvPublish(t, sub)
		if string(p.Payload) != "second" || p.PacketID != unackedID || !p.Dup {
			t.Fatalf("got %q id %d DUP %v, want second again with id %d and DUP", p.Payload, p.PacketID, p.Dup, unackedID)
		}
		sub.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: releasedID})
		sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: unackedID})
		if r, ok := sub.mustRecv().(*packet.Ack); !ok || r.Kind != packet.PUBREL || r.PacketID != unackedID {
			t.Fatalf("got %+v, want PUBREL %d", r, unackedID)
		}
		sub.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: unackedID})
		expectNothing(t, sub)
		sub.nc.Close()
	})
	if got := run(func(*pipeListener) {}); got.Queued != 0 {
		t.Errorf("Recover = %+v, want nothing queued once both exchanges completed", got)
	}
}

// A QoS 2 packet id received from a persistent session's client and not
// yet released survives a restart: the PUBLISH the client sends again is
// acknowledged but not routed a second time [MQTT-4.3.3-10]. Its PUBREL
// frees the id, on disk too.
func TestInboundQoS2SurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }
	run(func(ln *pipeListener) {
		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "sub"})
		sub.subscribe(1, "t", 2)
		sub.nc.Close()
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub"}) // persistent
		pub.send(&packet.Publish{QoS: 2, PacketID: 7, Topic: []byte("t"), Payload: []byte("once")})
		if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.Kind != packet.PUBREC || a.PacketID != 7 {
			t.Fatalf("got %+v, want PUBREC 7", a)
		}
		pub.nc.Close() // before PUBREL
	})
	run(func(ln *pipeListener) {
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub"})
		pub.send(&packet.Publish{QoS: 2, PacketID: 7, Dup: true, Topic: []byte("t"), Payload: []byte("once")})
		if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.Kind != packet.PUBREC || a.PacketID != 7 {
			t.Fatalf("got %+v, want PUBREC 7", a)
		}
		pub.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 7})
		if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.Kind != packet.PUBCOMP || a.PacketID != 7 {
			t.Fatalf("got %+v, want PUBCOMP 7", a)
		}
		pub.nc.Close()

		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "sub"})
		p := recvPublish(t, sub)
		sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
		sub.mustRecv() // PUBREL
		sub.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID})
		expectNothing(t, sub) // the resent PUBLISH was not routed again
		sub.nc.Close()
	})
	run(func(ln *pipeListener) {
		// The id is free: a new message with it is a new message.
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub"})
		publishAcked(t, pub, 7, 2, "t", "again")
		pub.nc.Close()
		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "sub"})
		if p := recvPublish(t, sub); string(p.Payload) != "again" {
			t.Fatalf("got %q, want the new message", p.Payload)
		}
		sub.nc.Close()
	})
}

// startOnHeldDisk runs a broker whose commits complete only when the test
// releases them.
func startOnHeldDisk(t *testing.T) (*heldDisk, *pipeListener) {
	t.Helper()
	disk := &heldDisk{}
	opts := quietOptions()
	opts.Durable = disk
	_, ln := startPipeServer(t, opts)
	return disk, ln
}

// persistentSubscriber connects a client with a persistent session to a
// broker on a held disk and subscribes it to t at QoS 2, releasing the
// session's record and the subscription so that SUBACK comes.
func persistentSubscriber(t *testing.T, disk *heldDisk, ln *pipeListener, version byte) *client {
	t.Helper()
	sub := newClient(t, ln.Dial(), version)
	cp := &packet.Connect{ClientID: "sub"}
	if version == packet.V5 {
		cp.Properties = sessionExpiry(60)
	}
	sub.connect(cp)
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 2}}})
	disk.awaitWaiting(t, 2) // the session's record, then its subscription
	disk.release(nil)
	if _, ok := sub.mustRecv().(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	return sub
}

// A QoS 2 message for a persistent session is not sent before it is on
// disk: if the broker died first, its publisher, never acknowledged, would
// send it again, and the subscriber would have it twice. QoS 1 allows a
// duplicate and is sent at once. A message that cannot be stored is taken
// back: the subscriber never sees it, and a v5 publisher is told 0x97.
func TestQoS2DeliveryWaitsForTheDisk(t *testing.T) {
	disk, ln := startOnHeldDisk(t)
	sub := persistentSubscriber(t, disk, ln, packet.V5)
	defer sub.nc.Close()
	pub := newClient(t, ln.Dial(), packet.V5)
	defer pub.nc.Close()
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})

	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Topic: []byte("t"), Payload: []byte("q1")})
	if p := recvPublish(t, sub); string(p.Payload) != "q1" {
		t.Fatalf("got %q, want the QoS 1 message before it is on disk", p.Payload)
	}
	pub.send(&packet.Publish{QoS: 2, PacketID: 2, Topic: []byte("t"), Payload: []byte("q2")})
	disk.awaitWaiting(t, 2) // both messages routed, neither on disk
	sub.send(&packet.Pingreq{})
	if p := sub.mustRecv(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v before the QoS 2 message was on disk", p.Type())
	}
	disk.release(nil)
	if p := recvPublish(t, sub); string(p.Payload) != "q2" {
		t.Fatalf("got %q, want the QoS 2 message once on disk", p.Payload)
	}
	for _, id := range []uint16{1, 2} {
		if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.PacketID != id || a.ReasonCode != packet.Success {
			t.Fatalf("publisher: %+v, want the acknowledgement of %d", a, id)
		}
	}

	pub.send(&packet.Publish{QoS: 2, PacketID: 3, Topic: []byte("t"), Payload: []byte("no room")})
	disk.releaseNext(t, store.ErrFull)
	if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.PacketID != 3 || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("full disk: %+v, want PUBREC 3 with 0x97", a)
	}
	disk.release(nil)
	expectNothing(t, sub)
}

// Start-up removes what expired while the broker was down: a queued
// message past its Message Expiry [MQTT-3.3.2-5] and the queue of a session
// past its expiry; records of a session that no longer exists go too.
func TestRecoveryDropsExpiredQueues(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	live := sessionRecord{version: packet.V5, expiry: time.Hour, disconnected: time.Now().Add(-time.Minute), incarnation: 1}
	dead := sessionRecord{version: packet.V5, expiry: time.Minute, disconnected: time.Now().Add(-time.Hour), incarnation: 2}
	fresh := &session.Message{Topic: "t", Payload: []byte("fresh"), QoS: 1}
	stale := &session.Message{Topic: "t", Payload: []byte("stale"), QoS: 1, Expiry: time.Now().Add(-time.Second)}
	queued := func(incarnation, seq uint64, m *session.Message) store.Op {
		st := sessionState{incarnation: incarnation}
		return store.Op{Kind: kindQueued, Key: st.queuedKey(seq), Value: appendQueuedRecord(nil, &session.Delivery{Msg: m, QoS: 1})}
	}
	deadSession := sessionState{incarnation: 2}
	writeRecords(t, dir,
		store.Op{Kind: kindSession, Key: []byte("live"), Value: live.append(nil)},
		store.Op{Kind: kindSession, Key: []byte("dead"), Value: dead.append(nil)},
		queued(1, 1, stale), queued(1, 2, fresh),
		queued(2, 1, fresh),
		queued(3, 1, fresh), // no session record: an ended session's
		store.Op{Kind: kindInbound, Key: deadSession.inboundKey(9)},
	)
	got := runOnDataDir(t, dir, func(ln *pipeListener) {
		c := newClient(t, ln.Dial(), packet.V5)
		c.connect(&packet.Connect{ClientID: "live", Properties: sessionExpiry(3600)})
		if p := recvPublish(t, c); string(p.Payload) != "fresh" || p.PacketID != 2 {
			t.Fatalf("got %q id %d, want fresh with id 2", p.Payload, p.PacketID)
		}
		c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: 2})
		expectNothing(t, c)
		c.nc.Close()
	})
	if got.Queued != 1 || got.QueuedExpired != 1 || got.SessionsExpired != 1 || got.Sessions != 1 {
		t.Errorf("Recover = %+v, want 1 session with 1 queued, 1 expired message, 1 expired session", got)
	}
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var left []string
	st.Scan(func(kind byte, key, _ []byte) error {
		left = append(left, string(kind)+":"+string(key))
		return nil
	})
	if len(left) != 1 || left[0] != "S:live" {
		t.Errorf("data dir holds %q, want only the live session's record", left)
	}
}

// A Clean Start ends a session with everything it had on disk, its queue
// and inbound QoS 2 ids included [MQTT-3.1.2-4].
func TestCleanStartForgetsQueue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }
	run(func(ln *pipeListener) {
		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "sub"})
		sub.subscribe(1, "t", 1)
		sub.send(&packet.Publish{QoS: 2, PacketID: 5, Topic: []byte("elsewhere"), Payload: []byte("x")})
		sub.mustRecv() // PUBREC; PUBREL never comes
		sub.nc.Close()
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i := range 3 {
			publishAcked(t, pub, uint16(i+1), 1, "t", "x")
		}
		pub.nc.Close()
	})
	run(func(ln *pipeListener) {
		sub := newClient(t, ln.Dial(), packet.V311)
		if ack := sub.connect(&packet.Connect{ClientID: "sub", CleanStart: true}); ack.SessionPresent {
			t.Error("Clean Start resumed the session")
		}
		expectNothing(t, sub)
		sub.send(&packet.Disconnect{})
		sub.nc.Close()
	})
	if got := run(func(*pipeListener) {}); got.Queued != 0 || got.Sessions != 0 {
		t.Errorf("Recover = %+v, want nothing left of the session", got)
	}
}

// A retained message the disk refused is taken back: its publisher is told
// 0x97, and a subscriber does not get what a restart would not bring back.
// The value it replaced is retained again.
func TestRetainedRefusedByTheDiskIsTakenBack(t *testing.T) {
	disk, ln := startOnHeldDisk(t)
	pub := newClient(t, ln.Dial(), packet.V5)
	defer pub.nc.Close()
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	pub.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: []byte("site/state"), Payload: []byte("old")})
	disk.releaseNext(t, nil)
	pub.mustRecv()
	pub.send(&packet.Publish{QoS: 1, PacketID: 2, Retain: true, Topic: []byte("site/state"), Payload: []byte("new")})
	disk.releaseNext(t, store.ErrFull)
	if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.PacketID != 2 || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("got %+v, want PUBACK 2 with 0x97", a)
	}
	sub := newClient(t, ln.Dial(), packet.V5)
	defer sub.nc.Close()
	sub.connect(&packet.Connect{ClientID: "sub", CleanStart: true})
	sub.subscribe(1, "site/#", 0)
	if p := recvPublish(t, sub); string(p.Payload) != "old" {
		t.Fatalf("retained %q, want the value before the refused one", p.Payload)
	}
}

// A session whose client never comes back takes its queue with it when it
// expires, so such clients do not make the data dir grow without bound.
func TestExpiredSessionTakesItsQueue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the server's shutdown, registered later
	opts := quietOptions()
	opts.Durable = st
	srv, ln := startPipeServer(t, opts)
	gone := newClient(t, ln.Dial(), packet.V5)
	gone.connect(&packet.Connect{ClientID: "gone", Properties: sessionExpiry(1)})
	gone.subscribe(1, "t", 1)
	gone.nc.Close()
	pub := newClient(t, ln.Dial(), packet.V5)
	defer pub.nc.Close()
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 3 {
		publishAcked(t, pub, uint16(i+1), 1, "t", "for nobody")
	}
	if n := st.Count(kindQueued); n != 3 {
		t.Fatalf("%d queued records, want 3", n)
	}
	// The session expires a second after its client left.
	for deadline := time.Now().Add(30 * time.Second); srv.Stats().Sessions > 1 || st.Count(kindQueued) > 0 || st.Count(kindSession) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("30 s on: %d sessions, %d queued records, %d session records", srv.Stats().Sessions, st.Count(kindQueued), st.Count(kindSession))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A QoS 2 PUBLISH whose exchange ended without success (the disk refused
// it, or a queue limit did) leaves no trace of its packet id: the publisher
// sends it again, or a new message, under that id, and the broker routes
// it instead of taking it for a duplicate [MQTT-4.3.3-10].
func TestFailedQoS2ExchangeForgetsItsID(t *testing.T) {
	disk, ln := startOnHeldDisk(t)
	sub := persistentSubscriber(t, disk, ln, packet.V311)
	defer sub.nc.Close()

	// 3.1.1, persistent: refused by the disk, so disconnected unacknowledged.
	pub := newClient(t, ln.Dial(), packet.V311)
	pub.connect(&packet.Connect{ClientID: "pub"})
	disk.awaitWaiting(t, 1) // its session record
	disk.release(nil)
	pub.send(&packet.Publish{QoS: 2, PacketID: 7, Topic: []byte("t"), Payload: []byte("first try")})
	disk.releaseNext(t, store.ErrFull)
	disk.releaseNext(t, nil) // the delete of the id, before the client hears
	if p, err := pub.recv(); err == nil {
		t.Fatalf("got %v for a message the disk refused; want the connection closed", p.Type())
	}
	// The session's records (the first connection's end, the second's
	// start) and the message are written as they come from here on.
	disk.releaseFromNowOn(t)
	pub = newClient(t, ln.Dial(), packet.V311)
	defer pub.nc.Close()
	pub.connect(&packet.Connect{ClientID: "pub"})
	pub.send(&packet.Publish{QoS: 2, PacketID: 7, Dup: true, Topic: []byte("t"), Payload: []byte("first try")})
	if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.Kind != packet.PUBREC || a.ReasonCode != packet.Success {
		t.Fatalf("resent PUBLISH: %+v, want PUBREC 0x00", a)
	}
	if p := recvPublish(t, sub); string(p.Payload) != "first try" {
		t.Fatalf("subscriber got %q, want the resent message", p.Payload)
	}
}

// A QoS 2 message whose PUBREC arrived is marked released in the data dir
// before any PUBREL goes out, also one sent again on a reconnection: until
// then a reconnecting client is sent the PUBLISH again (DUP, same id),
// which it answers with PUBREC again [MQTT-4.3.3-10]. Were PUBREL sent
// first, a crash could make a restarted broker send the message to a
// client that had completed it.
func TestPubrelWaitsForTheRelease(t *testing.T) {
	disk, ln := startOnHeldDisk(t)
	sub := persistentSubscriber(t, disk, ln, packet.V311)
	pub := newClient(t, ln.Dial(), packet.V5)
	defer pub.nc.Close()
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	pub.send(&packet.Publish{QoS: 2, PacketID: 1, Topic: []byte("t"), Payload: []byte("once")})
	disk.releaseNext(t, nil)
	p := recvPublish(t, sub)
	sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
	disk.awaitWaiting(t, 1) // the release, held
	sub.nc.Close()

	sub = newClient(t, ln.Dial(), packet.V311)
	defer sub.nc.Close()
	sub.connect(&packet.Connect{ClientID: "sub"})
	if again := recvPublish(t, sub); !again.Dup || again.PacketID != p.PacketID {
		t.Fatalf("got DUP %v id %d, want the PUBLISH again with DUP and id %d", again.Dup, again.PacketID, p.PacketID)
	}
	disk.releaseFromNowOn(t)
	sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
	if r, ok := sub.mustRecv().(*packet.Ack); !ok || r.Kind != packet.PUBREL || r.PacketID != p.PacketID {
		t.Fatalf("got %+v, want PUBREL %d once the release is on disk", r, p.PacketID)
	}
}

// After a restart, an expired QoS 2 message may have reached the client
// before, so it is sent again rather than dropped [MQTT-3.3.2-5]; an
// expired QoS 1 message is dropped. New messages get packet ids after
// every one the session had, dropped ones included.
func TestRecoveryKeepsExpiredQoS2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	rec := sessionRecord{version: packet.V5, expiry: time.Hour, disconnected: time.Now().Add(-time.Minute), incarnation: 3}
	sess := sessionState{incarnation: 3}
	past := time.Now().Add(-time.Second)
	queued := func(seq uint64, qos byte) store.Op {
		m := &session.Message{Topic: "t", Payload: []byte{'0' + qos}, QoS: qos, Expiry: past}
		return store.Op{Kind: kindQueued, Key: sess.queuedKey(seq), Value: appendQueuedRecord(nil, &session.Delivery{Msg: m, QoS: qos})}
	}
	writeRecords(t, dir,
		store.Op{Kind: kindSession, Key: []byte("c"), Value: rec.append(nil)},
		store.Op{Kind: kindSubscription, Key: subscriptionKey("c", "t"), Value: appendSubOptions(nil, subOptions{QoS: 2})},
		queued(1, 2), queued(2, 1),
	)
	got := runOnDataDir(t, dir, func(ln *pipeListener) {
		c := newClient(t, ln.Dial(), packet.V5)
		c.connect(&packet.Connect{ClientID: "c", Properties: sessionExpiry(3600)})
		if p := recvPublish(t, c); string(p.Payload) != "2" || p.PacketID != 1 || !p.Dup {
			t.Fatalf("got %q id %d DUP %v, want the expired QoS 2 message again as id 1", p.Payload, p.PacketID, p.Dup)
		}
		pub := newClient(t, ln.Dial(), packet.V5)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		publishAcked(t, pub, 1, 1, "t", "new")
		if p := recvPublish(t, c); string(p.Payload) != "new" || p.PacketID != 3 {
			t.Fatalf("got %q id %d, want the new message as id 3", p.Payload, p.PacketID)
		}
		pub.nc.Close()
		c.nc.Close()
	})
	if got.Queued != 1 || got.QueuedExpired != 1 {
		t.Errorf("Recover = %+v, want 1 queued and 1 expired", got)
	}
}

// The retained messages a persistent session's SUBSCRIBE asks for come
// after its SUBACK, with the retain flag [MQTT-3.3.1-8], and are queued
// like any other copy: one
// the client has not acknowledged is sent again, with DUP, after a restart.
func TestRetainedForPersistentSubscribeSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }
	topics := []string{"site/1/power", "site/2/power"}

	run(func(ln *pipeListener) {
		pub := newClient(t, ln.Dial(), packet.V5)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i, tp := range topics {
			pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Retain: true, Topic: []byte(tp), Payload: []byte("42")})
			if a, ok := pub.mustRecv().(*packet.Ack); !ok || a.ReasonCode != packet.Success {
				t.Fatalf("retained PUBLISH %d: %+v", i+1, a)
			}
		}
		pub.nc.Close()
		sub := newClient(t, ln.Dial(), packet.V5)
		sub.connect(&packet.Connect{ClientID: "sub", Properties: sessionExpiry(3600)})
		if ack := sub.subscribe(1, "site/#", 1); ack.ReasonCodes[0] != 1 {
			t.Fatalf("SUBACK %v", ack.ReasonCodes)
		}
		for range topics {
			if p := recvPublish(t, sub); !p.Retain || p.QoS != 1 {
				t.Fatalf("got %+v, want a retained QoS 1 message", p)
			}
		}
		sub.nc.Close() // unacknowledged
	})

	got := run(func(ln *pipeListener) {
		sub := newClient(t, ln.Dial(), packet.V5)
		if ack := sub.connect(&packet.Connect{ClientID: "sub", Properties: sessionExpiry(3600)}); !ack.SessionPresent {
			t.Fatal("Session Present 0 after a restart")
		}
		seen := map[string]bool{}
		for range topics {
			p := recvPublish(t, sub)
			if !p.Dup || !p.Retain {
				t.Fatalf("got %+v, want the retained message again with DUP", p)
			}
			seen[string(p.Topic)] = true
			sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
		}
		if len(seen) != len(topics) {
			t.Fatalf("got %v, want each of %v once", seen, topics)
		}
		expectNothing(t, sub)
		sub.nc.Close()
	})
	if got.Queued != len(topics) || got.Retained != len(topics) {
		t.Errorf("Recover = %+v, want %d retained and %d queued", got, len(topics), len(topics))
	}
}
