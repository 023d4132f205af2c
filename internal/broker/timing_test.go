package broker

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// Time-dependent behaviour runs in a synctest bubble: the clock is fake and
// advances only when every goroutine is blocked, so these tests neither
// sleep for real nor depend on the machine's speed.

// [MQTT-3.1.2-24] The server closes a connection that sends nothing for one
// and a half times the keep alive; v5 clients are told 0x8D.
func TestKeepAliveClosesSilentClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ln := startPipeServer(t, quietOptions())
		c := newClient(t, ln.Dial(), packet.V5)
		c.connect(&packet.Connect{ClientID: "silent", CleanStart: true, KeepAlive: 10})
		start := time.Now()
		code, got := c.expectClosed()
		if elapsed := time.Since(start); elapsed != 15*time.Second {
			t.Errorf("closed after %v, want 15s (1.5 x keep alive)", elapsed)
		}
		if !got || code != packet.KeepAliveTimeout {
			t.Errorf("DISCONNECT %v (received %v), want 0x8D keep alive timeout", code, got)
		}
	})
}

// A client that pings within its keep alive stays connected.
func TestKeepAliveRespectedByPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ln := startPipeServer(t, quietOptions())
		c := newClient(t, ln.Dial(), packet.V311)
		c.connect(&packet.Connect{ClientID: "pinger", CleanStart: true, KeepAlive: 10})
		for range 6 {
			time.Sleep(9 * time.Second)
			c.send(&packet.Pingreq{})
			if _, ok := c.mustRecv().(*packet.Pingresp); !ok {
				t.Fatal("expected PINGRESP")
			}
		}
		c.nc.Close()
	})
}

// [MQTT-3.2.2-21] A v5 client asking for more than max_keepalive is told
// the server's value in Server Keep Alive, and held to it.
func TestServerKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := quietOptions()
		opts.MaxKeepAlive = 20
		_, ln := startPipeServer(t, opts)
		c := newClient(t, ln.Dial(), packet.V5)
		ack := c.connect(&packet.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 600})
		if !ack.Properties.Has(packet.PropServerKeepAlive) || ack.Properties.ServerKeepAlive != 20 {
			t.Fatalf("Server Keep Alive = %v (present %v), want 20", ack.Properties.ServerKeepAlive, ack.Properties.Has(packet.PropServerKeepAlive))
		}
		start := time.Now()
		c.expectClosed()
		if elapsed := time.Since(start); elapsed != 30*time.Second {
			t.Errorf("closed after %v, want 30s", elapsed)
		}
	})
}

func connectV5(t *testing.T, ln *pipeListener, id string, clean bool, expiry uint32) (*client, *packet.Connack) {
	c := newClient(t, ln.Dial(), packet.V5)
	cp := &packet.Connect{ClientID: id, CleanStart: clean}
	cp.Properties.SessionExpiry = expiry
	cp.Properties.Set(packet.PropSessionExpiry)
	return c, c.connect(cp)
}

// [MQTT-3.1.2-23] A session outlives its connection for the Session Expiry
// Interval and no longer; [MQTT-3.2.2-2] a resumed session is reported.
func TestSessionExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, ln := startPipeServer(t, quietOptions())
		c, ack := connectV5(t, ln, "expiring", true, 60)
		if ack.SessionPresent {
			t.Fatal("new session reported present")
		}
		c.subscribe(1, "a/b", 1)
		c.send(&packet.Disconnect{})
		c.expectClosed()

		time.Sleep(59 * time.Second)
		c, ack = connectV5(t, ln, "expiring", false, 60)
		if !ack.SessionPresent {
			t.Fatal("session gone before its expiry interval")
		}
		c.send(&packet.Disconnect{})
		c.expectClosed()

		time.Sleep(61 * time.Second)
		synctest.Wait()
		if n := srv.Stats().Sessions; n != 0 {
			t.Fatalf("%d sessions after expiry, want 0", n)
		}
		if n := srv.Stats().Subscriptions; n != 0 {
			t.Fatalf("%d subscriptions after expiry, want 0", n)
		}
		c, ack = connectV5(t, ln, "expiring", false, 0)
		if ack.SessionPresent {
			t.Fatal("session still present after its expiry interval")
		}
		c.nc.Close()
	})
}

