package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content the way editors, Ansible and mosquitto_passwd do: to a temporary
// file in the same directory, renamed over path.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func wantChanged(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("changed = %q, want %q", got, want)
	}
}

func setup(t *testing.T) (dir, passwd, acl string) {
	dir = t.TempDir()
	passwd = filepath.Join(dir, "passwd")
	acl = filepath.Join(dir, "acl")
	writeFile(t, passwd, "alice:$7$...\n")
	writeFile(t, acl, "user alice\ntopic read #\n")
	return dir, passwd, acl
}

func newForCheck(paths ...string) *Watcher {
	return New(paths, time.Hour, func([]string) { panic("Run is not running") })
}

func TestNothingChangedReportsNothing(t *testing.T) {
	_, passwd, acl := setup(t)
	w := newForCheck(passwd, acl, filepath.Join(t.TempDir(), "missing"))
	for range 3 {
		wantChanged(t, w.Check())
	}
}

func TestInPlaceWrite(t *testing.T) {
	_, passwd, acl := setup(t)
	w := newForCheck(passwd, acl)
	writeFile(t, acl, "user alice\ntopic write #\n")
	wantChanged(t, w.Check(), acl)
	wantChanged(t, w.Check())
}

func TestRenameReplace(t *testing.T) {
	_, passwd, acl := setup(t)
	w := newForCheck(passwd, acl)
	replaceFile(t, passwd, "bob:$7$...\n")
	wantChanged(t, w.Check(), passwd)
	wantChanged(t, w.Check())
}

// A file renamed over the old one with the same content, size and time is still a new file;
// this matters for files too large to hash.
func TestRenameReplaceWithSameContentAndTime(t *testing.T) {
	_, passwd, _ := setup(t)
	before, err := os.Stat(passwd)
	if err != nil {
		t.Fatal(err)
	}
	w := newForCheck(passwd)
	replaceFile(t, passwd, "alice:$7$...\n")
	if err := os.Chtimes(passwd, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	wantChanged(t, w.Check(), passwd)
}

func TestDeleteThenRecreate(t *testing.T) {
	_, passwd, acl := setup(t)
	w := newForCheck(passwd, acl)
	if err := os.Remove(passwd); err != nil {
		t.Fatal(err)
	}
	wantChanged(t, w.Check(), passwd)
	wantChanged(t, w.Check())
	writeFile(t, passwd, "alice:$7$...\n")
	wantChanged(t, w.Check(), passwd)
}

func TestMissingFileAppears(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acl")
	w := newForCheck(path)
	writeFile(t, path, "topic read #\n")
	wantChanged(t, w.Check(), path)
}

// Two writes of the same size within one tick of the file system's clock leave the same
// inode, size and modification time; only the content tells them apart. Chtimes puts the old
// time back to make that happen on any file system.
func TestSameSizeSameTimeRewrite(t *testing.T) {
	_, _, acl := setup(t)
	before, err := os.Stat(acl)
	if err != nil {
		t.Fatal(err)
	}
	w := newForCheck(acl)
	writeFile(t, acl, "user alice\ntopic read +\n") // same length, written in place
	if err := os.Chtimes(acl, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(acl)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
		t.Fatal("the rewrite changed identity, size or time; the test proves nothing")
	}
	wantChanged(t, w.Check(), acl)
}

func TestTouchIsAChange(t *testing.T) {
	_, passwd, _ := setup(t)
	w := newForCheck(passwd)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(passwd, later, later); err != nil {
		t.Fatal(err)
	}
	wantChanged(t, w.Check(), passwd)
}

func TestLargeFileSeenByStat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big")
	big := make([]byte, MaxHashed+1)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newForCheck(path)
	if w.seen[0].hashed {
		t.Fatal("a file over MaxHashed was hashed")
	}
	wantChanged(t, w.Check())
	replaceFile(t, path, "small now")
	wantChanged(t, w.Check(), path)
}

// recorder collects what Run reports.
type recorder struct {
	mu      sync.Mutex
	reports [][]string
}

func (r *recorder) onChange(changed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, changed)
}

func (r *recorder) get() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// With a fake clock: a change is reported at the second poll after it, once it has settled,
// and never again; a file written in two steps between polls is reported once; and Run
// returns when its context ends (synctest fails the test if a goroutine is left behind).
func TestRunReportsSettledChangesOnce(t *testing.T) {
	_, passwd, acl := setup(t)
	synctest.Test(t, func(t *testing.T) {
		const interval = 500 * time.Millisecond
		var rec recorder
		w := New([]string{passwd, acl}, interval, rec.onChange)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			w.Run(ctx)
			close(done)
		}()
		tick := func() {
			time.Sleep(interval)
			synctest.Wait() // Run has polled and is waiting for the next tick
		}

		for range 5 {
			tick()
		}
		if got := rec.get(); len(got) != 0 {
			t.Fatalf("nothing changed, but Run reported %q", got)
		}

		replaceFile(t, passwd, "bob:$7$...\n")
		tick()
		if got := rec.get(); len(got) != 0 {
			t.Fatalf("reported %q before the change settled", got)
		}
		tick()
		if got := rec.get(); len(got) != 1 || !slices.Equal(got[0], []string{passwd}) {
			t.Fatalf("after two polls, reports = %q, want one of %q", got, passwd)
		}

		// Written in two steps a poll apart, then left alone: one report.
		writeFile(t, acl, "user alice\n")
		tick()
		writeFile(t, acl, "user alice\ntopic read #\ntopic write x\n")
		for range 5 {
			tick()
		}
		if got := rec.get(); len(got) != 2 || !slices.Equal(got[1], []string{acl}) {
			t.Fatalf("reports = %q, want a second, of %q only", got, acl)
		}

		cancel()
		<-done
	})
}

// A forced Check takes the change, so Run does not report it again.
func TestCheckAbsorbsChangeForRun(t *testing.T) {
	_, passwd, _ := setup(t)
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		w := New([]string{passwd}, time.Second, rec.onChange)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.Run(ctx)

		replaceFile(t, passwd, "bob:$7$...\n")
		wantChanged(t, w.Check(), passwd)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := rec.get(); len(got) != 0 {
			t.Fatalf("Run reported %q after Check had", got)
		}
	})
}

// On the real clock with a short interval: Run delivers a rename replacement, and returns
// when cancelled. The timeouts are generous so that a slow machine does not fail.
func TestRunRealClock(t *testing.T) {
	_, passwd, acl := setup(t)
	changes := make(chan []string, 1) // one report is expected; a second would block Run and fail the cancel check
	w := New([]string{passwd, acl}, 10*time.Millisecond, func(changed []string) { changes <- changed })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(done)
	}()

	start := time.Now()
	replaceFile(t, acl, "user bob\ntopic read #\n")
	select {
	case got := <-changes:
		wantChanged(t, got, acl)
		t.Logf("reported after %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("no report within 5 s")
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of cancel")
	}
}
