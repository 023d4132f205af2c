package interop

// A raw MQTT client for tests that must put exact bytes on the wire: packets
// are written by hand here, never by the broker's own codec, so the tests
// check the wire independently of the code under test.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// MQTT control packet types: the high nibble of the first fixed-header byte
// (MQTT 5.0 table 2-1; MQTT 3.1.1 table 2.1, where 0 and 15 are reserved).
const (
	pktCONNECT     byte = 1
	pktCONNACK     byte = 2
	pktPUBLISH     byte = 3
	pktPUBACK      byte = 4
	pktPUBREC      byte = 5
	pktPUBREL      byte = 6
	pktPUBCOMP     byte = 7
	pktSUBSCRIBE   byte = 8
	pktSUBACK      byte = 9
	pktUNSUBSCRIBE byte = 10
	pktUNSUBACK    byte = 11
	pktPINGREQ     byte = 12
	pktPINGRESP    byte = 13
	pktDISCONNECT  byte = 14
	pktAUTH        byte = 15
)

var pktNames = [16]string{
	"RESERVED0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// Protocol levels in the CONNECT variable header (3.1.1 section 3.1.2.2,
// 5.0 section 3.1.2.2).
const (
	level311 byte = 4
	level5   byte = 5
)

// CONNECT flags, byte 8 of the variable header (3.1.2.3 in both versions).
// Bit 0 is reserved and must be 0 [MQTT-3.1.2-3].
const (
	connReserved   byte = 0x01
	connClean      byte = 0x02 // CleanSession (3.1.1) / Clean Start (5.0)
	connWill       byte = 0x04
	connWillQoS1   byte = 0x08
	connWillQoS2   byte = 0x10
	connWillRetain byte = 0x20
	connPassword   byte = 0x40
	connUsername   byte = 0x80
)

// MQTT 5.0 property identifiers (table 2-4) used by these tests.
const (
	propPayloadFormat        byte = 0x01 // byte
	propMessageExpiry        byte = 0x02 // four-byte integer
	propContentType          byte = 0x03 // UTF-8 string
	propResponseTopic        byte = 0x08 // UTF-8 string
	propCorrelationData      byte = 0x09 // binary data
	propSubscriptionID       byte = 0x0B // variable byte integer
	propSessionExpiry        byte = 0x11 // four-byte integer
	propAssignedClientID     byte = 0x12 // UTF-8 string
	propServerKeepAlive      byte = 0x13 // two-byte integer
	propAuthMethod           byte = 0x15 // UTF-8 string
	propAuthData             byte = 0x16 // binary data
	propRequestProblemInfo   byte = 0x17 // byte
	propWillDelay            byte = 0x18 // four-byte integer
	propRequestResponseInfo  byte = 0x19 // byte
	propResponseInfo         byte = 0x1A // UTF-8 string
	propServerReference      byte = 0x1C // UTF-8 string
	propReasonString         byte = 0x1F // UTF-8 string
	propReceiveMaximum       byte = 0x21 // two-byte integer
	propTopicAliasMaximum    byte = 0x22 // two-byte integer
	propTopicAlias           byte = 0x23 // two-byte integer
	propMaximumQoS           byte = 0x24 // byte
	propRetainAvailable      byte = 0x25 // byte
	propUserProperty         byte = 0x26 // UTF-8 string pair
	propMaximumPacketSize    byte = 0x27 // four-byte integer
	propWildcardSubAvailable byte = 0x28 // byte
	propSubIDAvailable       byte = 0x29 // byte
	propSharedSubAvailable   byte = 0x2A // byte
)

// ---- encoding, by hand ----

// wireVarint encodes n as a Variable Byte Integer: 7 bits per byte, least
// significant group first, high bit set when another byte follows; at most
// four bytes, so n <= 268,435,455 (5.0 section 1.5.5, 3.1.1 section 2.2.3).
func wireVarint(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// wirePacket frames parts behind a fixed header: the first byte (type << 4 |
// flags, given whole so tests can set wrong flags) and the Remaining Length.
func wirePacket(first byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	out := append([]byte{first}, wireVarint(len(body))...)
	return append(out, body...)
}

// wireString is a two-byte big-endian length and the bytes. It does not check
// the bytes: tests put ill-formed UTF-8 in it on purpose. It also serves for
// Binary Data, which has the same layout.
func wireString(s string) []byte {
	return append(wireU16(uint16(len(s))), s...)
}

func wireU16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func wireU32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// wireProp is one MQTT 5 property: identifier then value, already encoded.
func wireProp(id byte, value ...[]byte) []byte {
	out := []byte{id}
	for _, v := range value {
		out = append(out, v...)
	}
	return out
}

// wireProps is an MQTT 5 property list: its length as a Variable Byte
// Integer, then the properties. wireProps() is the empty list, one 0x00 byte.
func wireProps(props ...[]byte) []byte {
	var body []byte
	for _, p := range props {
		body = append(body, p...)
	}
	return append(wireVarint(len(body)), body...)
}

// wireConnect builds a CONNECT: protocol name, level, flags, keep alive 0,
// the properties (nil for 3.1/3.1.1, which have none), then the payload fields.
func wireConnect(name string, level, flags byte, props []byte, payload ...[]byte) []byte {
	parts := [][]byte{wireString(name), {level, flags}, wireU16(0)}
	if props != nil {
		parts = append(parts, props)
	}
	return wirePacket(0x10, append(parts, payload...)...)
}

// wireConnect311 and wireConnect5 are valid clean-session CONNECTs.
func wireConnect311(clientID string) []byte {
	return wireConnect("MQTT", level311, connClean, nil, wireString(clientID))
}

func wireConnect5(clientID string) []byte {
	return wireConnect("MQTT", level5, connClean, wireProps(), wireString(clientID))
}

// wirePingreq and wireDisconnect are the two-byte packets with no body.
var (
	wirePingreq    = []byte{0xC0, 0x00}
	wireDisconnect = []byte{0xE0, 0x00}
)

// ---- reading ----

// rawPacket is one packet read off the wire.
type rawPacket struct {
	first byte   // type << 4 | flags
	body  []byte // variable header and payload: Remaining Length bytes
}

func (p rawPacket) Type() byte { return p.first >> 4 }

// PacketID is the identifier that opens the variable header of PUBACK,
// PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
func (p rawPacket) PacketID() (uint16, bool) {
	switch p.Type() {
	case pktPUBACK, pktPUBREC, pktPUBREL, pktPUBCOMP, pktSUBACK, pktUNSUBACK:
		if len(p.body) >= 2 {
			return binary.BigEndian.Uint16(p.body), true
		}
	}
	return 0, false
}

// ReasonCode is the code the packet carries, read as the given protocol level
// sends it: the CONNACK return (3.1.1) or reason (5.0) code, byte 2 in both;
// the first SUBACK/UNSUBACK code (5.0 puts properties before them); the
// PUBACK..PUBCOMP and DISCONNECT reason, which 5.0 lets the sender omit when
// it is 0x00. The second result is false when the packet carries none.
func (p rawPacket) ReasonCode(level byte) (byte, bool) {
	b := p.body
	switch p.Type() {
	case pktCONNACK:
		if len(b) >= 2 {
			return b[1], true
		}
	case pktPUBACK, pktPUBREC, pktPUBREL, pktPUBCOMP:
		if len(b) == 2 {
			return 0x00, true
		}
		if len(b) > 2 {
			return b[2], true
		}
	case pktSUBACK, pktUNSUBACK:
		if len(b) < 2 {
			return 0, false
		}
		b = b[2:]
		if level >= level5 {
			n, used, err := readVarint(b)
			if err != nil || used+n > len(b) {
				return 0, false
			}
			b = b[used+n:]
		}
		if len(b) > 0 {
			return b[0], true
		}
	case pktDISCONNECT, pktAUTH:
		if len(b) == 0 {
			return 0x00, true
		}
		return b[0], true
	}
	return 0, false
}

func (p rawPacket) String() string {
	s := pktNames[p.Type()]
	if f := p.first & 0x0F; f != 0 && p.Type() != pktPUBLISH {
		s += fmt.Sprintf(" (flags %04b)", f)
	}
	if code, ok := p.ReasonCode(level5); ok && p.Type() != pktSUBACK && p.Type() != pktUNSUBACK {
		s += fmt.Sprintf(" 0x%02X", code)
	}
	body := p.body
	if len(body) > 24 {
		return s + fmt.Sprintf(" [% x ...]", body[:24])
	}
	return s + fmt.Sprintf(" [% x]", body)
}

// readVarint decodes a Variable Byte Integer at the start of b and says how
// many bytes it used; a fifth byte is malformed.
func readVarint(b []byte) (n, used int, err error) {
	mult := 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, io.ErrUnexpectedEOF
		}
		n += int(b[i]&0x7F) * mult
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
		mult *= 128
	}
	return 0, 0, errors.New("variable byte integer longer than 4 bytes")
}

