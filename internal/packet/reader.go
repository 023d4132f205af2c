package packet

import (
	"errors"
	"io"
	"os"
	"sync"
)

// readBufSize is the buffer a Reader borrows while bytes are flowing: large
// enough that one Read brings many small packets.
const readBufSize = 4096

// idleReadSize is the small array an idle Reader reads into. It is odd so
// that a run of 2- and 4-byte packets (PINGREQ, PUBACK storms) never ends
// exactly at its end: the packet cut at the end makes the next Read go into
// the pooled buffer, in one large chunk, instead of back to the small array.
// No heuristic keeps the buffer across a wait: an idle connection must not
// hold it, whatever the sizes of its last packets.
const idleReadSize = 31

// readBufPool holds the 4 KiB read buffers. Only buffers of exactly that size
// go back: a larger one made for a single big packet is left to the GC.
var readBufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// Reader reads packets from a stream, such as a network connection.
//
// Memory: an idle connection must cost little, so a Reader holds no buffer
// while it waits for the next packet. It blocks in a Read into a small
// array inside the Reader; once bytes arrive it borrows a 4 KiB buffer from
// a pool and reads in large chunks for as long as data keeps coming. It
// gives the buffer back at the start of the ReadPacket that finds nothing
// buffered. A packet larger than 4 KiB gets a buffer of its own size, which
// is dropped (not pooled) once the packet has been consumed.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src     io.Reader
	maxSize uint32 // largest packet accepted, fixed header included; 0 is the protocol maximum

	pooled *[readBufSize]byte // the borrowed buffer, nil when none is held
	buf    []byte             // pooled[:], a one-off larger buffer, or nil when idle
	r, w   int                // buf[r:w] has been read from src but not consumed
	err    error              // read error held back until the buffered bytes are consumed

	idle [idleReadSize]byte // receives the first bytes after an idle period

	// Reused for every PUBLISH and acknowledgement; see ReadPacket.
	// Allocated on first use, so a connection that never publishes (or
	// acknowledges) does not carry them.
	publish *Publish
	ack     *Ack
}

// NewReader returns a Reader that reads packets from src.
func NewReader(src io.Reader) *Reader { return &Reader{src: src} }

// SetMaxPacketSize sets the largest packet ReadPacket accepts, counting the
// fixed header, as MQTT 5's Maximum Packet Size does; 0 means the protocol
// maximum. A larger packet fails with PacketTooLarge before its body is read.
func (r *Reader) SetMaxPacketSize(n uint32) { r.maxSize = n }

// Buffered is the number of bytes read from the stream but not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// Release returns the read buffer to the pool and discards buffered bytes.
// Call it when the connection closes; the Reader can still be used after,
// it borrows again.
func (r *Reader) Release() {
	if r.pooled != nil {
		readBufPool.Put(r.pooled)
	}
	r.pooled, r.buf = nil, nil
	r.r, r.w = 0, 0
}

// Await blocks, when no byte is buffered, until the stream has some,
// reading them into the Reader's small idle array; the next ReadPacket goes
// on from there. A server can so wait for a client's next packet on a fresh
// goroutine whose small stack is all an idle connection holds. At a packet
// boundary the end of the stream is io.EOF.
func (r *Reader) Await() error {
	if r.r < r.w {
		return nil
	}
	r.Release()
	return r.fill(true)
}

