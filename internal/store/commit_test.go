package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestGroupCommit(t *testing.T) {
	const writers, perWriter = 64, 200
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	var (
		wg        sync.WaitGroup
		callbacks atomic.Int64
		errs      = make(chan error, writers)
	)
	for w := range writers {
		wg.Go(func() {
			var answered atomic.Int64 // callbacks come from the committer
			for i := range perWriter {
				key := fmt.Sprintf("w%d-%d", w, i)
				done := make(chan struct{})
				s.Commit([]Op{put('q', key, value(i, 100)), del('q', fmt.Sprintf("w%d-%d", w, i-1))}, func(err error) {
					callbacks.Add(1)
					if n := answered.Add(1); n != int64(i+1) {
						errs <- fmt.Errorf("writer %d: callback %d came as number %d", w, i, n)
					}
					if err != nil {
						errs <- err
					}
					close(done) // a second call panics
				})
				<-done
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	t.Logf("%d commits in %d batches with %d fsyncs", st.Commits, st.Batches, st.Fsyncs)
	if got := callbacks.Load(); got != writers*perWriter || st.Commits != got {
		t.Errorf("%d callbacks, Stats.Commits %d, want %d", got, st.Commits, writers*perWriter)
	}
	if st.Fsyncs*4 > st.Commits {
		t.Errorf("%d fsyncs for %d commits: commits are not sharing fsyncs", st.Fsyncs, st.Commits)
	}
	want := model{}
	for w := range writers {
		want[fmt.Sprintf("qw%d-%d", w, perWriter-1)] = value(perWriter-1, 100)
	}
	s = reopen(t, s, dir, Options{})
	checkContents(t, s, want)
	mustClose(t, s)
}

// TestAsyncCommitsUnderLoad floods the queue without waiting.
func TestAsyncCommitsUnderLoad(t *testing.T) {
	const writers, perWriter = 16, 500
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Durability: Interval, SyncEvery: time.Millisecond})
	var wg sync.WaitGroup
	var answered sync.WaitGroup
	answered.Add(writers * perWriter)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s.Commit([]Op{put('q', fmt.Sprintf("w%d-%d", w, i), "v")}, func(err error) {
					if err != nil {
						t.Error(err)
					}
					answered.Done()
				})
			}
		})
	}
	wg.Wait()
	answered.Wait()
	s = reopen(t, s, dir, Options{})
	if got := s.Stats().LiveRecords; got != writers*perWriter {
		t.Errorf("%d records after reopen, want %d", got, writers*perWriter)
	}
	mustClose(t, s)
}

func TestIntervalSyncsOnTimer(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s := mustOpen(t, dir, Options{Durability: Interval, SyncEvery: time.Second})
		base := s.Stats().Fsyncs
		mustCommit(t, s, nil, put('q', "a", "1"))
		mustCommit(t, s, nil, put('q', "b", "2"))
		if got := s.Stats().Fsyncs; got != base {
			t.Fatalf("%d fsyncs before the interval, want none", got-base)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := s.Stats().Fsyncs; got != base+1 {
			t.Fatalf("%d fsyncs after one interval, want 1", got-base)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := s.Stats().Fsyncs; got != base+1 {
			t.Fatalf("%d fsyncs after idle intervals, want still 1", got-base)
		}
		mustClose(t, s)
	})
}

func TestNoneNeverSyncsCommits(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Durability: None})
	for i := range 100 {
		mustCommit(t, s, nil, put('q', fmt.Sprint(i), "v"))
	}
	if got := s.Stats().Fsyncs; got != 0 {
		t.Errorf("%d fsyncs under None", got)
	}
	mustClose(t, s)
	if got := s.Stats().Fsyncs; got != 1 {
		t.Errorf("%d fsyncs after Close, want 1", got)
	}
}

// TestCloseAnswersEverything runs in a bubble, which also fails the test if
// a goroutine of the store outlives Close.
func TestCloseAnswersEverything(t *testing.T) {
	dir := t.TempDir()
	const n = 3000
	synctest.Test(t, func(t *testing.T) {
		s := mustOpen(t, dir, Options{Durability: Interval, SegmentBytes: minSegmentBytes})
		var answered atomic.Int64
		for i := range n {
			s.Commit([]Op{put('q', fmt.Sprint(i%100), value(i, 50))}, func(err error) {
				if err != nil {
					t.Error(err)
				}
				answered.Add(1)
			})
		}
		mustClose(t, s)
		if got := answered.Load(); got != n {
			t.Errorf("%d of %d commits answered when Close returned", got, n)
		}
	})
	s := mustOpen(t, dir, Options{})
	if got := s.Stats().LiveRecords; got != 100 {
		t.Errorf("%d records after reopen, want 100", got)
	}
	mustClose(t, s)
}
