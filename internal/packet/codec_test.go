package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// decodeRaw splits raw into fixed header and body and decodes it.
func decodeRaw(t *testing.T, raw []byte, version byte) (Packet, error) {
	t.Helper()
	h, n, err := DecodeFixedHeader(raw)
	if err != nil {
		return nil, err
	}
	if n+h.Remaining != len(raw) {
		t.Fatalf("table row is %d bytes, its header says %d", len(raw), n+h.Remaining)
	}
	return Decode(h, raw[n:], version)
}

func TestEncode(t *testing.T) {
	for _, tt := range validPackets {
		if tt.decodeOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			got := tt.pkt.Encode(nil, tt.version)
			if !bytes.Equal(got, tt.raw) {
				t.Fatalf("Encode:\n got % X\nwant % X", got, tt.raw)
			}
			// Append semantics: the prefix survives and nothing else changes.
			prefix := []byte{0xAA, 0xBB}
			got = tt.pkt.Encode(prefix, tt.version)
			if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], tt.raw) {
				t.Fatalf("Encode with prefix: got % X", got)
			}
			if p, ok := tt.pkt.(*Publish); ok {
				if n := p.EncodedLen(tt.version); n != len(tt.raw) {
					t.Fatalf("EncodedLen = %d, want %d", n, len(tt.raw))
				}
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tt := range validPackets {
		if tt.encodeOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRaw(t, tt.raw, tt.version)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !equalPackets(got, tt.pkt) {
				t.Fatalf("Decode:\n got %s\nwant %s", show(got), show(tt.pkt))
			}
			if got.Type() != tt.pkt.Type() {
				t.Fatalf("Type() = %v, want %v", got.Type(), tt.pkt.Type())
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, tt := range invalidPackets {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeRaw(t, tt.raw, tt.version)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("got (%s, %v), want an *Error with %v", show(p), err, tt.code)
			}
			if perr.Code != tt.code {
				t.Fatalf("got %v, want code %v", err, tt.code)
			}
			if !errors.Is(err, tt.code) {
				t.Fatalf("errors.Is(%v, %v) is false", err, tt.code)
			}
			if _, isConnect := p.(*Connect); p != nil && !isConnect {
				t.Fatalf("got packet %s with the error", show(p))
			}
		})
	}
}

// A refused CONNECT still tells the broker which level the client spoke, so
// it can answer in that dialect.
func TestDecodeConnectUnsupportedVersionKeepsLevel(t *testing.T) {
	raw := wire(0x10, 13, 0, 4, "MQTT", 6, 2, 0, 60, 0, 1, "a")
	p, err := decodeRaw(t, raw, 0)
	if !errors.Is(err, UnsupportedProtocolVersion) {
		t.Fatalf("err = %v, want unsupported protocol version", err)
	}
	c, ok := p.(*Connect)
	if !ok || c.ProtocolVersion != 6 || c.ProtocolName != "MQTT" {
		t.Fatalf("got %s, want the partial *Connect with level 6", show(p))
	}

	raw = connectBody(V5, 0x02, 3, 0x21, 0, 0, 0, 1, "a")
	p, err = decodeRaw(t, raw, 0)
	if c, ok := p.(*Connect); !errors.Is(err, ProtocolError) || !ok || c.ProtocolVersion != V5 {
		t.Fatalf("got (%s, %v), want the partial v5 *Connect and a protocol error", show(p), err)
	}
}

func TestDecodeFixedHeaderIncomplete(t *testing.T) {
	for _, b := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0xFF, 0xFF}, {0x30, 0xFF, 0xFF, 0xFF}} {
		if _, n, err := DecodeFixedHeader(b); err != io.ErrUnexpectedEOF || n != 0 {
			t.Errorf("DecodeFixedHeader(% X) = n %d, %v; want 0, io.ErrUnexpectedEOF", b, n, err)
		}
	}
	h, n, err := DecodeFixedHeader([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00})
	if err != nil || n != 5 || h.Remaining != MaxRemainingLength || h.Type != PUBLISH {
		t.Errorf("largest header: got %+v, %d, %v", h, n, err)
	}
}

func TestVarint(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemainingLength} {
		b := appendVarint(nil, v)
		if len(b) != varintLen(v) {
			t.Errorf("varintLen(%d) = %d, encoded %d bytes", v, varintLen(v), len(b))
		}
		got, n, err := decodeVarint(b)
		if err != nil || got != v || n != len(b) {
			t.Errorf("decodeVarint(% X) = %d, %d, %v; want %d", b, got, n, err, v)
		}
	}
}

// A decode error must never leave a typed nil inside the Packet interface.
func TestDecodeErrorReturnsNilPacket(t *testing.T) {
	p, err := decodeRaw(t, wire(0x90, 2, 0, 1), V311)
	if err == nil || p != nil {
		t.Fatalf("got (%#v, %v)", p, err)
	}
}

