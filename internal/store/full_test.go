package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
)

func TestMaxBytes(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: minSegmentBytes, MaxBytes: 8 * minSegmentBytes}
	s := mustOpen(t, dir, o)
	m := model{}
	var stored []string
	for i := 0; ; i++ {
		key := fmt.Sprint("m", i)
		ops := []Op{put('q', key, value(i, 100))}
		err := s.CommitWait(ops)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 1000 {
			t.Fatal("MaxBytes never reached")
		}
		m.apply(ops)
		stored = append(stored, key)
	}
	if st := s.Stats(); st.DiskBytes > o.MaxBytes {
		t.Fatalf("%d bytes on disk, over MaxBytes %d", st.DiskBytes, o.MaxBytes)
	}
	// Deletes are accepted while full, and compaction gives the space back.
	for _, key := range stored {
		mustCommit(t, s, m, del('q', key))
	}
	s.waitCompaction()
	if st := s.Stats(); st.DiskBytes > o.MaxBytes/2 {
		t.Fatalf("%d bytes on disk after deleting everything", st.DiskBytes)
	}
	mustCommit(t, s, m, put('q', "after", "space came back"))
	s = reopen(t, s, dir, o)
	checkContents(t, s, m)
	mustClose(t, s)
}

// faultyFile fails writes (after writing half, as a full disk can) or
// syncs on demand.
type faultyFile struct {
	segmentFile
	faults *faults
}

type faults struct {
	write, sync atomic.Bool
}

func (f faultyFile) WriteAt(b []byte, off int64) (int, error) {
	if f.faults.write.Load() {
		n, _ := f.segmentFile.WriteAt(b[:len(b)/2], off)
		return n, &pathError{syscall.ENOSPC}
	}
	return f.segmentFile.WriteAt(b, off)
}

func (f faultyFile) Sync() error {
	if f.faults.sync.Load() {
		return &pathError{syscall.EIO}
	}
	return f.segmentFile.Sync()
}

type pathError struct{ err error }

func (e *pathError) Error() string { return "write segment: " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func faultyOptions(fs *faults) Options {
	o := Options{}
	o.hooks.segmentFile = func(f segmentFile) segmentFile { return faultyFile{f, fs} }
	return o
}

func TestFailedWriteIsCutAndStoreGoesOn(t *testing.T) {
	dir := t.TempDir()
	fs := &faults{}
	s := mustOpen(t, dir, faultyOptions(fs))
	m := model{}
	mustCommit(t, s, m, put('q', "a", "1"))
	size := s.Stats().DiskBytes

	fs.write.Store(true)
	err := s.CommitWait([]Op{put('q', "b", "2"), del('q', "a")})
	if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit on a full disk: %v, want ErrFull wrapping ENOSPC", err)
	}
	if got := fileSize(t, segmentFiles(t, dir)[0]); got != size || s.Stats().DiskBytes != size {
		t.Fatalf("segment is %d bytes after the failed write, want it cut back to %d", got, size)
	}
	checkContents(t, s, m)

	fs.write.Store(false)
	mustCommit(t, s, m, put('q', "c", "3"))
	s = reopen(t, s, dir, Options{})
	checkContents(t, s, m)
	mustClose(t, s)
}

func TestFailedSyncFailsStore(t *testing.T) {
	dir := t.TempDir()
	fs := &faults{}
	s := mustOpen(t, dir, faultyOptions(fs))
	m := model{}
	mustCommit(t, s, m, put('q', "a", "1"))

	fs.sync.Store(true)
	if err := s.CommitWait([]Op{put('q', "b", "2")}); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("commit whose fsync fails: %v, want ErrFailed wrapping EIO", err)
	}
	fs.sync.Store(false)
	// The store does not trust a later fsync to cover what the failed one lost.
	if err := s.CommitWait([]Op{put('q', "c", "3")}); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit after a failed fsync: %v, want ErrFailed", err)
	}
	if err := s.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close = %v, want ErrFailed", err)
	}
	s = mustOpen(t, dir, Options{})
	got := contents(t, s)
	delete(got, "qb") // written but never acknowledged: may or may not be there
	if got["qa"] != "1" || len(got) != 1 {
		t.Fatalf("after restart: %v, want qa and perhaps qb", got)
	}
	mustClose(t, s)
}
