package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gridmq/gridmq/internal/packet"
)

// Readers write to other connections' sockets themselves (flush.go), and
// hand what a full socket does not take to the writer goroutine. Over real
// TCP, with a subscriber that holds back its reads until megabytes are
// queued for it, every message must still arrive once and in each
// publisher's order [MQTT-4.6.0-6], at QoS 0 as at QoS 1.
func TestReaderWritesKeepOrderWhenSocketsFill(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			const (
				pubs    = 4
				perPub  = 1500
				payload = 4 << 10
			)
			opts := quietOptions()
			opts.MaxQueuedMessages = 0
			srv := New(opts)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
			t.Cleanup(func() { srv.Shutdown(t.Context()) })

			sub := dialSmallWindow(t, ln) // fills the broker's socket early
			sub.connect(&packet.Connect{ClientID: "sink", CleanStart: true})
			sub.subscribe(1, "load/+", qos)

			// The subscriber starts reading once the publishers have written
			// a third of their messages (QoS 0), or been acknowledged for 800
			// (QoS 1, below the 1,000 that make them wait): megabytes, far
			// more than the socket buffers hold.
			threshold := int64(pubs * perPub / 3)
			if qos == 1 {
				threshold = 800
			}
			var progressed atomic.Int64
			start := make(chan struct{})
			var once sync.Once
			step := func() {
				if progressed.Add(1) == threshold {
					once.Do(func() { close(start) })
				}
			}
			errs := make(chan error, 2*pubs)
			for p := range pubs {
				c := dialClient(t, ln, packet.V311)
				c.connect(&packet.Connect{ClientID: fmt.Sprintf("p%d", p), CleanStart: true})
				go func() {
					body := make([]byte, payload)
					var out []byte
					for i := range perPub {
						binary.BigEndian.PutUint32(body, uint32(i))
						pk := packet.Publish{QoS: qos, PacketID: uint16(i%60000 + 1), Topic: fmt.Appendf(nil, "load/%d", p), Payload: body}
						out = pk.Encode(out[:0], packet.V311)
						if _, err := c.nc.Write(out); err != nil {
							errs <- err
							return
						}
						if qos == 0 {
							step()
						}
					}
					errs <- nil
				}()
				if qos == 1 {
					go func() {
						for i := range perPub {
							pk, err := c.recv()
							if err != nil {
								errs <- err
								return
							}
							a, ok := pk.(*packet.Ack)
							if !ok || a.Kind != packet.PUBACK || a.PacketID != uint16(i%60000+1) {
								errs <- fmt.Errorf("publisher %d: got %v, want PUBACK %d", p, pk.Type(), i+1)
								return
							}
							step()
						}
						errs <- nil
					}()
				}
			}

			<-start
			next := make([]uint32, pubs)
			for got := 0; got < pubs*perPub; got++ {
				pk, err := sub.recv()
				if err != nil {
					t.Fatalf("after %d messages: %v", got, err)
				}
				m, ok := pk.(*packet.Publish)
				if !ok {
					t.Fatalf("got %v, want PUBLISH", pk.Type())
				}
				var p int
				fmt.Sscanf(string(m.Topic), "load/%d", &p)
				seq := binary.BigEndian.Uint32(m.Payload)
				if p < 0 || p >= pubs || seq != next[p] || len(m.Payload) != payload {
					t.Fatalf("message %d: publisher %d seq %d (%d bytes), want seq %d", got, p, seq, len(m.Payload), next[p])
				}
				next[p]++
				if m.QoS == 1 {
					sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: m.PacketID})
				}
			}
			for range pubs * int(1+qos) {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// dialSmallWindow connects with a 4 KiB receive buffer, set before the
// handshake so that the window the client advertises never shrinks.
func dialSmallWindow(t *testing.T, ln net.Listener) *client {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		return errors.Join(err, serr)
	}}
	nc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return newClient(t, nc, packet.V311)
}
