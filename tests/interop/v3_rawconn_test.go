package interop

// The MQTT 3.1.1 side of the raw client, over the connection in
// rawconn_test.go: a CONNECT built field by field and its CONNACK read byte
// for byte.

import (
	"testing"
	"time"
)

// raw3Connect holds the CONNECT fields the MQTT 3.1.1 tests vary over a raw
// connection, to check what a library client hides or refuses to do: an empty
// client identifier with CleanSession 0, the exact CONNACK bytes, a client
// that goes silent. The protocol name is always "MQTT" and the level 4
// (3.1.1), section 3.1.2.
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
		flags |= connClean
	}
	var will [][]byte
	if c.WillTopic != "" {
		flags |= connWill | c.WillQoS<<3
		if c.WillRetain {
			flags |= connWillRetain
		}
		will = [][]byte{wireString(c.WillTopic), wireString(string(c.WillPayload))}
	}
	parts := [][]byte{wireString("MQTT"), {level311, flags}, wireU16(c.KeepAlive), wireString(c.ClientID)}
	return wirePacket(pktCONNECT<<4, append(parts, will...)...)
}

// raw3Connack sends p's CONNECT on c and returns the CONNACK's two variable
// header bytes: acknowledge flags (bit 0 Session Present) and return code,
// section 3.2.2.
func raw3Connack(t testing.TB, c *rawConn, p raw3Connect) (flags, code byte) {
	t.Helper()
	if err := c.Write(p.encode()); err != nil {
		t.Fatalf("writing CONNECT: %v", err)
	}
	ack, err := c.ReadPacket(10 * time.Second)
	if err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if ack.first != pktCONNACK<<4 || len(ack.body) != 2 {
		t.Fatalf("want CONNACK 20 02 xx xx, got %02x with body % x", ack.first, ack.body)
	}
	return ack.body[0], ack.body[1]
}
