//go:build unix

package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv selects the part a re-executed test binary plays; childDirEnv
// passes it the data dir.
const (
	childEnv    = "GRIDMQ_STORE_TEST_CHILD"
	childDirEnv = "GRIDMQ_STORE_TEST_DIR"
)

func TestSecondOpenInSameProcessIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	_, err := Open(dir, Options{})
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("data dir %s is in use by another gridmq (pid %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	mustClose(t, s)
	s = mustOpen(t, dir, Options{})
	mustClose(t, s)
}

// TestLockAcrossProcesses runs the test binary again as a child that holds
// the data dir until its stdin closes.
func TestLockAcrossProcesses(t *testing.T) {
	if os.Getenv(childEnv) == "lock" {
		holdLock(t, os.Getenv(childDirEnv))
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), childEnv+"=lock", childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "locked" {
	}
	if lines.Err() != nil {
		t.Fatal(lines.Err())
	}

	_, err = Open(dir, Options{})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Errorf("Open while the child holds the dir = %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}
	if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", cmd.Process.Pid)) {
		t.Errorf("error %q does not name the child's pid", err)
	}

	stdin.Close()
	go io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s := mustOpen(t, dir, Options{})
	checkContents(t, s, model{"rchild": "was here"})
	mustClose(t, s)
}

func holdLock(t *testing.T, dir string) {
	s := mustOpen(t, dir, Options{})
	mustCommit(t, s, nil, put('r', "child", "was here"))
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	mustClose(t, s)
}
