package interop

// Sessions of v5 clients: Clean Start, Session Expiry Interval, takeover,
// Message Expiry Interval of queued messages, and resending what was in
// flight.

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

func v5Resume(id string, expiry uint32) *paho.Connect {
	return &paho.Connect{ClientID: id, CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: v5U32(expiry)}}
}

func v5Persistent(id string, expiry uint32) *paho.Connect {
	cp := v5Resume(id, expiry)
	cp.CleanStart = true
	return cp
}

// TestV5SessionResumeDeliversQueued: a session with a Session Expiry Interval
// outlives its connection [MQTT-3.1.2-23]; messages for its subscriptions are
// queued while it is offline (§4.1), and a Clean Start 0 connection resumes it
// with Session Present 1 [MQTT-3.2.2-2] and receives them in order
// [MQTT-4.6.0-6].
func TestV5SessionResumeDeliversQueued(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	sub := connectV5(t, b, v5Persistent("v5Resume-sub", 60))
	sub.subscribe(paho.SubscribeOptions{Topic: "v5Resume/#", QoS: 2})
	sub.disconnect(v5ReasonSuccess, nil)

	pub := connectV5(t, b, v5CleanStart("v5Resume-pub"))
	for i := range 5 {
		pub.publishString(fmt.Sprintf("v5Resume/%d", i), byte(1+i%2), false, fmt.Sprint("queued ", i))
	}

	again := connectV5(t, b, v5Resume("v5Resume-sub", 60))
	if !again.Connack.SessionPresent {
		t.Fatalf("Session Present 0 on resuming a session with expiry 60 s [MQTT-3.2.2-2]")
	}
	for i := range 5 {
		m := again.nextPayload(fmt.Sprintf("v5Resume/%d", i), fmt.Sprint("queued ", i))
		if m.QoS != byte(1+i%2) {
			t.Errorf("queued message %d at QoS %d, want %d", i, m.QoS, 1+i%2)
		}
	}
	// The subscription is part of the session: live messages flow too.
	pub.publishString("v5Resume/live", 1, false, "live")
	again.nextPayload("v5Resume/live", "live")
}

// TestV5SessionExpiryZeroEndsAtDisconnect: with no Session Expiry Interval the
// session ends with the connection (§3.1.2.11.2), so a Clean Start 0
// reconnection finds none: Session Present 0 [MQTT-3.2.2-3], no subscriptions
// and nothing queued.
func TestV5SessionExpiryZeroEndsAtDisconnect(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"disconnect", "drop"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			b := StartBroker(t)
			id := "expiry0-" + how
			sub := connectV5(t, b, v5CleanStart(id))
			sub.subscribe(paho.SubscribeOptions{Topic: "expiry0/t", QoS: 1})
			if how == "disconnect" {
				sub.disconnect(v5ReasonSuccess, nil)
			} else {
				sub.dropConnection()
			}
			pub := connectV5(t, b, v5CleanStart("expiry0-pub"))
			pub.publishString("expiry0/t", 1, false, "for nobody")

			again := connectV5(t, b, &paho.Connect{ClientID: id, CleanStart: false})
			if again.Connack.SessionPresent {
				t.Fatalf("Session Present 1 for a session whose expiry was 0 [MQTT-3.2.2-3]")
			}
			pub.publishString("expiry0/t", 1, false, "after")
			again.expectNothing(v5Quiet)
		})
	}
}

// TestV5SessionExpiresAfterInterval: a session with a 1 s Session Expiry
// Interval is gone 3 s after its connection closed: Session Present 0
// [MQTT-3.2.2-3] and nothing queued for it is delivered. Setting the interval
// on DISCONNECT (§3.14.2.2.2) works the same way.
func TestV5SessionExpiresAfterInterval(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		how           string
		connectExpiry uint32                     // Session Expiry Interval on CONNECT
		onDisconnect  *paho.DisconnectProperties // nil: the CONNECT's interval stands
	}{
		{"connect", 1, nil},
		{"disconnect-property", 600, &paho.DisconnectProperties{SessionExpiryInterval: v5U32(1)}},
	} {
		t.Run(tt.how, func(t *testing.T) {
			t.Parallel()
			b := StartBroker(t)
			id := "expiry1-" + tt.how
			sub := connectV5(t, b, v5Persistent(id, tt.connectExpiry))
			sub.subscribe(paho.SubscribeOptions{Topic: "expiry1/t", QoS: 1})
			sub.disconnect(v5ReasonSuccess, tt.onDisconnect)
			pub := connectV5(t, b, v5CleanStart("expiry1-pub-"+tt.how))
			pub.publishString("expiry1/t", 1, false, "queued, then expired with the session")
			time.Sleep(3 * time.Second)

			again := connectV5(t, b, v5Resume(id, 60))
			if again.Connack.SessionPresent {
				t.Fatalf("Session Present 1, 3 s after a session with expiry 1 s ended [MQTT-3.2.2-3]")
			}
			again.expectNothing(v5Quiet)
		})
	}
}