// readProps splits an MQTT 5 property list at the start of b into values by
// identifier (the last one wins) and returns what follows the list.
func readProps(b []byte) (map[byte][]byte, []byte, error) {
	n, used, err := readVarint(b)
	if err != nil {
		return nil, nil, err
	}
	if used+n > len(b) {
		return nil, nil, io.ErrUnexpectedEOF
	}
	list, rest := b[used:used+n], b[used+n:]
	props := map[byte][]byte{}
	for len(list) > 0 {
		id := list[0]
		list = list[1:]
		var size int
		switch id {
		case propPayloadFormat, propRequestProblemInfo, propRequestResponseInfo, propMaximumQoS,
			propRetainAvailable, propWildcardSubAvailable, propSubIDAvailable, propSharedSubAvailable:
			size = 1
		case propServerKeepAlive, propReceiveMaximum, propTopicAliasMaximum, propTopicAlias:
			size = 2
		case propMessageExpiry, propSessionExpiry, propWillDelay, propMaximumPacketSize:
			size = 4
		case propSubscriptionID:
			_, size, err = readVarint(list)
			if err != nil {
				return nil, nil, err
			}
		case propContentType, propResponseTopic, propCorrelationData, propAssignedClientID,
			propAuthMethod, propAuthData, propResponseInfo, propServerReference, propReasonString:
			if len(list) < 2 {
				return nil, nil, io.ErrUnexpectedEOF
			}
			size = 2 + int(binary.BigEndian.Uint16(list))
		case propUserProperty:
			if len(list) < 2 {
				return nil, nil, io.ErrUnexpectedEOF
			}
			k := 2 + int(binary.BigEndian.Uint16(list))
			if len(list) < k+2 {
				return nil, nil, io.ErrUnexpectedEOF
			}
			size = k + 2 + int(binary.BigEndian.Uint16(list[k:]))
		default:
			return nil, nil, fmt.Errorf("unknown property 0x%02X", id)
		}
		if size > len(list) {
			return nil, nil, io.ErrUnexpectedEOF
		}
		props[id] = list[:size]
		list = list[size:]
	}
	return props, rest, nil
}

