package broker

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
)

// discardConn is a client that has already sent its CONNECT and SUBSCRIBE:
// reads return those bytes and then block until Close; writes are counted
// and discarded. It measures the broker alone, without a real socket.
type discardConn struct {
	in      *bytes.Reader
	closed  chan struct{}
	written atomic.Int64
}

func newDiscardConn(script []byte) *discardConn {
	return &discardConn{in: bytes.NewReader(script), closed: make(chan struct{})}
}

func (d *discardConn) Read(p []byte) (int, error) {
	if d.in.Len() > 0 {
		return d.in.Read(p)
	}
	<-d.closed
	return 0, net.ErrClosed
}

func (d *discardConn) Write(p []byte) (int, error) {
	d.written.Add(int64(len(p)))
	return len(p), nil
}

func (d *discardConn) Close() error {
	select {
	case <-d.closed:
	default:
		close(d.closed)
	}
	return nil
}

func (d *discardConn) LocalAddr() net.Addr                { return pipeAddr{} }
func (d *discardConn) RemoteAddr() net.Addr               { return pipeAddr{} }
func (d *discardConn) SetDeadline(t time.Time) error      { return nil }
func (d *discardConn) SetReadDeadline(t time.Time) error  { return nil }
func (d *discardConn) SetWriteDeadline(t time.Time) error { return nil }

// BenchmarkFanOut measures one PUBLISH delivered to every subscriber of its
// topic: index match, merge, queueing, and each writer's encode and write.
// ns/op is per published message; ns/delivery divides by the subscribers.
// QoS 1 is measured end to end by `gridmq bench`, since it needs a client
// that acknowledges.
func BenchmarkFanOut(b *testing.B) {
	for _, tc := range []struct {
		subs    int
		version byte
		qos     byte
	}{{1, packet.V311, 0}, {8, packet.V311, 0}, {100, packet.V311, 0}, {8, packet.V5, 0}} {
		b.Run(fmt.Sprintf("subs=%d/v=%d/qos=%d", tc.subs, tc.version, tc.qos), func(b *testing.B) {
			opts := quietOptions()
			opts.MaxInflightMessages = 0 // no acks come back from a discardConn
			opts.MaxQueuedMessages = 0
			srv := New(opts)
			defer srv.Shutdown(b.Context())
			var conns []*discardConn
			for i := range tc.subs {
				var script []byte
				script = (&packet.Connect{ProtocolVersion: tc.version, ClientID: fmt.Sprintf("s%d", i), CleanStart: true}).Encode(script, tc.version)
				script = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "site/+/power", QoS: tc.qos}}}).Encode(script, tc.version)
				dc := newDiscardConn(script)
				conns = append(conns, dc)
				c := newConn(srv, dc, ListenerOptions{AllowAnonymous: true})
				srv.wg.Add(1)
				go c.serve()
			}
			for srv.index.Len() < tc.subs {
				time.Sleep(time.Millisecond)
			}
			waitWritten := func(want int64) {
				last, stuck := int64(-1), time.Now()
				for {
					var got int64
					for _, dc := range conns {
						got += dc.written.Load()
					}
					if got >= want {
						return
					}
					if got != last {
						last, stuck = got, time.Now()
					} else if time.Since(stuck) > 10*time.Second {
						b.Fatalf("deliveries stopped at %d of %d bytes; drops %v", got, want, srv.Stats().Drops)
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
			var base int64
			for _, dc := range conns {
				base += dc.written.Load()
			}
			msg := &session.Message{Topic: "site/7/power", Payload: make([]byte, 64), QoS: tc.qos}
			wire := (&packet.Publish{QoS: tc.qos, PacketID: 1, Topic: []byte(msg.Topic), Payload: msg.Payload}).Encode(nil, tc.version)
			// Published as a client's message, which waits for room in a
			// full queue (the broker's own messages never wait).
			from := newConn(srv, newDiscardConn(nil), ListenerOptions{})
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				srv.publish(msg, from)
			}
			waitWritten(base + int64(b.N)*int64(tc.subs)*int64(len(wire)))
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.subs), "ns/delivery")
			for _, dc := range conns {
				dc.Close()
			}
		})
	}
}

// BenchmarkFanInTCP measures the whole broker over loopback TCP: P
// publishers each write b.N/P pre-encoded QoS 0 PUBLISHes as fast as the
// socket takes them, and one subscriber on a wildcard reads everything.
// ns/op is per delivered message, clients included.
func BenchmarkFanInTCP(b *testing.B) {
	for _, pubs := range []int{1, 8} {
		b.Run(fmt.Sprintf("publishers=%d", pubs), func(b *testing.B) {
			opts := quietOptions()
			opts.MaxQueuedMessages = 0
			srv := New(opts)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
			defer srv.Shutdown(b.Context())

			sub := dialClient(b, ln, packet.V311)
			sub.connect(&packet.Connect{ClientID: "sink", CleanStart: true})
			sub.subscribe(1, "site/+/power", 0)
			one := (&packet.Publish{Topic: []byte("site/1/power"), Payload: make([]byte, 64)}).Encode(nil, packet.V311)
			per := max(b.N/pubs, 1)
			stream := bytes.Repeat(one, per)
			var pubConns []net.Conn
			for i := range pubs {
				c := dialClient(b, ln, packet.V311)
				c.connect(&packet.Connect{ClientID: fmt.Sprintf("p%d", i), CleanStart: true})
				pubConns = append(pubConns, c.nc)
			}
			want := int64(per*pubs) * int64(len(one))
			b.ReportAllocs()
			b.ResetTimer()
			for _, nc := range pubConns {
				go nc.Write(stream)
			}
			buf := make([]byte, 256<<10)
			for got := int64(0); got < want; {
				n, err := sub.nc.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				got += int64(n)
			}
			b.StopTimer()
			b.ReportMetric(float64(per*pubs)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// An acknowledgement is queued without allocating: QoS 1 traffic sends one
// per message.
func TestAcknowledgementAllocatesNothing(t *testing.T) {
	c := &conn{srv: New(quietOptions()), version: packet.V311, writing: true} // writing: no writer is started
	n := testing.AllocsPerRun(1000, func() {
		c.sendAck(packet.PUBACK, 7, packet.Success)
		c.outMu.Lock()
		c.ctl = c.ctl[:0]
		c.outMu.Unlock()
	})
	if n != 0 {
		t.Errorf("%v allocations per PUBACK, want 0", n)
	}
}
