package interop

// Limits a v5 connection negotiates: topic aliases both ways, Maximum Packet
// Size both ways, Receive Maximum both ways, and Maximum QoS.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestV5TopicAliasFromClient: the server accepts Topic Aliases up to the
// Topic Alias Maximum it sent [MQTT-3.3.2-12]; a PUBLISH with an alias and an
// empty topic is delivered under the topic the alias was set to, and setting
// an alias again remaps it (§3.3.2.3.4).
func TestV5TopicAliasFromClient(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--max-topic-alias", "4")
	sub := connectV5(t, b, v5CleanStart("alias-sub"))
	sub.subscribe(paho.SubscribeOptions{Topic: "alias/#", QoS: 2})
	pub := connectV5(t, b, v5CleanStart("alias-pub"))
	if p := pub.Connack.Properties; p == nil || p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 4 {
		t.Fatalf("Topic Alias Maximum not 4 in CONNACK")
	}
	send := func(topic string, alias uint16, qos byte, payload string) {
		t.Helper()
		pub.publish(&paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload),
			Properties: &paho.PublishProperties{TopicAlias: v5U16(alias)}})
	}
	send("alias/first/long/topic/name", 1, 0, "set 1")
	send("", 1, 1, "use 1")
	send("alias/second", 4, 2, "set 4") // the maximum itself is valid
	send("", 4, 0, "use 4")
	send("", 1, 2, "use 1 again")
	send("alias/third", 1, 1, "remap 1")
	send("", 1, 0, "use remapped 1")
	for _, w := range []struct{ topic, payload string }{
		{"alias/first/long/topic/name", "set 1"},
		{"alias/first/long/topic/name", "use 1"},
		{"alias/second", "set 4"},
		{"alias/second", "use 4"},
		{"alias/first/long/topic/name", "use 1 again"},
		{"alias/third", "remap 1"},
		{"alias/third", "use remapped 1"},
	} {
		m := sub.nextPayload(w.topic, w.payload)
		if m.Properties != nil && m.Properties.TopicAlias != nil {
			t.Errorf("%q forwarded with Topic Alias %d to a client that allows none [MQTT-3.1.2-27]", w.payload, *m.Properties.TopicAlias)
		}
	}
}

// TestV5TopicAliasInvalid: an alias of 0 [MQTT-3.3.2-8] or above the server's
// Topic Alias Maximum [MQTT-3.3.2-9] ends the connection with DISCONNECT 0x94
// Topic Alias invalid (§3.3.2.3.4); an alias-only PUBLISH naming an alias that
// was never set on this connection is a Protocol Error (0x82; 0x94 is also
// fitting), even if it was set on an earlier one [MQTT-3.3.2-7]. Nothing is
// delivered.
func TestV5TopicAliasInvalid(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--max-topic-alias", "3")
	watch := connectV5(t, b, v5CleanStart("alias-watch"))
	watch.subscribe(paho.SubscribeOptions{Topic: "#", QoS: 0})
	tests := []struct {
		name  string
		topic string
		alias uint16
		want  []byte
	}{
		{"zero", "bad/zero", 0, []byte{v5ReasonTopicAliasInvalid}},
		{"above maximum", "bad/above", 4, []byte{v5ReasonTopicAliasInvalid}},
		{"far above maximum", "bad/far", 65535, []byte{v5ReasonTopicAliasInvalid}},
		{"unknown alias", "", 2, []byte{v5ReasonProtocolError, v5ReasonTopicAliasInvalid}},
		{"alias of an earlier connection", "", 1, []byte{v5ReasonProtocolError, v5ReasonTopicAliasInvalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "alias-" + strings.ReplaceAll(tt.name, " ", "-")
			session := properties{numProp(propSessionExpiry, 60)}
			if tt.name == "alias of an earlier connection" {
				// Aliases belong to a connection, not to the session
				// [MQTT-3.3.2-7].
				prev := dialV5Raw(t, b)
				prev.mustConnect(v5Connect{ClientID: id, CleanStart: true, Props: session})
				prev.send(v5Publish{Topic: "earlier/topic", Payload: []byte("sets alias 1"),
					Props: properties{numProp(propTopicAlias, 1)}}.encode())
				prev.send(v5EncodeDisconnect(v5ReasonSuccess, nil))
				prev.expectClosed(v5WaitFor)
				watch.nextPayload("earlier/topic", "sets alias 1")
			}
			c := dialV5Raw(t, b)
			c.mustConnect(v5Connect{ClientID: id, CleanStart: false, Props: session})
			c.send(v5Publish{Topic: tt.topic, QoS: 1, PacketID: 1, Payload: []byte(tt.name),
				Props: properties{numProp(propTopicAlias, uint32(tt.alias))}}.encode())
			reason, before := c.expectDisconnect(v5WaitFor)
			if reason < 0 || !slices.Contains(tt.want, byte(reason)) {
				t.Errorf("DISCONNECT reason %d (-1: closed without one), want one of %x", reason, tt.want)
			}
			if len(before) > 0 {
				t.Errorf("before DISCONNECT the server sent %v; the PUBLISH must not be acknowledged", before)
			}
			c.expectClosed(v5WaitFor)
		})
	}
	pub := connectV5(t, b, v5CleanStart("alias-marker"))
	pub.publishString("marker", 0, false, "marker")
	if m := watch.next(); string(m.Payload) != "marker" {
		t.Errorf("a PUBLISH with an invalid alias was delivered: %q on %q", m.Payload, m.Topic)
	}
}

