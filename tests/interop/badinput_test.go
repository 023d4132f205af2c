package interop

// Bad input closes only the connection that sent it, with the reason the
// specification names: a CONNACK or DISCONNECT reason code in MQTT 5.0, a
// CONNACK return code or a silent close in MQTT 3.1.1. The broker logs it,
// and every other client carries on: after each row an unrelated subscriber,
// connected before any bad input, must still receive a fresh message.
//
// Statement ids are given per row; where 3.1.1 and 5.0 number the same rule
// differently, both are given. Where 5.0 states a rule without an id, the
// section is named instead.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// outcome is one acceptable answer from the broker to a row's bytes.
type outcome struct {
	reply byte   // type of the one packet expected back; 0 means none
	codes []byte // acceptable reason codes in that packet
	pid   uint16 // its packet identifier, checked when non-zero
	open  bool   // the connection then still answers PINGREQ; false: the broker closed it
}

// wantClosed: the broker closes the connection without sending anything.
func wantClosed() outcome { return outcome{} }

// wantConnack and wantDisconnect: that packet with one of codes, then the
// broker closes.
func wantConnack(codes ...byte) outcome    { return outcome{reply: pktCONNACK, codes: codes} }
func wantDisconnect(codes ...byte) outcome { return outcome{reply: pktDISCONNECT, codes: codes} }

// wantAnswer: a reply of type typ for packet id pid with one of codes, and the
// connection stays up.
func wantAnswer(typ byte, pid uint16, codes ...byte) outcome {
	return outcome{reply: typ, pid: pid, codes: codes, open: true}
}

// wantOpen: nothing sent back and the connection stays up.
func wantOpen() outcome { return outcome{open: true} }

func (w outcome) String() string {
	s := "nothing sent"
	if w.reply != 0 {
		var cs []string
		for _, c := range w.codes {
			cs = append(cs, fmt.Sprintf("0x%02X", c))
		}
		s = pktNames[w.reply] + " " + strings.Join(cs, " or ")
		if w.pid != 0 {
			s += fmt.Sprintf(" for packet id %d", w.pid)
		}
	}
	if w.open {
		return s + ", connection kept open"
	}
	return s + ", then closed"
}

func (w outcome) matches(o observation, level byte) bool {
	if w.open != o.open || (!w.open && !o.closed) {
		return false
	}
	if w.reply == 0 {
		return len(o.packets) == 0
	}
	if len(o.packets) != 1 || o.packets[0].Type() != w.reply {
		return false
	}
	p := o.packets[0]
	if code, ok := p.ReasonCode(level); !ok || !slices.Contains(w.codes, code) {
		return false
	}
	if w.pid != 0 {
		if id, ok := p.PacketID(); !ok || id != w.pid {
			return false
		}
	}
	return true
}

// observation is what the broker did after the bad bytes.
type observation struct {
	packets []rawPacket
	closed  bool   // the broker closed the connection
	open    bool   // the connection answered PINGREQ after the packets
	err     string // a read error other than a close, if any
}

func (o observation) String() string {
	s := "nothing sent"
	if len(o.packets) > 0 {
		var ps []string
		for _, p := range o.packets {
			ps = append(ps, p.String())
		}
		s = strings.Join(ps, ", ")
	}
	switch {
	case o.closed:
		s += ", then closed"
	case o.open:
		s += ", connection kept open (answered PINGREQ)"
	default:
		s += ", connection neither closed nor answering"
	}
	if o.err != "" {
		s += " (" + o.err + ")"
	}
	return s
}

// observe reads what the broker sends until it closes the connection or goes
// quiet. When quiet and probe is set, a PINGREQ tells an open connection
// (PINGRESP) from a stuck one.
func observe(c *rawConn, probe bool) observation {
	var o observation
	wait := 3 * time.Second
	for {
		p, err := c.ReadPacket(wait)
		if err == nil {
			o.packets = append(o.packets, p)
			wait = time.Second
			continue
		}
		if isClosedErr(err) {
			o.closed = true
			return o
		}
		if !isTimeout(err) {
			o.closed, o.err = true, err.Error()
			return o
		}
		break
	}
	if !probe {
		return o
	}
	if err := c.Write(wirePingreq); err != nil {
		o.closed = true
		return o
	}
	for {
		p, err := c.ReadPacket(3 * time.Second)
		if err != nil {
			o.closed = isClosedErr(err)
			return o
		}
		if p.Type() == pktPINGRESP {
			o.open = true
			return o
		}
		o.packets = append(o.packets, p)
	}
}

// badInputRow is one kind of bad input and the answers it may get.
type badInputRow struct {
	name  string
	level byte // 4 or 5: the valid CONNECT sent first, and how answers are read
	raw   bool // send replaces the CONNECT: nothing valid precedes it
	send  []byte
	// sendFor, when set, builds send from the Topic Alias Maximum in the
	// CONNACK (absent means 0); a nil result skips the row.
	sendFor func(topicAliasMax uint16) []byte
	// halfClose shuts our side after sending, as a client that dies mid-packet;
	// linger is how long to wait before doing so.
	halfClose bool
	linger    time.Duration
	// watchMemory fails the row if the broker's address space grows by more
	// than hugeGrowthKB while handling it.
	watchMemory bool
	// valid marks input the specification allows: a control row right at a
	// limit, or a PUBREL that session recovery sends legitimately. It must
	// be answered as shown, but need not be logged.
	valid bool
	want  []outcome // any one of these
}

// rawClientID is the client id inside rows whose bytes replace the CONNECT.
const rawClientID = "badconnect"

// Bad rows publish under badTopic, which the canary also subscribes to: a
// message the broker should have refused shows up there as a leak.
const (
	badTopic     = "canary/bad/t"
	canaryTopic  = "canary"
	leakFilter   = "canary/bad/#"
	badWillTopic = "canary/bad/will"
)

// hugeGrowthKB: allocating a 268,435,455-byte Remaining Length up front grows
// the address space by at least 256 MiB; ordinary work stays far below this.
const hugeGrowthKB = 192 << 10

var (
	payloadX = []byte("x") // a one-byte payload
	rawID    = wireString(rawClientID)
)

// pub311 and pub5 are QoS 0 PUBLISH packets of payload "x".
func pub311(topic string) []byte { return wirePacket(0x30, wireString(topic), payloadX) }

func pub5(topic string, props ...[]byte) []byte {
	return wirePacket(0x30, wireString(topic), wireProps(props...), payloadX)
}

// sub311 and sub5 are SUBSCRIBE packets with one filter and its options byte.
func sub311(pid uint16, filter string, options byte) []byte {
	return wirePacket(0x82, wireU16(pid), wireString(filter), []byte{options})
}