// connackInfo is what a successful CONNACK told the client.
type connackInfo struct {
	sessionPresent bool
	props          map[byte][]byte // MQTT 5 only
}

// u16 and u32 read a two- or four-byte integer property; ok is false when absent.
func (ci connackInfo) u16(id byte) (uint16, bool) {
	v, ok := ci.props[id]
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

func (ci connackInfo) u32(id byte) (uint32, bool) {
	v, ok := ci.props[id]
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// ---- the connection ----

// rawConn is one TCP connection to the broker.
type rawConn struct {
	conn *net.TCPConn
	r    *bufio.Reader
}

// dialRaw connects to addr; the connection is closed when the test ends.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	rc, err := openRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

// openRaw connects to addr; closing is up to the caller.
func openRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	return &rawConn{conn: c.(*net.TCPConn), r: bufio.NewReader(c)}, nil
}

// Port is the local port, which is how the broker sees this client's address.
func (c *rawConn) Port() string {
	return strconv.Itoa(c.conn.LocalAddr().(*net.TCPAddr).Port)
}

// Write sends b whole or returns why it could not.
func (c *rawConn) Write(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// CloseWrite half-closes: the broker reads EOF, and we can still read.
func (c *rawConn) CloseWrite() { c.conn.CloseWrite() }

func (c *rawConn) Close() { c.conn.Close() }

// ReadPacket reads one whole packet, waiting at most wait for it.
func (c *rawConn) ReadPacket(wait time.Duration) (rawPacket, error) {
	c.conn.SetReadDeadline(time.Now().Add(wait))
	first, err := c.r.ReadByte()
	if err != nil {
		return rawPacket{}, err
	}
	var head []byte
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return rawPacket{}, unexpectedEOF(err)
		}
		head = append(head, b)
		if b&0x80 == 0 {
			break
		}
		if len(head) == 4 {
			return rawPacket{}, fmt.Errorf("broker sent a Remaining Length longer than 4 bytes: % x", head)
		}
	}
	n, _, _ := readVarint(head)
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return rawPacket{}, unexpectedEOF(err)
	}
	return rawPacket{first: first, body: body}, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ExpectClosed succeeds when the broker closes the connection within wait
// without sending anything first.
func (c *rawConn) ExpectClosed(wait time.Duration) error {
	p, err := c.ReadPacket(wait)
	switch {
	case err == nil:
		return fmt.Errorf("got %v, want the connection closed", p)
	case isClosedErr(err):
		return nil
	case isTimeout(err):
		return fmt.Errorf("connection still open after %v", wait)
	default:
		return err
	}
}

// Connect sends a valid clean-session CONNECT at level and waits for a
// CONNACK that accepts it.
func (c *rawConn) Connect(level byte, clientID string) (connackInfo, error) {
	pkt := wireConnect311(clientID)
	if level >= level5 {
		pkt = wireConnect5(clientID)
	}
	if err := c.Write(pkt); err != nil {
		return connackInfo{}, fmt.Errorf("sending CONNECT: %w", err)
	}
	p, err := c.ReadPacket(5 * time.Second)
	if err != nil {
		return connackInfo{}, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if p.Type() != pktCONNACK || len(p.body) < 2 {
		return connackInfo{}, fmt.Errorf("got %v, want CONNACK", p)
	}
	if p.body[1] != 0 {
		return connackInfo{}, fmt.Errorf("CONNECT refused: %v", p)
	}
	info := connackInfo{sessionPresent: p.body[0]&1 == 1}
	if level >= level5 {
		props, _, err := readProps(p.body[2:])
		if err != nil {
			return info, fmt.Errorf("CONNACK properties % x: %w", p.body[2:], err)
		}
		info.props = props
	}
	return info, nil
}

// Ping sends PINGREQ and waits for PINGRESP, failing on anything else.
func (c *rawConn) Ping() error {
	if err := c.Write(wirePingreq); err != nil {
		return err
	}
	p, err := c.ReadPacket(5 * time.Second)
	if err != nil {
		return fmt.Errorf("waiting for PINGRESP: %w", err)
	}
	if p.Type() != pktPINGRESP {
		return fmt.Errorf("got %v, want PINGRESP", p)
	}
	return nil
}

// isClosedErr says the peer closed the connection (FIN or RST).
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
