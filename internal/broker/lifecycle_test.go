package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// goroutinesSettle waits for the goroutine count to fall back to at most
// want, and reports the stacks of the extra ones if it does not.
func goroutinesSettle(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines after Shutdown, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutdown closes the listeners, tells v5 clients 0x8B, makes Serve return
// ErrServerClosed, and leaves no goroutine of the server behind.
func TestShutdownDrainsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	opts := quietOptions()
	opts.SysInterval = time.Second
	srv := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, ListenerOptions{AllowAnonymous: true}) }()

	var clients []*client
	for i := range 20 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		version := []byte{packet.V31, packet.V311, packet.V5}[i%3]
		c := newClient(t, nc, version)
		c.connect(&packet.Connect{ClientID: fmt.Sprintf("c%d", i), CleanStart: i%2 == 0})
		c.subscribe(1, "load/#", 1)
		clients = append(clients, c)
	}
	for i, c := range clients {
		c.send(&packet.Publish{QoS: 1, PacketID: 7, Topic: []byte(fmt.Sprintf("load/%d", i)), Payload: []byte("x")})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	for _, c := range clients {
		code, got := c.expectClosed()
		if c.version == packet.V5 && (!got || code != packet.ServerShuttingDown) {
			t.Errorf("v5 client: DISCONNECT %v (received %v), want 0x8B", code, got)
		}
		c.nc.Close()
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
	if err := srv.Serve(ln, ListenerOptions{}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	goroutinesSettle(t, base)
}

// Bad input closes only its own connection: another client keeps working.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	srv, ln := startTCPServer(t, quietOptions())
	good := dialClient(t, ln, packet.V311)
	good.connect(&packet.Connect{ClientID: "good", CleanStart: true})
	good.subscribe(1, "still/here", 0)

	for _, bad := range [][]byte{
		{0x30, 0x02, 0x00, 0x00},                                    // PUBLISH before CONNECT [MQTT-3.1.0-1]
		{0x10, 0xff, 0xff, 0xff, 0xff, 0x01},                        // five-byte remaining length
		{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x03, 0, 0, 0, 0}, // reserved connect flag [MQTT-3.1.2-3]
	} {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(bad)
		c := newClient(t, nc, packet.V311)
		c.expectClosed()
		nc.Close()
	}

	pub := dialClient(t, ln, packet.V5)
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	pub.send(&packet.Publish{Topic: []byte("a/+/b"), Payload: []byte("x")}) // [MQTT-3.3.2-2]
	if code, _ := pub.expectClosed(); code != packet.TopicNameInvalid {
		t.Errorf("wildcard in PUBLISH topic: DISCONNECT %v, want 0x90", code)
	}

	pub = dialClient(t, ln, packet.V311)
	pub.connect(&packet.Connect{ClientID: "pub2", CleanStart: true})
	pub.send(&packet.Publish{Topic: []byte("still/here"), Payload: []byte("ok")})
	p, ok := good.mustRecv().(*packet.Publish)
	if !ok || string(p.Payload) != "ok" {
		t.Fatalf("the good client did not get the message after the bad ones")
	}
	// Each bad connection is counted when its cleanup has run, which may
	// be just after the client saw the close.
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().ProtocolErrors < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("protocol errors counted: %d, want at least 4", srv.Stats().ProtocolErrors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startTCPServer(t *testing.T, opts Options) (*Server, net.Listener) {
	t.Helper()
	srv := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return srv, ln
}

func dialClient(t testing.TB, ln net.Listener, version byte) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return newClient(t, nc, version)
}

// A v5 client is told why in a Reason String, unless the string would make
// the packet larger than the client accepts [MQTT-3.14.2-3]; Response
// Information answers Request Response Information (5.0 section 4.10).
func TestReasonStringAndResponseInformation(t *testing.T) {
	_, ln := startTCPServer(t, quietOptions())

	c := dialClient(t, ln, packet.V5)
	cp := &packet.Connect{ClientID: "asker", CleanStart: true}
	cp.Properties.RequestResponseInfo = 1
	cp.Properties.Set(packet.PropRequestResponseInfo)
	ack := c.connect(cp)
	if !ack.Properties.Has(packet.PropResponseInfo) || ack.Properties.ResponseInfo != "response/asker" {
		t.Errorf("Response Information = %q (present %v), want response/asker", ack.Properties.ResponseInfo, ack.Properties.Has(packet.PropResponseInfo))
	}
	c.send(&packet.Publish{Topic: []byte("a/#"), Payload: []byte("x")})
	d := expectDisconnect(t, c)
	if d.ReasonCode != packet.TopicNameInvalid || !strings.Contains(d.Properties.ReasonString, "MQTT-3.3.2-2") {
		t.Errorf("DISCONNECT %v %q, want 0x90 with a reason naming [MQTT-3.3.2-2]", d.ReasonCode, d.Properties.ReasonString)
	}

	small := dialClient(t, ln, packet.V5)
	cp = &packet.Connect{ClientID: "small", CleanStart: true}
	cp.Properties.MaximumPacketSize = 16
	cp.Properties.Set(packet.PropMaximumPacketSize)
	small.connect(cp)
	small.send(&packet.Publish{Topic: []byte("a/#"), Payload: []byte("x")})
	d = expectDisconnect(t, small)
	if d.ReasonCode != packet.TopicNameInvalid || d.Properties.Has(packet.PropReasonString) {
		t.Errorf("DISCONNECT %v %q to a client accepting 16 bytes, want 0x90 without a reason string", d.ReasonCode, d.Properties.ReasonString)
	}
}

func expectDisconnect(t *testing.T, c *client) *packet.Disconnect {
	t.Helper()
	for {
		p, err := c.recv()
		if err != nil {
			t.Fatalf("closed without DISCONNECT: %v", err)
		}
		if d, ok := p.(*packet.Disconnect); ok {
			return d
		}
	}
}

// [MQTT-3.3.2-11] [MQTT-3.3.2-12] A client that accepts topic aliases gets
// them: the first message on a topic carries the topic and a new alias,
// later ones the alias alone; no more aliases than its maximum.
func TestTopicAliasesToClient(t *testing.T) {
	_, ln := startTCPServer(t, quietOptions())
	sub := dialClient(t, ln, packet.V5)
	cp := &packet.Connect{ClientID: "aliased", CleanStart: true}
	cp.Properties.TopicAliasMaximum = 2
	cp.Properties.Set(packet.PropTopicAliasMaximum)
	sub.connect(cp)
	sub.subscribe(1, "t/#", 0)

	pub := dialClient(t, ln, packet.V311)
	pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	topics := []string{"t/a", "t/a", "t/b", "t/c", "t/b", "t/c", "t/a"}
	for _, tp := range topics {
		pub.send(&packet.Publish{Topic: []byte(tp), Payload: []byte(tp)})
	}
	known := map[uint16]string{}
	for i, want := range topics {
		p, ok := sub.mustRecv().(*packet.Publish)
		if !ok {
			t.Fatal("expected PUBLISH")
		}
		alias := p.Properties.TopicAlias
		if p.Properties.Has(packet.PropTopicAlias) && (alias == 0 || alias > 2) {
			t.Fatalf("message %d: alias %d outside 1..2", i, alias)
		}
		name := string(p.Topic)
		switch {
		case name == "" && alias != 0:
			name = known[alias]
		case alias != 0:
			known[alias] = name
		}
		if name != want || string(p.Payload) != want {
			t.Fatalf("message %d resolves to %q (payload %q), want %q", i, name, p.Payload, want)
		}
		if i == 1 && (len(p.Topic) != 0 || alias != 1) {
			t.Errorf("second message on t/a: topic %q alias %d, want the alias alone", p.Topic, alias)
		}
		if want == "t/c" && p.Properties.Has(packet.PropTopicAlias) {
			t.Errorf("t/c got alias %d although both aliases were taken", alias)
		}
	}
}

// $SYS is the broker's: a will cannot write it any more than a PUBLISH can.
func TestWillCannotWriteSys(t *testing.T) {
	for _, version := range []byte{packet.V311, packet.V5} {
		_, ln := startTCPServer(t, quietOptions())
		w := dialClient(t, ln, version)
		ack := w.connect(&packet.Connect{ClientID: "evil", CleanStart: true,
			Will: &packet.Will{Topic: "$SYS/broker/version", Payload: []byte("pwned"), Retain: true}})
		if ack.ReasonCode != packet.NotAuthorized && ack.ReasonCode.V3ConnackCode() != packet.V3NotAuthorized {
			t.Errorf("v%d: CONNACK %v, want not authorized", version, ack.ReasonCode)
		}
	}
}

// [MQTT-3.1.2-25] A PUBLISH exactly the size the client accepts is sent,
// without a topic alias when an alias would make it too large.
func TestAliasNotTakenWhenItWouldNotFit(t *testing.T) {
	srv, ln := startTCPServer(t, quietOptions())
	want := &packet.Publish{Topic: []byte("a/b"), Payload: []byte("0123456789")}
	c := dialClient(t, ln, packet.V5)
	cp := &packet.Connect{ClientID: "small", CleanStart: true}
	cp.Properties.MaximumPacketSize = uint32(want.EncodedLen(packet.V5))
	cp.Properties.Set(packet.PropMaximumPacketSize)
	cp.Properties.TopicAliasMaximum = 10
	cp.Properties.Set(packet.PropTopicAliasMaximum)
	c.connect(cp)
	c.subscribe(1, "a/b", 0)
	pub := dialClient(t, ln, packet.V5)
	pub.connect(&packet.Connect{ClientID: "p", CleanStart: true})
	pub.send(want)
	p, ok := c.mustRecv().(*packet.Publish)
	if !ok || string(p.Topic) != "a/b" || p.Properties.Has(packet.PropTopicAlias) {
		t.Errorf("got %#v, want the message with its topic and no alias; drops %v", p, srv.Stats().Drops)
	}
}
