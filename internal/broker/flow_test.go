package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// A client publishing QoS 1 to its own subscription, and acknowledging
// everything it gets, loses nothing however large the burst: the broker's
// reader never waits for acknowledgements that only it could read.
func TestSelfSubscribedBurstLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, ln := startPipeServer(t, quietOptions())
		c := newClient(t, ln.Dial(), packet.V311)
		c.connect(&packet.Connect{ClientID: "echo", CleanStart: true})
		c.subscribe(1, "self", 1)
		const n = 1500 // above max_queued_messages (1000) + the in-flight window
		var burst []byte
		for i := range n {
			burst = (&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("self"), Payload: []byte("x")}).Encode(burst, packet.V311)
		}
		acks := make(chan uint16, 4096)
		got, pubacks := 0, 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			r := packet.NewReader(c.nc)
			for got < n || pubacks < n {
				p, err := r.ReadPacket(packet.V311)
				if err != nil {
					return
				}
				switch p := p.(type) {
				case *packet.Publish:
					got++
					acks <- p.PacketID
				case *packet.Ack:
					pubacks++
				}
			}
		}()
		go func() { // the client's writer: the burst, then PUBACKs as deliveries arrive
			c.nc.Write(burst)
			for id := range acks {
				c.nc.Write((&packet.Ack{Kind: packet.PUBACK, PacketID: id}).Encode(nil, packet.V311))
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
		}
		if got != n || pubacks != n {
			t.Errorf("delivered %d and acknowledged %d of %d; drops %v", got, pubacks, n, srv.Stats().Drops)
		}
		c.nc.Close()
		close(acks)
	})
}

// A SUBSCRIBE matching more retained messages than the queue limits gets
// every one of them.
func TestRetainedFloodOnSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, ln := startPipeServer(t, quietOptions())
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		const n = 2500
		for i := range n {
			pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Retain: true, Topic: []byte(fmt.Sprintf("r/%d", i)), Payload: []byte("x")})
			pub.mustRecv()
		}
		c := newClient(t, ln.Dial(), packet.V311)
		c.connect(&packet.Connect{ClientID: "sub", CleanStart: true})
		c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r/#", QoS: 1}}})
		got := 0
		c.nc.SetReadDeadline(time.Now().Add(time.Minute))
		for got < n {
			p, err := c.recv()
			if err != nil {
				break
			}
			if pp, ok := p.(*packet.Publish); ok {
				got++
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pp.PacketID})
			}
		}
		if got != n {
			t.Errorf("%d of %d retained messages sent; drops %v", got, n, srv.Stats().Drops)
		}
		c.nc.Close()
		pub.nc.Close()
	})
}

// [MQTT-3.1.2-24] A publisher held back by a slow but reading subscriber is
// not closed for keep alive: it never stopped sending.
func TestKeepAliveNotTrippedByBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := quietOptions()
		var logbuf bytes.Buffer
		opts.Logger = slog.New(slog.NewTextHandler(&logbuf, nil))
		srv, ln := startPipeServer(t, opts)
		sub := newClient(t, ln.Dial(), packet.V311)
		sub.connect(&packet.Connect{ClientID: "slow", CleanStart: true})
		sub.subscribe(1, "t", 0)
		reading := make(chan struct{})
		go func() { // reads 16 KiB a second: slow, but progressing
			defer close(reading)
			buf := make([]byte, 16<<10)
			for range 60 {
				time.Sleep(time.Second)
				if _, err := sub.nc.Read(buf); err != nil {
					return
				}
			}
		}()

		pub := newClient(t, ln.Dial(), packet.V5)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 10})
		one := (&packet.Publish{Topic: []byte("t"), Payload: []byte("12345678")}).Encode(nil, packet.V5)
		chunk := bytes.Repeat(one, 10000)
		if _, err := pub.nc.Write(chunk); err != nil {
			t.Fatalf("publisher cut off while sending: %v", err)
		}
		pub.send(&packet.Pingreq{})
		if _, ok := pub.mustRecv().(*packet.Pingresp); !ok {
			t.Error("expected PINGRESP")
		}
		if bytes.Contains(logbuf.Bytes(), []byte("keep alive timeout")) {
			t.Errorf("a publisher that never stopped sending was closed for keep alive timeout")
		}
		if d := srv.Stats().PublishDropped; d != 0 {
			t.Errorf("%d messages dropped for a subscriber that keeps reading: %v", d, srv.Stats().Drops)
		}
		sub.nc.Close()
		pub.nc.Close()
		<-reading
	})
}

// A client that sends but never reads cannot make the server queue its
// acknowledgements without bound: it is closed.
func TestClientThatNeverReadsIsClosed(t *testing.T) {
	_, ln := startPipeServer(t, quietOptions())
	c := newClient(t, ln.Dial(), packet.V311)
	c.connect(&packet.Connect{ClientID: "deaf", CleanStart: true})
	var burst []byte
	for i := range 10000 {
		burst = (&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("t")}).Encode(burst, packet.V311)
	}
	c.nc.SetWriteDeadline(time.Now().Add(time.Minute))
	for sent := 0; ; sent += len(burst) {
		if _, err := c.nc.Write(burst); err != nil {
			if !errors.Is(err, io.ErrClosedPipe) && sent < maxPendingControl {
				t.Fatalf("write failed after %d bytes: %v", sent, err)
			}
			return // closed by the server
		}
		if sent > 100*maxPendingControl {
			t.Fatalf("still accepted after %d MB without the client reading", sent>>20)
		}
	}
}

// A QoS 1 message that an offline subscriber's queue has no room for is
// dropped for that subscriber and counted, and an MQTT 5 publisher is told
// with 0x97 Quota exceeded in its PUBACK; a 3.1.1 publisher, which cannot be
// told, gets a plain PUBACK.
func TestQueueLimitToldToPublisher(t *testing.T) {
	opts := quietOptions()
	opts.MaxQueuedBytes = 100
	srv, ln := startPipeServer(t, opts)
	sub := newClient(t, ln.Dial(), packet.V311)
	sub.connect(&packet.Connect{ClientID: "away"}) // Clean Session 0: it keeps a queue
	sub.subscribe(1, "q/#", 1)
	sub.send(&packet.Disconnect{})
	sub.nc.Close()

	for _, tc := range []struct {
		version byte
		want    []packet.ReasonCode
	}{
		{packet.V5, []packet.ReasonCode{packet.Success, packet.Success, packet.QuotaExceeded}},
		{packet.V311, []packet.ReasonCode{packet.Success}},
	} {
		pub := newClient(t, ln.Dial(), tc.version)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i, want := range tc.want {
			pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("q/1"), Payload: make([]byte, 37)}) // 40 bytes
			a, ok := pub.mustRecv().(*packet.Ack)
			if !ok || a.PacketID != uint16(i+1) || a.ReasonCode != want {
				t.Fatalf("level %d, PUBLISH %d: %+v, want PUBACK %v", tc.version, i+1, a, want)
			}
		}
		pub.nc.Close()
	}
	if n := srv.Stats().Drops["queue_full"]; n != 2 {
		t.Errorf("queue_full drops = %d, want 2", n)
	}
}
