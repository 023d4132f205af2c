package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/packet"
)

// quietOptions are the broker defaults with logging discarded and $SYS off.
func quietOptions() broker.Options {
	o := broker.DefaultOptions()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.SysInterval = 0
	return o
}

// startBroker runs the real broker on a loopback port until the test ends
// and returns its address.
func startBroker(t testing.TB, opts broker.Options, lo broker.ListenerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := broker.New(opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, lo) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("broker Serve returned %v", err)
		}
	})
	return ln.Addr().String()
}

// pipeListener hands net.Pipe connections to the broker; it works inside a
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

// Dial is an Options.Dial that connects to the broker serving l.
func (l *pipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// startPipeBroker runs the broker on a pipeListener inside a synctest
// bubble. The returned function shuts it down; it also runs at cleanup.
func startPipeBroker(t *testing.T, opts broker.Options) (*pipeListener, func()) {
	t.Helper()
	srv := broker.New(opts)
	ln := newPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln, broker.ListenerOptions{AllowAnonymous: true}) }()
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Errorf("broker Shutdown: %v", err)
			}
			<-served
		})
	}
	t.Cleanup(shutdown)
	return ln, shutdown
}

// fakeServer is the server end of a pipe, driven packet by packet by a test.
type fakeServer struct {
	t       *testing.T
	nc      net.Conn
	r       *packet.Reader
	version byte
}

// fakeDial returns an Options.Dial whose connections go to fn, run on its
// own goroutine with the server end.
func fakeDial(t *testing.T, version byte, fn func(s *fakeServer)) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			fn(&fakeServer{t: t, nc: server, r: packet.NewReader(server), version: version})
		}()
		return client, nil
	}
}

func (s *fakeServer) send(p packet.Packet) {
	if _, err := s.nc.Write(p.Encode(nil, s.version)); err != nil {
		s.t.Errorf("fake server: write %v: %v", p.Type(), err)
	}
}

// recv returns the next packet; a PUBLISH or Ack is valid until the next recv.
func (s *fakeServer) recv() packet.Packet {
	p, err := s.r.ReadPacket(s.version)
	if err != nil {
		return nil
	}
	return p
}

// accept reads CONNECT and answers CONNACK with props.
func (s *fakeServer) accept(props packet.Properties) *packet.Connect {
	p := s.recv()
	c, ok := p.(*packet.Connect)
	if !ok {
		s.t.Errorf("fake server: got %v, want CONNECT", p)
		return nil
	}
	s.send(&packet.Connack{Properties: props})
	return c
}

// checkGoroutines fails the test if, within a few seconds, the number of
// goroutines does not come back to before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
