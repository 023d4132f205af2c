package bench

import "encoding/binary"

// Every payload a bench publisher sends starts with a header:
//
//	bytes 0-7    publisher index, big-endian
//	bytes 8-15   sequence number, from 0 for each publisher, big-endian
//	bytes 16-23  send time in Unix nanoseconds, big-endian
//
// The rest of the payload is filler. Publishers and subscribers of a run
// share the process, hence the clock, so receive time minus send time is
// the latency through the broker and both network paths.
const HeaderLen = 24

// Header is the decoded start of a payload.
type Header struct {
	Publisher uint64
	Seq       uint64
	SentNanos int64 // Unix nanoseconds
}

// PutHeader writes h at the start of b, which has at least HeaderLen bytes.
func PutHeader(b []byte, h Header) {
	_ = b[HeaderLen-1]
	binary.BigEndian.PutUint64(b[0:], h.Publisher)
	binary.BigEndian.PutUint64(b[8:], h.Seq)
	binary.BigEndian.PutUint64(b[16:], uint64(h.SentNanos))
}

// ParseHeader reads the header at the start of b; ok is false when b is
// too short to hold one.
func ParseHeader(b []byte) (h Header, ok bool) {
	if len(b) < HeaderLen {
		return Header{}, false
	}
	return Header{
		Publisher: binary.BigEndian.Uint64(b[0:]),
		Seq:       binary.BigEndian.Uint64(b[8:]),
		SentNanos: int64(binary.BigEndian.Uint64(b[16:])),
	}, true
}

// newPayload returns a payload buffer of size bytes (at least HeaderLen)
// with its filler written; the publisher writes the header of each
// message into it.
func newPayload(size int) []byte {
	b := make([]byte, max(size, HeaderLen))
	for i := HeaderLen; i < len(b); i++ {
		b[i] = 'a' + byte(i%26)
	}
	return b
}
