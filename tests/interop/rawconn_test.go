package interop

// A raw MQTT client for tests that must put exact bytes on the wire: packets
// are written by hand here, never by the broker's own codec, so the tests
// check the wire independently of the code under test. This file holds what
// every protocol level shares: the byte-level encoding and decoding, MQTT 5
// properties, the connection and reading whole packets. The packets only one
// level's tests build live beside them, in v3_rawconn_test.go and
// v5_wire_test.go.

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

// ---- MQTT 5 properties, typed ----

// propKind is the wire type of a property's value (5.0 section 2.2.2.2).
type propKind int

const (
	propKindByte propKind = iota
	propKindUint16
	propKindUint32
	propKindVarint
	propKindString
	propKindBinary
	propKindPair
)

func propKindOf(id byte) (propKind, bool) {
	switch id {
	case propPayloadFormat, propRequestProblemInfo, propRequestResponseInfo, propMaximumQoS,
		propRetainAvailable, propWildcardSubAvailable, propSubIDAvailable, propSharedSubAvailable:
		return propKindByte, true
	case propServerKeepAlive, propReceiveMaximum, propTopicAliasMaximum, propTopicAlias:
		return propKindUint16, true
	case propMessageExpiry, propSessionExpiry, propWillDelay, propMaximumPacketSize:
		return propKindUint32, true
	case propSubscriptionID:
		return propKindVarint, true
	case propContentType, propResponseTopic, propAssignedClientID, propAuthMethod,
		propResponseInfo, propServerReference, propReasonString:
		return propKindString, true
	case propCorrelationData, propAuthData:
		return propKindBinary, true
	case propUserProperty:
		return propKindPair, true
	}
	return 0, false
}

// property is one MQTT 5 property as it appears on the wire. Tests that need
// a malformed one build it from bytes with wireProp instead.
type property struct {
	ID  byte
	Num uint32 // byte, two and four byte and variable byte integers
	Str string // UTF-8 strings, and the key of a user property
	Val string // the value of a user property
	Bin []byte // binary data
}

// properties keeps properties in wire order, repeats included.
type properties []property

func numProp(id byte, n uint32) property { return property{ID: id, Num: n} }
func strProp(id byte, s string) property { return property{ID: id, Str: s} }
func binProp(id byte, b []byte) property { return property{ID: id, Bin: b} }
func userProp(key, value string) property {
	return property{ID: propUserProperty, Str: key, Val: value}
}
func (ps properties) has(id byte) bool   { _, ok := ps.get(id); return ok }
func (ps properties) num(id byte) uint32 { p, _ := ps.get(id); return p.Num }
func (ps properties) str(id byte) string { p, _ := ps.get(id); return p.Str }
func (ps properties) getAll(id byte) []property {
	var out []property
	for _, p := range ps {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

// get returns the first property with identifier id.
func (ps properties) get(id byte) (property, bool) {
	for _, p := range ps {
		if p.ID == id {
			return p, true
		}
	}
	return property{}, false
}

func (ps properties) String() string {
	s := "["
	for i, p := range ps {
		if i > 0 {
			s += " "
		}
		k, _ := propKindOf(p.ID)
		switch k {
		case propKindString:
			s += fmt.Sprintf("0x%02X=%q", p.ID, p.Str)
		case propKindBinary:
			s += fmt.Sprintf("0x%02X=%x", p.ID, p.Bin)
		case propKindPair:
			s += fmt.Sprintf("user(%q=%q)", p.Str, p.Val)
		default:
			s += fmt.Sprintf("0x%02X=%d", p.ID, p.Num)
		}
	}
	return s + "]"
}

// encode is the property list with its length prefix (5.0 section 2.2.2.1).
func (ps properties) encode() []byte {
	list := make([][]byte, 0, len(ps))
	for _, p := range ps {
		k, ok := propKindOf(p.ID)
		if !ok {
			panic(fmt.Sprintf("unknown property 0x%02X", p.ID))
		}
		var value [][]byte
		switch k {
		case propKindByte:
			value = [][]byte{{byte(p.Num)}}
		case propKindUint16:
			value = [][]byte{wireU16(uint16(p.Num))}
		case propKindUint32:
			value = [][]byte{wireU32(p.Num)}
		case propKindVarint:
			value = [][]byte{wireVarint(int(p.Num))}
		case propKindString:
			value = [][]byte{wireString(p.Str)}
		case propKindBinary:
			value = [][]byte{wireString(string(p.Bin))}
		case propKindPair:
			value = [][]byte{wireString(p.Str), wireString(p.Val)}
		}
		list = append(list, wireProp(p.ID, value...))
	}
	return wireProps(list...)
}

// ---- decoding ----

// wireReader decodes the fields of one packet body in order; the first error
// sticks and later reads return zero values.
type wireReader struct {
	b   []byte
	err error
}

var errShortPacket = errors.New("packet shorter than its fields")

func (r *wireReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errShortPacket
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) byte1() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *wireReader) uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *wireReader) uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// varint decodes a Variable Byte Integer; a fifth byte is malformed.
func (r *wireReader) varint() int {
	n, mult := 0, 1
	for i := 0; i < 4; i++ {
		d := r.byte1()
		if r.err != nil {
			return 0
		}
		n += int(d&0x7F) * mult
		if d&0x80 == 0 {
			return n
		}
		mult *= 128
	}
	r.err = errors.New("variable byte integer longer than four bytes")
	return 0
}