func sub5(pid uint16, filter string, options byte) []byte {
	return wirePacket(0x82, wireU16(pid), wireProps(), wireString(filter), []byte{options})
}

// onlyClosed is the usual 3.1.1 answer: close, say nothing.
func onlyClosed() []outcome { return []outcome{wantClosed()} }

func badInputRows() []badInputRow {
	willQoS3 := connClean | connWill | connWillQoS1 | connWillQoS2
	// hugeHeader announces the largest Remaining Length there is and sends 5 bytes of it.
	hugeHeader := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x03, 'a', '/', 'b'}
	return []badInputRow{
		// ---- the first packet, and CONNECT ----

		// [MQTT-3.1.0-1] the first packet must be CONNECT; 3.1.1 closes on
		// any protocol violation [MQTT-4.8.0-1].
		{name: "v311 first packet is PINGREQ", level: level311, raw: true, send: wirePingreq, want: onlyClosed()},
		// [MQTT-3.1.0-1] in 5.0 too; nothing but CONNACK may precede CONNACK
		// [MQTT-3.2.0-1], so no DISCONNECT either.
		{name: "v5 first packet is PUBLISH", level: level5, raw: true, send: pub5(badTopic), want: onlyClosed()},
		// [MQTT-3.1.0-1] an HTTP request: 'G' (0x47) reads as a PUBACK with
		// reserved flags 0111.
		{name: "v311 first bytes are an HTTP request", level: level311, raw: true,
			send: []byte("GET / HTTP/1.1\r\nHost: broker\r\n\r\n"), want: onlyClosed()},
		// [MQTT-3.1.0-2] a second CONNECT is a protocol violation (3.1.1) /
		// Protocol Error (5.0).
		{name: "v311 second CONNECT", level: level311, send: wireConnect311("bad2nd"), want: onlyClosed()},
		{name: "v5 second CONNECT", level: level5, send: wireConnect5("bad2nd"), want: []outcome{wantDisconnect(0x82)}},
		// [MQTT-3.1.2-1] (3.1.1) a wrong protocol name: the server MAY
		// disconnect; answering as another specification would (CONNACK 0x01)
		// is also allowed.
		{name: "v311 protocol name MQTX", level: level311, raw: true,
			send: wireConnect("MQTX", level311, connClean, nil, rawID),
			want: []outcome{wantClosed(), wantConnack(0x01)}},
		// [MQTT-3.1.2-1] (5.0) MAY send CONNACK 0x84, then MUST close.
		{name: "v5 protocol name MQTX", level: level5, raw: true,
			send: wireConnect("MQTX", level5, connClean, wireProps(), rawID),
			want: []outcome{wantClosed(), wantConnack(0x84)}},
		// [MQTT-3.1.2-2] (3.1.1) an unsupported level: CONNACK 0x01
		// (unacceptable protocol level), then close.
		{name: "v311 protocol level 6", level: level311, raw: true,
			send: wireConnect("MQTT", 6, connClean, nil, rawID), want: []outcome{wantConnack(0x01)}},
		// [MQTT-3.1.2-2] (5.0) MAY send CONNACK 0x84, then MUST close. Level 6
		// is no version the server knows, so it cannot tell which CONNACK the
		// client reads: the 3.1.1 answer 0x01 is accepted too.
		{name: "v5 protocol level 6", level: level5, raw: true,
			send: wireConnect("MQTT", 6, connClean, wireProps(), rawID), want: []outcome{wantConnack(0x84, 0x01)}},
		// [MQTT-3.1.2-3] reserved flag set: 3.1.1 closes without CONNACK
		// [MQTT-3.1.4-1]; in 5.0 it is a Malformed Packet.
		{name: "v311 CONNECT reserved flag", level: level311, raw: true,
			send: wireConnect("MQTT", level311, connClean|connReserved, nil, rawID), want: onlyClosed()},
		{name: "v5 CONNECT reserved flag", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean|connReserved, wireProps(), rawID), want: []outcome{wantConnack(0x81)}},
		// [MQTT-3.1.2-14] (3.1.1) Will QoS MUST NOT be 3.
		{name: "v311 will QoS 3", level: level311, raw: true,
			send: wireConnect("MQTT", level311, willQoS3, nil, rawID, wireString(badWillTopic), wireString("w")), want: onlyClosed()},
		// [MQTT-3.1.2-12] (5.0) a Will QoS of 3 is a Malformed Packet.
		{name: "v5 will QoS 3", level: level5, raw: true,
			send: wireConnect("MQTT", level5, willQoS3, wireProps(), rawID, wireProps(), wireString(badWillTopic), wireString("w")),
			want: []outcome{wantConnack(0x81)}},
		// [MQTT-3.1.2-11] [MQTT-3.1.2-13] (3.1.1) without the will flag, Will QoS must be 0.
		{name: "v311 will QoS without will flag", level: level311, raw: true,
			send: wireConnect("MQTT", level311, connClean|connWillQoS1, nil, rawID), want: onlyClosed()},
		// [MQTT-3.1.2-11] [MQTT-3.1.2-15] (3.1.1) without the will flag, Will Retain must be 0.
		{name: "v311 will retain without will flag", level: level311, raw: true,
			send: wireConnect("MQTT", level311, connClean|connWillRetain, nil, rawID), want: onlyClosed()},
		// [MQTT-3.1.2-11] (5.0) without the will flag, Will QoS must be 0. 5.0
		// names no reason code: the CONNECT does not match section 3.1
		// [MQTT-3.1.4-1], so Malformed Packet or Protocol Error.
		{name: "v5 will QoS without will flag", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean|connWillQoS1, wireProps(), rawID), want: []outcome{wantConnack(0x81, 0x82)}},
		// [MQTT-3.1.2-13] (5.0) without the will flag, Will Retain must be 0; as above.
		{name: "v5 will retain without will flag", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean|connWillRetain, wireProps(), rawID), want: []outcome{wantConnack(0x81, 0x82)}},
		// [MQTT-3.1.2-22] (3.1.1 only; 5.0 allows a password without a user name).
		{name: "v311 password without user name", level: level311, raw: true,
			send: wireConnect("MQTT", level311, connClean|connPassword, nil, rawID, wireString("secret")), want: onlyClosed()},
		// [MQTT-3.1.2-9] the will flag promises Will Topic and Message, which
		// are missing; [MQTT-3.1.4-1]; in 5.0 a packet that cannot be parsed is malformed.
		{name: "v311 will fields missing", level: level311, raw: true,
			send: wireConnect("MQTT", level311, connClean|connWill, nil, rawID), want: onlyClosed()},
		{name: "v5 will fields missing", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean|connWill, wireProps(), rawID), want: []outcome{wantConnack(0x81)}},
		// [MQTT-3.1.3-8] (3.1.1) a zero-byte ClientId with CleanSession 0:
		// CONNACK 0x02 (identifier rejected), then close.
		{name: "v311 empty client id without clean session", level: level311, raw: true,
			send: wireConnect("MQTT", level311, 0, nil, wireString("")), want: []outcome{wantConnack(0x02)}},
		// [MQTT-1.5.3-1] [MQTT-3.1.3-4] [MQTT-3.1.4-1] (3.1.1) ill-formed
		// UTF-8 (0xC3 0x28): close, without CONNACK.
		{name: "v311 client id not UTF-8", level: level311, raw: true,
			send: wireConnect311("bad\xC3\x28id"), want: onlyClosed()},
		// [MQTT-1.5.4-1] [MQTT-3.1.3-4] (5.0) ill-formed UTF-8 is a Malformed Packet.
		{name: "v5 client id not UTF-8", level: level5, raw: true,
			send: wireConnect5("bad\xC3\x28id"), want: []outcome{wantConnack(0x81)}},
		// [MQTT-1.5.4-2] (5.0) U+0000 in a string is a Malformed Packet.
		{name: "v5 client id with U+0000", level: level5, raw: true,
			send: wireConnect5("bad\x00id"), want: []outcome{wantConnack(0x81)}},
		// 5.0 section 2.2.2.2: an identifier not valid for the packet type (an
		// unknown one, or Topic Alias in CONNECT) is a Malformed Packet.
		{name: "v5 CONNECT unknown property 0x7F", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean, wireProps(wireProp(0x7F, []byte{0})), rawID),
			want: []outcome{wantConnack(0x81)}},
		{name: "v5 CONNECT with Topic Alias property", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean, wireProps(wireProp(propTopicAlias, wireU16(1))), rawID),
			want: []outcome{wantConnack(0x81)}},
		// 5.0 section 3.1.2.11.2: Session Expiry Interval more than once is a Protocol Error.
		{name: "v5 CONNECT Session Expiry twice", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean,
				wireProps(wireProp(propSessionExpiry, wireU32(10)), wireProp(propSessionExpiry, wireU32(20))), rawID),
			want: []outcome{wantConnack(0x82)}},
		// 5.0 section 3.1.2.11.3: Receive Maximum 0 is a Protocol Error.
		{name: "v5 CONNECT Receive Maximum 0", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean, wireProps(wireProp(propReceiveMaximum, wireU16(0))), rawID),
			want: []outcome{wantConnack(0x82)}},
		// 5.0 section 3.1.2.11.4: Maximum Packet Size 0 is a Protocol Error.
		{name: "v5 CONNECT Maximum Packet Size 0", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean, wireProps(wireProp(propMaximumPacketSize, wireU32(0))), rawID),
			want: []outcome{wantConnack(0x82)}},
		// 5.0 section 3.1.2.11.7: Request Problem Information other than 0 or 1 is a Protocol Error.
		{name: "v5 CONNECT Request Problem Information 2", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean, wireProps(wireProp(propRequestProblemInfo, []byte{2})), rawID),
			want: []outcome{wantConnack(0x82)}},
		// 5.0 section 3.1.2.11.10: Authentication Data without Authentication Method is a Protocol Error.
		{name: "v5 CONNECT Authentication Data without Method", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean, wireProps(wireProp(propAuthData, wireString("d"))), rawID),
			want: []outcome{wantConnack(0x82)}},
		// 5.0 section 3.1.3.2.3: Payload Format Indicator more than once in
		// the Will Properties is a Protocol Error.
		{name: "v5 will Payload Format Indicator twice", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean|connWill, wireProps(), rawID,
				wireProps(wireProp(propPayloadFormat, []byte{0}), wireProp(propPayloadFormat, []byte{0})),
				wireString(badWillTopic), wireString("w")),
			want: []outcome{wantConnack(0x82)}},

		// ---- framing ----

		// A Remaining Length has at most four bytes (3.1.1 section 2.2.3, 5.0
		// section 1.5.5); a fifth is malformed. 3.1.1 closes [MQTT-4.8.0-1];
		// 5.0 sends 0x81 and closes [MQTT-4.13.1-1].
		{name: "v311 Remaining Length of 5 bytes", level: level311,
			send: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x01, 'a'}, want: onlyClosed()},
		{name: "v5 Remaining Length of 5 bytes", level: level5,
			send: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x01, 'a'}, want: []outcome{wantDisconnect(0x81)}},
		// A client that dies mid-packet: Remaining Length 100, 5 bytes, then
		// EOF. Nothing to answer; 5.0 may still say 0x81.
		{name: "v311 Remaining Length beyond the data then EOF", level: level311,
			send: []byte{0x30, 100, 0x00, 0x03, 'a', '/', 'b'}, halfClose: true, want: onlyClosed()},
		{name: "v5 Remaining Length beyond the data then EOF", level: level5,
			send: []byte{0x30, 100, 0x00, 0x03, 'a', '/', 'b'}, halfClose: true,
			want: []outcome{wantClosed(), wantDisconnect(0x81)}},
		// Remaining Length 268,435,455, the protocol maximum, with 5 bytes
		// behind it, then EOF: the broker must not allocate the announced size.
		{name: "v311 Remaining Length 268435455 announced", level: level311, send: hugeHeader,
			halfClose: true, linger: 300 * time.Millisecond, watchMemory: true, want: onlyClosed()},
		{name: "v5 Remaining Length 268435455 announced", level: level5, send: hugeHeader,
			halfClose: true, linger: 300 * time.Millisecond, watchMemory: true,
			want: []outcome{wantClosed(), wantDisconnect(0x81)}},
		// The same before any CONNECT: a CONNECT header announcing the
		// maximum, from a client nobody has authenticated yet.
		{name: "v311 first packet CONNECT announcing 268435455", level: level311, raw: true,
			send:      []byte{0x10, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x04, 'M', 'Q', 'T', 'T'},
			halfClose: true, linger: 300 * time.Millisecond, watchMemory: true, want: onlyClosed()},
		// 3.1.1 table 2.1: packet types 0 and 15 are reserved [MQTT-4.8.0-1].
		{name: "v311 packet type 0", level: level311, send: []byte{0x00, 0x00}, want: onlyClosed()},
		{name: "v311 packet type 15", level: level311, send: []byte{0xF0, 0x00}, want: onlyClosed()},
		// 5.0 table 2-1: type 0 is Forbidden; no code is named, so Malformed
		// Packet or Protocol Error.
		{name: "v5 packet type 0", level: level5, send: []byte{0x00, 0x00}, want: []outcome{wantDisconnect(0x81, 0x82)}},
		// [MQTT-4.12.0-7] no AUTH unless the CONNECT named an Authentication
		// Method: a Protocol Error.
		{name: "v5 AUTH without Authentication Method", level: level5, send: []byte{0xF0, 0x00},
			want: []outcome{wantDisconnect(0x82)}},
		// [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1) reserved fixed-header flags
		// must be as listed, else close; PUBREL, SUBSCRIBE and UNSUBSCRIBE
		// need 0010 [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1].
		{name: "v311 PUBREL flags 0000", level: level311, send: wirePacket(0x60, wireU16(1)), want: onlyClosed()},
		{name: "v311 SUBSCRIBE flags 0000", level: level311,
			send: wirePacket(0x80, wireU16(1), wireString("canary/bad/s"), []byte{0}), want: onlyClosed()},
		{name: "v311 UNSUBSCRIBE flags 0000", level: level311,
			send: wirePacket(0xA0, wireU16(1), wireString("canary/bad/s")), want: onlyClosed()},
		{name: "v311 PINGREQ flags 0001", level: level311, send: []byte{0xC1, 0x00}, want: onlyClosed()},
		{name: "v311 PUBACK flags 0010", level: level311, send: wirePacket(0x42, wireU16(1)), want: onlyClosed()},
		// [MQTT-2.1.3-1] (5.0) invalid fixed-header flags are a Malformed Packet.
		{name: "v5 PUBREL flags 0000", level: level5, send: wirePacket(0x60, wireU16(1)), want: []outcome{wantDisconnect(0x81)}},
		{name: "v5 SUBSCRIBE flags 0000", level: level5,
			send: wirePacket(0x80, wireU16(1), wireProps(), wireString("canary/bad/s"), []byte{0}),
			want: []outcome{wantDisconnect(0x81)}},
		{name: "v5 UNSUBSCRIBE flags 0000", level: level5,
			send: wirePacket(0xA0, wireU16(1), wireProps(), wireString("canary/bad/s")), want: []outcome{wantDisconnect(0x81)}},
		{name: "v5 PINGREQ flags 0010", level: level5, send: []byte{0xC2, 0x00}, want: []outcome{wantDisconnect(0x81)}},
		// [MQTT-3.3.1-4] PUBLISH with both QoS bits set: 3.1.1 closes; in 5.0
		// it is a Malformed Packet.
		{name: "v311 PUBLISH QoS 3", level: level311,
			send: wirePacket(0x36, wireString(badTopic), wireU16(1), payloadX), want: onlyClosed()},
		{name: "v5 PUBLISH QoS 3", level: level5,
			send: wirePacket(0x36, wireString(badTopic), wireU16(1), wireProps(), payloadX), want: []outcome{wantDisconnect(0x81)}},
		// [MQTT-3.3.1-2] DUP must be 0 at QoS 0: 3.1.1 closes [MQTT-4.8.0-1];
		// 5.0 names no code.
		{name: "v311 PUBLISH DUP with QoS 0", level: level311,
			send: wirePacket(0x38, wireString(badTopic), payloadX), want: onlyClosed()},
		{name: "v5 PUBLISH DUP with QoS 0", level: level5,
			send: wirePacket(0x38, wireString(badTopic), wireProps(), payloadX), want: []outcome{wantDisconnect(0x81, 0x82)}},
		// [MQTT-2.3.1-1] (3.1.1) / [MQTT-2.2.1-3] (5.0) QoS > 0 needs a
		// non-zero packet identifier; 5.0 names no code.
		{name: "v311 PUBLISH QoS 1 packet id 0", level: level311,
			send: wirePacket(0x32, wireString(badTopic), wireU16(0), payloadX), want: onlyClosed()},
		{name: "v5 PUBLISH QoS 1 packet id 0", level: level5,
			send: wirePacket(0x32, wireString(badTopic), wireU16(0), wireProps(), payloadX), want: []outcome{wantDisconnect(0x81, 0x82)}},

		// ---- strings and topic names ----

		// [MQTT-1.5.3-1] (3.1.1) / [MQTT-1.5.4-1] (5.0, Malformed Packet)
		// ill-formed UTF-8 in the Topic Name [MQTT-3.3.2-1].
		{name: "v311 topic not UTF-8", level: level311, send: pub311("canary/bad/\xFF"), want: onlyClosed()},
		{name: "v5 topic not UTF-8", level: level5, send: pub5("canary/bad/\xFF"), want: []outcome{wantDisconnect(0x81)}},
		// Same statements: the encoding of a UTF-16 surrogate (U+D800 as ED A0 80) is ill-formed.
		{name: "v311 topic with surrogate U+D800", level: level311, send: pub311("canary/bad/\xED\xA0\x80"), want: onlyClosed()},
		{name: "v5 topic with surrogate U+D800", level: level5, send: pub5("canary/bad/\xED\xA0\x80"),
			want: []outcome{wantDisconnect(0x81)}},
		// [MQTT-1.5.3-2] (3.1.1) / [MQTT-1.5.4-2] (5.0, Malformed Packet) U+0000.
		{name: "v311 topic with U+0000", level: level311, send: pub311("canary/bad/\x00"), want: onlyClosed()},
		{name: "v5 topic with U+0000", level: level5, send: pub5("canary/bad/\x00"), want: []outcome{wantDisconnect(0x81)}},
		// [MQTT-3.3.2-2] no wildcards in a Topic Name; 5.0: 0x90 Topic Name invalid.
		{name: "v311 topic with +", level: level311, send: pub311("canary/bad/+"), want: onlyClosed()},
		{name: "v311 topic with #", level: level311, send: pub311("canary/bad/#"), want: onlyClosed()},
		{name: "v5 topic with +", level: level5, send: pub5("canary/bad/+"), want: []outcome{wantDisconnect(0x90)}},
		{name: "v5 topic with #", level: level5, send: pub5("canary/bad/#"), want: []outcome{wantDisconnect(0x90)}},
		// [MQTT-4.7.3-1] a Topic Name has at least one character; 5.0 section
		// 3.3.2.1: zero length without a Topic Alias is a Protocol Error.
		{name: "v311 empty topic", level: level311, send: pub311(""), want: onlyClosed()},
		{name: "v5 empty topic without alias", level: level5, send: pub5(""), want: []outcome{wantDisconnect(0x82)}},
		// The topic length runs past the end of the packet: malformed
		// [MQTT-3.3.2-1] [MQTT-4.8.0-1]; 5.0 0x81.
		{name: "v311 topic length beyond the packet", level: level311,
			send: wirePacket(0x30, wireU16(200), []byte("canary/bad")), want: onlyClosed()},
		{name: "v5 topic length beyond the packet", level: level5,
			send: wirePacket(0x30, wireU16(200), []byte("canary/bad")), want: []outcome{wantDisconnect(0x81)}},
		// [MQTT-3.8.3-1] a Topic Filter is a UTF-8 string: 0xC0 0xAF is an
		// overlong '/', ill-formed [MQTT-1.5.3-1] / [MQTT-1.5.4-1].
		{name: "v311 SUBSCRIBE filter not UTF-8", level: level311, send: sub311(1, "canary/\xC0\xAF", 0), want: onlyClosed()},
		{name: "v5 SUBSCRIBE filter not UTF-8", level: level5, send: sub5(1, "canary/\xC0\xAF", 0),
			want: []outcome{wantDisconnect(0x81)}},

		// ---- SUBSCRIBE and UNSUBSCRIBE ----

		// [MQTT-2.3.1-1] (3.1.1) / [MQTT-2.2.1-3] (5.0) a non-zero packet identifier.
		{name: "v311 SUBSCRIBE packet id 0", level: level311, send: sub311(0, "canary/bad/s", 0), want: onlyClosed()},
		{name: "v5 SUBSCRIBE packet id 0", level: level5, send: sub5(0, "canary/bad/s", 0),
			want: []outcome{wantDisconnect(0x81, 0x82)}},
		{name: "v311 UNSUBSCRIBE packet id 0", level: level311,
			send: wirePacket(0xA2, wireU16(0), wireString("canary/bad/s")), want: onlyClosed()},
		// [MQTT-3.8.3-3] (3.1.1) / [MQTT-3.8.3-2] (5.0, Protocol Error) at least one filter.
		{name: "v311 SUBSCRIBE with no filter", level: level311, send: wirePacket(0x82, wireU16(1)), want: onlyClosed()},
		{name: "v5 SUBSCRIBE with no filter", level: level5, send: wirePacket(0x82, wireU16(1), wireProps()),
			want: []outcome{wantDisconnect(0x82)}},
		// [MQTT-3-8.3-4] (3.1.1) requested QoS 3, or a reserved bit (2..7) set: malformed, close.
		{name: "v311 SUBSCRIBE QoS 3", level: level311, send: sub311(1, "canary/bad/s", 0x03), want: onlyClosed()},
		{name: "v311 SUBSCRIBE reserved option bit", level: level311, send: sub311(1, "canary/bad/s", 0x04), want: onlyClosed()},
		// [MQTT-3.8.3-5] (5.0) reserved bits 6 and 7: malformed.
		{name: "v5 SUBSCRIBE reserved option bits", level: level5, send: sub5(1, "canary/bad/s", 0xC0),
			want: []outcome{wantDisconnect(0x81)}},
		// 5.0 section 3.8.3.1: Maximum QoS 3 and Retain Handling 3 are Protocol Errors.
		{name: "v5 SUBSCRIBE maximum QoS 3", level: level5, send: sub5(1, "canary/bad/s", 0x03),
			want: []outcome{wantDisconnect(0x82)}},
		{name: "v5 SUBSCRIBE retain handling 3", level: level5, send: sub5(1, "canary/bad/s", 0x30),
			want: []outcome{wantDisconnect(0x82)}},
		// [MQTT-4.7.1-2] '#' must be last; [MQTT-4.7.1-3] '+' must fill its
		// level. The packet is well formed, so only that subscription fails:
		// SUBACK 0x80 Failure (3.1.1) / 0x8F Topic Filter invalid (5.0), and
		// the connection stays up.
		{name: "v311 filter with # not last", level: level311, send: sub311(7, "canary/bad/#/b", 0),
			want: []outcome{wantAnswer(pktSUBACK, 7, 0x80)}},
		{name: "v311 filter with + inside a level", level: level311, send: sub311(7, "canary/bad+", 0),
			want: []outcome{wantAnswer(pktSUBACK, 7, 0x80)}},
		{name: "v5 filter with # not last", level: level5, send: sub5(7, "canary/bad/#/b", 0),
			want: []outcome{wantAnswer(pktSUBACK, 7, 0x8F)}},
		{name: "v5 filter with + inside a level", level: level5, send: sub5(7, "canary/bad+", 0),
			want: []outcome{wantAnswer(pktSUBACK, 7, 0x8F)}},
		// [MQTT-3.10.3-2] at least one filter in UNSUBSCRIBE: 3.1.1 violation,
		// 5.0 Protocol Error.
		{name: "v311 UNSUBSCRIBE with no filter", level: level311, send: wirePacket(0xA2, wireU16(1)), want: onlyClosed()},
		{name: "v5 UNSUBSCRIBE with no filter", level: level5, send: wirePacket(0xA2, wireU16(1), wireProps()),
			want: []outcome{wantDisconnect(0x82)}},

		// ---- MQTT 5 properties ----

		// 5.0 section 2.2.2.2: an unknown identifier, or one not valid for
		// the packet type (Session Expiry Interval in PUBLISH), makes a
		// Malformed Packet: 0x81, as that section says.
		{name: "v5 PUBLISH unknown property 0x7F", level: level5, send: pub5(badTopic, wireProp(0x7F, []byte{0})),
			want: []outcome{wantDisconnect(0x81)}},
		{name: "v5 PUBLISH with Session Expiry property", level: level5,
			send: pub5(badTopic, wireProp(propSessionExpiry, wireU32(10))), want: []outcome{wantDisconnect(0x81)}},
		// The property list runs past the end of the packet: malformed.
		{name: "v5 PUBLISH property length beyond the packet", level: level5,
			send: wirePacket(0x30, wireString(badTopic), []byte{0x10, 0x01}), want: []outcome{wantDisconnect(0x81)}},
		// [MQTT-3.3.4-6] a PUBLISH from a client carries no Subscription
		// Identifier: a Protocol Error.
		{name: "v5 PUBLISH Subscription Identifier from client", level: level5,
			send: pub5(badTopic, wireProp(propSubscriptionID, wireVarint(1))), want: []outcome{wantDisconnect(0x82)}},
		// 5.0 sections 3.3.2.3.9 and 3.3.2.3.5: Content Type or Response
		// Topic more than once is a Protocol Error.
		{name: "v5 PUBLISH Content Type twice", level: level5,
			send: pub5(badTopic, wireProp(propContentType, wireString("a")), wireProp(propContentType, wireString("b"))),
			want: []outcome{wantDisconnect(0x82)}},
		{name: "v5 PUBLISH Response Topic twice", level: level5,
			send: pub5(badTopic, wireProp(propResponseTopic, wireString("r/a")), wireProp(propResponseTopic, wireString("r/b"))),
			want: []outcome{wantDisconnect(0x82)}},
		// [MQTT-3.3.2-8] Topic Alias 0 is not permitted; section 3.3.4: 0x94.
		{name: "v5 PUBLISH Topic Alias 0", level: level5,
			send: pub5(badTopic, wireProp(propTopicAlias, wireU16(0))), want: []outcome{wantDisconnect(0x94)}},
		// [MQTT-3.3.2-9] [MQTT-3.2.2-17] above the Topic Alias Maximum the
		// CONNACK gave (absent means 0); section 3.3.4: 0x94.
		{name: "v5 PUBLISH Topic Alias above the maximum", level: level5,
			sendFor: func(max uint16) []byte {
				if max == 0xFFFF {
					return nil
				}
				return pub5(badTopic, wireProp(propTopicAlias, wireU16(max+1)))
			},
			want: []outcome{wantDisconnect(0x94)}},
		// Section 3.3.4 step 3a: an alias with no mapping and an empty topic
		// is a Protocol Error (only when the broker accepts aliases at all).
		{name: "v5 PUBLISH unmapped Topic Alias with empty topic", level: level5,
			sendFor: func(max uint16) []byte {
				if max == 0 {
					return nil
				}
				return pub5("", wireProp(propTopicAlias, wireU16(1)))
			},
			want: []outcome{wantDisconnect(0x82)}},

		// ---- acknowledgements ----

		// [MQTT-4.3.3-11] (5.0) a PUBREL is answered by a PUBCOMP with the
		// same id; for an id it does not know, 0x92 Packet Identifier not
		// found, "not an error during recovery" (section 3.7.2.1): the
		// connection stays up and nothing need be logged.
		{name: "v5 PUBREL for an unknown packet id", level: level5, send: wirePacket(0x62, wireU16(77)),
			valid: true, want: []outcome{wantAnswer(pktPUBCOMP, 77, 0x92)}},
		// [MQTT-4.3.3-2] (3.1.1) the same, with no code to give.
		{name: "v311 PUBREL for an unknown packet id", level: level311, send: wirePacket(0x62, wireU16(77)),
			valid: true, want: []outcome{wantAnswer(pktPUBCOMP, 77, 0x00)}},
	}
}

