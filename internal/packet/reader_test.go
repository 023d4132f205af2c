package packet

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

// streamRows are the table rows a peer could send, in table order.
func streamRows() []tpacket {
	var rows []tpacket
	for _, tt := range validPackets {
		if !tt.encodeOnly {
			rows = append(rows, tt)
		}
	}
	return rows
}

func concatRows(rows []tpacket) []byte {
	var b []byte
	for _, tt := range rows {
		b = append(b, tt.raw...)
	}
	return b
}

// readAll reads every row from src and expects io.EOF after the last.
func readAll(t *testing.T, src io.Reader, rows []tpacket) {
	t.Helper()
	r := NewReader(src)
	defer r.Release()
	for i, tt := range rows {
		p, err := r.ReadPacket(tt.version)
		if err != nil {
			t.Fatalf("packet %d (%s): %v", i, tt.name, err)
		}
		if !equalPackets(p, tt.pkt) {
			t.Fatalf("packet %d (%s):\n got %s\nwant %s", i, tt.name, show(p), show(tt.pkt))
		}
	}
	if p, err := r.ReadPacket(V5); err != io.EOF {
		t.Fatalf("after the last packet: (%s, %v), want io.EOF", show(p), err)
	}
}

func TestReaderWholeStream(t *testing.T) {
	rows := streamRows()
	stream := concatRows(rows)
	readAll(t, bytes.NewReader(stream), rows)
	readAll(t, iotest.DataErrReader(bytes.NewReader(stream)), rows)
	readAll(t, iotest.HalfReader(bytes.NewReader(stream)), rows)
}

func TestReaderOneByteAtATime(t *testing.T) {
	rows := streamRows()
	readAll(t, iotest.OneByteReader(bytes.NewReader(concatRows(rows))), rows)
}

// splitReader returns the stream in two Reads, split at an offset.
type splitReader struct {
	parts [][]byte
}

func (s *splitReader) Read(p []byte) (int, error) {
	for len(s.parts) > 0 && len(s.parts[0]) == 0 {
		s.parts = s.parts[1:]
	}
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.parts[0])
	s.parts[0] = s.parts[0][n:]
	return n, nil
}

func TestReaderEverySplitPoint(t *testing.T) {
	rows := streamRows()
	stream := concatRows(rows)
	for i := 0; i <= len(stream); i++ {
		readAll(t, &splitReader{parts: [][]byte{stream[:i], stream[i:]}}, rows)
	}
}

// A stream cut inside a packet is io.ErrUnexpectedEOF, at every cut.
func TestReaderTruncated(t *testing.T) {
	raw := validPackets[4].raw // the long v5 CONNECT
	for i := 1; i < len(raw); i++ {
		r := NewReader(bytes.NewReader(raw[:i]))
		if _, err := r.ReadPacket(V5); err != io.ErrUnexpectedEOF {
			t.Fatalf("cut at %d: %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
	if _, err := NewReader(bytes.NewReader(nil)).ReadPacket(V5); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
}

func TestReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.ErrReader(boom))
	if _, err := r.ReadPacket(V5); err != boom {
		t.Fatalf("got %v, want %v", err, boom)
	}
	// The error comes after the bytes read with it.
	r = NewReader(io.MultiReader(bytes.NewReader(wire(0xC0, 0)), iotest.ErrReader(boom)))
	if p, err := r.ReadPacket(V5); err != nil || p.Type() != PINGREQ {
		t.Fatalf("got (%s, %v), want PINGREQ", show(p), err)
	}
	if _, err := r.ReadPacket(V5); err != boom {
		t.Fatalf("got %v, want %v", err, boom)
	}
}

// headerOnlyReader serves a fixed header and fails the test if the Reader
// asks for the body.
type headerOnlyReader struct {
	t      *testing.T
	header []byte
}

func (h *headerOnlyReader) Read(p []byte) (int, error) {
	if len(h.header) == 0 {
		h.t.Fatal("Reader read the body of a packet that is too large")
	}
	n := copy(p, h.header)
	h.header = h.header[n:]
	return n, nil
}

func TestReaderMaxPacketSize(t *testing.T) {
	// A remaining length of 268,435,455 must be refused without reading or
	// allocating for the body.
	r := NewReader(&headerOnlyReader{t: t, header: wire(0x30, 0xFF, 0xFF, 0xFF, 0x7F)})
	r.SetMaxPacketSize(1024)
	_, err := r.ReadPacket(V5)
	var perr *Error
	if !errors.As(err, &perr) || perr.Code != PacketTooLarge {
		t.Fatalf("got %v, want PacketTooLarge", err)
	}
	if len(r.buf) > readBufSize {
		t.Fatalf("Reader holds a %d-byte buffer", len(r.buf))
	}

	// The limit counts the fixed header: 12 bytes fit in 12, not in 11.
	raw := wire(0x30, 10, 0, 3, "a/b", "hello") // 12 bytes
	r = NewReader(bytes.NewReader(raw))
	r.SetMaxPacketSize(12)
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatalf("packet of exactly the maximum: %v", err)
	}
	r = NewReader(bytes.NewReader(raw))
	r.SetMaxPacketSize(11)
	if _, err := r.ReadPacket(V311); !errors.Is(err, PacketTooLarge) {
		t.Fatalf("packet one byte over: %v, want PacketTooLarge", err)
	}
}