// TestV5TopicAliasToClient: the server may use Topic Aliases towards a client
// that allows them, never above that client's Topic Alias Maximum
// [MQTT-3.1.2-26] [MQTT-3.3.2-11] and never 0 [MQTT-3.3.2-8], and an alias is
// only used after it was set; to a client that allows none it sends none
// [MQTT-3.1.2-27]. Either way every message resolves to its real topic.
func TestV5TopicAliasToClient(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	for _, max := range []uint16{0, 2, 10} {
		t.Run(fmt.Sprint("maximum ", max), func(t *testing.T) {
			t.Parallel()
			prefix := fmt.Sprintf("ta%d/", max) // the subtests share the broker
			var topics []string
			for _, name := range []string{"a/rather/long/topic/name/one", "two", "three/x", "four", "five"} {
				topics = append(topics, prefix+name)
			}
			c := dialV5Raw(t, b)
			var props properties
			if max > 0 {
				props = properties{numProp(propTopicAliasMaximum, uint32(max))}
			}
			id := fmt.Sprint("ta-sub-", max)
			c.mustConnect(v5Connect{ClientID: id, CleanStart: true, Props: props})
			c.subscribe(1, nil, v5Sub{Filter: prefix + "#", QoS: 1})
			pub := connectV5(t, b, v5CleanStart(fmt.Sprint("ta-pub-", max)))
			var want []string
			for round := range 3 {
				for i, topic := range topics {
					payload := fmt.Sprintf("%d.%d", round, i)
					pub.publishString(topic, byte(i%2), false, payload)
					want = append(want, topic+" "+payload)
				}
			}
			aliases := map[uint32]string{}
			used := 0
			for i, w := range want {
				p := c.expectPublish(v5WaitFor)
				if p.QoS > 0 {
					c.send(v5EncodeAck(pktPUBACK, p.PacketID, v5ReasonSuccess))
				}
				topic := p.Topic
				if a, ok := p.Props.get(propTopicAlias); ok {
					used++
					switch {
					case max == 0:
						t.Fatalf("Topic Alias %d sent to a client that allows none [MQTT-3.1.2-27]", a.Num)
					case a.Num == 0 || a.Num > uint32(max):
						t.Fatalf("Topic Alias %d outside 1..%d [MQTT-3.1.2-26] [MQTT-3.3.2-11]", a.Num, max)
					case topic != "":
						aliases[a.Num] = topic
					default:
						var known bool
						if topic, known = aliases[a.Num]; !known {
							t.Fatalf("message %d uses Topic Alias %d before it was set (§3.3.2.3.4)", i, a.Num)
						}
					}
				} else if topic == "" {
					t.Fatalf("message %d has an empty topic and no alias (§3.3.2.1)", i)
				}
				if got := topic + " " + string(p.Payload); got != w {
					t.Fatalf("message %d resolves to %q, want %q", i, got, w)
				}
			}
			t.Logf("Topic Alias Maximum %d: %d of %d messages carried an alias", max, used, len(want))
		})
	}
}

