package interop

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Helpers for the paho.mqtt.golang (MQTT 3.1 and 3.1.1) tests.

const (
	// paho3Ack bounds the wait for any single acknowledgement or message: long
	// enough for a loaded machine running -race, short enough to fail a hang.
	paho3Ack = 10 * time.Second
	// paho3Quiet is how long a test listens to conclude that something was
	// not delivered. A slow machine can only make such a test pass wrongly,
	// never fail wrongly.
	paho3Quiet = 1500 * time.Millisecond
)

// Protocol levels as paho.mqtt.golang's SetProtocolVersion takes them.
const (
	mqtt31  uint = 3 // "MQIsdp", MQTT 3.1
	mqtt311 uint = 4 // "MQTT", MQTT 3.1.1
)

func paho3VersionName(v uint) string {
	if v == mqtt31 {
		return "3.1"
	}
	return "3.1.1"
}

var paho3IDs atomic.Int64

// paho3ID returns a client identifier unique in this test binary and short
// enough for MQTT 3.1, whose servers need only accept 1 to 23 characters.
func paho3ID(prefix string) string {
	id := fmt.Sprintf("%s-%d", prefix, paho3IDs.Add(1))
	if len(id) > 23 {
		id = id[len(id)-23:]
	}
	return id
}

// paho3Options are the options of one client of b. It never reconnects or
// retries on its own, so a connection the broker closes stays visible.
func paho3Options(b *Broker, version uint, clientID string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().
		AddBroker("tcp://" + b.Addr).
		SetProtocolVersion(version).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(paho3Ack).
		SetWriteTimeout(paho3Ack).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(paho3Ack).
		SetOrderMatters(true)
}

// paho3Connect connects with o and returns the client and the CONNACK's
// Session Present flag. The client is disconnected at cleanup, before the
// broker is stopped.
func paho3Connect(t testing.TB, o *mqtt.ClientOptions) (mqtt.Client, bool) {
	t.Helper()
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(paho3Ack) {
		t.Fatalf("client %q: no CONNACK within %v", o.ClientID, paho3Ack)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("client %q: connect: %v", o.ClientID, err)
	}
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(100)
		}
	})
	return c, tok.(*mqtt.ConnectToken).SessionPresent()
}

// paho3Client connects a clean-session client whose every message lands in
// the returned inbox.
func paho3Client(t testing.TB, b *Broker, version uint, prefix string) (mqtt.Client, *v3Inbox) {
	t.Helper()
	in := newV3Inbox()
	c, _ := paho3Connect(t, paho3Options(b, version, paho3ID(prefix)).SetDefaultPublishHandler(in.handle))
	return c, in
}

// paho3Wait waits for tok and fails the test if it does not complete or
// completes with an error.
func paho3Wait(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(paho3Ack) {
		t.Fatalf("%s: not acknowledged within %v", what, paho3Ack)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// paho3Subscribe subscribes without a per-filter callback, so that messages
// go to the default handler exactly once however many filters match (paho
// calls every matching route's callback), and returns the granted QoS.
func paho3Subscribe(t testing.TB, c mqtt.Client, filter string, qos byte) byte {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	paho3Wait(t, tok, "subscribe "+filter)
	// paho keys the result by the filter without "$share/{group}/".
	result := tok.(*mqtt.SubscribeToken).Result()
	if len(result) != 1 {
		t.Fatalf("subscribe %s: SUBACK return codes %v, want one", filter, result)
	}
	var granted byte
	for _, granted = range result {
	}
	if granted == 0x80 {
		t.Fatalf("subscribe %s: SUBACK return code 0x80 (failure)", filter)
	}
	return granted
}

func paho3Publish(t testing.TB, c mqtt.Client, topic string, qos byte, retained bool, payload []byte) {
	t.Helper()
	paho3Wait(t, c.Publish(topic, qos, retained, payload), fmt.Sprintf("publish %s at QoS %d", topic, qos))
}

// paho3ConnOpener makes a client dial through a connection the test holds,
// so it can close the TCP connection without DISCONNECT, as a crash would.
type paho3ConnOpener struct {
	mu   sync.Mutex // guards conn
	conn net.Conn
}

func (p *paho3ConnOpener) open(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", u.Host, paho3Ack)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.conn = c
	p.mu.Unlock()
	return c, nil
}

// drop closes the TCP connection under the client.
func (p *paho3ConnOpener) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
	}
}

// v3Message is a received PUBLISH as the subscriber saw it.
type v3Message struct {
	Topic     string
	Payload   []byte
	QoS       byte
	Retained  bool
	Duplicate bool
}

func (m v3Message) String() string {
	p := string(m.Payload)
	if len(p) > 40 {
		p = p[:40] + "..."
	}
	return fmt.Sprintf("%s %q qos=%d retain=%v dup=%v", m.Topic, p, m.QoS, m.Retained, m.Duplicate)
}

// v3Inbox collects the messages of one client in arrival order.
type v3Inbox struct {
	mu   sync.Mutex // guards msgs
	msgs []v3Message
	// changed holds at most one pending wake-up; handle never blocks on it.
	changed chan struct{}
}

func newV3Inbox() *v3Inbox { return &v3Inbox{changed: make(chan struct{}, 1)} }

// handle is an mqtt.MessageHandler.
func (in *v3Inbox) handle(_ mqtt.Client, m mqtt.Message) {
	msg := v3Message{
		Topic:     m.Topic(),
		Payload:   append([]byte(nil), m.Payload()...),
		QoS:       m.Qos(),
		Retained:  m.Retained(),
		Duplicate: m.Duplicate(),
	}
	in.mu.Lock()
	in.msgs = append(in.msgs, msg)
	in.mu.Unlock()
	select {
	case in.changed <- struct{}{}:
	default:
	}
}

// all returns a copy of what arrived so far.
func (in *v3Inbox) all() []v3Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]v3Message(nil), in.msgs...)
}

func (in *v3Inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

// waitUntil waits at most timeout for done to hold over what arrived and
// returns it; on timeout it fails the test and shows what did arrive.
func (in *v3Inbox) waitUntil(t testing.TB, timeout time.Duration, what string, done func([]v3Message) bool) []v3Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		msgs := in.all()
		if done(msgs) {
			return msgs
		}
		select {
		case <-in.changed:
		case <-deadline.C:
			t.Fatalf("waited %v for %s; got %d messages:\n%s", timeout, what, len(msgs), v3Summary(msgs))
		}
	}
}

// waitN waits for at least n messages.
func (in *v3Inbox) waitN(t testing.TB, n int, what string) []v3Message {
	t.Helper()
	return in.waitUntil(t, paho3Ack, what, func(m []v3Message) bool { return len(m) >= n })
}

// expectNoMore listens for paho3Quiet and fails if more than n messages
// have arrived by then.
func (in *v3Inbox) expectNoMore(t testing.TB, n int, why string) {
	t.Helper()
	time.Sleep(paho3Quiet)
	if msgs := in.all(); len(msgs) > n {
		t.Errorf("%s: want %d messages, got %d:\n%s", why, n, len(msgs), v3Summary(msgs))
	}
}

// v3Summary lists messages for a failure report, eliding the middle of long lists.
func v3Summary(msgs []v3Message) string {
	var s string
	for i, m := range msgs {
		if len(msgs) > 20 && i >= 10 && i < len(msgs)-10 {
			if i == 10 {
				s += fmt.Sprintf("  ... %d more ...\n", len(msgs)-20)
			}
			continue
		}
		s += "  " + m.String() + "\n"
	}
	return s
}
