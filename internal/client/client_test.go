package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/brokertest"
	"github.com/gridmq/gridmq/internal/packet"
)

var versions = []struct {
	name    string
	version byte
}{{"3.1", packet.V31}, {"3.1.1", packet.V311}, {"5.0", packet.V5}}

// received is a copy of a Message, kept past OnMessage.
type received struct {
	topic   string
	payload string
	qos     byte
}

// collector is an OnMessage that copies every message onto a channel.
func collector(ch chan<- received) func(m *Message) {
	return func(m *Message) {
		ch <- received{topic: m.Topic, payload: string(m.Payload), qos: m.QoS}
	}
}

func mustConnect(t testing.TB, o Options) *Client {
	t.Helper()
	c, _, err := Connect(context.Background(), o)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

// TestRoundTrip sends at every QoS and version through the real broker:
// one message with PublishWait, then a burst with Publish and Drain through
// a small window, every one of which must arrive exactly once.
func TestRoundTrip(t *testing.T) {
	addr := brokertest.Start(t, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
	ctx := context.Background()
	for _, v := range versions {
		for qos := byte(0); qos <= 2; qos++ {
			t.Run(fmt.Sprintf("%s/qos%d", v.name, qos), func(t *testing.T) {
				const burst = 2000
				msgs := make(chan received, burst+1)
				sub := mustConnect(t, Options{Addr: addr, Version: v.version, CleanStart: true,
					ClientID: fmt.Sprintf("rt-sub-%d-%d", v.version, qos), OnMessage: collector(msgs)})
				defer sub.Disconnect()
				topic := fmt.Sprintf("rt/%d/%d", v.version, qos)
				codes, err := sub.Subscribe(ctx, packet.Subscription{Filter: topic, QoS: qos})
				if err != nil || len(codes) != 1 || codes[0] != packet.ReasonCode(qos) {
					t.Fatalf("Subscribe: %v %v", codes, err)
				}

				pub := mustConnect(t, Options{Addr: addr, Version: v.version, CleanStart: true,
					ClientID: fmt.Sprintf("rt-pub-%d-%d", v.version, qos), Inflight: 7})
				defer pub.Disconnect()
				if err := pub.PublishWait(ctx, topic, qos, false, []byte("hello")); err != nil {
					t.Fatalf("PublishWait: %v", err)
				}
				got := <-msgs
				if want := (received{topic, "hello", qos}); got != want {
					t.Fatalf("received %+v, want %+v", got, want)
				}

				payload := make([]byte, 8)
				for i := range burst {
					binary.BigEndian.PutUint64(payload, uint64(i))
					if err := pub.Publish(ctx, topic, qos, false, payload); err != nil {
						t.Fatalf("Publish %d: %v", i, err)
					}
				}
				if err := pub.Drain(ctx); err != nil {
					t.Fatalf("Drain: %v", err)
				}
				pub.mu.Lock()
				inflight := len(pub.pending)
				pub.mu.Unlock()
				if inflight != 0 {
					t.Errorf("%d packets in flight after Drain", inflight)
				}
				seen := make([]bool, burst)
				timeout := time.After(10 * time.Second)
				for range burst {
					select {
					case m := <-msgs:
						i := binary.BigEndian.Uint64([]byte(m.payload))
						if seen[i] {
							t.Fatalf("message %d delivered twice", i)
						}
						seen[i] = true
					case <-timeout:
						t.Fatal("burst did not arrive")
					}
				}
			})
		}
	}
}

// TestWindow checks that at most Inflight QoS 1 PUBLISHes are
// unacknowledged, that an acknowledgement frees a slot, and that a v5
// server's Receive Maximum lowers the window.
func TestWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ids := make(chan uint16, 10)
		var fake *fakeServer
		accepted := make(chan struct{})
		dial := fakeDial(t, packet.V311, func(s *fakeServer) {
			fake = s
			s.accept(packet.Properties{})
			close(accepted)
			for p := s.recv(); p != nil; p = s.recv() {
				if pub, ok := p.(*packet.Publish); ok {
					ids <- pub.PacketID
				}
			}
		})
		c := mustConnect(t, Options{Addr: "fake", Inflight: 3, Dial: dial, CleanStart: true})
		<-accepted
		ctx := context.Background()
		for i := range 3 {
			if err := c.Publish(ctx, "w", 1, false, nil); err != nil {
				t.Fatalf("Publish %d: %v", i, err)
			}
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := c.Publish(short, "w", 1, false, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("fourth Publish with a full window: %v, want DeadlineExceeded", err)
		}
		first := <-ids
		fake.send(&packet.Ack{Kind: packet.PUBACK, PacketID: first})
		if err := c.Publish(ctx, "w", 1, false, nil); err != nil {
			t.Fatalf("Publish after PUBACK: %v", err)
		}
		synctest.Wait()
		got := map[uint16]bool{first: true}
		for range 3 {
			got[<-ids] = true
		}
		if len(got) != 4 || len(ids) != 0 {
			t.Errorf("server saw identifiers %v (and %d more), want 4 distinct", got, len(ids))
		}
		c.Close()
	})

	synctest.Test(t, func(t *testing.T) {
		var props packet.Properties
		props.ReceiveMaximum = 2
		props.Set(packet.PropReceiveMaximum)
		dial := fakeDial(t, packet.V5, func(s *fakeServer) {
			s.accept(props)
			for s.recv() != nil {
			}
		})
		c := mustConnect(t, Options{Addr: "fake", Version: packet.V5, Dial: dial})
		if c.Window() != 2 {
			t.Errorf("Window %d, want the server's Receive Maximum 2", c.Window())
		}
		c.Close()
	})
}

