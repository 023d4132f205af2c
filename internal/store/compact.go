package store

import (
	"fmt"
	"os"
	"time"
)

// Compaction gives back the space of overwritten and deleted records. It
// works on the oldest segment only, and only ever removes the oldest:
//
//  1. read the segment (it is not the active one, so nothing writes it);
//  2. hand its live puts to the committer, which writes those still live
//     into the active segment as new frames and fsyncs them whatever the
//     Durability;
//  3. remove the file, then sync the directory.
//
// A crash after 2 leaves each moved record twice, and replay keeps the
// newer copy, which is the same record. A crash during 2 is a torn tail of
// the active segment, with the old segment still whole. The committer
// checks liveness when it writes, so a record deleted or overwritten while
// the compactor reads is not brought back. Tombstones and dead puts of the
// oldest segment are dropped: no older segment remains whose puts a
// tombstone could be cancelling, and that is why a segment is never removed
// out of order, even when nothing in it is live.
//
// The oldest segment is reclaimed when nothing in it is live (no writes at
// all); when garbage is both over one segment and over half of the disk
// bytes, which keeps the files within about twice the live data plus a
// segment; and, near Options.MaxBytes, when at least half of it is garbage.

// compactionStep names the points at which a test hook may stop compaction.
type compactionStep int

const (
	// stepStarted: the oldest segment is chosen and nothing written yet.
	stepStarted compactionStep = iota
	// stepRelocated: the live records are written and synced into the
	// active segment; the old segment is still there.
	stepRelocated
	// stepRemoved: the old segment's file is removed and the directory not
	// yet synced.
	stepRemoved
)

// compactionBackoff spaces out attempts after a failed one (a full disk
// fails every move), which commits would otherwise retrigger at once.
const compactionBackoff = time.Second

// relocation is a batch of live puts the compactor asks the committer to
// move out of the oldest segment.
type relocation struct {
	segment uint32
	ops     []movedOp
	done    chan error // capacity 1
}

type movedOp struct {
	offset  int    // in the old segment
	encoded []byte // the op as it lies there
}

// runCompactor reclaims segments whenever the committer wakes it, until
// Close.
func (s *Store) runCompactor() {
	defer close(s.compactorDone)
	var retryAt time.Time
	for {
		var idle chan struct{}
		select {
		case <-s.stop:
			return
		case <-s.wakeCompactor:
			if time.Now().Before(retryAt) {
				continue
			}
		case idle = <-s.compactorIdle:
		}
		ok, err := s.compact()
		if err != nil {
			s.log.Error("store: compaction failed; will retry", "dir", s.dir, "err", err)
			retryAt = time.Now().Add(compactionBackoff)
		}
		if idle != nil {
			close(idle)
		}
		if !ok {
			return
		}
	}
}

// waitCompaction runs compaction until nothing is due. Tests use it to
// reach a settled state without sleeping.
func (s *Store) waitCompaction() {
	idle := make(chan struct{})
	select {
	case s.compactorIdle <- idle:
		<-idle
	case <-s.compactorDone:
	}
}

// wake tells the compactor to look if a segment is due.
func (s *Store) wake() {
	s.mu.Lock()
	due := s.compactionTarget() != nil
	s.mu.Unlock()
	if due {
		select {
		case s.wakeCompactor <- struct{}{}:
		default:
		}
	}
}

// compactionTarget returns the oldest segment if it is due; caller holds
// s.mu.
func (s *Store) compactionTarget() *segment {
	if len(s.idx.segments) < 2 {
		return nil
	}
	oldest := s.idx.segments[0]
	garbage := s.idx.garbageBytes()
	switch {
	case oldest.live == 0:
		return oldest
	case garbage > s.opts.SegmentBytes && garbage > s.idx.liveBytes:
		return oldest
	case s.opts.MaxBytes > 0 && s.idx.diskBytes+s.opts.SegmentBytes > s.opts.MaxBytes && 2*oldest.live <= oldest.size:
		return oldest
	}
	return nil
}

