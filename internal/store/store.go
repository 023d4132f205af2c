package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one change: a put of Value under (Kind, Key), or with Delete the
// removal of that key. Kind namespaces keys (retained, session,
// subscription, queued message and so on); the store does not interpret it.
// A put with a nil Value stores an empty value.
type Op struct {
	Kind   byte
	Key    []byte
	Value  []byte
	Delete bool
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	LiveRecords int64
	LiveBytes   int64 // encoded bytes of the live records
	// GarbageBytes is what compaction can reclaim: overwritten and deleted
	// records, tombstones, and frame and segment headers.
	GarbageBytes int64
	DiskBytes    int64 // bytes in all segment files
	Segments     int
	Fsyncs       int64 // of segment files, on the commit path and off it
	Commits      int64 // Commit calls answered, with or without an error
	Batches      int64 // frames of commits written: one write each
	Compacted    int64 // segments reclaimed by compaction
}

// maxQueuedBytes is how many bytes of commits may wait for the committer
// before AwaitRoom makes callers wait: the broker's read loops then slow to
// the disk's pace (back-pressure, nothing dropped). Commit itself never
// waits, so it may be called under the caller's locks and from callbacks;
// the committer takes the whole queue at once, so it fills only while a
// write or fsync takes longer than the broker takes to submit this much.
const maxQueuedBytes = 32 << 20

// maxFrameBytes bounds the commits the committer joins into one frame, so
// one slow write does not hold up the callbacks of the commits behind it.
// A single commit larger than this gets a frame of its own.
const maxFrameBytes = 4 << 20

// Store is an open data dir. Its methods are safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	relocations   chan *relocation // from the compactor to the committer
	wakeCompactor chan struct{}    // capacity 1: a pending wake-up is enough
	compactorIdle chan chan struct{}
	stop          chan struct{} // closed by Close to stop the compactor
	committerDone chan struct{}
	compactorDone chan struct{}

	queueBytes atomic.Int64 // bytes of the commits in queue; written under queueMu

	queueMu     sync.Mutex    // guards the fields below
	queue       []*request    // commits handed over, in order, not yet taken by the committer
	queueClosed bool          // Close has begun: no more commits
	queueWake   chan struct{} // capacity 1: wakes the committer
	roomWait    chan struct{} // made by AwaitRoom, closed when the committer takes the queue

	closeMu sync.RWMutex // guards closed; held for reading while Scan runs
	closed  bool

	closeOnce sync.Once
	closeErr  error

	failure atomic.Pointer[error] // the first fsync failure; set once

	// Owned by the committer goroutine.
	active     segmentFile
	activeID   uint32
	activeSize int64
	nextSeq    uint64
	dirty      bool // written and not yet fsynced
	frame      []byte
	ticker     *time.Ticker // Interval only

	mu  sync.Mutex // guards idx
	idx index

	fsyncs, commits, batches, compacted atomic.Int64
}

// Open opens the data dir, creating it (mode 0700) if needed, locks it
// against other Stores in this process and others, and replays its log. A
// held dir fails with a *LockedError (ErrLocked); damage other than a torn
// tail fails with a *CorruptError (ErrCorrupt).
func Open(dir string, o Options) (*Store, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir:           dir,
		opts:          o,
		log:           o.Logger,
		lock:          lock,
		queueWake:     make(chan struct{}, 1),
		relocations:   make(chan *relocation),
		wakeCompactor: make(chan struct{}, 1),
		compactorIdle: make(chan chan struct{}),
		stop:          make(chan struct{}),
		committerDone: make(chan struct{}),
		compactorDone: make(chan struct{}),
		idx:           newIndex(),
	}
	lastSeq, err := s.replay()
	if err == nil {
		err = s.openActive()
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.nextSeq = lastSeq + 1
	var tick <-chan time.Time
	if o.Durability == Interval {
		s.ticker = time.NewTicker(o.SyncEvery)
		tick = s.ticker.C
	}
	go s.runCommitter(tick)
	go s.runCompactor()
	s.wake()
	return s, nil
}

