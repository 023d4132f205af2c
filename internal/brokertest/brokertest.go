// Package brokertest runs the real broker in-process for the tests of the
// packages built on it (client, bench, cmd): over loopback TCP, or over
// pipes inside a testing/synctest bubble. Only tests import it; the broker's
// own tests cannot (it imports the broker) and keep their own helpers.
package brokertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/packet"
)

// QuietOptions are the broker's defaults with logging discarded and $SYS off.
func QuietOptions() broker.Options {
	o := broker.DefaultOptions()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.SysInterval = 0
	return o
}

// Start runs a broker on a random loopback port until the test ends and
// returns its address. At cleanup it shuts the broker down and checks that
// Serve ended with ErrServerClosed.
//
// Before returning it lets one client go quiet, so that the broker has
// started its idle-connection poller: a test counting goroutines before and
// after some work then sees only its own.
func Start(t testing.TB, opts broker.Options, lo broker.ListenerOptions) string {
	t.Helper()
	_, addr := StartServer(t, opts, lo)
	return addr
}

// StartServer is Start, and returns the server too, for tests that look at
// its state (Stats) as well as at what clients see.
func StartServer(t testing.TB, opts broker.Options, lo broker.ListenerOptions) (*broker.Server, string) {
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
	addr := ln.Addr().String()
	warmUp(addr, lo)
	return srv, addr
}

// warmUp connects a client that stays quiet for longer than a connection
// lingers, so that it is parked, then disconnects it.
func warmUp(addr string, lo broker.ListenerOptions) {
	if !lo.AllowAnonymous {
		return
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer nc.Close()
	nc.Write((&packet.Connect{ProtocolVersion: packet.V311, ClientID: "brokertest-warm-up", CleanStart: true}).Encode(nil, packet.V311))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := packet.NewReader(nc).ReadPacket(packet.V311); err != nil {
		return
	}
	time.Sleep(200 * time.Millisecond)
	nc.Write((&packet.Disconnect{}).Encode(nil, packet.V311))
}

// PipeListener hands net.Pipe connections to a broker; it works inside a
// testing/synctest bubble, where real sockets do not.
type PipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewPipeListener returns a listener for broker.Server.Serve.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the broker serving l; it has the signature of a
// client's dial function.
func (l *PipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
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

// StartPipe runs a broker on a PipeListener, admitting anonymous clients.
// The returned function shuts it down; it also runs at cleanup.
func StartPipe(t testing.TB, opts broker.Options) (*PipeListener, func()) {
	t.Helper()
	srv := broker.New(opts)
	ln := NewPipeListener()
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
