package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

func TestChurnKeepsDiskBounded(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: minSegmentBytes}
	s := mustOpen(t, dir, o)
	const window = 50
	for i := range 5000 {
		ops := []Op{put('q', fmt.Sprint("m", i), value(i, 100))}
		if i >= window {
			ops = append(ops, del('q', fmt.Sprint("m", i-window)))
		}
		mustCommit(t, s, nil, ops...)
		if i%250 == 249 {
			s.waitCompaction()
			checkBounded(t, s, dir, o.SegmentBytes)
		}
	}
	for i := 5000 - window; i < 5000; i++ {
		mustCommit(t, s, nil, del('q', fmt.Sprint("m", i)))
	}
	s.waitCompaction()
	st := checkBounded(t, s, dir, o.SegmentBytes)
	if st.LiveRecords != 0 || st.Compacted == 0 {
		t.Errorf("after deleting everything: %+v", st)
	}
	s = reopen(t, s, dir, o)
	checkContents(t, s, model{})
	mustClose(t, s)
}

// checkBounded checks the files hold at most twice the live data plus about
// one segment, and that Stats agrees with the directory.
func checkBounded(t *testing.T, s *Store, dir string, segmentBytes int64) Stats {
	t.Helper()
	st := s.Stats()
	var onDisk int64
	files := segmentFiles(t, dir)
	for _, p := range files {
		onDisk += fileSize(t, p)
	}
	if onDisk != st.DiskBytes || len(files) != st.Segments {
		t.Fatalf("%d files of %d bytes on disk, Stats says %d of %d", len(files), onDisk, st.Segments, st.DiskBytes)
	}
	if limit := 2*st.LiveBytes + 2*segmentBytes; st.DiskBytes > limit {
		t.Fatalf("%d bytes on disk for %d live: over %d", st.DiskBytes, st.LiveBytes, limit)
	}
	return st
}

// TestDeletedKeyStaysDeleted puts a key in a segment that stays alive, then
// overwrites and deletes it in later segments, and churns until compaction
// has moved everything.
func TestDeletedKeyStaysDeleted(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: minSegmentBytes}
	s := mustOpen(t, dir, o)
	m := model{}
	mustCommit(t, s, m, put('r', "keep", value(0, 1000)), put('q', "victim", "v1"))
	fill := func(prefix string, n int) {
		for i := range n {
			mustCommit(t, s, m, put('q', fmt.Sprint(prefix, i), value(i, 200)))
			mustCommit(t, s, m, del('q', fmt.Sprint(prefix, i)))
		}
	}
	fill("a", 20) // the victim's segment fills up with garbage
	mustCommit(t, s, m, put('q', "victim", "v2"))
	mustCommit(t, s, m, del('q', "victim"))
	fill("b", 20)
	mustCommit(t, s, m, put('q', "victim2", "v1"), del('q', "victim2"))
	fill("c", 200)
	s.waitCompaction()
	if st := s.Stats(); st.Compacted < 3 {
		t.Fatalf("only %d segments compacted", st.Compacted)
	}
	checkContents(t, s, m)
	s = reopen(t, s, dir, o)
	checkContents(t, s, m)
	fill("d", 200)
	s.waitCompaction()
	s = reopen(t, s, dir, o)
	checkContents(t, s, m)
	mustClose(t, s)
}

// TestRandomChurnMatchesModel mixes puts, overwrites and deletes of a small
// key space with compaction and reopens, against a model.
func TestRandomChurnMatchesModel(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: minSegmentBytes}
	s := mustOpen(t, dir, o)
	m := model{}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		for range 200 {
			var ops []Op
			for range 1 + rng.IntN(4) {
				key := fmt.Sprint(rng.IntN(300))
				kind := byte('a' + rng.IntN(3))
				if rng.IntN(3) == 0 {
					ops = append(ops, del(kind, key))
				} else {
					ops = append(ops, put(kind, key, value(rng.IntN(1000), rng.IntN(200))))
				}
			}
			mustCommit(t, s, m, ops...)
		}
		if round%4 == 3 {
			s.waitCompaction()
		}
		s = reopen(t, s, dir, o)
		checkContents(t, s, m)
	}
	t.Logf("%+v", s.Stats())
	mustClose(t, s)
}

