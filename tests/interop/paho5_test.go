package interop

// MQTT 5.0 interoperability with Eclipse paho.golang over real TCP. Each test
// runs its own broker and names the normative statements it checks. Tests
// that need to see or send exactly what is on the wire use the raw client in
// v5_wire_test.go. The themes are split across files:
//
//	paho5_test.go         helpers; CONNACK, QoS, properties, authentication, shutdown
//	v5_session_test.go    Clean Start, Session Expiry, takeover, Message Expiry, resend
//	v5_will_test.go       Will Messages and the Will Delay Interval
//	v5_subscribe_test.go  retained messages, subscription options and identifiers, shared subscriptions, $SYS
//	v5_flow_test.go       topic aliases, Maximum Packet Size, Receive Maximum, Maximum QoS
//	v5_wire_test.go       the raw client: MQTT 5.0 packets encoded and decoded by hand

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

const (
	// v5WaitFor bounds the wait for something that must happen. It is long so
	// that a slow machine does not fail a test; a broker that is right
	// answers in milliseconds.
	v5WaitFor = 10 * time.Second
	// v5Quiet is how long a test watches for something that must not
	// happen, where no later event can prove its absence.
	v5Quiet = 1500 * time.Millisecond
)

func v5U16(v uint16) *uint16 { return &v }
func v5U32(v uint32) *uint32 { return &v }
func v5Byte(v byte) *byte    { return &v }

// v5Client is a connected paho.golang client whose received PUBLISHes and
// server DISCONNECT are collected on channels.
type v5Client struct {
	*paho.Client
	t       testing.TB
	conn    net.Conn // to close the socket without DISCONNECT
	Connack *paho.Connack

	msgs        chan *paho.Publish    // received PUBLISHes, in order
	disconnects chan *paho.Disconnect // a DISCONNECT from the server
	stop        chan struct{}         // closed at cleanup to release a blocked handler
}

// connectV5 dials the broker and connects with cp, failing the test unless
// the broker accepts. A zero KeepAlive is replaced by 30 s.
func connectV5(t testing.TB, b *Broker, cp *paho.Connect) *v5Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", b.Addr, err)
	}
	c := &v5Client{
		t:    t,
		conn: conn,
		// Enough for every test's messages; when full the handler blocks,
		// which holds back acknowledgements rather than losing messages.
		msgs:        make(chan *paho.Publish, 4096),
		disconnects: make(chan *paho.Disconnect, 1),
		stop:        make(chan struct{}),
	}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				select {
				case c.msgs <- pr.Packet:
				case <-c.stop:
				}
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.disconnects <- d:
			default:
			}
		},
		PacketTimeout: v5WaitFor,
	})
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), v5WaitFor)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		if ca != nil {
			t.Fatalf("connecting %q: CONNACK reason %#02x: %v", cp.ClientID, ca.ReasonCode, err)
		}
		t.Fatalf("connecting %q: %v", cp.ClientID, err)
	}
	c.Connack = ca
	t.Cleanup(func() {
		close(c.stop)
		// The broker may already have closed the connection; then this
		// only releases the client.
		c.Client.Disconnect(&paho.Disconnect{ReasonCode: v5ReasonSuccess})
	})
	return c
}

// subscribe sends one SUBSCRIBE with the given subscriptions.
func (c *v5Client) subscribe(subs ...paho.SubscribeOptions) *paho.Suback {
	c.t.Helper()
	return c.subscribeProps(nil, subs...)
}

func (c *v5Client) subscribeProps(props *paho.SubscribeProperties, subs ...paho.SubscribeOptions) *paho.Suback {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5WaitFor)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs, Properties: props})
	if err != nil {
		c.t.Fatalf("subscribe %v: %v", subs, err)
	}
	return sa
}

// publish sends p and, for QoS 1 and 2, waits for the flow to complete with
// a success reason code.
func (c *v5Client) publish(p *paho.Publish) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5WaitFor)
	defer cancel()
	resp, err := c.Publish(ctx, p)
	if err != nil {
		c.t.Fatalf("publish to %q: %v", p.Topic, err)
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		c.t.Fatalf("publish to %q refused: %#02x", p.Topic, resp.ReasonCode)
	}
}

// publishString publishes a payload with no properties.
func (c *v5Client) publishString(topic string, qos byte, retain bool, payload string) {
	c.t.Helper()
	c.publish(&paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)})
}

// next waits for the next received message.
func (c *v5Client) next() *paho.Publish {
	c.t.Helper()
	return v5Receive(c.t, c.msgs, "message")
}

