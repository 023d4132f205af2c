package interop

// A raw MQTT 5.0 client: the few packets the v5 tests need, encoded and
// decoded by hand from the specification's byte layouts. It shares nothing
// with gridmq's own codec or with any client library, so what these tests
// check is the bytes on the wire.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Control packet types, the high nibble of the first byte (§2.1.2).
const (
	v5TypeConnect     byte = 1
	v5TypeConnack     byte = 2
	v5TypePublish     byte = 3
	v5TypePuback      byte = 4
	v5TypePubrec      byte = 5
	v5TypePubrel      byte = 6
	v5TypePubcomp     byte = 7
	v5TypeSubscribe   byte = 8
	v5TypeSuback      byte = 9
	v5TypeUnsubscribe byte = 10
	v5TypeUnsuback    byte = 11
	v5TypePingreq     byte = 12
	v5TypePingresp    byte = 13
	v5TypeDisconnect  byte = 14
	v5TypeAuth        byte = 15
)

var v5TypeNames = [...]string{"reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// Property identifiers (§2.2.2.2). The comment is the value's wire type.
const (
	v5PropPayloadFormat       byte = 0x01 // byte
	v5PropMessageExpiry       byte = 0x02 // four byte integer
	v5PropContentType         byte = 0x03 // UTF-8 string
	v5PropResponseTopic       byte = 0x08 // UTF-8 string
	v5PropCorrelationData     byte = 0x09 // binary data
	v5PropSubscriptionID      byte = 0x0B // variable byte integer
	v5PropSessionExpiry       byte = 0x11 // four byte integer
	v5PropAssignedClientID    byte = 0x12 // UTF-8 string
	v5PropServerKeepAlive     byte = 0x13 // two byte integer
	v5PropAuthMethod          byte = 0x15 // UTF-8 string
	v5PropAuthData            byte = 0x16 // binary data
	v5PropRequestProblemInfo  byte = 0x17 // byte
	v5PropWillDelay           byte = 0x18 // four byte integer
	v5PropRequestResponseInfo byte = 0x19 // byte
	v5PropResponseInfo        byte = 0x1A // UTF-8 string
	v5PropServerReference     byte = 0x1C // UTF-8 string
	v5PropReasonString        byte = 0x1F // UTF-8 string
	v5PropReceiveMaximum      byte = 0x21 // two byte integer
	v5PropTopicAliasMaximum   byte = 0x22 // two byte integer
	v5PropTopicAlias          byte = 0x23 // two byte integer
	v5PropMaximumQoS          byte = 0x24 // byte
	v5PropRetainAvailable     byte = 0x25 // byte
	v5PropUserProperty        byte = 0x26 // UTF-8 string pair
	v5PropMaximumPacketSize   byte = 0x27 // four byte integer
	v5PropWildcardAvailable   byte = 0x28 // byte
	v5PropSubIDAvailable      byte = 0x29 // byte
	v5PropSharedAvailable     byte = 0x2A // byte
)

// Reason codes the tests look for (§2.4).
const (
	v5ReasonSuccess              byte = 0x00
	v5ReasonDisconnectWithWill   byte = 0x04
	v5ReasonNoMatchingSubs       byte = 0x10
	v5ReasonNoSubscriptionExists byte = 0x11
	v5ReasonProtocolError        byte = 0x82
	v5ReasonNotAuthorized        byte = 0x87
	v5ReasonServerShuttingDown   byte = 0x8B
	v5ReasonBadAuthMethod        byte = 0x8C
	v5ReasonSessionTakenOver     byte = 0x8E
	v5ReasonReceiveMaxExceeded   byte = 0x93
	v5ReasonTopicAliasInvalid    byte = 0x94
	v5ReasonPacketTooLarge       byte = 0x95
	v5ReasonQoSNotSupported      byte = 0x9B
)

type v5PropKind int

const (
	v5KindByte v5PropKind = iota
	v5KindUint16
	v5KindUint32
	v5KindVarint
	v5KindString
	v5KindBinary
	v5KindPair
)

func v5KindOf(id byte) (v5PropKind, bool) {
	switch id {
	case v5PropPayloadFormat, v5PropRequestProblemInfo, v5PropRequestResponseInfo, v5PropMaximumQoS,
		v5PropRetainAvailable, v5PropWildcardAvailable, v5PropSubIDAvailable, v5PropSharedAvailable:
		return v5KindByte, true
	case v5PropServerKeepAlive, v5PropReceiveMaximum, v5PropTopicAliasMaximum, v5PropTopicAlias:
		return v5KindUint16, true
	case v5PropMessageExpiry, v5PropSessionExpiry, v5PropWillDelay, v5PropMaximumPacketSize:
		return v5KindUint32, true
	case v5PropSubscriptionID:
		return v5KindVarint, true
	case v5PropContentType, v5PropResponseTopic, v5PropAssignedClientID, v5PropAuthMethod,
		v5PropResponseInfo, v5PropServerReference, v5PropReasonString:
		return v5KindString, true
	case v5PropCorrelationData, v5PropAuthData:
		return v5KindBinary, true
	case v5PropUserProperty:
		return v5KindPair, true
	}
	return 0, false
}

// v5Prop is one property as it appeared on the wire.
type v5Prop struct {
	ID  byte
	Num uint32 // byte, two and four byte and variable byte integers
	Str string // UTF-8 strings, and the key of a user property
	Val string // the value of a user property
	Bin []byte // binary data
}

// v5Props keeps properties in wire order, repeats included.
type v5Props []v5Prop

func v5NumProp(id byte, n uint32) v5Prop { return v5Prop{ID: id, Num: n} }
func v5StrProp(id byte, s string) v5Prop { return v5Prop{ID: id, Str: s} }
func v5BinProp(id byte, b []byte) v5Prop { return v5Prop{ID: id, Bin: b} }
func v5UserProp(key, value string) v5Prop {
	return v5Prop{ID: v5PropUserProperty, Str: key, Val: value}
}
func (ps v5Props) has(id byte) bool   { _, ok := ps.get(id); return ok }
func (ps v5Props) num(id byte) uint32 { p, _ := ps.get(id); return p.Num }
func (ps v5Props) str(id byte) string { p, _ := ps.get(id); return p.Str }
func (ps v5Props) getAll(id byte) []v5Prop {
	var out []v5Prop
	for _, p := range ps {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

func (ps v5Props) get(id byte) (v5Prop, bool) {
	for _, p := range ps {
		if p.ID == id {
			return p, true
		}
	}
	return v5Prop{}, false
}

func (ps v5Props) String() string {
	s := "["
	for i, p := range ps {
		if i > 0 {
			s += " "
		}
		k, _ := v5KindOf(p.ID)
		switch k {
		case v5KindString:
			s += fmt.Sprintf("0x%02X=%q", p.ID, p.Str)
		case v5KindBinary:
			s += fmt.Sprintf("0x%02X=%x", p.ID, p.Bin)
		case v5KindPair:
			s += fmt.Sprintf("user(%q=%q)", p.Str, p.Val)
		default:
			s += fmt.Sprintf("0x%02X=%d", p.ID, p.Num)
		}
	}
	return s + "]"
}

// encode writes the properties with their length prefix (§2.2.2.1).
func (ps v5Props) encode() []byte {
	var b []byte
	for _, p := range ps {
		b = append(b, p.ID)
		k, ok := v5KindOf(p.ID)
		if !ok {
			panic(fmt.Sprintf("unknown property 0x%02X", p.ID))
		}
		switch k {
		case v5KindByte:
			b = append(b, byte(p.Num))
		case v5KindUint16:
			b = binary.BigEndian.AppendUint16(b, uint16(p.Num))
		case v5KindUint32:
			b = binary.BigEndian.AppendUint32(b, p.Num)
		case v5KindVarint:
			b = v5AppendVarint(b, int(p.Num))
		case v5KindString:
			b = v5AppendString(b, p.Str)
		case v5KindBinary:
			b = v5AppendBinary(b, p.Bin)
		case v5KindPair:
			b = v5AppendString(b, p.Str)
			b = v5AppendString(b, p.Val)
		}
	}
	return append(v5AppendVarint(nil, len(b)), b...)
}

// v5AppendVarint appends a Variable Byte Integer (§1.5.5): seven bits per byte,
// least significant group first, the high bit set on all but the last byte.
func v5AppendVarint(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// v5AppendString appends a UTF-8 Encoded String: two byte length, then bytes (§1.5.4).
func v5AppendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// v5AppendBinary appends Binary Data: two byte length, then bytes (§1.5.6).
func v5AppendBinary(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// v5Frame prefixes body with the fixed header: type and flags, then the
// Remaining Length (§2.1.1).
func v5Frame(typ, flags byte, body []byte) []byte {
	b := v5AppendVarint([]byte{typ<<4 | flags}, len(body))
	return append(b, body...)
}

// v5Reader decodes the fields of one packet body in order; the first error
// sticks and later reads return zero values.
type v5Reader struct {
	b   []byte
	err error
}

var errV5Short = errors.New("packet shorter than its fields")

func (r *v5Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errV5Short
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *v5Reader) byte1() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *v5Reader) uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *v5Reader) uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *v5Reader) varint() int {
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

func (r *v5Reader) string() string { return string(r.take(int(r.uint16()))) }

func (r *v5Reader) binary() []byte {
	b := r.take(int(r.uint16()))
	return append([]byte(nil), b...)
}

func (r *v5Reader) props() v5Props {
	n := r.varint()
	sub := &v5Reader{b: r.take(n)}
	if r.err != nil {
		return nil
	}
	var ps v5Props
	for len(sub.b) > 0 && sub.err == nil {
		id := sub.byte1()
		k, ok := v5KindOf(id)
		if !ok {
			r.err = fmt.Errorf("unknown property identifier 0x%02X", id)
			return ps
		}
		p := v5Prop{ID: id}
		switch k {
		case v5KindByte:
			p.Num = uint32(sub.byte1())
		case v5KindUint16:
			p.Num = uint32(sub.uint16())
		case v5KindUint32:
			p.Num = sub.uint32()
		case v5KindVarint:
			p.Num = uint32(sub.varint())
		case v5KindString:
			p.Str = sub.string()
		case v5KindBinary:
			p.Bin = sub.binary()
		case v5KindPair:
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

// v5Packet is one control packet as read from the connection.
type v5Packet struct {
	Type  byte
	Flags byte
	Body  []byte // variable header and payload
	Size  int    // bytes on the wire, fixed header included
}

func (p v5Packet) String() string {
	return fmt.Sprintf("%s(flags %#x, %d bytes)", v5TypeNames[p.Type], p.Flags, p.Size)
}

// v5Publish is a PUBLISH packet (§3.3).
type v5Publish struct {
	Topic    string
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
	Props    v5Props
	Payload  []byte
	Size     int // bytes on the wire when decoded
}

func (p v5Publish) encode() []byte {
	flags := p.QoS << 1
	if p.Retain {
		flags |= 0x01
	}
	if p.Dup {
		flags |= 0x08
	}
	b := v5AppendString(nil, p.Topic)
	if p.QoS > 0 {
		b = binary.BigEndian.AppendUint16(b, p.PacketID)
	}
	b = append(b, p.Props.encode()...)
	b = append(b, p.Payload...)
	return v5Frame(v5TypePublish, flags, b)
}

func v5DecodePublish(p v5Packet) (v5Publish, error) {
	if p.Type != v5TypePublish {
		return v5Publish{}, fmt.Errorf("want PUBLISH, got %v", p)
	}
	pub := v5Publish{
		QoS:    p.Flags >> 1 & 0x03,
		Retain: p.Flags&0x01 != 0,
		Dup:    p.Flags&0x08 != 0,
		Size:   p.Size,
	}
	r := &v5Reader{b: p.Body}
	pub.Topic = r.string()
	if pub.QoS > 0 {
		pub.PacketID = r.uint16()
	}
	pub.Props = r.props()
	pub.Payload = append([]byte(nil), r.b...)
	return pub, r.err
}

// v5EncodeAck builds PUBACK, PUBREC, PUBREL or PUBCOMP with a reason code
// (§3.4-§3.7). PUBREL's fixed header flags are 0010 [MQTT-3.6.1-1].
func v5EncodeAck(typ byte, id uint16, reason byte) []byte {
	var flags byte
	if typ == v5TypePubrel {
		flags = 0x02
	}
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, reason)
	return v5Frame(typ, flags, b)
}

// v5Ack is a decoded PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or UNSUBACK.
type v5Ack struct {
	PacketID uint16
	Reasons  []byte // one for publish acknowledgements, absent meaning 0x00 (§3.4.2.1)
	Props    v5Props
}

func v5DecodeAck(p v5Packet) (v5Ack, error) {
	r := &v5Reader{b: p.Body}
	a := v5Ack{PacketID: r.uint16()}
	switch p.Type {
	case v5TypePuback, v5TypePubrec, v5TypePubrel, v5TypePubcomp:
		a.Reasons = []byte{v5ReasonSuccess}
		if len(r.b) > 0 {
			a.Reasons[0] = r.byte1()
		}
		if len(r.b) > 0 {
			a.Props = r.props()
		}
	case v5TypeSuback, v5TypeUnsuback:
		a.Props = r.props()
		a.Reasons = append([]byte(nil), r.b...)
	default:
		return a, fmt.Errorf("not an acknowledgement: %v", p)
	}
	return a, r.err
}

// v5Connack is a CONNACK (§3.2).
type v5Connack struct {
	SessionPresent bool
	Reason         byte
	Props          v5Props
}

func v5DecodeConnack(p v5Packet) (v5Connack, error) {
	if p.Type != v5TypeConnack {
		return v5Connack{}, fmt.Errorf("want CONNACK, got %v", p)
	}
	r := &v5Reader{b: p.Body}
	c := v5Connack{SessionPresent: r.byte1()&0x01 != 0, Reason: r.byte1()}
	c.Props = r.props()
	return c, r.err
}

// v5DecodeDisconnect reads a DISCONNECT; a Remaining Length of 0 means reason
// 0x00 and no properties (§3.14.2.1).
func v5DecodeDisconnect(p v5Packet) (byte, v5Props, error) {
	if p.Type != v5TypeDisconnect {
		return 0, nil, fmt.Errorf("want DISCONNECT, got %v", p)
	}
	if len(p.Body) == 0 {
		return v5ReasonSuccess, nil, nil
	}
	r := &v5Reader{b: p.Body}
	reason := r.byte1()
	var props v5Props
	if len(r.b) > 0 {
		props = r.props()
	}
	return reason, props, r.err
}

// v5Connect is a v5 CONNECT (§3.1).
type v5Connect struct {
	ClientID   string
	CleanStart bool
	KeepAlive  uint16
	Props      v5Props
	Will       *v5Publish // Topic, QoS, Retain, Props and Payload of the Will
}

func (c v5Connect) encode() []byte {
	b := v5AppendString(nil, "MQTT")
	b = append(b, 5)
	var flags byte
	if c.CleanStart {
		flags |= 0x02
	}
	if c.Will != nil {
		flags |= 0x04 | c.Will.QoS<<3
		if c.Will.Retain {
			flags |= 0x20
		}
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, c.KeepAlive)
	b = append(b, c.Props.encode()...)
	b = v5AppendString(b, c.ClientID)
	if c.Will != nil {
		b = append(b, c.Will.Props.encode()...)
		b = v5AppendString(b, c.Will.Topic)
		b = v5AppendBinary(b, c.Will.Payload)
	}
	return v5Frame(v5TypeConnect, 0, b)
}

// v5Sub is one Topic Filter of a SUBSCRIBE with its options byte (§3.8.3.1).
type v5Sub struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

func v5EncodeSubscribe(id uint16, props v5Props, subs ...v5Sub) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, props.encode()...)
	for _, s := range subs {
		b = v5AppendString(b, s.Filter)
		opts := s.QoS | s.RetainHandling<<4
		if s.NoLocal {
			opts |= 0x04
		}
		if s.RetainAsPublished {
			opts |= 0x08
		}
		b = append(b, opts)
	}
	return v5Frame(v5TypeSubscribe, 0x02, b) // flags 0010 [MQTT-3.8.1-1]
}

func v5EncodeUnsubscribe(id uint16, filters ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, v5Props(nil).encode()...)
	for _, f := range filters {
		b = v5AppendString(b, f)
	}
	return v5Frame(v5TypeUnsubscribe, 0x02, b) // flags 0010 [MQTT-3.10.1-1]
}

func v5EncodeDisconnect(reason byte, props v5Props) []byte {
	b := append([]byte{reason}, props.encode()...)
	return v5Frame(v5TypeDisconnect, 0, b)
}

// errV5Closed is returned by v5Raw.next once the server has closed the
// connection and every packet before that has been read.
var errV5Closed = errors.New("connection closed")

// v5Raw is one TCP connection speaking hand-made MQTT 5.0. A reader
// goroutine, stopped by the test's cleanup, decodes whole packets into a
// channel so that waiting for a packet never leaves a half-read stream.
type v5Raw struct {
	t    testing.TB
	conn net.Conn

	packets chan v5Packet // closed by the reader when the connection ends
	held    []v5Packet    // PUBLISHes read while waiting for a SUBACK, returned first by next
	done    chan struct{} // closed at cleanup to release the reader
	wg      sync.WaitGroup

	mu      sync.Mutex // guards readErr
	readErr error
}

func dialV5Raw(t testing.TB, b *Broker) *v5Raw {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", b.Addr, err)
	}
	c := &v5Raw{
		t:    t,
		conn: conn,
		// Generous: tests read what they wait for, and the reader blocks
		// (rather than dropping) when a test leaves packets unread.
		packets: make(chan v5Packet, 4096),
		done:    make(chan struct{}),
	}
	c.wg.Add(1)
	go c.readLoop()
	t.Cleanup(func() {
		close(c.done)
		conn.Close()
		c.wg.Wait()
	})
	return c
}

func (c *v5Raw) readLoop() {
	defer c.wg.Done()
	defer close(c.packets)
	r := bufio.NewReader(c.conn)
	for {
		p, err := v5ReadPacket(r)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		select {
		case c.packets <- p:
		case <-c.done:
			return
		}
	}
}

func v5ReadPacket(r *bufio.Reader) (v5Packet, error) {
	first, err := r.ReadByte()
	if err != nil {
		return v5Packet{}, err
	}
	remaining, mult, headerLen := 0, 1, 1
	for i := 0; ; i++ {
		if i == 4 {
			return v5Packet{}, errors.New("remaining length longer than four bytes")
		}
		d, err := r.ReadByte()
		if err != nil {
			return v5Packet{}, err
		}
		headerLen++
		remaining += int(d&0x7F) * mult
		if d&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, remaining)
	if _, err := io.ReadFull(r, body); err != nil {
		return v5Packet{}, err
	}
	return v5Packet{Type: first >> 4, Flags: first & 0x0F, Body: body, Size: headerLen + remaining}, nil
}

// send writes b; a write error fails the test.
func (c *v5Raw) send(b []byte) {
	c.t.Helper()
	if err := c.trySend(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *v5Raw) trySend(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// next returns the next packet, errV5Closed once the server has closed the
// connection, or a timeout error.
func (c *v5Raw) next(timeout time.Duration) (v5Packet, error) {
	if len(c.held) > 0 {
		p := c.held[0]
		c.held = c.held[1:]
		return p, nil
	}
	select {
	case p, ok := <-c.packets:
		if !ok {
			c.mu.Lock()
			err := c.readErr
			c.mu.Unlock()
			return v5Packet{}, fmt.Errorf("%w: %v", errV5Closed, err)
		}
		return p, nil
	case <-time.After(timeout):
		return v5Packet{}, fmt.Errorf("no packet within %v", timeout)
	}
}

// expect returns the next packet and fails the test unless it has type typ.
// Packets for which a skip function returns true are passed over.
func (c *v5Raw) expect(typ byte, timeout time.Duration, skip ...func(v5Packet) bool) v5Packet {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
next:
	for {
		p, err := c.next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", v5TypeNames[typ], err)
		}
		if p.Type == typ {
			return p
		}
		for _, f := range skip {
			if f(p) {
				continue next
			}
		}
		c.t.Fatalf("want %s, got %v %s", v5TypeNames[typ], p, v5Describe(p))
	}
}

// expectPublish reads the next packet as a PUBLISH.
func (c *v5Raw) expectPublish(timeout time.Duration) v5Publish {
	c.t.Helper()
	pub, err := v5DecodePublish(c.expect(v5TypePublish, timeout))
	if err != nil {
		c.t.Fatalf("decoding PUBLISH: %v", err)
	}
	return pub
}

// expectNothing fails the test if a packet arrives within d.
func (c *v5Raw) expectNothing(d time.Duration) {
	c.t.Helper()
	if len(c.held) > 0 {
		p := c.held[0]
		c.t.Fatalf("unexpected %v %s", p, v5Describe(p))
	}
	select {
	case p, ok := <-c.packets:
		if ok {
			c.t.Fatalf("unexpected %v %s", p, v5Describe(p))
		}
		c.t.Fatalf("connection closed unexpectedly")
	case <-time.After(d):
	}
}

// expectDisconnect reads until the server sends DISCONNECT or closes the
// connection, and returns the reason code (-1 if the server closed the
// connection without DISCONNECT). Other packets are returned too so that the
// test can judge them.
func (c *v5Raw) expectDisconnect(timeout time.Duration) (reason int, before []v5Packet) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := c.next(time.Until(deadline))
		if errors.Is(err, errV5Closed) {
			return -1, before
		}
		if err != nil {
			c.t.Fatalf("neither DISCONNECT nor close within %v (got %v)", timeout, before)
		}
		if p.Type == v5TypeDisconnect {
			r, props, err := v5DecodeDisconnect(p)
			if err != nil {
				c.t.Fatalf("decoding DISCONNECT: %v", err)
			}
			if props.has(v5PropSessionExpiry) {
				c.t.Errorf("server's DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2]")
			}
			return int(r), before
		}
		before = append(before, p)
	}
}

