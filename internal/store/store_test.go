package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTripAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := mustOpen(t, dir, Options{})
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %v, want 0700", perm)
	}
	m := model{}
	mustCommit(t, s, m, put('r', "a/b", "retained"), put('s', "client1", "session"), put('q', "client1\x00\x01", "msg1"))
	mustCommit(t, s, m, put('q', "client1\x00\x02", "msg2"), put('q', "client1\x00\x03", "msg3"))
	mustCommit(t, s, m, del('q', "client1\x00\x01"), put('r', "a/b", "retained, again"))
	// Same key in another kind is another record.
	mustCommit(t, s, m, put('s', "a/b", "not the retained one"), put('s', "empty", ""))
	// Within one commit, ops apply in order.
	mustCommit(t, s, m, put('q', "x", "1"), put('q', "x", "2"), del('q', "x"), put('q', "y", "1"), del('q', "y"), put('q', "y", "2"))
	mustCommit(t, s, m) // an empty commit is answered too
	mustCommit(t, s, m, del('q', "never stored"))
	checkContents(t, s, m)

	s = reopen(t, s, dir, Options{})
	checkContents(t, s, m)
	mustCommit(t, s, m, del('s', "client1"), put('q', "client1\x00\x04", "msg4"))
	s = reopen(t, s, dir, Options{})
	checkContents(t, s, m)
	st := s.Stats()
	if st.LiveRecords != int64(len(m)) {
		t.Errorf("Stats.LiveRecords = %d, want %d", st.LiveRecords, len(m))
	}
	if st.DiskBytes != st.LiveBytes+st.GarbageBytes || st.DiskBytes != fileSize(t, segmentFiles(t, dir)[0]) {
		t.Errorf("Stats %+v do not add up to the file's size", st)
	}
	mustClose(t, s)
}

func TestCommitCopiesOps(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Durability: None})
	key, val := []byte("k"), []byte("v1")
	done := make(chan error, 1)
	s.Commit([]Op{{Kind: 'r', Key: key, Value: val}}, func(err error) { done <- err })
	key[0], val[1] = 'X', '9'
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkContents(t, s, model{"rk": "v1"})
	mustClose(t, s)
}

func TestClosedStore(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	mustClose(t, s)
	if err := s.CommitWait([]Op{put('r', "k", "v")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	if err := s.Scan(func(byte, []byte, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	err := s.CommitWait([]Op{{Kind: 'r', Key: make([]byte, MaxKeyBytes+1)}})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("commit with a huge key: %v, want ErrTooLarge", err)
	}
}

func TestScanStopsOnError(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	mustCommit(t, s, nil, put('r', "a", "1"), put('r', "b", "2"))
	stop := errors.New("stop")
	calls := 0
	err := s.Scan(func(byte, []byte, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Scan = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Durability: Durability(7)},
		{SegmentBytes: 100},
		{SegmentBytes: 2 << 30},
		{SegmentBytes: 1 << 20, MaxBytes: 2 << 20},
		{SyncEvery: -1},
	} {
		if s, err := Open(t.TempDir(), o); err == nil {
			s.Close()
			t.Errorf("Open with %+v succeeded", o)
		}
	}
}