// nextPayload waits for the next message and fails unless it is on topic
// with payload.
func (c *v5Client) nextPayload(topic, payload string) *paho.Publish {
	c.t.Helper()
	m := c.next()
	if m.Topic != topic || string(m.Payload) != payload {
		c.t.Fatalf("got %q on %q, want %q on %q", m.Payload, m.Topic, payload, topic)
	}
	return m
}

// expectNothing fails if a message arrives within d.
func (c *v5Client) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("unexpected message %q on %q (retain %v)", m.Payload, m.Topic, m.Retain)
	case <-time.After(d):
	}
}

// serverDisconnect waits for a DISCONNECT from the server.
func (c *v5Client) serverDisconnect() *paho.Disconnect {
	c.t.Helper()
	return v5Receive(c.t, c.disconnects, "DISCONNECT from the server")
}

// v5Receive waits up to v5WaitFor for a value on ch, failing the test with
// "no what" if none comes.
func v5Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(v5WaitFor):
		t.Fatalf("no %s within %v", what, v5WaitFor)
		var zero T
		return zero
	}
}

// dropConnection closes the socket without sending DISCONNECT.
func (c *v5Client) dropConnection() {
	c.conn.Close()
	select {
	case <-c.Done():
	case <-time.After(v5WaitFor):
		c.t.Fatalf("paho client did not stop after its connection closed")
	}
}

// disconnect sends DISCONNECT with the given reason code and closes.
func (c *v5Client) disconnect(reason byte, props *paho.DisconnectProperties) {
	c.t.Helper()
	if err := c.Disconnect(&paho.Disconnect{ReasonCode: reason, Properties: props}); err != nil {
		c.t.Fatalf("disconnect: %v", err)
	}
}

func v5CleanStart(id string) *paho.Connect {
	return &paho.Connect{ClientID: id, CleanStart: true}
}

