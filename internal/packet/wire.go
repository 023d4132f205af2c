package packet

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// Data representations, MQTT 5.0 section 1.5: big-endian two- and four-byte
// integers, UTF-8 strings and binary data each behind a two-byte length.

// cursor walks a packet body. Every read checks the bounds, so a truncated
// body or a length that overruns it is a MalformedPacket, never a panic.
type cursor struct {
	b   []byte
	off int
}

func (c *cursor) remaining() int { return len(c.b) - c.off }

func (c *cursor) u8() (byte, error) {
	if c.off >= len(c.b) {
		return 0, errTruncated
	}
	v := c.b[c.off]
	c.off++
	return v, nil
}

func (c *cursor) u16() (uint16, error) {
	if len(c.b)-c.off < 2 {
		return 0, errTruncated
	}
	v := binary.BigEndian.Uint16(c.b[c.off:])
	c.off += 2
	return v, nil
}

func (c *cursor) u32() (uint32, error) {
	if len(c.b)-c.off < 4 {
		return 0, errTruncated
	}
	v := binary.BigEndian.Uint32(c.b[c.off:])
	c.off += 4
	return v, nil
}

func (c *cursor) varint() (int, error) {
	v, n, err := decodeVarint(c.b[c.off:])
	if err != nil {
		if err == errShortVarint {
			return 0, errTruncated
		}
		return 0, err
	}
	c.off += n
	return v, nil
}

// binary reads two-byte-length-prefixed binary data. The result aliases the body.
func (c *cursor) binary() ([]byte, error) {
	n, err := c.u16()
	if err != nil {
		return nil, err
	}
	if len(c.b)-c.off < int(n) {
		return nil, errTruncated
	}
	v := c.b[c.off : c.off+int(n) : c.off+int(n)]
	c.off += int(n)
	return v, nil
}

// utf8 reads a UTF-8 encoded string [MQTT-1.5.4-1], [MQTT-1.5.4-2]. The
// result aliases the body.
func (c *cursor) utf8() ([]byte, error) {
	v, err := c.binary()
	if err != nil {
		return nil, err
	}
	if err := checkUTF8(v); err != nil {
		return nil, err
	}
	return v, nil
}

// string reads a UTF-8 string into a new Go string.
func (c *cursor) string() (string, error) {
	v, err := c.utf8()
	return string(v), err
}

// rest returns the unread bytes and consumes them.
func (c *cursor) rest() []byte {
	v := c.b[c.off:]
	c.off = len(c.b)
	return v
}

// end fails when bytes are left over: every field is accounted for, so
// trailing bytes mean the sender and we disagree on the layout.
func (c *cursor) end(t Type) error {
	if c.off != len(c.b) {
		return Errorf(MalformedPacket, "%v has %d trailing bytes", t, len(c.b)-c.off)
	}
	return nil
}

// checkUTF8 enforces well-formed UTF-8 without surrogates [MQTT-1.5.4-1] and
// without U+0000 [MQTT-1.5.4-2]. utf8.Valid already refuses encoded surrogate
// halves (U+D800..U+DFFF).
func checkUTF8(b []byte) error {
	if !utf8.Valid(b) {
		return Errorf(MalformedPacket, "string is not valid UTF-8 [MQTT-1.5.4-1]")
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return Errorf(MalformedPacket, "string contains U+0000 [MQTT-1.5.4-2]")
	}
	return nil
}

// errTruncated is shared: a short body is the commonest malformation and the
// message needs no detail.
var errTruncated = &Error{Code: MalformedPacket, Reason: "packet body shorter than its fields"}

func appendU16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }
func appendU32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// appendString appends a length-prefixed UTF-8 string; the caller keeps it
// under 65,536 bytes.
func appendString(dst []byte, s string) []byte {
	return append(appendU16(dst, uint16(len(s))), s...)
}

// appendBinary appends length-prefixed binary data (or a topic held as bytes).
func appendBinary(dst []byte, b []byte) []byte {
	return append(appendU16(dst, uint16(len(b))), b...)
}