func TestDecodePublishReusesAndDoesNotAllocate(t *testing.T) {
	raw := benchPublish(V5).Encode(nil, V5)
	h, n, err := DecodeFixedHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	var p Publish
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodePublish(h, raw[n:], V5, &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("DecodePublish: %v allocations, want 0", allocs)
	}
	if !equalPackets(&p, benchPublish(V5)) {
		t.Fatalf("got %s", show(&p))
	}
	if &p.Topic[0] != &raw[n+2] {
		t.Fatal("Topic does not alias the body")
	}

	// Decoding a packet without properties clears the previous ones.
	raw = wire(0x30, 8, 0, 3, "a/b", 0, "hi")
	h, n, _ = DecodeFixedHeader(raw)
	if err := DecodePublish(h, raw[n:], V5, &p); err != nil {
		t.Fatal(err)
	}
	if !equalPackets(&p, &Publish{Topic: []byte("a/b"), Payload: []byte("hi")}) {
		t.Fatalf("stale fields after reuse: %s", show(&p))
	}
}

func TestEncodePublishDoesNotAllocate(t *testing.T) {
	for _, v := range []byte{V311, V5} {
		p := benchPublish(v)
		dst := make([]byte, 0, p.EncodedLen(v))
		allocs := testing.AllocsPerRun(100, func() { dst = p.Encode(dst[:0], v) })
		if allocs != 0 {
			t.Errorf("v%d Encode: %v allocations, want 0", v, allocs)
		}
	}
}

func TestPublishPacketIDOffset(t *testing.T) {
	p := &Publish{QoS: 1, Topic: []byte("some/topic"), PacketID: 7, Payload: []byte("x"),
		Properties: props(Properties{MessageExpiry: 9}, PropMessageExpiry)}
	for _, v := range []byte{V311, V5} {
		enc := p.Encode(nil, v)
		off := PublishPacketIDOffset(enc)
		if off != 2+2+len(p.Topic) {
			t.Fatalf("v%d offset = %d", v, off)
		}
		binary.BigEndian.PutUint16(enc[off:], 4242)
		got, err := decodeRaw(t, enc, v)
		if err != nil || got.(*Publish).PacketID != 4242 {
			t.Fatalf("v%d after patch: %s, %v", v, show(got), err)
		}
	}
	big := &Publish{QoS: 2, Topic: []byte("t"), PacketID: 1, Payload: make([]byte, 300)}
	if off := PublishPacketIDOffset(big.Encode(nil, V311)); off != 3+2+1 {
		t.Fatalf("two-byte remaining length: offset %d", off)
	}
	for _, enc := range [][]byte{
		(&Publish{Topic: []byte("t")}).Encode(nil, V311), // QoS 0 has no packet id
		(&Ack{Kind: PUBACK, PacketID: 1}).Encode(nil, V311),
		{0x32, 5, 0, 9, 'a'},
		nil,
	} {
		if off := PublishPacketIDOffset(enc); off != -1 {
			t.Errorf("PublishPacketIDOffset(% X) = %d, want -1", enc, off)
		}
	}
}

func TestPropertiesReset(t *testing.T) {
	p := props(Properties{ReasonString: "x", User: []UserProperty{{"a", "b"}}, SubscriptionIDs: []uint32{1}}, PropReasonString)
	user := p.User
	p.Reset()
	if !p.Empty() || p.ReasonString != "" || p.Has(PropReasonString) {
		t.Fatalf("Reset left %+v", p)
	}
	if cap(p.User) != cap(user) || cap(p.SubscriptionIDs) == 0 {
		t.Fatal("Reset dropped slice capacity")
	}
}

// The comparer is what every other test relies on: make sure it can fail.
func TestEqualPackets(t *testing.T) {
	a := &Publish{Topic: []byte("a"), Properties: props(Properties{}, PropTopicAlias)}
	if !equalPackets(a, &Publish{Topic: []byte("a"), Payload: []byte{}, Properties: props(Properties{User: []UserProperty{}}, PropTopicAlias)}) {
		t.Error("nil and empty slices should compare equal")
	}
	for _, b := range []Packet{
		&Publish{Topic: []byte("a")}, // presence bit differs
		&Publish{Topic: []byte("b"), Properties: props(Properties{}, PropTopicAlias)},
		&Ack{Kind: PUBACK},
		&Connect{Will: &Will{}},
	} {
		if equalPackets(a, b) {
			t.Errorf("%s should differ from %s", show(a), show(b))
		}
	}
	if equalPackets(&Connect{Will: &Will{QoS: 1}}, &Connect{Will: &Will{}}) {
		t.Error("will QoS ignored")
	}
}