// TestV5ConnackAdvertisesServerSettings checks that CONNACK tells a v5 client
// what the server supports and that the values follow the command line.
func TestV5ConnackAdvertisesServerSettings(t *testing.T) {
	t.Parallel()
	type want struct {
		receiveMax    uint16  // §3.2.2.3.3: absent means 65535
		maxQoS        *byte   // present only below 2 [MQTT-3.2.2-9]
		maxPacketSize *uint32 // absent means no limit (§3.2.2.3.6)
		topicAliasMax uint16  // absent means 0 (§3.2.2.3.8)
		keepAlive     *uint16 // Server Keep Alive [MQTT-3.2.2-21]
	}
	tests := []struct {
		name      string
		args      []string
		keepAlive uint16
		want      want
	}{
		{
			name:      "defaults",
			keepAlive: 30,
			want:      want{receiveMax: 20, topicAliasMax: 10},
		},
		{
			name: "flags",
			args: []string{"--max-inflight-messages", "7", "--max-qos", "1", "--max-packet-size", "2048",
				"--max-topic-alias", "3", "--max-keepalive", "60"},
			keepAlive: 120,
			want:      want{receiveMax: 7, maxQoS: v5Byte(1), maxPacketSize: v5U32(2048), topicAliasMax: 3, keepAlive: v5U16(60)},
		},
		{
			name:      "qos0 and no aliases",
			args:      []string{"--max-qos", "0", "--max-topic-alias", "0", "--max-inflight-messages", "100"},
			keepAlive: 30,
			want:      want{receiveMax: 100, maxQoS: v5Byte(0), topicAliasMax: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := StartBroker(t, tt.args...)
			c := connectV5(t, b, &paho.Connect{ClientID: "connack-" + tt.name, CleanStart: true, KeepAlive: tt.keepAlive})
			p := c.Connack.Properties
			if p == nil {
				t.Fatal("CONNACK has no properties")
			}
			t.Logf("CONNACK: %v", p)
			if p.ReceiveMaximum == nil || *p.ReceiveMaximum != tt.want.receiveMax {
				t.Errorf("Receive Maximum %v, want %d (--max-inflight-messages)", v5Deref(p.ReceiveMaximum), tt.want.receiveMax)
			}
			switch {
			case tt.want.maxQoS == nil && p.MaximumQoS != nil && *p.MaximumQoS != 2:
				// [MQTT-3.2.2-9]: sent when QoS 1 or 2 is not supported; a
				// value of 2 is a Protocol Error (§3.2.2.3.4).
				t.Errorf("Maximum QoS %d advertised, want it absent", *p.MaximumQoS)
			case tt.want.maxQoS == nil && p.MaximumQoS != nil:
				t.Errorf("Maximum QoS 2 sent: a value of 2 is a Protocol Error (§3.2.2.3.4)")
			case tt.want.maxQoS != nil && (p.MaximumQoS == nil || *p.MaximumQoS != *tt.want.maxQoS):
				t.Errorf("Maximum QoS %v, want %d [MQTT-3.2.2-9]", v5Deref(p.MaximumQoS), *tt.want.maxQoS)
			}
			if !p.RetainAvailable {
				t.Errorf("Retain Available 0, want 1 or absent")
			}
			switch {
			case tt.want.maxPacketSize == nil && p.MaximumPacketSize != nil:
				t.Errorf("Maximum Packet Size %d advertised, want it absent", *p.MaximumPacketSize)
			case tt.want.maxPacketSize != nil && (p.MaximumPacketSize == nil || *p.MaximumPacketSize != *tt.want.maxPacketSize):
				t.Errorf("Maximum Packet Size %v, want %d (--max-packet-size)", v5Deref(p.MaximumPacketSize), *tt.want.maxPacketSize)
			}
			var aliasMax uint16
			if p.TopicAliasMaximum != nil {
				aliasMax = *p.TopicAliasMaximum
			}
			if aliasMax != tt.want.topicAliasMax {
				t.Errorf("Topic Alias Maximum %d, want %d (--max-topic-alias)", aliasMax, tt.want.topicAliasMax)
			}
			// paho reads an absent availability property as true.
			if !p.WildcardSubAvailable || !p.SubIDAvailable || !p.SharedSubAvailable {
				t.Errorf("Wildcard %v / Subscription Identifiers %v / Shared Subscriptions %v available: want all true or absent",
					p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable)
			}
			switch {
			case tt.want.keepAlive != nil && (p.ServerKeepAlive == nil || *p.ServerKeepAlive != *tt.want.keepAlive):
				t.Errorf("Server Keep Alive %v, want %d for a client asking %d [MQTT-3.2.2-21]",
					v5Deref(p.ServerKeepAlive), *tt.want.keepAlive, tt.keepAlive)
			case tt.want.keepAlive == nil && p.ServerKeepAlive != nil && *p.ServerKeepAlive != tt.keepAlive:
				t.Logf("Server Keep Alive %d for a client asking %d within the limit", *p.ServerKeepAlive, tt.keepAlive)
			}
			if p.AssignedClientID != "" {
				t.Errorf("Assigned Client Identifier %q for a client that sent its own", p.AssignedClientID)
			}
			if c.Connack.SessionPresent {
				t.Errorf("Session Present 1 with Clean Start 1 [MQTT-3.2.2-2]")
			}
		})
	}
}

func v5Deref[T any](p *T) any {
	if p == nil {
		return "absent"
	}
	return *p
}

// TestV5AssignedClientIdentifier: a client that connects with an empty client
// id is told the one the server assigned [MQTT-3.2.2-16], a different one per
// connection, and can use the connection.
func TestV5AssignedClientIdentifier(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c1 := connectV5(t, b, v5CleanStart(""))
	c2 := connectV5(t, b, v5CleanStart(""))
	id1, id2 := "", ""
	if p := c1.Connack.Properties; p != nil {
		id1 = p.AssignedClientID
	}
	if p := c2.Connack.Properties; p != nil {
		id2 = p.AssignedClientID
	}
	if id1 == "" || id2 == "" {
		t.Fatalf("Assigned Client Identifiers %q, %q: want both present [MQTT-3.2.2-16]", id1, id2)
	}
	if id1 == id2 {
		t.Errorf("both connections were assigned %q", id1)
	}
	c1.subscribe(paho.SubscribeOptions{Topic: "assigned/t", QoS: 1})
	c2.publishString("assigned/t", 1, false, "hello")
	c1.nextPayload("assigned/t", "hello")
}

