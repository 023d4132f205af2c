package client

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// smallBuffers sets a socket's kernel buffers to 4 KiB before it connects,
// so that a peer that stops reading fills them at once.
func smallBuffers(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = errors.Join(
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10),
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<10))
	})
	return errors.Join(err, serr)
}

// The reader writes its acknowledgements itself when it can, and hands what
// a full socket does not take to the writer goroutine. Against a server that
// sends many QoS 1 messages before it reads anything, every PUBACK must
// still arrive, once and in order [MQTT-4.6.0-2], and the client's reader
// must never block: it goes on taking messages while its acknowledgements
// wait.
func TestAcknowledgementsWhenTheServerDoesNotRead(t *testing.T) {
	const n = 50000
	lc := net.ListenConfig{Control: smallBuffers}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	served := make(chan error, 1)
	go func() {
		served <- func() error {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			defer nc.Close()
			r := packet.NewReader(nc)
			if _, err := r.ReadPacket(packet.V311); err != nil {
				return err
			}
			if _, err := nc.Write((&packet.Connack{}).Encode(nil, packet.V311)); err != nil {
				return err
			}
			var out []byte
			for i := range n {
				p := packet.Publish{QoS: 1, PacketID: uint16(i%65535 + 1), Topic: []byte("t"), Payload: []byte("m")}
				out = p.Encode(out, packet.V311)
			}
			if _, err := nc.Write(out); err != nil { // all of it before reading a byte
				return err
			}
			for i := range n {
				pk, err := r.ReadPacket(packet.V311)
				if err != nil {
					return err
				}
				a, ok := pk.(*packet.Ack)
				if !ok || a.Kind != packet.PUBACK || a.PacketID != uint16(i%65535+1) {
					return errors.New("acknowledgement out of order or not a PUBACK")
				}
			}
			return nil
		}()
	}()

	var got atomic.Int64
	d := net.Dialer{Control: smallBuffers}
	c, _, err := Connect(context.Background(), Options{
		Addr: ln.Addr().String(), Version: packet.V311, CleanStart: true,
		Dial:      d.DialContext,
		OnMessage: func(*Message) { got.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not receive every PUBACK")
	}
	if got.Load() != n {
		t.Errorf("client received %d messages, want %d", got.Load(), n)
	}
}