// ReadPacket reads and decodes the next packet for the protocol level
// version (ignored for CONNECT; see Decode).
//
// PUBLISH and PUBACK/PUBREC/PUBREL/PUBCOMP are returned as pointers to a
// Publish and an Ack owned by the Reader, and a PUBLISH's Topic, Payload and
// CorrelationData alias the read buffer: they are valid until the next call
// to ReadPacket or Release. A caller that keeps one copies it. Every other
// packet is newly allocated and shares no memory with the Reader.
//
// At a packet boundary the end of the stream is io.EOF; inside a packet it
// is io.ErrUnexpectedEOF. Decoding errors are *Error values (see Decode); a
// packet over the maximum size is *Error{Code: PacketTooLarge}. After any
// error the stream position is undefined and the connection should close.
func (r *Reader) ReadPacket(version byte) (Packet, error) {
	if r.r == r.w {
		r.Release()
	}
	var (
		h   FixedHeader
		hn  int
		err error
	)
	for {
		h, hn, err = DecodeFixedHeader(r.buf[r.r:r.w])
		if err == nil {
			break
		}
		if err != io.ErrUnexpectedEOF {
			return nil, err
		}
		if err := r.fill(r.r == r.w); err != nil {
			return nil, err
		}
	}

	size := hn + h.Remaining
	if r.maxSize > 0 && uint64(size) > uint64(r.maxSize) {
		return nil, Errorf(PacketTooLarge, "%v of %d bytes exceeds the maximum packet size %d", h.Type, size, r.maxSize)
	}
	r.makeRoom(size)
	for r.w-r.r < size {
		if r.w == len(r.buf) {
			r.makeRoom(size)
		}
		if err := r.fill(false); err != nil {
			return nil, err
		}
	}
	body := r.buf[r.r+hn : r.r+size : r.r+size]
	r.r += size

	switch h.Type {
	case PUBLISH:
		if r.publish == nil {
			r.publish = new(Publish)
		}
		if err := DecodePublish(h, body, version, r.publish); err != nil {
			return nil, err
		}
		return r.publish, nil
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		if err := checkFlags(h.Type, h.Flags); err != nil {
			return nil, err
		}
		if version != V31 && version != V311 && version != V5 {
			return nil, Errorf(UnsupportedProtocolVersion, "protocol level %d", version)
		}
		if r.ack == nil {
			r.ack = new(Ack)
		}
		if err := decodeAck(h, body, version, r.ack); err != nil {
			return nil, err
		}
		return r.ack, nil
	case CONNECT, CONNACK, AUTH:
		// These keep byte slices of the body (password, will payload,
		// authentication data); the buffer goes back to the pool, so they
		// get their own copy.
		body = append([]byte(nil), body...)
	}
	return Decode(h, body, version)
}

// makeRoom makes room for a packet of size bytes from r.r on: by moving the
// unconsumed bytes to the front of the pooled buffer, or, for a packet that
// does not fit in it, by moving them into a buffer of its own. That buffer
// grows by doubling as the packet's bytes arrive, up to exactly size, so a
// length announced but never sent costs no memory, and the buffer never
// holds bytes of the next packet: it is dropped at the next ReadPacket.
func (r *Reader) makeRoom(size int) {
	if len(r.buf)-r.r >= size {
		return
	}
	if size <= readBufSize && r.pooled != nil {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
		return
	}
	big := make([]byte, min(size, max(2*(r.w-r.r), largePacketStart)))
	n := copy(big, r.buf[r.r:r.w])
	r.Release()
	r.buf, r.w = big, n
}

// fill reads more bytes into buf. With nothing buffered it blocks in a Read
// into the small idle array and borrows a pooled buffer only once bytes have
// arrived. atBoundary says that no byte of the next packet has been read, so
// that the end of the stream is io.EOF rather than io.ErrUnexpectedEOF.
func (r *Reader) fill(atBoundary bool) error {
	if r.err != nil {
		return r.eof(atBoundary)
	}
	for range maxEmptyReads {
		var n int
		var err error
		if r.buf == nil {
			n, err = r.src.Read(r.idle[:])
			if n > 0 {
				r.borrow()
				r.w = copy(r.buf, r.idle[:n])
			}
		} else {
			if r.w == len(r.buf) { // only while reading a header near the end
				r.w = copy(r.buf, r.buf[r.r:r.w])
				r.r = 0
			}
			n, err = r.src.Read(r.buf[r.w:])
			r.w += n
		}
		if err != nil {
			if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				// Nothing was read: the stream is intact and the Reader
				// usable once the caller moves the deadline.
				return err
			}
			r.err = err
			if n == 0 {
				return r.eof(atBoundary)
			}
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// largePacketStart is the first size of the buffer of a packet larger than
// the pooled one.
const largePacketStart = 64 << 10

// maxEmptyReads bounds the Reads that return neither bytes nor an error,
// as bufio does.
const maxEmptyReads = 100

func (r *Reader) eof(atBoundary bool) error {
	if errors.Is(r.err, io.EOF) && !atBoundary {
		return io.ErrUnexpectedEOF
	}
	return r.err
}

func (r *Reader) borrow() {
	r.pooled = readBufPool.Get().(*[readBufSize]byte)
	r.buf = r.pooled[:]
	r.r, r.w = 0, 0
}
