package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// Commit may be called from a commit's callback, as the broker does when
// an acknowledgement it sends leads to more state: nothing deadlocks and
// the callbacks keep the order of the commits.
func TestCommitFromCallback(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	const chain = 200
	var order []int
	done := make(chan struct{})
	var next func(i int) func(error)
	next = func(i int) func(error) {
		return func(err error) {
			if err != nil {
				t.Error(err)
			}
			order = append(order, i) // callbacks run on the committer alone
			if i == chain {
				close(done)
				return
			}
			s.Commit([]Op{put('q', fmt.Sprint(i+1), "v")}, next(i+1))
		}
	}
	s.Commit([]Op{put('q', "0", "v")}, next(0))
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d chained commits answered", len(order), chain+1)
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("callback %d ran as number %d", got, i)
		}
	}
}

// stalledFile holds every write until release is closed.
type stalledFile struct {
	segmentFile
	release chan struct{}
	writes  *atomic.Int64
}

func (f stalledFile) WriteAt(b []byte, off int64) (int, error) {
	f.writes.Add(1)
	<-f.release
	return f.segmentFile.WriteAt(b, off)
}

// AwaitRoom is the back-pressure of a Commit that never waits: while the
// disk is stuck and more than maxQueuedBytes of commits wait for it, the
// caller waits; once the committer takes them, it goes on.
func TestAwaitRoom(t *testing.T) {
	release := make(chan struct{})
	var writes atomic.Int64
	o := Options{}
	o.hooks.segmentFile = func(f segmentFile) segmentFile { return stalledFile{f, release, &writes} }
	s := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, s)

	// The first commit holds the committer in its write.
	s.Commit([]Op{put('q', "first", "v")}, nil)
	for writes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.AwaitRoom() // nothing is queued: no wait

	value := string(make([]byte, 1<<20))
	var answered atomic.Int64
	const n = maxQueuedBytes>>20 + 2
	for i := range n {
		s.Commit([]Op{put('q', fmt.Sprint(i), value)}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			answered.Add(1)
		})
	}
	returned := make(chan struct{})
	go func() {
		s.AwaitRoom()
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("AwaitRoom returned with more than maxQueuedBytes waiting for a stuck disk")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("AwaitRoom still waiting after the disk came back")
	}
	for answered.Load() != n {
		time.Sleep(time.Millisecond)
	}
}

// Count follows puts, overwrites and deletes of each kind, also across a
// reopen.
func TestCount(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	mustCommit(t, s, nil, put('q', "a", "1"), put('q', "b", "1"), put('r', "a", "1"))
	mustCommit(t, s, nil, put('q', "a", "2"), del('q', "b"), del('q', "never"))
	if q, r := s.Count('q'), s.Count('r'); q != 1 || r != 1 {
		t.Errorf("Count q %d r %d, want 1 and 1", q, r)
	}
	s = reopen(t, s, dir, Options{})
	defer mustClose(t, s)
	if q, r, x := s.Count('q'), s.Count('r'), s.Count('x'); q != 1 || r != 1 || x != 0 {
		t.Errorf("after reopen: Count q %d r %d x %d, want 1, 1, 0", q, r, x)
	}
}

// A lazy commit is written without an fsync of its own; the next commit's
// fsync, or Close, makes it durable with everything before it.
func TestCommitLazy(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	mustCommit(t, s, nil, put('q', "a", "1"), put('q', "b", "1"))
	before, commits := s.Stats().Fsyncs, s.Stats().Commits
	s.CommitLazy([]Op{del('q', "a")})
	for s.Stats().Commits == commits {
		time.Sleep(time.Millisecond)
	}
	if got := s.Stats().Fsyncs; got != before {
		t.Errorf("a lazy delete cost %d fsyncs", got-before)
	}
	mustCommit(t, s, nil, put('r', "x", "1"))
	if got := s.Stats().Fsyncs; got != before+1 {
		t.Errorf("the next commit made %d fsyncs, want 1", got-before)
	}
	s = reopen(t, s, dir, Options{})
	defer mustClose(t, s)
	if q := s.Count('q'); q != 1 {
		t.Errorf("after reopen %d 'q' records, want 1: the lazy delete was lost", q)
	}
}
