package store

import (
	"errors"
	"fmt"
	"time"
)

// reservedHeader is the room left at the start of a frame for sealFrame.
var reservedHeader [frameHeaderSize]byte

// request is one Commit on its way to the committer.
type request struct {
	body []byte // the ops, encoded as in a frame body
	puts bool   // refused when the data dir is full; deletes never are
	lazy bool   // needs no fsync of its own (CommitLazy)
	done func(error)
	err  error // set by the committer
}

func newRequest(ops []Op, done func(error)) (*request, error) {
	n := 0
	r := &request{done: done}
	for _, op := range ops {
		if len(op.Key) > MaxKeyBytes {
			return nil, fmt.Errorf("%w: key of %d bytes, at most %d", ErrTooLarge, len(op.Key), MaxKeyBytes)
		}
		n += opSize(op)
		r.puts = r.puts || !op.Delete
	}
	if n > maxBodyBytes {
		return nil, fmt.Errorf("%w: %d bytes of ops, at most %d", ErrTooLarge, n, maxBodyBytes)
	}
	r.body = make([]byte, 0, n)
	for _, op := range ops {
		r.body = appendOp(r.body, op)
	}
	return r, nil
}

// runCommitter is the only writer of the log. It takes every commit
// waiting, writes them as frames of up to maxFrameBytes, syncs once per
// frame, updates the index and then answers them; between frames it moves
// records for the compactor and, under Interval, syncs on the ticker. It
// returns once Close has begun and every commit handed over before it is
// answered and synced.
func (s *Store) runCommitter(tick <-chan time.Time) {
	defer close(s.committerDone)
	var taken []*request
	for {
		select {
		case <-s.queueWake:
			var closing bool
			taken, closing = s.takeQueue(taken[:0])
			for rest := taken; len(rest) > 0; {
				n := frameCut(rest)
				s.commit(rest[:n])
				rest = rest[n:]
			}
			clear(taken)
			if closing {
				s.syncDirty()
				if s.ticker != nil {
					s.ticker.Stop()
				}
				return
			}
		case rel := <-s.relocations:
			rel.done <- s.relocate(rel)
		case <-tick:
			s.syncDirty()
		}
	}
}

// frameCut is how many of the requests go into the next frame: at least
// one, and no more than maxFrameBytes of them.
func frameCut(reqs []*request) int {
	size := len(reqs[0].body)
	n := 1
	for n < len(reqs) && size+len(reqs[n].body) <= maxFrameBytes {
		size += len(reqs[n].body)
		n++
	}
	return n
}

// commit writes batch as one frame, makes it durable per the Durability,
// applies it to the index and answers every request, in order.
func (s *Store) commit(batch []*request) {
	defer func() {
		// Counted before the callbacks, so that a caller who has seen its
		// callback sees its commit in Stats.
		s.commits.Add(int64(len(batch)))
		for _, r := range batch {
			r.done(r.err)
		}
		s.wake()
	}()
	if err := s.failed(); err != nil {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
		return
	}
	s.mu.Lock()
	projected := s.idx.diskBytes + frameHeaderSize
	s.mu.Unlock()

	frame := append(s.frame[:0], reservedHeader[:]...)
	var accepted []*request
	for _, r := range batch {
		if r.err != nil {
			continue // refused by Commit
		}
		if r.puts && s.opts.MaxBytes > 0 && projected+int64(len(r.body)) > s.opts.MaxBytes {
			r.err = fmt.Errorf("%w: %d bytes on disk, limit %d", ErrFull, projected-frameHeaderSize, s.opts.MaxBytes)
			continue
		}
		frame = append(frame, r.body...)
		projected += int64(len(r.body))
		accepted = append(accepted, r)
	}
	s.frame = frame[:0]
	if len(frame) == frameHeaderSize {
		return
	}
	lazy := true
	for _, r := range accepted {
		lazy = lazy && r.lazy
	}
	off, err := s.write(frame)
	if err == nil && s.opts.Durability == Sync && !lazy {
		err = s.syncActive()
	}
	if err != nil {
		for _, r := range accepted {
			r.err = err
		}
		return
	}
	s.batches.Add(1)
	s.mu.Lock()
	s.applyFrame(frame, off)
	s.mu.Unlock()
}

// applyFrame records in the index the ops of a frame written at off in the
// active segment; caller holds s.mu.
func (s *Store) applyFrame(frame []byte, off int64) {
	s.idx.grow(int64(len(frame)))
	base := off + frameHeaderSize
	for p, body := 0, frame[frameHeaderSize:]; p < len(body); {
		op, err := decodeOp(body[p:])
		if err != nil {
			panic("store: committer encoded a malformed op: " + err.Error()) // a bug in appendOp
		}
		s.idx.apply(op, location{segment: s.activeID, offset: uint32(base + int64(p)), size: uint32(op.size)})
		p += op.size
	}
}

// write seals frame and appends it to the active segment, starting a new
// segment first if it would not fit. It returns the frame's offset. A
// failed write is cut off again, so the segment stays a valid log; if even
// that fails, the store fails.
func (s *Store) write(frame []byte) (int64, error) {
	if s.activeSize > segmentHeaderSize && s.activeSize+int64(len(frame)) > s.opts.SegmentBytes {
		if err := s.roll(); err != nil {
			return 0, err
		}
	}
	sealFrame(frame, s.nextSeq)
	off := s.activeSize
	if _, err := s.active.WriteAt(frame, off); err != nil {
		if terr := s.active.Truncate(off); terr != nil {
			s.fail(fmt.Errorf("cut failed write back to %d bytes: %w (write: %w)", off, terr, err))
		}
		return 0, writeError(fmt.Errorf("store: %w", err))
	}
	s.nextSeq++
	s.activeSize += int64(len(frame))
	s.dirty = true
	return off, nil
}

// roll makes the active segment durable and starts the next one. The old
// segment is synced whatever the Durability: once a newer segment exists,
// a torn frame in it would be corruption, not a torn tail.
func (s *Store) roll() error {
	if err := s.syncActive(); err != nil {
		return err
	}
	id := s.activeID + 1
	f, err := createSegment(s.dir, id)
	if err != nil {
		var sf *syncFailure
		if errors.As(err, &sf) {
			return s.fail(err)
		}
		return err
	}
	if err := s.active.Close(); err != nil {
		s.log.Warn("store: closing a full segment", "file", segmentPath(s.dir, s.activeID), "err", err)
	}
	s.setActive(f, id, segmentHeaderSize)
	s.mu.Lock()
	s.idx.addSegment(id, segmentHeaderSize)
	s.mu.Unlock()
	return nil
}

// syncActive fsyncs the active segment if it has unsynced writes.
func (s *Store) syncActive() error {
	if !s.dirty {
		return nil
	}
	s.fsyncs.Add(1)
	if err := s.active.Sync(); err != nil {
		return s.fail(err)
	}
	s.dirty = false
	return nil
}

// syncDirty syncs on the Interval ticker and at Close. A failure is logged
// by fail and answers every later commit.
func (s *Store) syncDirty() {
	if s.failed() == nil {
		s.syncActive()
	}
}
