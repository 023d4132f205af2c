package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// quietOptions are the defaults with logging discarded and $SYS off.
func quietOptions() Options {
	o := DefaultOptions()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.SysInterval = 0
	return o
}

// pipeListener hands net.Pipe connections to Serve; it works inside a
// testing/synctest bubble, where real sockets do not.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial returns the client end of a new connection to the server.
func (l *pipeListener) Dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// startPipeServer runs a server on a pipeListener until the test ends.
func startPipeServer(t *testing.T, opts Options) (*Server, *pipeListener) {
	t.Helper()
	srv := New(opts)
	ln := newPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, ListenerOptions{AllowAnonymous: true}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln
}

// client is a minimal MQTT client over any net.Conn, built on the codec,
// for driving the broker packet by packet.
type client struct {
	t       testing.TB
	nc      net.Conn
	r       *packet.Reader
	version byte
	buf     []byte
}

func newClient(t testing.TB, nc net.Conn, version byte) *client {
	return &client{t: t, nc: nc, r: packet.NewReader(nc), version: version}
}

func (c *client) send(p packet.Packet) {
	c.t.Helper()
	c.buf = p.Encode(c.buf[:0], c.version)
	if _, err := c.nc.Write(c.buf); err != nil {
		c.t.Fatalf("write %s: %v", p.Type(), err)
	}
}

// recv reads the next packet; the caller must not keep a PUBLISH or Ack past the next recv.
func (c *client) recv() (packet.Packet, error) {
	return c.r.ReadPacket(c.version)
}

func (c *client) mustRecv() packet.Packet {
	c.t.Helper()
	p, err := c.recv()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// connect sends CONNECT and returns the CONNACK.
func (c *client) connect(cp *packet.Connect) *packet.Connack {
	c.t.Helper()
	cp.ProtocolVersion = c.version
	c.send(cp)
	ack, ok := c.mustRecv().(*packet.Connack)
	if !ok {
		c.t.Fatalf("expected CONNACK")
	}
	return ack
}

func (c *client) subscribe(id uint16, filter string, qos byte) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	ack, ok := c.mustRecv().(*packet.Suback)
	if !ok {
		c.t.Fatalf("expected SUBACK")
	}
	return ack
}

// expectClosed reads until the server closes the connection and returns
// the reason code of a DISCONNECT received on the way, if any.
func (c *client) expectClosed() (packet.ReasonCode, bool) {
	c.t.Helper()
	var code packet.ReasonCode
	got := false
	for {
		p, err := c.recv()
		if err != nil {
			return code, got
		}
		if d, ok := p.(*packet.Disconnect); ok {
			code, got = d.ReasonCode, true
		}
	}
}
