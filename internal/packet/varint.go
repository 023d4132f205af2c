package packet

import "io"

// errShortVarint is io.ErrUnexpectedEOF: a stream reader waits for more
// bytes, a body decoder calls the packet malformed.
var errShortVarint = io.ErrUnexpectedEOF

// Variable Byte Integer, MQTT 5.0 section 1.5.5 (3.1.1 section 2.2.3):
// seven bits per byte, least significant group first, bit 7 set on every
// byte but the last; at most four bytes, so at most MaxRemainingLength.

// maxVarintLen is the longest variable byte integer: four bytes.
const maxVarintLen = 4

// varintLen is the number of bytes appendVarint writes for v.
func varintLen(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	default:
		return 4
	}
}

// appendVarint appends v, which must be in [0, MaxRemainingLength].
func appendVarint(dst []byte, v int) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// decodeVarint reads a variable byte integer from the start of b. It returns
// io.ErrUnexpectedEOF when b ends before the last byte, so that a stream
// reader can wait for more; inside a packet body the caller turns that into
// MalformedPacket.
func decodeVarint(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < maxVarintLen; i++ {
		if i >= len(b) {
			return 0, 0, errShortVarint
		}
		c := b[i]
		v |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			// A value must use the fewest bytes [MQTT-1.5.5-1]: a final
			// byte of zero after a continuation byte is a longer
			// spelling of a shorter number.
			if c == 0 && i > 0 {
				return 0, 0, Errorf(MalformedPacket, "variable byte integer not minimally encoded [MQTT-1.5.5-1]")
			}
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, Errorf(MalformedPacket, "variable byte integer longer than 4 bytes")
}