// TestQoS2 drives both QoS 2 flows against a fake server: outgoing
// PUBLISH -> PUBREC -> PUBREL -> PUBCOMP, and an incoming PUBLISH sent twice
// that must be delivered once.
func TestQoS2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var deliveries int
		steps := make(chan string, 10)
		dial := fakeDial(t, packet.V5, func(s *fakeServer) {
			s.accept(packet.Properties{})
			p := s.recv().(*packet.Publish)
			id := p.PacketID
			s.send(&packet.Ack{Kind: packet.PUBREC, PacketID: id})
			if a, ok := s.recv().(*packet.Ack); !ok || a.Kind != packet.PUBREL || a.PacketID != id {
				t.Errorf("after PUBREC got %v, want PUBREL %d", a, id)
			}
			s.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: id})

			in := &packet.Publish{QoS: 2, Topic: []byte("in"), PacketID: 9, Payload: []byte("x")}
			s.send(in)
			in.Dup = true
			s.send(in)
			for range 2 {
				if a, ok := s.recv().(*packet.Ack); !ok || a.Kind != packet.PUBREC || a.PacketID != 9 {
					t.Errorf("got %v, want PUBREC 9", a)
				}
			}
			s.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 9})
			if a, ok := s.recv().(*packet.Ack); !ok || a.Kind != packet.PUBCOMP || a.PacketID != 9 || a.ReasonCode != packet.Success {
				t.Errorf("got %v, want PUBCOMP 9", a)
			}
			steps <- "done"
			for s.recv() != nil {
			}
		})
		c := mustConnect(t, Options{Addr: "fake", Version: packet.V5, Dial: dial,
			OnMessage: func(m *Message) { deliveries++ }})
		if err := c.PublishWait(context.Background(), "out", 2, false, []byte("y")); err != nil {
			t.Fatalf("PublishWait QoS 2: %v", err)
		}
		<-steps
		if deliveries != 1 {
			t.Errorf("QoS 2 message sent twice was delivered %d times, want 1", deliveries)
		}
		c.Close()
	})
}

