package client

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

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