func (r *wireReader) string() string { return string(r.take(int(r.uint16()))) }

func (r *wireReader) binary() []byte {
	b := r.take(int(r.uint16()))
	return append([]byte(nil), b...)
}

// props decodes an MQTT 5 property list; an unknown identifier is an error.
func (r *wireReader) props() properties {
	n := r.varint()
	sub := &wireReader{b: r.take(n)}
	if r.err != nil {
		return nil
	}
	var ps properties
	for len(sub.b) > 0 && sub.err == nil {
		id := sub.byte1()
		k, ok := propKindOf(id)
		if !ok {
			r.err = fmt.Errorf("unknown property identifier 0x%02X", id)
			return ps
		}
		p := property{ID: id}
		switch k {
		case propKindByte:
			p.Num = uint32(sub.byte1())
		case propKindUint16:
			p.Num = uint32(sub.uint16())
		case propKindUint32:
			p.Num = sub.uint32()
		case propKindVarint:
			p.Num = uint32(sub.varint())
		case propKindString:
			p.Str = sub.string()
		case propKindBinary:
			p.Bin = sub.binary()
		case propKindPair:
			p.Str = sub.string()
			p.Val = sub.string()
		}
		ps = append(ps, p)
	}
	if sub.err != nil {
		r.err = sub.err
	}
	return ps
}

// ---- reading ----

// rawPacket is one packet read off the wire.
type rawPacket struct {
	first byte   // type << 4 | flags
	body  []byte // variable header and payload: Remaining Length bytes
	size  int    // bytes on the wire, fixed header included
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
			// Skip the property list whole, without judging its contents.
			r := &wireReader{b: b}
			r.take(r.varint())
			if r.err != nil {
				return 0, false
			}
			b = r.b
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

// connack is a decoded CONNACK (3.1.1 section 3.2, 5.0 section 3.2).
type connack struct {
	SessionPresent bool
	Reason         byte       // the 3.1.1 return code or the 5.0 reason code
	Props          properties // MQTT 5 only
}

// decodeConnack reads p as a CONNACK sent at the given protocol level.
func decodeConnack(p rawPacket, level byte) (connack, error) {
	if p.Type() != pktCONNACK {
		return connack{}, fmt.Errorf("want CONNACK, got %v", p)
	}
	r := &wireReader{b: p.body}
	ca := connack{SessionPresent: r.byte1()&0x01 != 0, Reason: r.byte1()}
	if level >= level5 {
		ca.Props = r.props()
	}
	return ca, r.err
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
	return c.readPacket()
}

// readPacket reads one whole packet, waiting as long as the read deadline
// allows; with none set, until a packet comes or the connection ends.
func (c *rawConn) readPacket() (rawPacket, error) {
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
	n := (&wireReader{b: head}).varint()
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return rawPacket{}, unexpectedEOF(err)
	}
	return rawPacket{first: first, body: body, size: 1 + len(head) + n}, nil
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
func (c *rawConn) Connect(level byte, clientID string) (connack, error) {
	pkt := wireConnect311(clientID)
	if level >= level5 {
		pkt = wireConnect5(clientID)
	}
	if err := c.Write(pkt); err != nil {
		return connack{}, fmt.Errorf("sending CONNECT: %w", err)
	}
	p, err := c.ReadPacket(5 * time.Second)
	if err != nil {
		return connack{}, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	ca, err := decodeConnack(p, level)
	if err != nil {
		return ca, fmt.Errorf("CONNACK %v: %w", p, err)
	}
	if ca.Reason != 0 {
		return ca, fmt.Errorf("CONNECT refused: %v", p)
	}
	return ca, nil
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
