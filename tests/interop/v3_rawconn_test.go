package interop

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// raw3Conn is a bare TCP connection speaking just enough MQTT 3.1.1 to check
// what a library client hides or refuses to do: an empty client identifier
// with CleanSession 0, the exact CONNACK bytes, a client that goes silent.
type raw3Conn struct {
	net.Conn
	r *bufio.Reader
}

// MQTT 3.1.1 fixed header first bytes (type << 4 | flags), section 2.2.
const (
	raw3CONNECT  = 0x10
	raw3CONNACK  = 0x20
	raw3PINGREQ  = 0xC0
	raw3PINGRESP = 0xD0
)

// raw3Connect holds the CONNECT fields these tests vary; the protocol name is
// always "MQTT" and the level 4 (3.1.1), section 3.1.2.
type raw3Connect struct {
	ClientID    string
	Clean       bool
	KeepAlive   uint16 // seconds
	WillTopic   string // empty: no Will Message
	WillPayload []byte
	WillQoS     byte
	WillRetain  bool
}

// encode returns the whole CONNECT packet.
func (c raw3Connect) encode() []byte {
	var flags byte
	if c.Clean {
		flags |= 0x02
	}
	if c.WillTopic != "" {
		flags |= 0x04 | c.WillQoS<<3
		if c.WillRetain {
			flags |= 0x20
		}
	}
	var body []byte
	body = raw3AppendString(body, "MQTT")
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, c.KeepAlive)
	body = raw3AppendString(body, c.ClientID)
	if c.WillTopic != "" {
		body = raw3AppendString(body, c.WillTopic)
		body = binary.BigEndian.AppendUint16(body, uint16(len(c.WillPayload)))
		body = append(body, c.WillPayload...)
	}
	return raw3Packet(raw3CONNECT, body)
}

func raw3AppendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// raw3Packet prefixes body with the fixed header: first byte and the
// Remaining Length as a variable byte integer, section 2.2.3.
func raw3Packet(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

// raw3Dial opens a TCP connection to the broker; it is closed at cleanup.
func raw3Dial(t testing.TB, b *Broker) *raw3Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.Addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", b.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw3Conn{Conn: c, r: bufio.NewReader(c)}
}

func (c *raw3Conn) send(t testing.TB, p []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(p); err != nil {
		t.Fatalf("writing % x: %v", p, err)
	}
}

// readPacket reads one control packet, waiting at most timeout for it.
func (c *raw3Conn) readPacket(timeout time.Duration) (first byte, body []byte, err error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	first, err = c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var n, shift int
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, errors.New("remaining length longer than 4 bytes")
		}
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return first, body, nil
}

// connack sends CONNECT and returns the CONNACK's two variable header bytes:
// acknowledge flags (bit 0 Session Present) and return code, section 3.2.2.
func (c *raw3Conn) connack(t testing.TB, p raw3Connect) (flags, code byte) {
	t.Helper()
	c.send(t, p.encode())
	first, body, err := c.readPacket(10 * time.Second)
	if err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if first != raw3CONNACK || len(body) != 2 {
		t.Fatalf("want CONNACK 20 02 xx xx, got %02x with body % x", first, body)
	}
	return body[0], body[1]
}

// waitClosed reads until the server closes the connection and returns how
// long that took; packets read meanwhile are an error, as is no close within
// limit.
func (c *raw3Conn) waitClosed(limit time.Duration) (time.Duration, error) {
	start := time.Now()
	first, body, err := c.readPacket(limit)
	if err == nil {
		return 0, fmt.Errorf("expected the connection to be closed, got packet %02x % x", first, body)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, fmt.Errorf("connection still open after %v", limit)
	}
	// io.EOF after a FIN, or ECONNRESET: both are the server closing.
	return time.Since(start), nil
}