// compact reclaims segments while one is due. It returns false if a test
// hook stopped it for good.
func (s *Store) compact() (ok bool, err error) {
	for {
		select {
		case <-s.stop:
			return true, nil
		default:
		}
		if err := s.failed(); err != nil {
			return true, nil
		}
		s.mu.Lock()
		seg := s.compactionTarget()
		var id uint32
		var size, live int64
		if seg != nil {
			id, size, live = seg.id, seg.size, seg.live
		}
		s.mu.Unlock()
		if seg == nil {
			return true, nil
		}
		if ok, err := s.reclaim(id, size, live == 0); !ok || err != nil {
			return ok, err
		}
	}
}

// reclaim moves the live records of the oldest segment, id, to the active
// one and removes it. A segment with nothing live is not read: only the
// committer makes records live, and never in a segment it no longer writes.
func (s *Store) reclaim(id uint32, size int64, empty bool) (ok bool, err error) {
	if hook := s.opts.hooks.compactionStep; hook != nil && !hook(stepStarted) {
		return false, nil
	}
	path := segmentPath(s.dir, id)
	var data []byte
	if !empty {
		if data, err = readSegment(s.dir, id, size, nil); err != nil {
			return true, err
		}
	}
	rel := &relocation{segment: id, done: make(chan error, 1)}
	relBytes := 0
	for off := segmentHeaderSize; off < len(data); {
		_, body, reason := parseFrame(data, off)
		if reason != "" {
			return true, &CorruptError{File: path, Offset: int64(off), Reason: reason}
		}
		base := off + frameHeaderSize
		s.mu.Lock()
		for p := 0; p < len(body); {
			op, err := decodeOp(body[p:])
			if err != nil {
				s.mu.Unlock()
				return true, &CorruptError{File: path, Offset: int64(base + p), Reason: err.Error()}
			}
			if !op.delete && s.idx.isLive(op.id, id, base+p) {
				rel.ops = append(rel.ops, movedOp{offset: base + p, encoded: body[p : p+op.size]})
				relBytes += op.size
			}
			p += op.size
		}
		s.mu.Unlock()
		off = base + len(body)
		if relBytes >= maxFrameBytes || (off >= len(data) && len(rel.ops) > 0) {
			if stopped, err := s.sendRelocation(rel); stopped || err != nil {
				return true, err
			}
			rel.ops, relBytes = rel.ops[:0], 0
		}
	}
	if hook := s.opts.hooks.compactionStep; hook != nil && !hook(stepRelocated) {
		return false, nil
	}

	s.mu.Lock()
	oldest := s.idx.segments[0]
	if oldest.id != id || oldest.live != 0 {
		s.mu.Unlock()
		return true, fmt.Errorf("store: segment %s still holds %d live bytes after compaction", path, oldest.live)
	}
	s.idx.removeOldest()
	s.mu.Unlock()
	if err := os.Remove(path); err != nil {
		// Harmless for the log: replay reads the segment again, and every
		// live record in it has a newer copy.
		return true, err
	}
	s.compacted.Add(1)
	if hook := s.opts.hooks.compactionStep; hook != nil && !hook(stepRemoved) {
		return false, nil
	}
	if err := syncDir(s.dir); err != nil {
		// Nothing acknowledged depends on it: if the removal is lost, the
		// segment is replayed again and its records have newer copies.
		s.log.Warn("store: sync after removing a segment", "dir", s.dir, "err", err)
	}
	return true, nil
}

// sendRelocation hands rel to the committer and waits for it to be durable.
// It reports stopped if Close came first.
func (s *Store) sendRelocation(rel *relocation) (stopped bool, err error) {
	select {
	case s.relocations <- rel:
	case <-s.stop:
		return true, nil
	}
	return false, <-rel.done
}

// relocate writes the still-live ops of rel as one frame at the end of the
// log and syncs it; it runs in the committer, which alone changes the index,
// so nothing can change between the check and the write.
func (s *Store) relocate(rel *relocation) error {
	if err := s.failed(); err != nil {
		return err
	}
	frame := append(s.frame[:0], reservedHeader[:]...)
	s.mu.Lock()
	for _, m := range rel.ops {
		op, err := decodeOp(m.encoded)
		if err == nil && s.idx.isLive(op.id, rel.segment, m.offset) {
			frame = append(frame, m.encoded...)
		}
	}
	s.mu.Unlock()
	s.frame = frame[:0]
	if len(frame) == frameHeaderSize {
		return nil
	}
	off, err := s.write(frame)
	if err == nil {
		err = s.syncActive()
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.applyFrame(frame, off)
	s.mu.Unlock()
	return nil
}
