package packet

import "io"

// Fixed header, MQTT 5.0 section 2.1.1:
//
//	byte 1     packet type (bits 7-4), flags (bits 3-0)
//	bytes 2-5  remaining length, a variable byte integer
//
// Only PUBLISH uses its flags (DUP bit 3, QoS bits 2-1, RETAIN bit 0). PUBREL,
// SUBSCRIBE and UNSUBSCRIBE carry the reserved value 0b0010, every other
// type 0b0000 [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1], [MQTT-2.2.2-2]).
const (
	publishDup    = 0x08
	publishQoS    = 0x06
	publishRetain = 0x01
	reservedFlags = 0x02 // PUBREL, SUBSCRIBE, UNSUBSCRIBE
)

// maxHeaderLen is the longest fixed header: one type byte and a four-byte
// remaining length.
const maxHeaderLen = 1 + maxVarintLen

// DecodeFixedHeader parses the fixed header at the start of b and returns it
// with the number of bytes it took. It returns io.ErrUnexpectedEOF when b
// holds only part of a header, and a MalformedPacket *Error for a reserved
// packet type, wrong flags or a bad remaining length. The type and flags are
// checked as soon as the first byte is there, so garbage is refused early.
func DecodeFixedHeader(b []byte) (h FixedHeader, n int, err error) {
	if len(b) == 0 {
		return FixedHeader{}, 0, io.ErrUnexpectedEOF
	}
	h.Type = Type(b[0] >> 4)
	h.Flags = b[0] & 0x0F
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return FixedHeader{}, 0, err
	}
	rem, vn, err := decodeVarint(b[1:])
	if err != nil {
		return FixedHeader{}, 0, err
	}
	h.Remaining = rem
	return h, 1 + vn, nil
}

// checkFlags enforces the fixed header flag rules for t.
func checkFlags(t Type, flags byte) error {
	switch t {
	case 0:
		return Errorf(MalformedPacket, "reserved packet type 0")
	case PUBLISH:
		qos := flags & publishQoS >> 1
		if qos == 3 {
			return Errorf(MalformedPacket, "PUBLISH with QoS 3 [MQTT-3.3.1-4]")
		}
		if qos == 0 && flags&publishDup != 0 {
			return Errorf(MalformedPacket, "PUBLISH QoS 0 with DUP set [MQTT-3.3.1-2]")
		}
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		// [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
		if flags != reservedFlags {
			return Errorf(MalformedPacket, "%v fixed header flags 0x%X, want 0x2", t, flags)
		}
	default:
		if flags != 0 {
			return Errorf(MalformedPacket, "%v fixed header flags 0x%X, want 0 [MQTT-2.1.3-1]", t, flags)
		}
	}
	return nil
}

// headerByte is the first byte of a packet of type t other than PUBLISH.
func headerByte(t Type) byte {
	switch t {
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		return byte(t)<<4 | reservedFlags
	}
	return byte(t) << 4
}

// beginPacket appends the first byte and room for the longest remaining
// length; finishPacket fills in the real length once the body is appended
// and closes the gap. Used by the packets that are not on the hot path, so
// their encoders need not compute their size twice.
func beginPacket(dst []byte, first byte) (out []byte, start int) {
	start = len(dst)
	return append(dst, first, 0, 0, 0, 0), start
}

func finishPacket(dst []byte, start int) []byte {
	bodyStart := start + maxHeaderLen
	rem := len(dst) - bodyStart
	vn := varintLen(rem)
	copy(dst[start+1+vn:], dst[bodyStart:])
	appendVarint(dst[:start+1], rem)
	return dst[:start+1+vn+rem]
}