// burstReader serves each burst in as many Reads as the caller's buffers
// need, then blocks the next burst behind a hook that inspects the Reader.
type burstReader struct {
	bursts [][]byte
	onRead func(p []byte)
}

func (b *burstReader) Read(p []byte) (int, error) {
	b.onRead(p)
	for len(b.bursts) > 0 && len(b.bursts[0]) == 0 {
		b.bursts = b.bursts[1:]
	}
	if len(b.bursts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.bursts[0])
	b.bursts[0] = b.bursts[0][n:]
	return n, nil
}

// An idle Reader holds no read buffer: the Read that waits for the next
// burst goes into the small inline array, after the pooled buffer has been
// given back; and a burst of many packets costs two Reads, not one per packet.
func TestReaderReleasesBufferWhenIdle(t *testing.T) {
	var burst []byte
	for i := range 50 {
		burst = (&Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte("a/b"), Payload: []byte("payload")}).Encode(burst, V311)
	}
	src := &burstReader{bursts: [][]byte{burst, burst, burst}}
	var r *Reader
	idleReads, reads := 0, 0
	src.onRead = func(p []byte) {
		reads++
		if len(p) == len(r.idle) && &p[0] == &r.idle[0] {
			idleReads++
			if r.buf != nil || r.pooled != nil || r.Buffered() != 0 {
				t.Fatalf("waiting for data while holding a buffer (len %d, %d buffered)", len(r.buf), r.Buffered())
			}
		} else if r.pooled == nil {
			t.Fatal("chunk read without a pooled buffer")
		}
	}
	r = NewReader(src)
	for i := range 150 {
		p, err := r.ReadPacket(V311)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if got := p.(*Publish).PacketID; got != uint16(i%50+1) {
			t.Fatalf("packet %d has id %d", i, got)
		}
	}
	if _, err := r.ReadPacket(V311); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
	if idleReads != 4 { // three bursts and the end of the stream
		t.Errorf("%d reads into the idle array, want 4", idleReads)
	}
	if reads != 3*2+1 {
		t.Errorf("%d Reads for three bursts of 50 packets, want 7", reads)
	}
	if r.buf != nil || r.pooled != nil {
		t.Error("buffer held after io.EOF")
	}
}

// A packet larger than the pooled buffer gets one of its own, dropped once
// it has been consumed.
func TestReaderLargePacket(t *testing.T) {
	big := &Publish{Topic: []byte("big"), Payload: bytes.Repeat([]byte{'b'}, 3*readBufSize)}
	small := &Publish{Topic: []byte("small"), Payload: []byte("s")}
	stream := small.Encode(nil, V5)
	stream = big.Encode(stream, V5)
	stream = small.Encode(stream, V5)
	r := NewReader(bytes.NewReader(stream))
	for i, want := range []*Publish{small, big, small} {
		p, err := r.ReadPacket(V5)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !equalPackets(p, want) {
			t.Fatalf("packet %d: got topic %q, %d-byte payload", i, p.(*Publish).Topic, len(p.(*Publish).Payload))
		}
		if i == 1 && (r.pooled != nil || len(r.buf) != big.EncodedLen(V5)) {
			t.Fatalf("big packet: pooled %v, buffer of %d bytes, want its own %d-byte buffer",
				r.pooled != nil, len(r.buf), big.EncodedLen(V5))
		}
		if i == 2 && (r.pooled == nil || len(r.buf) != readBufSize) {
			t.Fatalf("after the big packet: buffer of %d bytes, want the pooled one back", len(r.buf))
		}
	}
}