// TestV5SessionTakeover: a second connection with a client id already
// connected takes the session over; the first receives DISCONNECT 0x8E
// Session taken over and is closed [MQTT-3.1.4-3], and the session carries
// on in the new connection.
func TestV5SessionTakeover(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	first := connectV5(t, b, v5Persistent("takeover", 60))
	first.subscribe(paho.SubscribeOptions{Topic: "takeover/t", QoS: 1})

	second := connectV5(t, b, v5Resume("takeover", 60))
	d := first.serverDisconnect()
	if d.ReasonCode != v5ReasonSessionTakenOver {
		t.Errorf("first connection got DISCONNECT %#02x, want 0x8E Session taken over [MQTT-3.1.4-3]", d.ReasonCode)
	}
	select {
	case <-first.Done():
	case <-time.After(v5WaitFor):
		t.Errorf("first connection still open after the takeover [MQTT-3.1.4-3]")
	}
	if !second.Connack.SessionPresent {
		t.Errorf("Session Present 0 on taking over a live session [MQTT-3.2.2-2]")
	}
	pub := connectV5(t, b, v5CleanStart("takeover-pub"))
	pub.publishString("takeover/t", 1, false, "to the new connection")
	second.nextPayload("takeover/t", "to the new connection")
}

// TestV5SessionTakeoverRaw checks the takeover on the wire: the DISCONNECT
// comes first, then the close [MQTT-3.1.4-3], and nothing follows it
// [MQTT-3.14.4-1].
func TestV5SessionTakeoverRaw(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	first := dialV5Raw(t, b)
	first.mustConnect(v5Connect{ClientID: "takeover-raw", CleanStart: true})
	second := dialV5Raw(t, b)
	second.mustConnect(v5Connect{ClientID: "takeover-raw", CleanStart: true})
	first.expectDisconnectAndClose(v5ReasonSessionTakenOver, "Session taken over, on the first connection [MQTT-3.1.4-3]")
}

// TestV5MessageExpiryWhileQueued: a message waiting for an offline session is
// dropped once its Message Expiry Interval has passed [MQTT-3.3.2-5]; one
// still alive is delivered with the interval reduced by the time it waited
// [MQTT-3.3.2-6].
func TestV5MessageExpiryWhileQueued(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	sub := connectV5(t, b, v5Persistent("mexp-sub", 600))
	sub.subscribe(paho.SubscribeOptions{Topic: "mexp/#", QoS: 1})
	sub.disconnect(v5ReasonSuccess, nil)

	pub := connectV5(t, b, v5CleanStart("mexp-pub"))
	pub.publish(&paho.Publish{Topic: "mexp/short", QoS: 1, Payload: []byte("expires"),
		Properties: &paho.PublishProperties{MessageExpiry: v5U32(1)}})
	pub.publish(&paho.Publish{Topic: "mexp/long", QoS: 1, Payload: []byte("survives"),
		Properties: &paho.PublishProperties{MessageExpiry: v5U32(60)}})
	published := time.Now()
	time.Sleep(3 * time.Second)

	again := connectV5(t, b, v5Resume("mexp-sub", 600))
	waited := time.Since(published)
	m := again.next()
	if m.Topic != "mexp/long" {
		t.Fatalf("got %q on %q first: the message with expiry 1 s was delivered after 3 s [MQTT-3.3.2-5]", m.Payload, m.Topic)
	}
	if m.Properties == nil || m.Properties.MessageExpiry == nil {
		t.Fatalf("Message Expiry Interval missing on delivery [MQTT-3.3.2-6]")
	}
	// It waited at least 3 s, so at most 57 s remain; rounding may keep 57.
	got := *m.Properties.MessageExpiry
	if got > 57 || got < 1 || float64(got) < 60-waited.Seconds()-1 {
		t.Errorf("Message Expiry Interval %d after waiting %.1fs, want 60 minus the wait [MQTT-3.3.2-6]", got, waited.Seconds())
	}
	// Nothing else was queued.
	pub.publishString("mexp/end", 1, false, "end")
	again.nextPayload("mexp/end", "end")
}