// TestV5QoSBothDirections publishes at each QoS to a subscriber at each QoS.
// The publisher's flow completes with a success code (§4.3), the subscriber
// receives at the lower of the two QoS [MQTT-3.8.4-8], in order
// [MQTT-4.6.0-6], and at QoS 2 exactly once (§4.3.3).
func TestV5QoSBothDirections(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const n = 20
	for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
		for subQoS := byte(0); subQoS <= 2; subQoS++ {
			t.Run(fmt.Sprintf("pub%d-sub%d", pubQoS, subQoS), func(t *testing.T) {
				t.Parallel()
				topic := fmt.Sprintf("qos/%d/%d", pubQoS, subQoS)
				sub := connectV5(t, b, v5CleanStart(fmt.Sprintf("sub-%d-%d", pubQoS, subQoS)))
				sa := sub.subscribe(paho.SubscribeOptions{Topic: topic, QoS: subQoS})
				if len(sa.Reasons) != 1 || sa.Reasons[0] != subQoS {
					t.Fatalf("SUBACK %v, want granted QoS %d", sa.Reasons, subQoS)
				}
				pub := connectV5(t, b, v5CleanStart(fmt.Sprintf("pub-%d-%d", pubQoS, subQoS)))
				for i := range n {
					pub.publishString(topic, pubQoS, false, strconv.Itoa(i))
				}
				want := min(pubQoS, subQoS)
				for i := range n {
					m := sub.next()
					if string(m.Payload) != strconv.Itoa(i) {
						t.Fatalf("message %d: payload %q (out of order or lost)", i, m.Payload)
					}
					if m.QoS != want {
						t.Fatalf("message %d delivered at QoS %d, want %d [MQTT-3.8.4-8]", i, m.QoS, want)
					}
				}
				// A duplicate would follow the last message; the sentinel
				// from the same publisher proves there is none.
				pub.publishString(topic, pubQoS, false, "end")
				sub.nextPayload(topic, "end")
			})
		}
	}
}

// TestV5QoS2ResentPublishDeliveredOnce: a QoS 2 PUBLISH sent again with DUP
// before PUBREL is acknowledged with PUBREC again and not delivered twice
// [MQTT-4.3.3-10]; PUBREL is answered with PUBCOMP [MQTT-4.3.3-11].
func TestV5QoS2ResentPublishDeliveredOnce(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	sub := connectV5(t, b, v5CleanStart("once-sub"))
	sub.subscribe(paho.SubscribeOptions{Topic: "once/t", QoS: 2})

	pub := dialV5Raw(t, b)
	pub.mustConnect(v5Connect{ClientID: "once-pub", CleanStart: true})
	msg := v5Publish{Topic: "once/t", QoS: 2, PacketID: 7, Payload: []byte("exactly once")}
	for i := range 3 {
		msg.Dup = i > 0
		pub.send(msg.encode())
		a, err := v5DecodeAck(pub.expect(pktPUBREC, v5WaitFor))
		if err != nil || a.PacketID != 7 || a.Reasons[0] >= 0x80 {
			t.Fatalf("PUBREC %+v %v, want packet 7 with success", a, err)
		}
	}
	pub.send(v5EncodeAck(pktPUBREL, 7, v5ReasonSuccess))
	if a, err := v5DecodeAck(pub.expect(pktPUBCOMP, v5WaitFor)); err != nil || a.PacketID != 7 || a.Reasons[0] != v5ReasonSuccess {
		t.Fatalf("PUBCOMP %+v %v, want packet 7 success [MQTT-4.3.3-11]", a, err)
	}
	sub.nextPayload("once/t", "exactly once")
	// The same packet id is free again: a new message with it is new.
	msg = v5Publish{Topic: "once/t", QoS: 2, PacketID: 7, Payload: []byte("second")}
	pub.send(msg.encode())
	pub.expect(pktPUBREC, v5WaitFor)
	pub.send(v5EncodeAck(pktPUBREL, 7, v5ReasonSuccess))
	pub.expect(pktPUBCOMP, v5WaitFor)
	sub.nextPayload("once/t", "second")
}