// TestRefused checks that refusals carry their reason codes: a CONNACK,
// a v5 PUBACK, and what the client refuses itself.
func TestRefused(t *testing.T) {
	addr := brokertest.Start(t, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: false})
	for _, v := range versions {
		_, _, err := Connect(context.Background(), Options{Addr: addr, Version: v.version, CleanStart: true})
		var ce *ConnectError
		if !errors.As(err, &ce) || !errors.Is(err, packet.NotAuthorized) {
			t.Errorf("%s anonymous: %v, want a ConnectError for not authorized", v.name, err)
			continue
		}
		var code packet.ReasonCode
		if !errors.As(err, &code) || code != packet.NotAuthorized {
			t.Errorf("%s: errors.As gave reason code %v", v.name, code)
		}
		if v.version != packet.V5 && ce.ReturnCode != packet.V3NotAuthorized {
			t.Errorf("%s: return code %d, want %d", v.name, ce.ReturnCode, packet.V3NotAuthorized)
		}
		if v.version == packet.V5 && ce.ReasonString == "" {
			t.Errorf("5.0: no reason string in %v", err)
		}
		t.Logf("%s: %v", v.name, err)
	}

	synctest.Test(t, func(t *testing.T) {
		var props packet.Properties
		props.MaximumQoS = 1
		props.Set(packet.PropMaximumQoS)
		dial := fakeDial(t, packet.V5, func(s *fakeServer) {
			s.accept(props)
			for p := s.recv(); p != nil; p = s.recv() {
				if pub, ok := p.(*packet.Publish); ok {
					a := &packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID, ReasonCode: packet.NotAuthorized}
					a.Properties.ReasonString = "not on this topic"
					s.send(a)
				}
			}
		})
		c := mustConnect(t, Options{Addr: "fake", Version: packet.V5, Dial: dial})
		ctx := context.Background()
		err := c.PublishWait(ctx, "t", 1, false, nil)
		var pe *packet.Error
		if !errors.As(err, &pe) || pe.Code != packet.NotAuthorized {
			t.Errorf("refused PUBACK: %v, want a *packet.Error not authorized", err)
		}
		if err := c.Publish(ctx, "t", 2, false, nil); !errors.Is(err, packet.QoSNotSupported) {
			t.Errorf("QoS 2 above the server's maximum: %v", err)
		}
		for _, topic := range []string{"", "a/+", "a/#", "a\x00"} {
			if err := c.Publish(ctx, topic, 0, false, nil); !errors.Is(err, packet.TopicNameInvalid) {
				t.Errorf("topic %q: %v, want topic name invalid", topic, err)
			}
		}
		if c.Window() != defaultInflight {
			t.Errorf("Window %d", c.Window())
		}
		c.Close()
	})
}

// TestKeepAlive runs a client against the real broker for many keep alive
// periods with nothing to send: the broker would close it after 1.5 keep
// alives without a PINGREQ.
func TestKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln, shutdown := brokertest.StartPipe(t, brokertest.QuietOptions())
		c := mustConnect(t, Options{Addr: "pipe", Dial: ln.Dial, KeepAlive: 2 * time.Second, CleanStart: true})
		time.Sleep(30 * time.Second)
		select {
		case <-c.Done():
			t.Fatalf("connection ended: %v", c.Err())
		default:
		}
		if err := c.PublishWait(context.Background(), "ka", 1, false, nil); err != nil {
			t.Errorf("PublishWait after 30s: %v", err)
		}
		if err := c.Disconnect(); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
		shutdown()
	})
}

// TestPingTimeout: a server that never answers PINGREQ is given up on
// within two keep alives.
func TestPingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pings int
		dial := fakeDial(t, packet.V311, func(s *fakeServer) {
			s.accept(packet.Properties{})
			for p := s.recv(); p != nil; p = s.recv() {
				if _, ok := p.(*packet.Pingreq); ok {
					pings++
				}
			}
		})
		start := time.Now()
		c := mustConnect(t, Options{Addr: "fake", Dial: dial, KeepAlive: time.Second, CleanStart: true})
		<-c.Done()
		if !errors.Is(c.Err(), ErrPingTimeout) {
			t.Errorf("Err %v, want ErrPingTimeout", c.Err())
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("gave up after %v, want 2s", d)
		}
		synctest.Wait()
		if pings != 1 {
			t.Errorf("%d PINGREQs, want 1", pings)
		}
	})
}