// openActive opens the newest segment for appending, or creates the first.
func (s *Store) openActive() error {
	if len(s.idx.segments) == 0 {
		f, err := createSegment(s.dir, 1)
		if err != nil {
			return err
		}
		s.idx.addSegment(1, segmentHeaderSize)
		s.setActive(f, 1, segmentHeaderSize)
		return nil
	}
	seg := s.idx.segments[len(s.idx.segments)-1]
	f, err := os.OpenFile(segmentPath(s.dir, seg.id), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	s.setActive(f, seg.id, seg.size)
	return nil
}

func (s *Store) setActive(f *os.File, id uint32, size int64) {
	s.active = f
	if s.opts.hooks.segmentFile != nil {
		s.active = s.opts.hooks.segmentFile(f)
	}
	s.activeID, s.activeSize = id, size
}

// Commit hands ops to the committer and returns; done is called once, from
// the committer's goroutine and in submission order, when the ops are
// durable under the configured Durability, or with the error that kept them
// from it. The ops of one Commit are applied all or none, also across a
// crash. Commit copies ops, so the caller may reuse them at once.
//
// Commit never waits for the disk, so it may be called while holding locks
// and from another commit's callback; AwaitRoom is the back-pressure. done
// must not block for long: it holds up the callbacks of the commits written
// with this one. It may call Commit. A commit refused (too large, failed
// store) is answered in its turn like the others; only after Close is done
// called before Commit returns. done may be nil.
func (s *Store) Commit(ops []Op, done func(error)) {
	if done == nil {
		done = ignoreOutcome
	}
	r, err := newRequest(ops, done)
	if err != nil {
		r = &request{done: done, err: err}
	}
	s.enqueue(r)
}

// enqueue hands r to the committer, or answers it at once after Close.
func (s *Store) enqueue(r *request) {
	s.queueMu.Lock()
	if s.queueClosed {
		s.queueMu.Unlock()
		r.done(ErrClosed)
		return
	}
	s.queue = append(s.queue, r)
	s.queueBytes.Add(int64(len(r.body)))
	first := len(s.queue) == 1
	s.queueMu.Unlock()
	if first {
		select {
		case s.queueWake <- struct{}{}:
		default:
		}
	}
}

// CommitLazy commits ops that need no fsync of their own: they are written
// with the next frame, like any commit, and are on disk once a later commit
// (or the Interval ticker, or Close) syncs, which a power loss before then
// can undo, but kill -9 cannot. It is for deletes whose loss only repeats
// work, as a message delivered twice at QoS 1; their callers wait for
// nothing.
func (s *Store) CommitLazy(ops []Op) {
	r, err := newRequest(ops, ignoreOutcome)
	if err != nil {
		r = &request{done: ignoreOutcome, err: err}
	}
	r.lazy = true
	s.enqueue(r)
}

// AwaitRoom waits while more than maxQueuedBytes of commits wait for the
// committer. Callers that produce commits call it where they may wait (no
// lock held), so that they slow down to the disk's pace.
func (s *Store) AwaitRoom() {
	if s.queueBytes.Load() <= maxQueuedBytes {
		return
	}
	s.queueMu.Lock()
	for s.queueBytes.Load() > maxQueuedBytes && !s.queueClosed {
		if s.roomWait == nil {
			s.roomWait = make(chan struct{})
		}
		wait := s.roomWait
		s.queueMu.Unlock()
		<-wait
		s.queueMu.Lock()
	}
	s.queueMu.Unlock()
}

// takeQueue hands the committer every commit waiting, in order, and wakes
// the callers waiting for room. closing reports that Close has begun: no
// commit can follow these.
func (s *Store) takeQueue(dst []*request) (_ []*request, closing bool) {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	dst = append(dst, s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	if cap(s.queue) > 4096 {
		s.queue = nil // give back the memory of a burst
	}
	s.queueBytes.Store(0)
	if s.roomWait != nil {
		close(s.roomWait)
		s.roomWait = nil
	}
	return dst, s.queueClosed
}

// ignoreOutcome is the callback of a commit nobody waits for.
func ignoreOutcome(error) {}

// CommitWait commits ops and waits for the outcome.
func (s *Store) CommitWait(ops []Op) error {
	result := make(chan error, 1)
	s.Commit(ops, func(err error) { result <- err })
	return <-result
}

// Scan calls fn for every live record, a segment at a time in log order, so
// a record comes where its newest version was written (compaction moves old
// records forward). The order of keys is otherwise unspecified. key and
// value are valid only during the call.
//
// Scan is meant for start-up. It holds off the index while it runs, so
// commits are written but not answered until it returns: fn must not wait
// for a commit. An error from fn ends the scan and is returned.
func (s *Store) Scan(fn func(kind byte, key, value []byte) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var data []byte
	for _, seg := range s.idx.segments {
		if seg.live == 0 {
			continue // all garbage: nothing to call fn for
		}
		var err error
		data, err = readSegment(s.dir, seg.id, seg.size, data)
		if err != nil {
			return err
		}
		if err := s.scanSegment(seg.id, data, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanSegment calls fn for the live records in data; caller holds s.mu.
func (s *Store) scanSegment(id uint32, data []byte, fn func(kind byte, key, value []byte) error) error {
	path := segmentPath(s.dir, id)
	for off := segmentHeaderSize; off < len(data); {
		_, body, reason := parseFrame(data, off)
		if reason != "" {
			return &CorruptError{File: path, Offset: int64(off), Reason: reason}
		}
		base := off + frameHeaderSize
		for p := 0; p < len(body); {
			op, err := decodeOp(body[p:])
			if err != nil {
				return &CorruptError{File: path, Offset: int64(base + p), Reason: err.Error()}
			}
			if !op.delete && s.idx.isLive(op.id, id, base+p) {
				if err := fn(op.kind(), op.key(), op.value); err != nil {
					return err
				}
			}
			p += op.size
		}
		off = base + len(body)
	}
	return nil
}

// Count is the number of live records of a kind, so that a caller about to
// Scan them can make room for them at once.
func (s *Store) Count(kind byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.perKind[kind]
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{
		LiveRecords:  int64(len(s.idx.records)),
		LiveBytes:    s.idx.liveBytes,
		GarbageBytes: s.idx.garbageBytes(),
		DiskBytes:    s.idx.diskBytes,
		Segments:     len(s.idx.segments),
	}
	s.mu.Unlock()
	st.Fsyncs = s.fsyncs.Load()
	st.Commits = s.commits.Load()
	st.Batches = s.batches.Load()
	st.Compacted = s.compacted.Load()
	return st
}

// Close stops compaction, answers every commit handed over before it,
// fsyncs what is written, and releases the data dir. It returns the
// failure that stopped the store, if any. Later calls return the same.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.compactorDone
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		s.queueMu.Lock()
		s.queueClosed = true
		s.queueMu.Unlock()
		select {
		case s.queueWake <- struct{}{}:
		default:
		}
		<-s.committerDone
		s.closeErr = errors.Join(s.failed(), s.active.Close(), s.lock.Close())
	})
	return s.closeErr
}

// failed returns the failure that stopped the store, or nil.
func (s *Store) failed() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail stops the store for good after an fsync error.
func (s *Store) fail(cause error) error {
	err := fmt.Errorf("%w: data in %s may not be on disk, restart to recover: %w", ErrFailed, s.dir, cause)
	if s.failure.CompareAndSwap(nil, &err) {
		s.log.Error("store: fsync failed; refusing further commits", "dir", s.dir, "err", cause)
	}
	return s.failed()
}
