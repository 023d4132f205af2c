package interop

// The MQTT 5.0 side of the raw client: the packets the v5 tests send and
// read, built on the byte-level encoding and the connection in
// rawconn_test.go, and a client that reads on its own goroutine so that a
// test can wait for one packet type while others arrive.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
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

// v5Publish is a PUBLISH packet (§3.3).
type v5Publish struct {
	Topic    string
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
	Props    properties
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
	parts := [][]byte{wireString(p.Topic)}
	if p.QoS > 0 {
		parts = append(parts, wireU16(p.PacketID))
	}
	return wirePacket(pktPUBLISH<<4|flags, append(parts, p.Props.encode(), p.Payload)...)
}

func v5DecodePublish(p rawPacket) (v5Publish, error) {
	if p.Type() != pktPUBLISH {
		return v5Publish{}, fmt.Errorf("want PUBLISH, got %v", p)
	}
	pub := v5Publish{
		QoS:    p.first >> 1 & 0x03,
		Retain: p.first&0x01 != 0,
		Dup:    p.first&0x08 != 0,
		Size:   p.size,
	}
	r := &wireReader{b: p.body}
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
	if typ == pktPUBREL {
		flags = 0x02
	}
	return wirePacket(typ<<4|flags, wireU16(id), []byte{reason})
}

// v5Ack is a decoded PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK or UNSUBACK.
type v5Ack struct {
	PacketID uint16
	Reasons  []byte // one for publish acknowledgements, absent meaning 0x00 (§3.4.2.1)
	Props    properties
}

func v5DecodeAck(p rawPacket) (v5Ack, error) {
	r := &wireReader{b: p.body}
	a := v5Ack{PacketID: r.uint16()}
	switch p.Type() {
	case pktPUBACK, pktPUBREC, pktPUBREL, pktPUBCOMP:
		a.Reasons = []byte{v5ReasonSuccess}
		if len(r.b) > 0 {
			a.Reasons[0] = r.byte1()
		}
		if len(r.b) > 0 {
			a.Props = r.props()
		}
	case pktSUBACK, pktUNSUBACK:
		a.Props = r.props()
		a.Reasons = append([]byte(nil), r.b...)
	default:
		return a, fmt.Errorf("not an acknowledgement: %v", p)
	}
	return a, r.err
}

// v5DecodeDisconnect reads a DISCONNECT; a Remaining Length of 0 means reason
// 0x00 and no properties (§3.14.2.1).
func v5DecodeDisconnect(p rawPacket) (byte, properties, error) {
	if p.Type() != pktDISCONNECT {
		return 0, nil, fmt.Errorf("want DISCONNECT, got %v", p)
	}
	if len(p.body) == 0 {
		return v5ReasonSuccess, nil, nil
	}
	r := &wireReader{b: p.body}
	reason := r.byte1()
	var props properties
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
	Props      properties
	Will       *v5Publish // Topic, QoS, Retain, Props and Payload of the Will
}

func (c v5Connect) encode() []byte {
	var flags byte
	if c.CleanStart {
		flags |= connClean
	}
	var will [][]byte
	if c.Will != nil {
		flags |= connWill | c.Will.QoS<<3
		if c.Will.Retain {
			flags |= connWillRetain
		}
		will = [][]byte{c.Will.Props.encode(), wireString(c.Will.Topic), wireString(string(c.Will.Payload))}
	}
	parts := [][]byte{wireString("MQTT"), {level5, flags}, wireU16(c.KeepAlive), c.Props.encode(), wireString(c.ClientID)}
	return wirePacket(pktCONNECT<<4, append(parts, will...)...)
}

// v5Sub is one Topic Filter of a SUBSCRIBE with its options byte (§3.8.3.1).
type v5Sub struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

func v5EncodeSubscribe(id uint16, props properties, subs ...v5Sub) []byte {
	parts := [][]byte{wireU16(id), props.encode()}
	for _, s := range subs {
		opts := s.QoS | s.RetainHandling<<4
		if s.NoLocal {
			opts |= 0x04
		}
		if s.RetainAsPublished {
			opts |= 0x08
		}
		parts = append(parts, wireString(s.Filter), []byte{opts})
	}
	return wirePacket(pktSUBSCRIBE<<4|0x02, parts...) // flags 0010 [MQTT-3.8.1-1]
}

func v5EncodeUnsubscribe(id uint16, filters ...string) []byte {
	parts := [][]byte{wireU16(id), wireProps()}
	for _, f := range filters {
		parts = append(parts, wireString(f))
	}
	return wirePacket(pktUNSUBSCRIBE<<4|0x02, parts...) // flags 0010 [MQTT-3.10.1-1]
}

func v5EncodeDisconnect(reason byte, props properties) []byte {
	return wirePacket(pktDISCONNECT<<4, []byte{reason}, props.encode())
}

// errV5Closed is returned by v5Raw.next once the server has closed the
// connection and every packet before that has been read.
var errV5Closed = errors.New("connection closed")

