package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"testing"
)

// lastBatchFixture writes some batches, closes, then writes one more batch
// of a put, an overwrite and a delete. It returns the dir, the newest
// segment's path, its size before and after the last batch, and the state
// before and after it.
func lastBatchFixture(t *testing.T) (dir, seg string, before, after int64, want, wantAfter model) {
	dir = t.TempDir()
	s := mustOpen(t, dir, Options{})
	m := model{}
	for i := range 5 {
		mustCommit(t, s, m, put('q', fmt.Sprint("k", i), value(i, 40)), put('r', fmt.Sprint("t", i), "retained"))
	}
	mustCommit(t, s, m, del('q', "k0"))
	mustClose(t, s)
	seg = segmentFiles(t, dir)[0]
	before = fileSize(t, seg)
	want = m.clone()

	s = mustOpen(t, dir, Options{})
	mustCommit(t, s, m, put('q', "new", value(99, 30)), put('r', "t1", "overwritten"), del('q', "k2"))
	mustClose(t, s)
	if got := len(segmentFiles(t, dir)); got != 1 {
		t.Fatalf("fixture spans %d segments, want 1", got)
	}
	return dir, seg, before, fileSize(t, seg), want, m
}

// openAndCheck opens dir, expects want, and checks the store still takes
// and keeps new commits after the repair.
func openAndCheck(t *testing.T, dir string, want model, logs *bytes.Buffer) {
	t.Helper()
	s := mustOpen(t, dir, Options{Logger: quietLogger(logs)})
	checkContents(t, s, want)
	m := want.clone()
	mustCommit(t, s, m, put('q', "after-repair", "x"))
	s = reopen(t, s, dir, Options{})
	checkContents(t, s, m)
	mustClose(t, s)
}

func TestTornTailAtEveryLength(t *testing.T) {
	dir, seg, before, after, want, wantAfter := lastBatchFixture(t)
	for n := before; n <= after; n++ {
		crashed := copySegments(t, dir)
		path := strings.Replace(seg, dir, crashed, 1)
		if err := os.Truncate(path, n); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		expect := want
		if n == after {
			expect = wantAfter
		}
		openAndCheck(t, crashed, expect, &logs)
		if n > before && n < after && !strings.Contains(logs.String(), fmt.Sprintf("dropped_bytes=%d", n-before)) {
			t.Errorf("cut at %d: log does not report %d dropped bytes:\n%s", n, n-before, logs.String())
		}
	}
}

func TestBitFlipInLastFrameIsTornTail(t *testing.T) {
	dir, seg, before, after, want, _ := lastBatchFixture(t)
	for off := before; off < after; off++ {
		crashed := copySegments(t, dir)
		flipBit(t, strings.Replace(seg, dir, crashed, 1), off)
		openAndCheck(t, crashed, want, nil)
	}
}

func TestBitFlipInEarlierFrameFailsOpen(t *testing.T) {
	dir, seg, _, _, _, _ := lastBatchFixture(t)
	// The first frame starts right after the segment header; later frames
	// are intact, so this is not a torn tail.
	for _, off := range []int64{segmentHeaderSize, segmentHeaderSize + 4, segmentHeaderSize + frameHeaderSize + 3} {
		crashed := copySegments(t, dir)
		path := strings.Replace(seg, dir, crashed, 1)
		flipBit(t, path, off)
		expectCorrupt(t, crashed, path, segmentHeaderSize)
	}
}

func TestDamagedOlderSegmentFailsOpen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentBytes: minSegmentBytes})
	for i := range 200 {
		mustCommit(t, s, nil, put('r', fmt.Sprint("k", i), value(i, 100)))
	}
	mustClose(t, s)
	segs := segmentFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	first := segs[0]
	size := fileSize(t, first)

	t.Run("bit flip in its last frame", func(t *testing.T) {
		crashed := copySegments(t, dir)
		path := strings.Replace(first, dir, crashed, 1)
		flipBit(t, path, size-1)
		expectCorrupt(t, crashed, path, -1)
	})
	t.Run("cut short", func(t *testing.T) {
		crashed := copySegments(t, dir)
		path := strings.Replace(first, dir, crashed, 1)
		if err := os.Truncate(path, size-5); err != nil {
			t.Fatal(err)
		}
		expectCorrupt(t, crashed, path, -1)
	})
	t.Run("bad header", func(t *testing.T) {
		crashed := copySegments(t, dir)
		path := strings.Replace(segs[1], dir, crashed, 1)
		flipBit(t, path, 3)
		expectCorrupt(t, crashed, path, 0)
	})
	t.Run("empty", func(t *testing.T) {
		crashed := copySegments(t, dir)
		path := strings.Replace(segs[1], dir, crashed, 1)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		expectCorrupt(t, crashed, path, 0)
	})
}

func TestEmptyAndMissingSegments(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentBytes: minSegmentBytes})
	m := model{}
	for i := range 100 {
		mustCommit(t, s, m, put('r', fmt.Sprint("k", i), value(i, 100)))
	}
	mustClose(t, s)
	segs := segmentFiles(t, dir)
	last := segs[len(segs)-1]

	t.Run("empty newest segment", func(t *testing.T) {
		// A crash between creating a segment and writing its header.
		crashed := copySegments(t, dir)
		next := segmentPath(crashed, uint32(len(segs)+1))
		if err := os.WriteFile(next, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		openAndCheck(t, crashed, m, nil)
		if size := fileSize(t, next); size <= segmentHeaderSize {
			t.Errorf("new commits did not go to the repaired segment (size %d)", size)
		}
	})
	t.Run("torn header of newest segment", func(t *testing.T) {
		crashed := copySegments(t, dir)
		next := segmentPath(crashed, uint32(len(segs)+1))
		if err := os.WriteFile(next, appendSegmentHeader(nil)[:7], 0o600); err != nil {
			t.Fatal(err)
		}
		openAndCheck(t, crashed, m, nil)
	})
	t.Run("gap in numbering", func(t *testing.T) {
		crashed := copySegments(t, dir)
		b, err := os.ReadFile(strings.Replace(last, dir, crashed, 1))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(strings.Replace(last, dir, crashed, 1))
		if err := os.WriteFile(segmentPath(crashed, 1000), b, 0o600); err != nil {
			t.Fatal(err)
		}
		openAndCheck(t, crashed, m, nil)
	})
	t.Run("unknown version", func(t *testing.T) {
		crashed := copySegments(t, dir)
		hdr := appendSegmentHeader(nil)[:12]
		hdr[8] = 2
		hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
		if err := os.WriteFile(segmentPath(crashed, 5000), hdr, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(crashed, Options{Logger: quietLogger(nil)})
		if err == nil || !strings.Contains(err.Error(), "version 2") {
			t.Errorf("Open = %v, want an unsupported version error", err)
		}
	})
}

func flipBit(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// expectCorrupt checks that Open fails naming path and, unless offset is
// negative, the byte offset.
func expectCorrupt(t *testing.T, dir, path string, offset int64) {
	t.Helper()
	s, err := Open(dir, Options{Logger: quietLogger(nil)})
	if err == nil {
		s.Close()
		t.Fatalf("Open succeeded on damaged %s", path)
	}
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want a CorruptError", err)
	}
	if ce.File != path || (offset >= 0 && ce.Offset != offset) {
		t.Errorf("Open = %v, want file %s offset %d", err, path, offset)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprint("offset ", ce.Offset)) {
		t.Errorf("message %q does not name the file and offset", err)
	}
}