// TestV5SessionResendsUnacknowledged: on resuming a session the server resends
// unacknowledged QoS 1 PUBLISHes with their original Packet Identifiers
// [MQTT-4.4.0-1] and DUP set [MQTT-3.3.1-1], and for a QoS 2 message whose
// PUBREC it received it resends PUBREL, not the message [MQTT-4.4.0-1]
// (§4.3.3: the message is not delivered twice).
func TestV5SessionResendsUnacknowledged(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	sessionProps := properties{numProp(propSessionExpiry, 600)}

	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "resend", CleanStart: true, Props: sessionProps})
	c.subscribe(1, nil, v5Sub{Filter: "resend/#", QoS: 2})
	pub := connectV5(t, b, v5CleanStart("resend-pub"))
	pub.publishString("resend/q1", 1, false, "one")
	pub.publishString("resend/q2", 2, false, "two")

	p1 := c.expectPublish(v5WaitFor)
	p2 := c.expectPublish(v5WaitFor)
	if p1.Topic != "resend/q1" || p1.QoS != 1 || p2.Topic != "resend/q2" || p2.QoS != 2 {
		t.Fatalf("got %q qos %d and %q qos %d", p1.Topic, p1.QoS, p2.Topic, p2.QoS)
	}
	if p1.PacketID == 0 || p2.PacketID == 0 || p1.PacketID == p2.PacketID {
		t.Fatalf("packet ids %d and %d: want distinct and non-zero [MQTT-2.2.1-3]", p1.PacketID, p2.PacketID)
	}
	// Leave the QoS 1 message unacknowledged; take the QoS 2 one to PUBREL.
	c.send(v5EncodeAck(pktPUBREC, p2.PacketID, v5ReasonSuccess))
	if a, err := v5DecodeAck(c.expect(pktPUBREL, v5WaitFor)); err != nil || a.PacketID != p2.PacketID {
		t.Fatalf("PUBREL %+v %v, want packet %d", a, err, p2.PacketID)
	}
	c.conn.Close() // no PUBACK, no PUBCOMP, no DISCONNECT

	again := dialV5Raw(t, b)
	ca := again.mustConnect(v5Connect{ClientID: "resend", CleanStart: false, Props: sessionProps})
	if !ca.SessionPresent {
		t.Fatalf("Session Present 0 [MQTT-3.2.2-2]")
	}
	var gotPublish, gotPubrel bool
	for !gotPublish || !gotPubrel {
		p, err := again.next(v5WaitFor)
		if err != nil {
			t.Fatalf("resent PUBLISH %v, PUBREL %v: %v [MQTT-4.4.0-1]", gotPublish, gotPubrel, err)
		}
		switch p.Type() {
		case pktPUBLISH:
			pub, err := v5DecodePublish(p)
			if err != nil {
				t.Fatal(err)
			}
			if pub.Topic == "resend/q2" {
				t.Fatalf("QoS 2 message sent again after PUBREC: want PUBREL only [MQTT-4.4.0-1]")
			}
			if pub.Topic != "resend/q1" || pub.PacketID != p1.PacketID || !pub.Dup || gotPublish {
				t.Fatalf("resent %q id %d dup %v, want %q id %d dup 1 once [MQTT-4.4.0-1] [MQTT-3.3.1-1]",
					pub.Topic, pub.PacketID, pub.Dup, p1.Topic, p1.PacketID)
			}
			gotPublish = true
			again.send(v5EncodeAck(pktPUBACK, pub.PacketID, v5ReasonSuccess))
		case pktPUBREL:
			a, err := v5DecodeAck(p)
			if err != nil || a.PacketID != p2.PacketID || gotPubrel {
				t.Fatalf("PUBREL %+v %v, want packet %d once", a, err, p2.PacketID)
			}
			gotPubrel = true
			again.send(v5EncodeAck(pktPUBCOMP, a.PacketID, v5ReasonSuccess))
		default:
			t.Fatalf("unexpected %v %s", p, v5Describe(p))
		}
	}
	pub.publishString("resend/q1", 1, false, "end")
	if end := again.expectPublish(v5WaitFor); string(end.Payload) != "end" {
		t.Fatalf("got %q, want the end marker", end.Payload)
	}
}