// v5Raw is one TCP connection speaking hand-made MQTT 5.0. A reader
// goroutine, stopped by the test's cleanup, decodes whole packets into a
// channel so that waiting for a packet never leaves a half-read stream.
type v5Raw struct {
	t    testing.TB
	conn *rawConn // read only by the reader goroutine

	packets chan rawPacket // closed by the reader when the connection ends
	held    []rawPacket    // PUBLISHes read while waiting for a SUBACK, returned first by next
	done    chan struct{}  // closed at cleanup to release the reader
	wg      sync.WaitGroup

	mu      sync.Mutex // guards readErr
	readErr error
}

func dialV5Raw(t testing.TB, b *Broker) *v5Raw {
	t.Helper()
	conn, err := openRaw(b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &v5Raw{
		t:    t,
		conn: conn,
		// Generous: tests read what they wait for, and the reader blocks
		// (rather than dropping) when a test leaves packets unread.
		packets: make(chan rawPacket, 4096),
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
	for {
		p, err := c.conn.readPacket()
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

// send writes b; a write error fails the test.
func (c *v5Raw) send(b []byte) {
	c.t.Helper()
	if err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next packet, errV5Closed once the server has closed the
// connection, or a timeout error.
func (c *v5Raw) next(timeout time.Duration) (rawPacket, error) {
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
			return rawPacket{}, fmt.Errorf("%w: %v", errV5Closed, err)
		}
		return p, nil
	case <-time.After(timeout):
		return rawPacket{}, fmt.Errorf("no packet within %v", timeout)
	}
}

// expect returns the next packet and fails the test unless it has type typ.
// Packets for which a skip function returns true are passed over.
func (c *v5Raw) expect(typ byte, timeout time.Duration, skip ...func(rawPacket) bool) rawPacket {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
next:
	for {
		p, err := c.next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", pktNames[typ], err)
		}
		if p.Type() == typ {
			return p
		}
		for _, f := range skip {
			if f(p) {
				continue next
			}
		}
		c.t.Fatalf("want %s, got %v %s", pktNames[typ], p, v5Describe(p))
	}
}

// expectPublish reads the next packet as a PUBLISH.
func (c *v5Raw) expectPublish(timeout time.Duration) v5Publish {
	c.t.Helper()
	pub, err := v5DecodePublish(c.expect(pktPUBLISH, timeout))
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
func (c *v5Raw) expectDisconnect(timeout time.Duration) (reason int, before []rawPacket) {
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
		if p.Type() == pktDISCONNECT {
			r, props, err := v5DecodeDisconnect(p)
			if err != nil {
				c.t.Fatalf("decoding DISCONNECT: %v", err)
			}
			if props.has(propSessionExpiry) {
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

// expectDisconnectAndClose fails the test unless the server's next packet is
// a DISCONNECT with reason want and the connection is then closed with
// nothing after it [MQTT-3.14.4-1]; why names the reason and the rule for the
// failure message.
func (c *v5Raw) expectDisconnectAndClose(want byte, why string) {
	c.t.Helper()
	reason, before := c.expectDisconnect(v5WaitFor)
	if reason != int(want) || len(before) > 0 {
		c.t.Errorf("DISCONNECT reason %d (-1: closed without one) after %v, want %#02x %s", reason, before, want, why)
	}
	c.expectClosed(v5WaitFor)
}

// connect sends CONNECT and returns the CONNACK, whatever its reason code.
func (c *v5Raw) connect(cp v5Connect) connack {
	c.t.Helper()
	c.send(cp.encode())
	ca, err := decodeConnack(c.expect(pktCONNACK, v5WaitFor), level5)
	if err != nil {
		c.t.Fatalf("decoding CONNACK: %v", err)
	}
	return ca
}

// mustConnect is connect that fails the test unless the CONNACK is a success.
func (c *v5Raw) mustConnect(cp v5Connect) connack {
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
func (c *v5Raw) subscribe(id uint16, props properties, subs ...v5Sub) []byte {
	c.t.Helper()
	c.send(v5EncodeSubscribe(id, props, subs...))
	// Retained messages may come before the SUBACK; keep them for next.
	var held []rawPacket
	p := c.expect(pktSUBACK, v5WaitFor, func(p rawPacket) bool {
		if p.Type() == pktPUBLISH {
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
func v5Describe(p rawPacket) string {
	switch p.Type() {
	case pktPUBLISH:
		if pub, err := v5DecodePublish(p); err == nil {
			return fmt.Sprintf("topic %q qos %d id %d props %v payload %q", pub.Topic, pub.QoS, pub.PacketID, pub.Props, pub.Payload)
		}
	case pktDISCONNECT:
		if r, props, err := v5DecodeDisconnect(p); err == nil {
			return fmt.Sprintf("reason %#02x %v", r, props)
		}
	case pktCONNACK:
		if ca, err := decodeConnack(p, level5); err == nil {
			return fmt.Sprintf("reason %#02x present %v %v", ca.Reason, ca.SessionPresent, ca.Props)
		}
	case pktPUBACK, pktPUBREC, pktPUBREL, pktPUBCOMP, pktSUBACK, pktUNSUBACK:
		if a, err := v5DecodeAck(p); err == nil {
			return fmt.Sprintf("id %d reasons %x %v", a.PacketID, a.Reasons, a.Props)
		}
	}
	return ""
}