// recvAsync reads packets on a goroutine so a test can check, after
// synctest.Wait, whether anything arrived.
func recvAsync(c *client) <-chan packet.Packet {
	ch := make(chan packet.Packet, 16)
	go func() {
		defer close(ch)
		for {
			p, err := c.recv()
			if err != nil {
				return
			}
			if pub, ok := p.(*packet.Publish); ok {
				cp := *pub
				cp.Topic = append([]byte(nil), pub.Topic...)
				cp.Payload = append([]byte(nil), pub.Payload...)
				p = &cp
			}
			ch <- p
		}
	}()
	return ch
}

func pending(ch <-chan packet.Packet) packet.Packet {
	select {
	case p := <-ch:
		return p
	default:
		return nil
	}
}

func connectWithWill(t *testing.T, ln *pipeListener, id string, delay uint32) *client {
	c := newClient(t, ln.Dial(), packet.V5)
	cp := &packet.Connect{ClientID: id, CleanStart: true, Will: &packet.Will{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1}}
	cp.Will.Properties.WillDelay = delay
	cp.Will.Properties.Set(packet.PropWillDelay)
	cp.Properties.SessionExpiry = 3600
	cp.Properties.Set(packet.PropSessionExpiry)
	c.connect(cp)
	return c
}

// [MQTT-3.1.3-9] The will waits out its Will Delay Interval and is not
// published if the client reconnects in time.
func TestWillDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ln := startPipeServer(t, quietOptions())
		sub := newClient(t, ln.Dial(), packet.V5)
		sub.connect(&packet.Connect{ClientID: "watcher", CleanStart: true})
		sub.subscribe(1, "will/#", 1)
		got := recvAsync(sub)

		w := connectWithWill(t, ln, "late", 30)
		w.nc.Close() // abnormal: no DISCONNECT
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if p := pending(got); p != nil {
			t.Fatalf("will published before its delay: %v", p.Type())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		p, ok := pending(got).(*packet.Publish)
		if !ok || string(p.Topic) != "will/late" || string(p.Payload) != "gone" {
			t.Fatalf("will not published after its delay: %#v", p)
		}
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})

		back := connectWithWill(t, ln, "back", 30)
		back.nc.Close()
		time.Sleep(10 * time.Second)
		again := newClient(t, ln.Dial(), packet.V5)
		cp := &packet.Connect{ClientID: "back"}
		cp.Properties.SessionExpiry = 3600
		cp.Properties.Set(packet.PropSessionExpiry)
		again.connect(cp)
		time.Sleep(60 * time.Second)
		synctest.Wait()
		if p := pending(got); p != nil {
			t.Fatalf("will published although the client came back within the delay")
		}
		again.nc.Close()
		sub.nc.Close()
	})
}

// [MQTT-3.3.2-5] A queued message whose expiry passes is not delivered;
// [MQTT-3.3.2-6] one still alive carries the time it has left.
func TestMessageExpiryWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ln := startPipeServer(t, quietOptions())
		sub, _ := connectV5(t, ln, "offline", true, 3600)
		sub.subscribe(1, "e", 1)
		sub.send(&packet.Disconnect{})
		sub.expectClosed()

		pub := newClient(t, ln.Dial(), packet.V5)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i, expiry := range []uint32{10, 100} {
			p := &packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("e"), Payload: []byte{byte('0' + i)}}
			p.Properties.MessageExpiry = expiry
			p.Properties.Set(packet.PropMessageExpiry)
			pub.send(p)
			pub.mustRecv()
		}
		time.Sleep(30 * time.Second)
		sub, ack := connectV5(t, ln, "offline", false, 3600)
		if !ack.SessionPresent {
			t.Fatal("session not resumed")
		}
		p, ok := sub.mustRecv().(*packet.Publish)
		if !ok || string(p.Payload) != "1" {
			t.Fatalf("got %#v, want only the message with 100 s expiry", p)
		}
		if p.Properties.MessageExpiry != 70 {
			t.Errorf("Message Expiry Interval %d, want 70", p.Properties.MessageExpiry)
		}
		sub.nc.Close()
		pub.nc.Close()
	})
}

