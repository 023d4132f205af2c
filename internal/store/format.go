package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The on-disk format, version 1. Integers are little endian.
//
// The data dir holds LOCK, whose flock marks the dir as in use and whose
// content is the pid of the process holding it, and the segment files, named
// by a 16-digit decimal number: 0000000000000001.log, 0000000000000002.log
// and so on. Numbers only grow and the log is the segments in number order;
// gaps are normal, because compaction removes the oldest segments.
//
// A segment starts with a header of segmentHeaderSize bytes:
//
//	0   magic    8 bytes   "gridmqlg"
//	8   version  uint32    1
//	12  crc      uint32    CRC-32C (Castagnoli) of bytes 0..11
//
// and continues with frames, back to back, to the end of the file. Each
// write of the committer is one frame, and a frame is applied on recovery
// whole or not at all:
//
//	0   magic    uint32    frameMagic
//	4   length   uint32    bytes of body, at most maxBodyBytes
//	8   seq      uint64    frame number, strictly increasing along the log
//	16  crc      uint32    CRC-32C of bytes 0..15 and of the body
//	20  body     length bytes: ops, back to back
//
// An op is a put or a delete (a tombstone) of one key:
//
//	flags    byte      bit 0 set: delete; the other bits are zero
//	keylen   uvarint   bytes of key, at most MaxKeyBytes
//	vallen   uvarint   bytes of value; puts only
//	kind     byte      namespace of the key, chosen by the broker
//	key      keylen bytes
//	value    vallen bytes; puts only
//
// kind and key are adjacent so the index uses them as one string without
// assembling it. A key is identified by kind and key together.
//
// The sequence number lets recovery tell a torn tail (nothing valid after
// the first bad frame) from corruption followed by later frames: a stray
// copy of an older frame inside a payload does not count as valid, because
// its number is not greater than the last good one.
const (
	segmentHeaderSize = 16
	segmentVersion    = 1

	frameHeaderSize = 20
	frameMagic      = 0x62514d47 // "GMQb" as bytes on disk

	// maxBodyBytes bounds one frame, so offsets within a segment fit the
	// index's uint32 (see maxSegmentBytes).
	maxBodyBytes = 1 << 30

	// MaxKeyBytes bounds the key of one op; a longer key is refused with
	// ErrTooLarge. MQTT topic names and client identifiers are at most
	// 65,535 bytes, so a broker key built from them fits.
	MaxKeyBytes = 1 << 20

	opDelete = 1 << 0
)

var (
	segmentMagic = [8]byte{'g', 'r', 'i', 'd', 'm', 'q', 'l', 'g'}
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

func appendSegmentHeader(b []byte) []byte {
	start := len(b)
	b = append(b, segmentMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, segmentVersion)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// checkSegmentHeader returns why b does not start with a valid version 1
// header, or "" if it does. errUnsupportedVersion is a well-formed header
// of another version: an error whatever the segment's place.
func checkSegmentHeader(b []byte) (reason string, err error) {
	if len(b) < segmentHeaderSize {
		return "short segment header", nil
	}
	if [8]byte(b[:8]) != segmentMagic {
		return "bad segment magic", nil
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:16]) {
		return "segment header checksum mismatch", nil
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != segmentVersion {
		return "", errUnsupportedVersion{version: v}
	}
	return "", nil
}

// sealFrame fills in the header of frame, whose first frameHeaderSize bytes
// are reserved and whose body follows them.
func sealFrame(frame []byte, seq uint64) {
	binary.LittleEndian.PutUint32(frame[0:4], frameMagic)
	binary.LittleEndian.PutUint32(frame[4:8], uint32(len(frame)-frameHeaderSize))
	binary.LittleEndian.PutUint64(frame[8:16], seq)
	crc := crc32.Update(0, castagnoli, frame[:16])
	crc = crc32.Update(crc, castagnoli, frame[frameHeaderSize:])
	binary.LittleEndian.PutUint32(frame[16:20], crc)
}

// parseFrame reads the frame at off in data. It returns the frame's number
// and body, or why there is no valid frame there.
func parseFrame(data []byte, off int) (seq uint64, body []byte, reason string) {
	b := data[off:]
	if len(b) < frameHeaderSize {
		return 0, nil, "short frame header"
	}
	if binary.LittleEndian.Uint32(b[0:4]) != frameMagic {
		return 0, nil, "bad frame magic"
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	if n > maxBodyBytes {
		return 0, nil, "frame length out of range"
	}
	if uint64(len(b)-frameHeaderSize) < uint64(n) {
		return 0, nil, "short frame body"
	}
	body = b[frameHeaderSize : frameHeaderSize+int(n)]
	crc := crc32.Update(0, castagnoli, b[:16])
	crc = crc32.Update(crc, castagnoli, body)
	if crc != binary.LittleEndian.Uint32(b[16:20]) {
		return 0, nil, "frame checksum mismatch"
	}
	return binary.LittleEndian.Uint64(b[8:16]), body, ""
}

// opSize is the encoded size of op.
func opSize(op Op) int {
	n := 1 + uvarintLen(uint64(len(op.Key))) + 1 + len(op.Key)
	if !op.Delete {
		n += uvarintLen(uint64(len(op.Value))) + len(op.Value)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

func appendOp(b []byte, op Op) []byte {
	var flags byte
	if op.Delete {
		flags = opDelete
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(op.Key)))
	if !op.Delete {
		b = binary.AppendUvarint(b, uint64(len(op.Value)))
	}
	b = append(b, op.Kind)
	b = append(b, op.Key...)
	if !op.Delete {
		b = append(b, op.Value...)
	}
	return b
}

// decodedOp is an op as it lies in a frame body; its slices point into it.
type decodedOp struct {
	delete bool
	id     []byte // kind followed by key: the index's key
	value  []byte
	size   int // encoded bytes
}

func (op decodedOp) kind() byte  { return op.id[0] }
func (op decodedOp) key() []byte { return op.id[1:] }

var errBadOp = errors.New("malformed op")

// decodeOp reads the op at the start of b.
func decodeOp(b []byte) (decodedOp, error) {
	if len(b) < 1 {
		return decodedOp{}, errBadOp
	}
	flags := b[0]
	if flags&^opDelete != 0 {
		return decodedOp{}, errBadOp
	}
	op := decodedOp{delete: flags&opDelete != 0}
	p := 1
	keyLen, n := binary.Uvarint(b[p:])
	if n <= 0 || keyLen > MaxKeyBytes {
		return decodedOp{}, errBadOp
	}
	p += n
	var valueLen uint64
	if !op.delete {
		valueLen, n = binary.Uvarint(b[p:])
		if n <= 0 || valueLen > maxBodyBytes {
			return decodedOp{}, errBadOp
		}
		p += n
	}
	need := uint64(p) + 1 + keyLen + valueLen
	if need > uint64(len(b)) {
		return decodedOp{}, errBadOp
	}
	idEnd := p + 1 + int(keyLen)
	op.id = b[p:idEnd]
	op.value = b[idEnd : idEnd+int(valueLen)]
	op.size = int(need)
	return op, nil
}