// TestV5PublishPropertiesForwarded: Payload Format Indicator [MQTT-3.3.2-4],
// Response Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16], User
// Properties unaltered [MQTT-3.3.2-17] and in order [MQTT-3.3.2-18], and
// Content Type [MQTT-3.3.2-20] reach the subscriber as published.
func TestV5PublishPropertiesForwarded(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	sub := connectV5(t, b, v5CleanStart("props-sub"))
	sub.subscribe(paho.SubscribeOptions{Topic: "props/#", QoS: 2})
	pub := connectV5(t, b, v5CleanStart("props-pub"))

	user := paho.UserProperties{
		{Key: "b", Value: "2"},
		{Key: "a", Value: "1"},
		{Key: "b", Value: "3"}, // repeated keys are allowed and kept
		{Key: "ünï", Value: "çødé"},
		{Key: "empty", Value: ""},
	}
	corr := []byte{0x00, 0xFF, 0x10, 'x'}
	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("props/%d", qos)
		pub.publish(&paho.Publish{
			Topic: topic, QoS: qos, Payload: []byte(`{"q":1}`),
			Properties: &paho.PublishProperties{
				PayloadFormat:   v5Byte(1),
				ContentType:     "application/json; charset=utf-8",
				ResponseTopic:   "props/reply/" + strconv.Itoa(int(qos)),
				CorrelationData: corr,
				User:            user,
			},
		})
		m := sub.nextPayload(topic, `{"q":1}`)
		p := m.Properties
		if p == nil {
			t.Fatalf("QoS %d: no properties forwarded", qos)
		}
		if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
			t.Errorf("QoS %d: Payload Format Indicator %v, want 1 [MQTT-3.3.2-4]", qos, v5Deref(p.PayloadFormat))
		}
		if p.ContentType != "application/json; charset=utf-8" {
			t.Errorf("QoS %d: Content Type %q [MQTT-3.3.2-20]", qos, p.ContentType)
		}
		if p.ResponseTopic != "props/reply/"+strconv.Itoa(int(qos)) {
			t.Errorf("QoS %d: Response Topic %q [MQTT-3.3.2-15]", qos, p.ResponseTopic)
		}
		if !bytes.Equal(p.CorrelationData, corr) {
			t.Errorf("QoS %d: Correlation Data %x, want %x [MQTT-3.3.2-16]", qos, p.CorrelationData, corr)
		}
		if !slices.Equal(p.User, user) {
			t.Errorf("QoS %d: User Properties %v, want %v [MQTT-3.3.2-17] [MQTT-3.3.2-18]", qos, p.User, user)
		}
		if p.MessageExpiry != nil {
			t.Errorf("QoS %d: Message Expiry Interval %d on a message published without one", qos, *p.MessageExpiry)
		}
	}
}

// TestV5RequestResponseInformation: with Request Response Information 0 (or
// absent) the server MUST NOT return Response Information [MQTT-3.1.2-28];
// with 1 it may, and then it is a UTF-8 string (§3.2.2.3.15).
func TestV5RequestResponseInformation(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	for _, request := range []bool{false, true} {
		c := dialV5Raw(t, b)
		var props properties
		if request {
			props = properties{numProp(propRequestResponseInfo, 1)}
		}
		ca := c.mustConnect(v5Connect{ClientID: fmt.Sprintf("rri-%v", request), CleanStart: true, Props: props})
		info, present := ca.Props.get(propResponseInfo)
		switch {
		case !request && present:
			t.Errorf("Response Information %q returned without being requested [MQTT-3.1.2-28]", info.Str)
		case request:
			t.Logf("Response Information requested: present %v %q", present, info.Str)
		}
	}
}

// TestV5RequestProblemInformationZero: with Request Problem Information 0 the
// server MUST NOT send a Reason String or User Properties on packets other
// than PUBLISH, CONNACK or DISCONNECT [MQTT-3.1.2-29]. An UNSUBACK for a filter
// that was never subscribed and a PUBACK for a message nobody receives are
// where a server would explain itself.
func TestV5RequestProblemInformationZero(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "rpi", CleanStart: true, Props: properties{numProp(propRequestProblemInfo, 0)}})

	c.send(v5EncodeUnsubscribe(3, "never/subscribed"))
	ua, err := v5DecodeAck(c.expect(pktUNSUBACK, v5WaitFor))
	if err != nil {
		t.Fatalf("decoding UNSUBACK: %v", err)
	}
	if len(ua.Reasons) != 1 || (ua.Reasons[0] != v5ReasonSuccess && ua.Reasons[0] != v5ReasonNoSubscriptionExists) {
		t.Errorf("UNSUBACK reasons %x, want one of 0x00 or 0x11 (§3.11.3)", ua.Reasons)
	}
	if ua.Props.has(propReasonString) || ua.Props.has(propUserProperty) {
		t.Errorf("UNSUBACK carries %v despite Request Problem Information 0 [MQTT-3.1.2-29]", ua.Props)
	}

	c.send(v5Publish{Topic: "nobody/listens", QoS: 1, PacketID: 4, Payload: []byte("x")}.encode())
	pa, err := v5DecodeAck(c.expect(pktPUBACK, v5WaitFor))
	if err != nil {
		t.Fatalf("decoding PUBACK: %v", err)
	}
	if pa.Reasons[0] != v5ReasonSuccess && pa.Reasons[0] != v5ReasonNoMatchingSubs {
		t.Errorf("PUBACK reason %#02x, want 0x00 or 0x10", pa.Reasons[0])
	}
	if pa.Props.has(propReasonString) || pa.Props.has(propUserProperty) {
		t.Errorf("PUBACK carries %v despite Request Problem Information 0 [MQTT-3.1.2-29]", pa.Props)
	}
}