// TestCompactionCrash stops the compactor at each step, as a crash would,
// and checks the reopened store holds exactly what was committed.
func TestCompactionCrash(t *testing.T) {
	for _, step := range []compactionStep{stepStarted, stepRelocated, stepRemoved} {
		t.Run(fmt.Sprint("step", int(step)), func(t *testing.T) {
			dir := t.TempDir()
			stopped := make(chan struct{})
			o := Options{SegmentBytes: minSegmentBytes}
			o.hooks.compactionStep = func(at compactionStep) bool {
				if at != step {
					return true
				}
				close(stopped)
				return false
			}
			s := mustOpen(t, dir, o)
			m := model{}
			// Long-lived records in the oldest segment make compaction move
			// them rather than drop the segment whole.
			for i := range 10 {
				mustCommit(t, s, m, put('r', fmt.Sprint("keep", i), value(i, 100)))
			}
			for i := range 400 {
				mustCommit(t, s, m, put('q', fmt.Sprint("m", i), value(i, 150)))
				mustCommit(t, s, m, del('q', fmt.Sprint("m", i)))
				if i%3 == 0 {
					mustCommit(t, s, m, put('r', fmt.Sprint("keep", i%10), value(i, 100)), del('r', fmt.Sprint("keep", (i+5)%10)))
				}
			}
			s.waitCompaction() // returns once the compactor has stopped
			select {
			case <-stopped:
			default:
				t.Fatal("compaction never reached the step")
			}
			for i := range 20 {
				mustCommit(t, s, m, put('q', fmt.Sprint("late", i), "x"), del('r', fmt.Sprint("keep", i%10)))
			}
			mustClose(t, s)

			s = mustOpen(t, dir, Options{SegmentBytes: minSegmentBytes})
			checkContents(t, s, m)
			s.waitCompaction()
			s = reopen(t, s, dir, Options{SegmentBytes: minSegmentBytes})
			checkContents(t, s, m)
			mustClose(t, s)
		})
	}
}

// TestCompactionCrashMidMove cuts the moved records at every length, as a
// crash during the move would.
func TestCompactionCrashMidMove(t *testing.T) {
	dir := t.TempDir()
	var before, after map[string][]byte
	m := model{}
	o := Options{SegmentBytes: minSegmentBytes}
	snapshots := make(chan struct{})
	o.hooks.compactionStep = func(at compactionStep) bool {
		if at == stepStarted {
			before = readAll(t, dir)
		}
		if at == stepRelocated {
			after = readAll(t, dir)
			close(snapshots)
			return false
		}
		return true
	}
	s := mustOpen(t, dir, o)
	for i := range 10 {
		mustCommit(t, s, m, put('r', fmt.Sprint("keep", i), value(i, 100)))
	}
	for i := 0; ; i++ {
		mustCommit(t, s, m, put('q', fmt.Sprint("m", i), value(i, 150)), del('q', fmt.Sprint("m", i-1)))
		s.waitCompaction()
		select {
		case <-snapshots:
		default:
			continue
		}
		break
	}
	mustClose(t, s)
	active := lastName(after)
	if len(after[active]) <= len(before[active]) {
		t.Fatal("compaction moved nothing")
	}
	for n := len(before[active]); n < len(after[active]); n++ {
		crashed := t.TempDir()
		for name, b := range after {
			if name == active {
				b = b[:n]
			}
			if err := os.WriteFile(crashed+"/"+name, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := mustOpen(t, crashed, Options{SegmentBytes: minSegmentBytes})
		checkContents(t, s, m)
		mustClose(t, s)
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	files := map[string][]byte{}
	for _, p := range segmentFiles(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p[len(dir)+1:]] = b
	}
	return files
}

func lastName(files map[string][]byte) string {
	last := ""
	for name := range files {
		last = max(last, name)
	}
	return last
}