// publishOfSize is a QoS 0 PUBLISH of exactly total bytes, fixed header
// included (the packet size of 5.0 section 2.1.4), on a topic outside the
// canary's filters.
func publishOfSize(level byte, total int) []byte {
	for n := 1; n < total; n++ {
		topic := "sizecheck/" + strings.Repeat("a", n)
		var p []byte
		if level >= level5 {
			p = pub5(topic)
		} else {
			p = pub311(topic)
		}
		if len(p) == total {
			return p
		}
	}
	panic(fmt.Sprintf("no PUBLISH of %d bytes", total))
}

// publishQoS1 is a QoS 1 PUBLISH with packet id pid.
func publishQoS1(level byte, topic string, pid uint16, payload []byte) []byte {
	if level >= level5 {
		return wirePacket(0x32, wireString(topic), wireU16(pid), wireProps(), payload)
	}
	return wirePacket(0x32, wireString(topic), wireU16(pid), payload)
}

// Limits of the second broker.
const (
	maxPacketSize    = 1024
	messageSizeLimit = 256
)

func sizeLimitRows() []badInputRow {
	big := bytes.Repeat([]byte("b"), 2*messageSizeLimit) // a payload over the limit, in a packet under it
	longWill := wireString(strings.Repeat("w", 2000))
	hugeHeader := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x03, 'a', '/', 'b'}
	return []badInputRow{
		// [MQTT-3.2.2-15] a packet over the Maximum Packet Size in CONNACK is
		// a Protocol Error: DISCONNECT 0x95 Packet too large. One byte under
		// the limit must still be accepted.
		{name: "v5 PUBLISH one byte over max packet size", level: level5, send: publishOfSize(level5, maxPacketSize+1),
			want: []outcome{wantDisconnect(0x95)}},
		{name: "v5 PUBLISH of exactly max packet size", level: level5, send: publishOfSize(level5, maxPacketSize),
			valid: true, want: []outcome{wantOpen()}},
		// 3.1.1 has no packet size limit to announce nor a code to give: close.
		{name: "v311 PUBLISH one byte over max packet size", level: level311, send: publishOfSize(level311, maxPacketSize+1),
			want: onlyClosed()},
		{name: "v311 PUBLISH of exactly max packet size", level: level311, send: publishOfSize(level311, maxPacketSize),
			valid: true, want: []outcome{wantOpen()}},
		// A CONNECT over the limit: CONNACK 0x95 Packet too large (no
		// DISCONNECT may precede CONNACK [MQTT-3.2.0-1]), or a silent close:
		// 4.13.1 makes the CONNACK a MAY, and the protocol level that says
		// which CONNACK the client reads is inside the refused packet.
		// 3.1.1 closes.
		{name: "v5 CONNECT over max packet size", level: level5, raw: true,
			send: wireConnect("MQTT", level5, connClean|connWill, wireProps(), rawID, wireProps(), wireString(badWillTopic), longWill),
			want: []outcome{wantConnack(0x95), wantClosed()}},
		{name: "v311 CONNECT over max packet size", level: level311, raw: true,
			send: wireConnect("MQTT", level311, connClean|connWill, nil, rawID, wireString(badWillTopic), longWill),
			want: onlyClosed()},
		// The fixed header alone says 268,435,455: the broker can refuse it
		// without waiting for, or allocating, the body.
		{name: "v5 Remaining Length 268435455 over max packet size", level: level5, send: hugeHeader,
			watchMemory: true, want: []outcome{wantDisconnect(0x95)}},
		{name: "v311 Remaining Length 268435455 over max packet size", level: level311, send: hugeHeader,
			watchMemory: true, want: onlyClosed()},
		// --message-size-limit bounds the payload, inside a packet the
		// protocol accepts, so 0x95 does not apply. In 5.0 a QoS 1 PUBACK
		// must use a PUBACK reason code [MQTT-3.4.2-1] (5.0 section 3.4.2.1:
		// 0x00 0x10 0x80 0x83 0x87 0x90 0x91 0x97 0x99), and 0x95 is not one
		// (Mosquitto sends it anyway). 0x97 Quota exceeded, "an implementation
		// or administrative imposed limit has been exceeded", says it; 0x83
		// Implementation specific error is accepted too. The message is
		// dropped (the canary would see it) and the connection stays up.
		{name: "v5 QoS 1 payload over message size limit", level: level5,
			send: publishQoS1(level5, "canary/bad/big", 42, big), want: []outcome{wantAnswer(pktPUBACK, 42, 0x97, 0x83)}},
		// At QoS 0 there is no acknowledgement to carry a code: drop it and
		// keep the connection, or DISCONNECT 0x97.
		{name: "v5 QoS 0 payload over message size limit", level: level5,
			send: wirePacket(0x30, wireString("canary/bad/big"), wireProps(), big),
			want: []outcome{wantOpen(), wantDisconnect(0x97)}},
		// 3.1.1 has no code for it either; as with a publish it does not
		// authorize [MQTT-3.3.5-2], the server acknowledges and drops, or closes.
		{name: "v311 QoS 1 payload over message size limit", level: level311,
			send: publishQoS1(level311, "canary/bad/big", 42, big),
			want: []outcome{wantAnswer(pktPUBACK, 42, 0x00), wantClosed()}},
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	b := StartBroker(t)
	runBadInputTable(t, b, badInputRows())
}