// TestV5UnknownAuthenticationMethod: a CONNECT with an Authentication Method
// the server does not support is refused with 0x8C (Bad authentication
// method) or 0x87 (Not authorized), and the connection is closed
// [MQTT-4.12.0-1]. A refusing CONNACK ends the connection [MQTT-3.2.2-7].
func TestV5UnknownAuthenticationMethod(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := dialV5Raw(t, b)
	ca := c.connect(v5Connect{
		ClientID: "auth-method", CleanStart: true, KeepAlive: 60,
		Props: properties{strProp(propAuthMethod, "GRIDMQ-NO-SUCH-METHOD"), binProp(propAuthData, []byte{1, 2, 3})},
	})
	switch ca.Reason {
	case v5ReasonBadAuthMethod:
	case v5ReasonNotAuthorized:
		t.Logf("refused with 0x87 Not authorized (allowed by [MQTT-4.12.0-1]; 0x8C is the precise code)")
	default:
		t.Fatalf("CONNACK reason %#02x %v, want 0x8C Bad authentication method [MQTT-4.12.0-1]", ca.Reason, ca.Props)
	}
	if ca.SessionPresent {
		t.Errorf("Session Present 1 on a refusing CONNACK [MQTT-3.2.2-6]")
	}
	c.expectClosed(v5WaitFor)
}

// TestV5GracefulShutdown: on SIGTERM the broker tells each connected v5
// client why it is going with DISCONNECT 0x8B Server shutting down
// (§3.14.2.1), then exits 0.
func TestV5GracefulShutdown(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := connectV5(t, b, v5CleanStart("shutdown-paho"))
	raw := dialV5Raw(t, b)
	raw.mustConnect(v5Connect{ClientID: "shutdown-raw", CleanStart: true})

	b.Stop(t) // SIGTERM, waits for exit 0; the cleanup's Stop is then a no-op
	if d := c.serverDisconnect(); d.ReasonCode != v5ReasonServerShuttingDown {
		t.Errorf("paho client got DISCONNECT %#02x, want 0x8B Server shutting down", d.ReasonCode)
	}
	reason, before := raw.expectDisconnect(v5WaitFor)
	if reason != int(v5ReasonServerShuttingDown) {
		t.Errorf("raw client: DISCONNECT reason %d (-1: closed without DISCONNECT), want 0x8B; before it %v", reason, before)
	}
	raw.expectClosed(v5WaitFor)
}

// TestV5KeepAliveTimeout: a client silent for one and a half times its Keep
// Alive is disconnected [MQTT-3.1.2-22], with DISCONNECT 0x8D Keep Alive
// timeout if the server says why, and its will is published [MQTT-3.1.2-8].
func TestV5KeepAliveTimeout(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	w := v5WillWatcher(t, b, "watcher")
	c := dialV5Raw(t, b)
	ca := c.mustConnect(v5Connect{ClientID: "silent", CleanStart: true, KeepAlive: 1,
		Will: &v5Publish{Topic: "will/silent", QoS: 1, Payload: []byte("timed out")}})
	keepAlive := time.Second
	if ca.Props.has(propServerKeepAlive) {
		keepAlive = time.Duration(ca.Props.num(propServerKeepAlive)) * time.Second
		if keepAlive > time.Second {
			t.Skipf("server set Keep Alive %v", keepAlive)
		}
	}
	start := time.Now()
	reason, before := c.expectDisconnect(v5WaitFor)
	took := time.Since(start)
	if reason >= 0 && reason != 0x8D {
		t.Errorf("DISCONNECT reason %#02x after %v, want 0x8D Keep Alive timeout", reason, before)
	}
	if took < keepAlive {
		t.Errorf("disconnected after %v of silence, before the %v Keep Alive passed", took, keepAlive)
	}
	t.Logf("disconnected with reason %d (-1: none) after %v of silence", reason, took)
	if limit := keepAlive * 3 / 2; took > limit+2500*time.Millisecond { // slack for a loaded machine
		t.Errorf("disconnected after %v of silence, want within %v [MQTT-3.1.2-22]", took, limit)
	}
	w.nextPayload("will/silent", "timed out")
}