// A subscriber that reads nothing holds a publisher back for at most the
// stall timeout; then its QoS 0 messages are dropped and counted, and the
// publisher goes on.
func TestStalledSubscriberDoesNotBlockPublisher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := quietOptions()
		srv, ln := startPipeServer(t, opts)
		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "stuck", CleanStart: true})
		sub.subscribe(1, "flood", 0)
		// From here sub reads nothing: the pipe blocks the server's writer.

		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "flooder", CleanStart: true})
		const n = 3000
		start := time.Now()
		for range n {
			pub.send(&packet.Publish{Topic: []byte("flood"), Payload: []byte("x")})
		}
		pub.send(&packet.Pingreq{})
		if _, ok := pub.mustRecv().(*packet.Pingresp); !ok {
			t.Fatal("expected PINGRESP")
		}
		if waited := time.Since(start); waited < opts.StallTimeout || waited > 2*opts.StallTimeout {
			t.Errorf("publisher held back %v, want about the stall timeout %v", waited, opts.StallTimeout)
		}
		if d := srv.Stats().Drops["stalled_qos0"]; d == 0 || d >= n {
			t.Errorf("stalled_qos0 drops = %d, want some but not all of %d", d, n)
		}
		sub.nc.Close()
		pub.nc.Close()
	})
}

// [MQTT-3.1.3-9] A will whose delay outlasts the session is published when
// the session ends, not before and not never.
func TestWillPublishedAtSessionEndBeforeDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, ln := startPipeServer(t, quietOptions())
		sub := newClient(t, ln.Dial(), packet.V5)
		sub.connect(&packet.Connect{ClientID: "watcher", CleanStart: true})
		sub.subscribe(1, "will/#", 0)
		got := recvAsync(sub)

		w := newClient(t, ln.Dial(), packet.V5)
		cp := &packet.Connect{ClientID: "short", CleanStart: true, Will: &packet.Will{Topic: "will/short", Payload: []byte("bye")}}
		cp.Will.Properties.WillDelay = 600
		cp.Will.Properties.Set(packet.PropWillDelay)
		cp.Properties.SessionExpiry = 20
		cp.Properties.Set(packet.PropSessionExpiry)
		w.connect(cp)
		w.nc.Close()

		time.Sleep(19 * time.Second)
		synctest.Wait()
		if p := pending(got); p != nil {
			t.Fatal("will published before the session ended")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if p, ok := pending(got).(*packet.Publish); !ok || string(p.Topic) != "will/short" {
			t.Fatal("will not published when the session ended")
		}
		sub.nc.Close()
	})
}

// [MQTT-3.1.2-10] Only DISCONNECT 0x00 deletes the will; 0x04 and error
// codes leave it to be published.
func TestWillOnDisconnectReasons(t *testing.T) {
	for _, tc := range []struct {
		code packet.ReasonCode
		want bool
	}{{packet.Success, false}, {packet.DisconnectWithWill, true}, {packet.UnspecifiedError, true}} {
		synctest.Test(t, func(t *testing.T) {
			_, ln := startPipeServer(t, quietOptions())
			sub := newClient(t, ln.Dial(), packet.V5)
			sub.connect(&packet.Connect{ClientID: "watcher", CleanStart: true})
			sub.subscribe(1, "will/#", 0)
			got := recvAsync(sub)

			w := newClient(t, ln.Dial(), packet.V5)
			w.connect(&packet.Connect{ClientID: "leaver", CleanStart: true, Will: &packet.Will{Topic: "will/leaver", Payload: []byte("x")}})
			w.send(&packet.Disconnect{ReasonCode: tc.code})
			w.expectClosed()
			synctest.Wait()
			if published := pending(got) != nil; published != tc.want {
				t.Errorf("DISCONNECT %v: will published = %v, want %v", tc.code, published, tc.want)
			}
			sub.nc.Close()
		})
	}
}