// TestV5DisconnectCannotSetExpiryAfterZero: a client that connected with a
// Session Expiry Interval of 0 must not set a non-zero one on DISCONNECT
// (§3.14.2.2.2); the server does not treat that as a valid DISCONNECT but
// answers with DISCONNECT 0x82 Protocol Error, so the session
// still ends and the will, not deleted by a valid DISCONNECT 0x00, is
// published [MQTT-3.1.2-8].
func TestV5DisconnectCannotSetExpiryAfterZero(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	w := v5WillWatcher(t, b, "watcher")
	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "zero-then-60", CleanStart: true,
		Will: &v5Publish{Topic: "will/zero-then-60", QoS: 1, Payload: []byte("protocol error")}})
	c.subscribe(1, nil, v5Sub{Filter: "kept/if/wrong", QoS: 1})
	c.send(v5EncodeDisconnect(v5ReasonSuccess, properties{numProp(propSessionExpiry, 60)}))
	reason, before := c.expectDisconnect(v5WaitFor)
	if reason != int(v5ReasonProtocolError) {
		t.Errorf("server answered with DISCONNECT reason %d (-1: closed without one) after %v, want 0x82 Protocol Error", reason, before)
	}
	w.nextPayload("will/zero-then-60", "protocol error")

	again := connectV5(t, b, &paho.Connect{ClientID: "zero-then-60", CleanStart: false})
	if again.Connack.SessionPresent {
		t.Errorf("Session Present 1: the invalid DISCONNECT's Session Expiry Interval was applied (§3.14.2.2.2)")
	}
}

// TestV5MessageExpiryOfRetained: the Message Expiry Interval is the lifetime
// of the message (§3.3.2.3.3), retained copies included: an expired retained
// message is not sent to a new subscriber [MQTT-3.3.2-5], and a live one is
// sent with the interval reduced by the time it was kept [MQTT-3.3.2-6].
func TestV5MessageExpiryOfRetained(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	pub := connectV5(t, b, v5CleanStart("rexp-pub"))
	pub.publish(&paho.Publish{Topic: "rexp/short", QoS: 1, Retain: true, Payload: []byte("expires"),
		Properties: &paho.PublishProperties{MessageExpiry: v5U32(1)}})
	pub.publish(&paho.Publish{Topic: "rexp/long", QoS: 1, Retain: true, Payload: []byte("survives"),
		Properties: &paho.PublishProperties{MessageExpiry: v5U32(60)}})
	published := time.Now()
	time.Sleep(3 * time.Second)

	sub := connectV5(t, b, v5CleanStart("rexp-sub"))
	sub.subscribe(paho.SubscribeOptions{Topic: "rexp/#", QoS: 1})
	waited := time.Since(published)
	m := sub.next()
	if m.Topic != "rexp/long" {
		t.Fatalf("got retained %q on %q: it expired 2 s before the subscription [MQTT-3.3.2-5]", m.Payload, m.Topic)
	}
	if m.Properties == nil || m.Properties.MessageExpiry == nil {
		t.Fatalf("retained message sent without its Message Expiry Interval [MQTT-3.3.2-6]")
	}
	if got := *m.Properties.MessageExpiry; got > 57 || got < 1 || float64(got) < 60-waited.Seconds()-1 {
		t.Errorf("Message Expiry Interval %d after %.1fs retained, want 60 minus that [MQTT-3.3.2-6]", got, waited.Seconds())
	}
	pub.publishString("rexp/end", 1, false, "end")
	sub.nextPayload("rexp/end", "end")
}