// expectClosed waits for the server to close the connection, tolerating no
// packets in between.
func (c *v5Raw) expectClosed(timeout time.Duration) {
	c.t.Helper()
	p, err := c.next(timeout)
	if errors.Is(err, errV5Closed) {
		return
	}
	if err != nil {
		c.t.Fatalf("connection still open %v after it should have been closed", timeout)
	}
	c.t.Fatalf("want the connection closed, got %v %s", p, v5Describe(p))
}

// connect sends CONNECT and returns the CONNACK, whatever its reason code.
func (c *v5Raw) connect(cp v5Connect) v5Connack {
	c.t.Helper()
	c.send(cp.encode())
	ca, err := v5DecodeConnack(c.expect(v5TypeConnack, v5WaitFor))
	if err != nil {
		c.t.Fatalf("decoding CONNACK: %v", err)
	}
	return ca
}

// mustConnect is connect that fails the test unless the CONNACK is a success.
func (c *v5Raw) mustConnect(cp v5Connect) v5Connack {
	c.t.Helper()
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 60
	}
	ca := c.connect(cp)
	if ca.Reason != v5ReasonSuccess {
		c.t.Fatalf("CONNACK reason %#02x %v", ca.Reason, ca.Props)
	}
	return ca
}

// subscribe sends one SUBSCRIBE and returns the SUBACK's reason codes.
func (c *v5Raw) subscribe(id uint16, props v5Props, subs ...v5Sub) []byte {
	c.t.Helper()
	c.send(v5EncodeSubscribe(id, props, subs...))
	// Retained messages may come before the SUBACK; keep them for next.
	var held []v5Packet
	p := c.expect(v5TypeSuback, v5WaitFor, func(p v5Packet) bool {
		if p.Type == v5TypePublish {
			held = append(held, p)
			return true
		}
		return false
	})
	c.held = append(c.held, held...)
	a, err := v5DecodeAck(p)
	if err != nil {
		c.t.Fatalf("decoding SUBACK: %v", err)
	}
	if a.PacketID != id {
		c.t.Fatalf("SUBACK for packet %d, want %d [MQTT-3.8.4-2]", a.PacketID, id)
	}
	for i, r := range a.Reasons {
		if r >= 0x80 {
			c.t.Fatalf("SUBACK refused %q: %#02x", subs[i].Filter, r)
		}
	}
	return a.Reasons
}

// v5Describe adds what a packet says, for failure messages.
func v5Describe(p v5Packet) string {
	switch p.Type {
	case v5TypePublish:
		if pub, err := v5DecodePublish(p); err == nil {
			return fmt.Sprintf("topic %q qos %d id %d props %v payload %q", pub.Topic, pub.QoS, pub.PacketID, pub.Props, pub.Payload)
		}
	case v5TypeDisconnect:
		if r, props, err := v5DecodeDisconnect(p); err == nil {
			return fmt.Sprintf("reason %#02x %v", r, props)
		}
	case v5TypeConnack:
		if ca, err := v5DecodeConnack(p); err == nil {
			return fmt.Sprintf("reason %#02x present %v %v", ca.Reason, ca.SessionPresent, ca.Props)
		}
	case v5TypePuback, v5TypePubrec, v5TypePubrel, v5TypePubcomp, v5TypeSuback, v5TypeUnsuback:
		if a, err := v5DecodeAck(p); err == nil {
			return fmt.Sprintf("id %d reasons %x %v", a.PacketID, a.Reasons, a.Props)
		}
	}
	return ""
}