// TestV5MaximumPacketSizeToClient: the server never sends a packet larger than
// the client's Maximum Packet Size [MQTT-3.1.2-24]; a message too large is
// dropped for that client as if it had been sent [MQTT-3.1.2-25], so it does
// not hold a place in the client's Receive Maximum and a smaller one behind
// it is delivered.
func TestV5MaximumPacketSizeToClient(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "small", CleanStart: true, Props: properties{
		numProp(propMaximumPacketSize, 100),
		numProp(propReceiveMaximum, 1), // a dropped message that kept its slot would block the rest
	}})
	c.subscribe(1, nil, v5Sub{Filter: "mps/#", QoS: 1})
	big := connectV5(t, b, v5CleanStart("mps-pub"))
	full := connectV5(t, b, v5CleanStart("mps-full"))
	full.subscribe(paho.SubscribeOptions{Topic: "mps/#", QoS: 1})

	for qos := byte(0); qos <= 1; qos++ {
		big.publishString("mps/big", qos, false, strings.Repeat("B", 200))
		big.publishString("mps/small", qos, false, fmt.Sprint("small ", qos))
		big.publishString("mps/small", qos, false, fmt.Sprint("small again ", qos))
		// A client without a limit gets both.
		full.nextPayload("mps/big", strings.Repeat("B", 200))
		full.nextPayload("mps/small", fmt.Sprint("small ", qos))
		full.nextPayload("mps/small", fmt.Sprint("small again ", qos))
		for _, want := range []string{fmt.Sprint("small ", qos), fmt.Sprint("small again ", qos)} {
			p, err := c.next(v5WaitFor)
			if err != nil {
				t.Fatalf("QoS %d: waiting for %q: %v (a dropped message may still hold the only in-flight slot [MQTT-3.1.2-25])", qos, want, err)
			}
			if p.size > 100 {
				t.Fatalf("QoS %d: received a %d-byte %v, Maximum Packet Size is 100 [MQTT-3.1.2-24]", qos, p.size, p)
			}
			pub, err := v5DecodePublish(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(pub.Payload) != want {
				t.Fatalf("QoS %d: got %q, want %q", qos, pub.Payload, want)
			}
			if pub.QoS > 0 {
				c.send(v5EncodeAck(pktPUBACK, pub.PacketID, v5ReasonSuccess))
			}
		}
	}
	// The big message is not sent later either.
	c.expectNothing(v5Quiet)
}

// TestV5MaximumPacketSizeFromClient: a packet larger than the Maximum Packet
// Size the server advertised (--max-packet-size) [MQTT-3.2.2-15] ends the
// connection with DISCONNECT 0x95 Packet too large (§3.2.2.3.6) and is not
// delivered; one within the limit is.
func TestV5MaximumPacketSizeFromClient(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--max-packet-size", "256")
	watch := connectV5(t, b, v5CleanStart("mps-watch"))
	watch.subscribe(paho.SubscribeOptions{Topic: "limit/#", QoS: 1})

	c := dialV5Raw(t, b)
	ca := c.mustConnect(v5Connect{ClientID: "mps-big", CleanStart: true})
	if ca.Props.num(propMaximumPacketSize) != 256 {
		t.Fatalf("Maximum Packet Size %v, want 256", ca.Props)
	}
	ok := v5Publish{Topic: "limit/ok", QoS: 1, PacketID: 1, Payload: []byte(strings.Repeat("o", 200))}.encode()
	if len(ok) > 256 {
		t.Fatalf("test packet of %d bytes", len(ok))
	}
	c.send(ok)
	c.expect(pktPUBACK, v5WaitFor)
	watch.nextPayload("limit/ok", strings.Repeat("o", 200))

	tooBig := v5Publish{Topic: "limit/big", QoS: 1, PacketID: 2, Payload: []byte(strings.Repeat("x", 300))}
	c.send(tooBig.encode())
	c.expectDisconnectAndClose(v5ReasonPacketTooLarge, "Packet too large")
	pub := connectV5(t, b, v5CleanStart("mps-marker"))
	pub.publishString("limit/marker", 1, false, "marker")
	if m := watch.next(); string(m.Payload) != "marker" {
		t.Errorf("the oversized PUBLISH was delivered (%d bytes on %q)", len(m.Payload), m.Topic)
	}
}

// TestV5ReceiveMaximumEnforcedOnClient: a client that has more unfinished QoS 2
// PUBLISHes than the server's Receive Maximum breaks [MQTT-3.3.4-7]; the
// server ends the connection with DISCONNECT 0x93 Receive Maximum exceeded
// (§3.3.4). Those within the limit were acknowledged with PUBREC.
func TestV5ReceiveMaximumEnforcedOnClient(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--max-inflight-messages", "3")
	c := dialV5Raw(t, b)
	ca := c.mustConnect(v5Connect{ClientID: "greedy", CleanStart: true})
	if ca.Props.num(propReceiveMaximum) != 3 {
		t.Fatalf("Receive Maximum %v, want 3", ca.Props)
	}
	for id := uint16(1); id <= 4; id++ {
		c.send(v5Publish{Topic: "rm/in", QoS: 2, PacketID: id, Payload: []byte{byte(id)}}.encode())
	}
	reason, before := c.expectDisconnect(v5WaitFor)
	if reason != int(v5ReasonReceiveMaxExceeded) {
		t.Errorf("DISCONNECT reason %d (-1: closed without one), want 0x93 Receive Maximum exceeded", reason)
	}
	recs := 0
	for _, p := range before {
		if p.Type() == pktPUBREC {
			recs++
		}
	}
	if recs != 3 || len(before) != 3 {
		t.Errorf("before DISCONNECT: %v, want PUBREC for the 3 PUBLISHes within the limit", before)
	}
	c.expectClosed(v5WaitFor)
}