// TestServerDisconnect: a v5 client told DISCONNECT 0x8B by a shutting
// down broker reports it in Err, and pending calls end.
func TestServerDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln, shutdown := brokertest.StartPipe(t, brokertest.QuietOptions())
		c := mustConnect(t, Options{Addr: "pipe", Dial: ln.Dial, Version: packet.V5, CleanStart: true})
		shutdown()
		<-c.Done()
		if !errors.Is(c.Err(), packet.ServerShuttingDown) {
			t.Errorf("Err %v, want server shutting down", c.Err())
		}
		if err := c.Publish(context.Background(), "t", 0, false, nil); !errors.Is(err, packet.ServerShuttingDown) {
			t.Errorf("Publish after the end: %v", err)
		}
		c.Close()
	})
}

// TestClose checks that Close ends waiting calls and that no goroutine of
// the client (or, once it notices, of the broker) is left.
func TestClose(t *testing.T) {
	addr := brokertest.Start(t, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
	time.Sleep(10 * time.Millisecond)
	before := runtime.NumGoroutine()
	ctx := context.Background()

	var clients []*Client
	for i, v := range versions {
		msgs := make(chan received, 100)
		c := mustConnect(t, Options{Addr: addr, Version: v.version, KeepAlive: time.Minute,
			ClientID: fmt.Sprintf("close-%d", i), OnMessage: collector(msgs)})
		if _, err := c.Subscribe(ctx, packet.Subscription{Filter: "close/#", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		for q := byte(0); q <= 2; q++ {
			if err := c.PublishWait(ctx, "close/x", q, false, []byte("p")); err != nil {
				t.Fatal(err)
			}
		}
		clients = append(clients, c)
	}
	clients[0].Close()
	if err := clients[1].Disconnect(); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	if err := clients[1].Disconnect(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Disconnect: %v, want ErrClosed", err)
	}
	if err := clients[1].Publish(ctx, "close/x", 0, false, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Disconnect: %v, want ErrClosed", err)
	}

	// A PublishWait blocked on a full window ends with Close.
	c := clients[2]
	var wg sync.WaitGroup
	for range c.Window() + 5 {
		wg.Go(func() { c.PublishWait(ctx, "close/y", 1, false, nil) })
	}
	c.Close()
	wg.Wait()
	for _, c := range clients {
		if c.Err() != nil {
			t.Errorf("Err after Close: %v", c.Err())
		}
	}
	checkGoroutines(t, before)
}

// BenchmarkPublish measures the publisher side at QoS 0 (until written) and
// QoS 1 (until acknowledged).
func BenchmarkPublish(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			addr := brokertest.Start(b, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
			c := mustConnect(b, Options{Addr: addr, CleanStart: true})
			defer c.Disconnect()
			payload := make([]byte, 64)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Publish(ctx, "bench/topic", qos, false, payload); err != nil {
					b.Fatal(err)
				}
			}
			if qos == 0 {
				c.Flush(ctx)
			} else {
				c.Drain(ctx)
			}
		})
	}
}

// BenchmarkReceive measures the subscriber side: QoS 1 messages read,
// delivered to OnMessage and acknowledged.
func BenchmarkReceive(b *testing.B) {
	addr := brokertest.Start(b, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
	got := make(chan struct{}, 1)
	var n, want int
	var mu sync.Mutex
	sub := mustConnect(b, Options{Addr: addr, CleanStart: true, OnMessage: func(*Message) {
		mu.Lock()
		n++
		if n == want {
			got <- struct{}{}
		}
		mu.Unlock()
	}})
	defer sub.Disconnect()
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, packet.Subscription{Filter: "recv", QoS: 1}); err != nil {
		b.Fatal(err)
	}
	pub := mustConnect(b, Options{Addr: addr, CleanStart: true})
	defer pub.Disconnect()
	payload := make([]byte, 64)
	mu.Lock()
	want = b.N
	mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pub.Publish(ctx, "recv", 1, false, payload)
	}
	<-got
}
