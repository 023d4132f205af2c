package packet

import (
	"bytes"
	"io"
	"testing"
)

// benchPublish is a typical sensor message: QoS 1, a 64-byte payload and, in
// v5, the properties a broker forwards without allocating.
func benchPublish(version byte) *Publish {
	p := &Publish{QoS: 1, Topic: []byte("sensors/building-7/floor-3/temperature"), PacketID: 4321,
		Payload: bytes.Repeat([]byte{'p'}, 64)}
	if version == V5 {
		p.Properties = props(Properties{MessageExpiry: 600, TopicAlias: 3, CorrelationData: []byte("req-1"),
			SubscriptionIDs: []uint32{12}}, PropMessageExpiry, PropTopicAlias, PropCorrelationData)
	}
	return p
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, tc := range []struct {
		name    string
		version byte
	}{{"v311", V311}, {"v5", V5}} {
		b.Run(tc.name, func(b *testing.B) {
			raw := benchPublish(tc.version).Encode(nil, tc.version)
			h, n, _ := DecodeFixedHeader(raw)
			var p Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := DecodePublish(h, raw[n:], tc.version, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, tc := range []struct {
		name    string
		version byte
	}{{"v311", V311}, {"v5", V5}} {
		b.Run(tc.name, func(b *testing.B) {
			p := benchPublish(tc.version)
			dst := make([]byte, 0, 256)
			b.ReportAllocs()
			b.SetBytes(int64(p.EncodedLen(tc.version)))
			for b.Loop() {
				dst = p.Encode(dst[:0], tc.version)
			}
		})
	}
}

// loopReader serves the same stream of whole packets forever, like a busy
// connection.
type loopReader struct {
	stream []byte
	off    int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.stream[l.off:])
	l.off = (l.off + n) % len(l.stream)
	return n, nil
}

func BenchmarkReaderPublish(b *testing.B) {
	for _, tc := range []struct {
		name    string
		version byte
	}{{"v311", V311}, {"v5", V5}} {
		b.Run(tc.name, func(b *testing.B) {
			var stream []byte
			for range 100 {
				stream = benchPublish(tc.version).Encode(stream, tc.version)
			}
			r := NewReader(&loopReader{stream: stream})
			b.ReportAllocs()
			b.SetBytes(int64(len(stream) / 100))
			for b.Loop() {
				if _, err := r.ReadPacket(tc.version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var _ io.Reader = (*loopReader)(nil)