// TestV5ReceiveMaximumOfClient: the server never has more unacknowledged QoS 1
// and 2 PUBLISHes towards a client than the client's Receive Maximum
// [MQTT-3.3.4-9] [MQTT-4.9.0-2]; each acknowledgement lets one more through,
// in order [MQTT-4.6.0-6].
func TestV5ReceiveMaximumOfClient(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "slow", CleanStart: true, Props: properties{numProp(propReceiveMaximum, 2)}})
	c.subscribe(1, nil, v5Sub{Filter: "slow/#", QoS: 2})
	pub := connectV5(t, b, v5CleanStart("slow-pub"))
	const n = 10
	for i := range n {
		pub.publishString("slow/t", byte(1+i%2), false, fmt.Sprint(i))
	}

	type inflight struct {
		id  uint16
		qos byte
	}
	var pending []inflight
	next := 0
	receive := func() {
		t.Helper()
		p := c.expectPublish(v5WaitFor)
		if string(p.Payload) != fmt.Sprint(next) {
			t.Fatalf("got %q, want %d", p.Payload, next)
		}
		next++
		pending = append(pending, inflight{p.PacketID, p.QoS})
		if len(pending) > 2 {
			t.Fatalf("%d unacknowledged PUBLISHes in flight, Receive Maximum is 2 [MQTT-3.3.4-9]", len(pending))
		}
	}
	receive()
	receive()
	c.expectNothing(v5Quiet)
	for next < n {
		// Finish the oldest: PUBACK, or PUBREC then PUBREL/PUBCOMP. A QoS 2
		// message counts until PUBCOMP (§4.9).
		f := pending[0]
		pending = pending[1:]
		if f.qos == 1 {
			c.send(v5EncodeAck(pktPUBACK, f.id, v5ReasonSuccess))
		} else {
			c.send(v5EncodeAck(pktPUBREC, f.id, v5ReasonSuccess))
			p, err := c.next(v5WaitFor)
			if err != nil {
				t.Fatalf("waiting for PUBREL: %v", err)
			}
			if p.Type() == pktPUBLISH {
				t.Fatalf("a third PUBLISH was sent after PUBREC, before PUBCOMP: a QoS 2 message counts against Receive Maximum until PUBCOMP (§4.9) [MQTT-3.3.4-9]")
			}
			if a, err := v5DecodeAck(p); err != nil || p.Type() != pktPUBREL || a.PacketID != f.id {
				t.Fatalf("got %v %s, want PUBREL for packet %d", p, v5Describe(p), f.id)
			}
			c.send(v5EncodeAck(pktPUBCOMP, f.id, v5ReasonSuccess))
		}
		receive()
	}
	c.expectNothing(v5Quiet)
}

// TestV5MaximumQoS: a server with Maximum QoS 1 still accepts SUBSCRIBE at
// QoS 2, granting at most 1 [MQTT-3.2.2-10]; a client must not publish above
// the maximum [MQTT-3.2.2-11], and one that does gets DISCONNECT 0x9B QoS not
// supported (§3.2.2.3.4); a Will QoS above it is refused at CONNECT, 0x9B
// recommended, and the connection is closed [MQTT-3.2.2-12].
func TestV5MaximumQoS(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--max-qos", "1")

	t.Run("subscribe", func(t *testing.T) {
		c := dialV5Raw(t, b)
		c.mustConnect(v5Connect{ClientID: "mq-sub", CleanStart: true})
		granted := c.subscribe(1, nil, v5Sub{Filter: "mq/t", QoS: 2})
		if granted[0] > 1 {
			t.Errorf("granted QoS %d with Maximum QoS 1", granted[0])
		}
	})
	t.Run("publish", func(t *testing.T) {
		c := dialV5Raw(t, b)
		c.mustConnect(v5Connect{ClientID: "mq-pub", CleanStart: true})
		c.send(v5Publish{Topic: "mq/t", QoS: 2, PacketID: 1, Payload: []byte("2")}.encode())
		c.expectDisconnectAndClose(v5ReasonQoSNotSupported, "QoS not supported")
	})
	t.Run("will", func(t *testing.T) {
		c := dialV5Raw(t, b)
		ca := c.connect(v5Connect{ClientID: "mq-will", CleanStart: true, KeepAlive: 60,
			Will: &v5Publish{Topic: "mq/will", QoS: 2, Payload: []byte("w")}})
		if ca.Reason < 0x80 {
			t.Fatalf("CONNECT with Will QoS 2 accepted by a server with Maximum QoS 1 [MQTT-3.2.2-12]")
		}
		if ca.Reason != v5ReasonQoSNotSupported {
			t.Logf("refused with %#02x; 0x9B QoS not supported is recommended", ca.Reason)
		}
		c.expectClosed(v5WaitFor)
	})
}
