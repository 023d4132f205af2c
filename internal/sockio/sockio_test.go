//go:build unix

package sockio

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// WriteOnce never waits: against a peer that does not read it fills the
// socket, then reports 0 bytes written and no error. Everything it reported
// written arrives, in order.
func TestWriteOnceDoesNotWait(t *testing.T) {
	a, b := tcpPair(t)
	rc := RawConn(a)
	if rc == nil {
		t.Fatal("no RawConn for a TCP connection")
	}
	w := NewWriter()
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	var sent int
	for {
		n, err := w.WriteOnce(rc, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break // full: not an error, and it did not block
		}
		sent += n
		if sent > 256<<20 {
			t.Fatal("the socket never filled")
		}
	}
	got := make([]byte, sent)
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != byte(i%len(chunk)) {
			t.Fatalf("byte %d is %d, want %d", i, got[i], byte(i%len(chunk)))
		}
	}
}

// Read waits for bytes like net.Conn.Read, honours the read deadline, and
// reports io.EOF when the peer closes.
func TestRead(t *testing.T) {
	a, b := tcpPair(t)
	rc := RawConn(a)
	go b.Write([]byte("hello"))
	buf := make([]byte, 16)
	n, err := Read(rc, buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := Read(rc, buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	a.SetReadDeadline(time.Time{})
	b.Close()
	if _, err := Read(rc, buf); err != io.EOF {
		t.Fatalf("Read after the peer closed: %v, want io.EOF", err)
	}
}

// Only sockets have raw access; a pipe goes through net.Conn.
func TestRawConnOnlyForSockets(t *testing.T) {
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if RawConn(p) != nil {
		t.Error("RawConn returned access for a pipe")
	}
}