// PUBLISH and the acks are reused; other packets own their memory.
func TestReaderOwnership(t *testing.T) {
	var stream []byte
	stream = append(stream, validPackets[2].raw...) // CONNECT with will and password
	stream = (&Publish{Topic: []byte("a"), Payload: []byte("1")}).Encode(stream, V311)
	stream = (&Publish{Topic: []byte("b"), Payload: []byte("2")}).Encode(stream, V311)
	stream = (&Ack{Kind: PUBACK, PacketID: 1}).Encode(stream, V311)
	stream = (&Ack{Kind: PUBREC, PacketID: 2}).Encode(stream, V311)

	r := NewReader(bytes.NewReader(stream))
	p, err := r.ReadPacket(V311)
	if err != nil {
		t.Fatal(err)
	}
	conn := p.(*Connect)
	for i := range r.buf {
		r.buf[i] = 0xEE // the buffer is about to be reused
	}
	if string(conn.Password) != ",.<>" || string(conn.Will.Payload) != "not again" {
		t.Fatalf("CONNECT aliases the read buffer: password %q, will payload %q", conn.Password, conn.Will.Payload)
	}

	r = NewReader(bytes.NewReader(stream[len(validPackets[2].raw):]))
	p1, _ := r.ReadPacket(V311)
	p2, _ := r.ReadPacket(V311)
	if p1 != p2 || string(p2.(*Publish).Topic) != "b" {
		t.Fatalf("PUBLISH not reused: %p %p", p1, p2)
	}
	a1, _ := r.ReadPacket(V311)
	a2, _ := r.ReadPacket(V311)
	if a1 != a2 || a2.Type() != PUBREC || a2.(*Ack).PacketID != 2 {
		t.Fatalf("Ack not reused: %s", show(a2))
	}
}

func TestReaderDecodeError(t *testing.T) {
	r := NewReader(bytes.NewReader(wire(0x36, 0)))
	if _, err := r.ReadPacket(V311); !errors.Is(err, MalformedPacket) {
		t.Fatalf("got %v, want malformed packet", err)
	}
	r = NewReader(bytes.NewReader(wire(0x10, 13, 0, 4, "MQTT", 6, 2, 0, 60, 0, 1, "a")))
	p, err := r.ReadPacket(0)
	if c, ok := p.(*Connect); !errors.Is(err, UnsupportedProtocolVersion) || !ok || c.ProtocolVersion != 6 {
		t.Fatalf("got (%s, %v), want the partial CONNECT", show(p), err)
	}
}

// A storm of 4-byte PUBACKs is read in large chunks, not a few per Read.
func TestReaderAckStormFewReads(t *testing.T) {
	var burst []byte
	for i := range 1000 {
		burst = (&Ack{Kind: PUBACK, PacketID: uint16(i + 1)}).Encode(burst, V5)
	}
	reads := 0
	src := &burstReader{bursts: [][]byte{burst}, onRead: func([]byte) { reads++ }}
	r := NewReader(src)
	for i := range 1000 {
		if _, err := r.ReadPacket(V5); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	// The idle read, then ceil((4000-31)/4096) chunk reads.
	if reads > 2 {
		t.Fatalf("%d Reads for 1000 PUBACKs", reads)
	}
}

// timeoutOnce fails its first Read with a deadline error, reading nothing,
// then reads from r.
type timeoutOnce struct {
	r     io.Reader
	fired bool
}

func (t *timeoutOnce) Read(p []byte) (int, error) {
	if !t.fired {
		t.fired = true
		return 0, os.ErrDeadlineExceeded
	}
	return t.r.Read(p)
}

// A read deadline that passes with nothing read leaves the Reader usable:
// a server can wait for a client's next packet with a short deadline.
func TestReaderSurvivesDeadline(t *testing.T) {
	wire := (&Publish{Topic: []byte("a"), Payload: []byte("x")}).Encode(nil, V311)
	r := NewReader(&timeoutOnce{r: bytes.NewReader(wire)})
	if err := r.Await(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Await = %v, want the deadline error", err)
	}
	p, err := r.ReadPacket(V311)
	if err != nil {
		t.Fatalf("ReadPacket after the deadline: %v", err)
	}
	if pub, ok := p.(*Publish); !ok || string(pub.Payload) != "x" {
		t.Fatalf("got %#v", p)
	}
}
