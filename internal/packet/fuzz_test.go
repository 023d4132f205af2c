package packet

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// FuzzDecode feeds arbitrary bytes to DecodeFixedHeader and Decode. Nothing
// may panic, every error must be an *Error, and whatever decodes must encode
// and decode again to an equal packet. version selects the protocol level
// (V31 + version%3).
func FuzzDecode(f *testing.F) {
	for _, tt := range validPackets {
		f.Add(tt.raw, tt.version)
	}
	for _, tt := range invalidPackets {
		f.Add(tt.raw, tt.version)
	}
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		version = V31 + version%3
		h, n, err := DecodeFixedHeader(data)
		if err != nil {
			return
		}
		if len(data)-n < h.Remaining {
			return
		}
		p, err := Decode(h, data[n:n+h.Remaining], version)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			return
		}
		if c, ok := p.(*Connect); ok {
			version = c.ProtocolVersion
		}
		enc := p.Encode(nil, version)
		if pub, ok := p.(*Publish); ok && pub.EncodedLen(version) != len(enc) {
			t.Fatalf("EncodedLen %d, encoded %d bytes", pub.EncodedLen(version), len(enc))
		}
		h2, n2, err := DecodeFixedHeader(enc)
		if err != nil {
			t.Fatalf("re-encoded header % X: %v", enc, err)
		}
		p2, err := Decode(h2, enc[n2:], version)
		if err != nil {
			t.Fatalf("re-encoded %s as % X: %v", show(p), enc, err)
		}
		if !equalPackets(p, p2) {
			t.Fatalf("round trip:\nfirst  %s\nsecond %s", show(p), show(p2))
		}
	})
}

// FuzzReader checks that the Reader gives the same packets and errors
// whether the stream arrives in one piece or one byte at a time.
func FuzzReader(f *testing.F) {
	f.Add(concatRows(streamRows()), byte(V5))
	for _, tt := range invalidPackets {
		f.Add(tt.raw, tt.version)
	}
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		version = V31 + version%3
		whole := NewReader(bytes.NewReader(data))
		bytewise := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			p1, err1 := whole.ReadPacket(version)
			var s1 string
			if p1 != nil {
				s1 = show(p1) // before the next read reuses it
			}
			p2, err2 := bytewise.ReadPacket(version)
			if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
				t.Fatalf("packet %d: errors differ: %v / %v", i, err1, err2)
			}
			if !equalPackets(p1, p2) {
				t.Fatalf("packet %d differs:\n%s\n%s", i, s1, show(p2))
			}
			if err1 != nil {
				return
			}
		}
	})
}