func TestBadInputSizeLimits(t *testing.T) {
	b := StartBroker(t, "--max-packet-size", strconv.Itoa(maxPacketSize),
		"--message-size-limit", strconv.Itoa(messageSizeLimit))
	t.Run("v5 CONNACK advertises Maximum Packet Size", func(t *testing.T) {
		c := dialRaw(t, b.Addr)
		info, err := c.Connect(level5, "sizeadvert")
		if err != nil {
			t.Fatal(err)
		}
		// 5.0 section 3.2.2.3.6: the Server uses Maximum Packet Size to tell
		// the Client it will not process larger packets.
		if got, ok := info.Props.get(propMaximumPacketSize); !ok || got.Num != maxPacketSize {
			t.Errorf("CONNACK Maximum Packet Size = %d (present %v), want %d", got.Num, ok, maxPacketSize)
		}
		c.Write(wireDisconnect)
	})
	runBadInputTable(t, b, sizeLimitRows())
}

// runBadInputTable runs rows in order against one broker, with one canary
// watching throughout.
func runBadInputTable(t *testing.T, b *Broker, rows []badInputRow) {
	cn := startCanary(t, b)
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			brokerAlive(t, b)
			runBadInputRow(t, b, cn, i, row)
		})
	}
	brokerAlive(t, b)
	noPanic(t, b)
}

