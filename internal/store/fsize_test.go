//go:build linux || darwin || freebsd

package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
)

// TestFileSizeLimit fills a real file to a real limit: a child sets
// RLIMIT_FSIZE, so the kernel cuts a write short and then fails it with
// EFBIG, as it does with ENOSPC on a full disk. The process-wide limit is
// why it runs in a child.
func TestFileSizeLimit(t *testing.T) {
	if os.Getenv(childEnv) == "fsize" {
		fillToLimit(t, os.Getenv(childDirEnv))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileSizeLimit$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=fsize", childDirEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func fillToLimit(t *testing.T, dir string) {
	// The default action of SIGXFSZ ends the process; ignored, the write
	// returns EFBIG instead.
	signal.Ignore(syscall.SIGXFSZ)
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	o := Options{SegmentBytes: 1 << 20}
	s := mustOpen(t, dir, o)
	lowered := limit
	lowered.Cur = 64 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lowered); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	m := model{}
	var full error
	for i := 0; full == nil; i++ {
		ops := []Op{put('q', fmt.Sprint("m", i), value(i, 1000))}
		switch err := s.CommitWait(ops); {
		case err == nil:
			m.apply(ops)
		case errors.Is(err, ErrFull):
			full = err
		default:
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	t.Logf("after %d commits: %v", len(m), full)
	if !errors.Is(full, syscall.EFBIG) {
		t.Errorf("%v does not wrap EFBIG", full)
	}
	seg := segmentFiles(t, dir)[0]
	if size := fileSize(t, seg); size != s.Stats().DiskBytes {
		t.Errorf("segment is %d bytes, Stats says %d: the partial frame was not cut", size, s.Stats().DiskBytes)
	}
	if err := s.CommitWait([]Op{put('q', "still full", value(0, 1000))}); !errors.Is(err, ErrFull) {
		t.Errorf("commit at the limit: %v, want ErrFull", err)
	}

	// Space comes back.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, m, put('q', "after", "space came back"))
	s = reopen(t, s, dir, o)
	checkContents(t, s, m)
	mustClose(t, s)
}
