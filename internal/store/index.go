package store

// location is where the newest version of a live key lies. It has no
// pointers, so the garbage collector does not scan a million of them.
type location struct {
	segment uint32
	offset  uint32 // of the op within the segment file
	size    uint32 // encoded bytes of the op
}

// segment is the index's account of one segment file.
type segment struct {
	id   uint32
	size int64 // bytes of the file that belong to the log
	live int64 // bytes of the ops in it that the index points at
}

// index maps every live key (kind followed by key) to its newest put, and
// keeps the byte counts compaction decides by. Its memory is one map slot
// (a string header and a location: 32 bytes, at a load between 44% and 87%)
// and one string of 1+len(key) bytes per live key: BenchmarkOpen1M measures
// 108 bytes per record for 22-byte keys, 108 MB for a million queued
// messages. Values stay on disk.
//
// Tombstones are not indexed. A tombstone is needed only while an older
// segment may still hold a put of its key, and compaction removes segments
// oldest first, dropping the tombstones of the oldest segment, which by then
// has no older segment whose puts it could be cancelling.
type index struct {
	records   map[string]location
	perKind   [256]int   // live keys of each kind
	segments  []*segment // in log order; the last is the active one
	byID      map[uint32]*segment
	liveBytes int64
	diskBytes int64
}

func newIndex() index {
	return index{records: make(map[string]location), byID: make(map[uint32]*segment)}
}

func (x *index) addSegment(id uint32, size int64) {
	seg := &segment{id: id, size: size}
	x.segments = append(x.segments, seg)
	x.byID[id] = seg
	x.diskBytes += size
}

// grow accounts for n bytes appended to the active segment.
func (x *index) grow(n int64) {
	x.segments[len(x.segments)-1].size += n
	x.diskBytes += n
}

// removeOldest forgets the oldest segment, whose live bytes must be zero.
func (x *index) removeOldest() {
	seg := x.segments[0]
	x.segments = x.segments[1:]
	delete(x.byID, seg.id)
	x.diskBytes -= seg.size
}

// apply records op, found at loc, as the newest version of its key.
func (x *index) apply(op decodedOp, loc location) {
	if old, ok := x.records[string(op.id)]; ok {
		x.byID[old.segment].live -= int64(old.size)
		x.liveBytes -= int64(old.size)
		if op.delete {
			delete(x.records, string(op.id))
			x.perKind[op.kind()]--
			return
		}
	} else if op.delete {
		return
	} else {
		x.perKind[op.kind()]++
	}
	x.records[string(op.id)] = loc
	x.byID[loc.segment].live += int64(loc.size)
	x.liveBytes += int64(loc.size)
}

// isLive says whether the op at loc is its key's newest version.
func (x *index) isLive(id []byte, seg uint32, offset int) bool {
	loc, ok := x.records[string(id)]
	return ok && loc.segment == seg && loc.offset == uint32(offset)
}

func (x *index) garbageBytes() int64 { return x.diskBytes - x.liveBytes }