func runBadInputRow(t *testing.T, b *Broker, cn *canary, i int, row badInputRow) {
	id := fmt.Sprintf("bad%03d", i)
	if row.raw {
		id = rawClientID
	}
	c := dialRaw(t, b.Addr)
	var aliasMax uint16
	if !row.raw {
		info, err := c.Connect(row.level, id)
		if err != nil {
			t.Fatalf("the valid CONNECT before the bad input: %v", err)
		}
		aliasMax = uint16(info.Props.num(propTopicAliasMaximum))
		// After a round trip, whatever the broker logs about the CONNECT is
		// out, and what follows the mark is about the bad input.
		if err := c.Ping(); err != nil {
			t.Fatalf("after the valid CONNECT: %v", err)
		}
	}
	send := row.send
	if row.sendFor != nil {
		if send = row.sendFor(aliasMax); send == nil {
			t.Skipf("does not apply with Topic Alias Maximum %d", aliasMax)
		}
	}

	mark := len(b.Output())
	vmBefore, vmKnown := brokerVMPeakKB(b)
	c.Write(send) // an error is fine: the broker may close before reading it all
	if row.halfClose {
		time.Sleep(row.linger)
		c.CloseWrite()
	}
	got := observe(c, !row.halfClose)
	if !slices.ContainsFunc(row.want, func(w outcome) bool { return w.matches(got, row.level) }) {
		var ws []string
		for _, w := range row.want {
			ws = append(ws, w.String())
		}
		t.Errorf("sent %s\n got: %v\nwant: %s", abbreviate(send), got, strings.Join(ws, "\n  or: "))
	}
	if !row.valid && !waitLogged(b, mark, id, c.Port()) {
		t.Errorf("the broker logged no line naming this connection (client id %q or port %s); it printed since:\n%s",
			id, c.Port(), b.Output()[mark:])
	}
	if got.open {
		c.Write(wireDisconnect)
	}
	c.Close()
	if row.watchMemory && vmKnown {
		if after, ok := brokerVMPeakKB(b); ok && after-vmBefore > hugeGrowthKB {
			t.Errorf("the broker's peak address space grew by %d MiB: it allocated the announced Remaining Length",
				(after-vmBefore)>>10)
		}
	}
	cn.check(t, row.name)
}

// abbreviate prints bytes in hex, cut short when long.
func abbreviate(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("% x ... (%d bytes)", b[:48], len(b))
	}
	return fmt.Sprintf("% x", b)
}

// waitLogged waits up to 2s for a line after mark that names the client id or
// the client's port.
func waitLogged(b *Broker, mark int, id, port string) bool {
	portRE := regexp.MustCompile(`:` + port + `\b`)
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, line := range strings.Split(b.Output()[mark:], "\n") {
			if strings.Contains(line, id) || portRE.MatchString(line) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// brokerVMPeakKB reads the broker's peak virtual memory size from /proc, where
// there is one. Memory allocated but not yet touched shows here, not in RSS.
func brokerVMPeakKB(b *Broker) (int64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmPeak:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

func brokerAlive(t testing.TB, b *Broker) {
	t.Helper()
	select {
	case <-b.Exited():
		t.Fatalf("the broker has exited:\n%s", b.Output())
	default:
	}
}

func noPanic(t testing.TB, b *Broker) {
	t.Helper()
	if out := b.Output(); strings.Contains(out, "panic") {
		t.Errorf("the broker printed a panic:\n%s", out)
	}
}

// ---- the canary ----

// canary is an unrelated 3.1.1 subscriber, connected before any bad input,
// that must keep receiving what a fresh client publishes. It also subscribes
// to leakFilter, under which the bad rows publish: anything the broker takes
// from them reaches it.
type canary struct {
	b    *Broker
	conn *rawConn
	n    int
}

func startCanary(t *testing.T, b *Broker) *canary {
	t.Helper()
	cn := &canary{b: b}
	if err := cn.connect(); err != nil {
		t.Fatalf("canary: %v", err)
	}
	t.Cleanup(func() {
		if cn.conn != nil {
			cn.conn.Close()
		}
	})
	return cn
}

func (cn *canary) connect() error {
	if cn.conn != nil {
		cn.conn.Close()
		cn.conn = nil
	}
	c, err := openRaw(cn.b.Addr)
	if err != nil {
		return err
	}
	if _, err := c.Connect(level311, "canarysub"); err != nil {
		c.Close()
		return err
	}
	sub := wirePacket(0x82, wireU16(1), wireString(canaryTopic), []byte{0}, wireString(leakFilter), []byte{0})
	if err := c.Write(sub); err != nil {
		c.Close()
		return err
	}
	p, err := c.ReadPacket(5 * time.Second)
	if err != nil {
		c.Close()
		return fmt.Errorf("waiting for SUBACK: %w", err)
	}
	if p.Type() != pktSUBACK || !bytes.Equal(p.body, []byte{0, 1, 0, 0}) {
		c.Close()
		return fmt.Errorf("got %v, want SUBACK granting QoS 0 twice", p)
	}
	cn.conn = c
	return nil
}

// check publishes a fresh marker on the canary topic from a new client and
// expects the canary to receive it next.
func (cn *canary) check(t testing.TB, label string) {
	t.Helper()
	cn.n++
	marker := fmt.Sprintf("after %q (#%d)", label, cn.n)
	if cn.conn == nil {
		if err := cn.connect(); err != nil {
			t.Errorf("canary: cannot reconnect: %v", err)
			return
		}
	}
	if err := publishOnce(cn.b.Addr, fmt.Sprintf("canarypub%03d", cn.n), canaryTopic, marker); err != nil {
		t.Errorf("canary: a fresh client cannot publish: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := cn.conn.ReadPacket(time.Until(deadline))
		if err != nil {
			t.Errorf("canary: the unrelated subscriber did not receive %q: %v", marker, err)
			if err := cn.connect(); err != nil {
				t.Errorf("canary: cannot reconnect: %v", err)
			}
			return
		}
		topic, payload, ok := parsePublish(p, level311)
		switch {
		case !ok:
			t.Errorf("canary: got %v, want PUBLISH", p)
		case topic == canaryTopic && payload == marker:
			return
		default:
			if len(payload) > 40 {
				payload = payload[:40] + "..."
			}
			t.Errorf("canary received %q on %q: the broker delivered a message from bad input", payload, topic)
		}
	}
}

// publishOnce connects a new 3.1.1 client, publishes at QoS 1, waits for
// PUBACK and disconnects.
func publishOnce(addr, clientID, topic, payload string) error {
	c, err := openRaw(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Connect(level311, clientID); err != nil {
		return err
	}
	if err := c.Write(publishQoS1(level311, topic, 1, []byte(payload))); err != nil {
		return err
	}
	p, err := c.ReadPacket(5 * time.Second)
	if err != nil {
		return fmt.Errorf("waiting for PUBACK: %w", err)
	}
	if id, _ := p.PacketID(); p.Type() != pktPUBACK || id != 1 {
		return fmt.Errorf("got %v, want PUBACK for packet id 1", p)
	}
	return c.Write(wireDisconnect)
}

// parsePublish splits a PUBLISH into topic and payload.
func parsePublish(p rawPacket, level byte) (topic, payload string, ok bool) {
	if p.Type() != pktPUBLISH {
		return "", "", false
	}
	r := &wireReader{b: p.body}
	topic = r.string()
	if qos := p.first >> 1 & 3; qos > 0 {
		r.uint16() // Packet Identifier
	}
	if level >= level5 {
		r.props()
	}
	if r.err != nil {
		return "", "", false
	}
	return topic, string(r.b), true
}

// ---- never crash ----

// TestNeverCrashOnRandomInput sends 200 deterministic random byte strings,
// each after a valid CONNECT on its own connection. Whatever the broker makes
// of them, it must stay up, print no panic, and keep serving the canary.
func TestNeverCrashOnRandomInput(t *testing.T) {
	b := StartBroker(t)
	cn := startCanary(t, b)
	rng := rand.New(rand.NewPCG(0x6d717474, 3)) // fixed seed: a failure replays
	for i := range 200 {
		level := level311
		if i%2 == 1 {
			level = level5
		}
		junk := randomInput(rng, level)
		c, err := openRaw(b.Addr)
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		if _, err := c.Connect(level, fmt.Sprintf("junk%03d", i)); err != nil {
			t.Errorf("input %d: the valid CONNECT: %v", i, err)
			c.Close()
			continue
		}
		c.Write(junk)
		// Give the broker a moment with it; then hang up either way.
		for {
			if _, err := c.ReadPacket(200 * time.Millisecond); err != nil {
				break
			}
		}
		c.Close()
		select {
		case <-b.Exited():
			t.Fatalf("the broker exited after input %d (level %d, %s):\n%s", i, level, abbreviate(junk), b.Output())
		default:
		}
	}
	brokerAlive(t, b)
	cn.check(t, "200 random inputs")
	noPanic(t, b)
}

// randomInput is one of: noise; a well-framed packet of any type and flags
// with a random body; or a valid packet with a few bytes changed.
func randomInput(rng *rand.Rand, level byte) []byte {
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	switch rng.IntN(3) {
	case 0:
		return randomBytes(1 + rng.IntN(64))
	case 1:
		return wirePacket(byte(rng.UintN(256)), randomBytes(rng.IntN(48)))
	default:
		templates := validPackets(level)
		b := slices.Clone(templates[rng.IntN(len(templates))])
		for k := 1 + rng.IntN(3); k > 0; k-- {
			b[rng.IntN(len(b))] = byte(rng.UintN(256))
		}
		return b
	}
}

// validPackets are well-formed packets a connected client may send, for
// randomInput to mutate.
func validPackets(level byte) [][]byte {
	if level >= level5 {
		return [][]byte{
			pub5("junk/t", wireProp(propContentType, wireString("text/plain")), wireProp(propUserProperty, wireString("k"), wireString("v"))),
			wirePacket(0x32, wireString("junk/t"), wireU16(5), wireProps(wireProp(propMessageExpiry, wireU32(60))), payloadX),
			wirePacket(0x34, wireString("junk/t"), wireU16(6), wireProps(wireProp(propTopicAlias, wireU16(1))), payloadX),
			sub5(9, "junk/#", 0x01),
			wirePacket(0xA2, wireU16(10), wireProps(), wireString("junk/#")),
			wirePacket(0x62, wireU16(6), []byte{0x00}, wireProps()),
			wirePacket(0x40, wireU16(3), []byte{0x00}, wireProps()),
			wirePacket(0xE0, []byte{0x04}, wireProps(wireProp(propSessionExpiry, wireU32(0)))),
			wirePacket(0xF0, []byte{0x19}, wireProps(wireProp(propAuthMethod, wireString("none")))),
			wireConnect5("junkagain"),
		}
	}
	return [][]byte{
		pub311("junk/t"),
		wirePacket(0x32, wireString("junk/t"), wireU16(5), payloadX),
		wirePacket(0x34, wireString("junk/t"), wireU16(6), payloadX),
		sub311(9, "junk/+/#", 0x01),
		wirePacket(0xA2, wireU16(10), wireString("junk/+/#")),
		wirePacket(0x62, wireU16(6)),
		wirePacket(0x40, wireU16(3)),
		wirePingreq,
		wireConnect311("junkagain"),
	}
}
