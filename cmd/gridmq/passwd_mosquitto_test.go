package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gridmq/gridmq/internal/auth/passwd"
)

// These tests run gridmq's commands against Debian's mosquitto_passwd (2.0.11 when written),
// in both directions, and skip when it is not installed.

func mosquittoPasswd(t *testing.T) func(args ...string) {
	t.Helper()
	path, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto_passwd"); serr != nil {
			t.Skip("mosquitto_passwd not installed")
		}
		path = "/usr/sbin/mosquitto_passwd"
	}
	return func(args ...string) {
		t.Helper()
		if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %q: %v\n%s", args, err, out)
		}
	}
}

// A file written by gridmq passwd -b, with gridmq's default hash, is edited by
// mosquitto_passwd, which keeps gridmq's entry intact.
func TestMosquittoPasswdEditsOurFile(t *testing.T) {
	mp := mosquittoPasswd(t)
	path := filepath.Join(t.TempDir(), "passwd")
	if code, _, errOut := runCapture("passwd", "-b", "-c", path, "alice", "s3cret"); code != 0 {
		t.Fatalf("gridmq passwd: exit %d, %s", code, errOut)
	}
	ours, _ := os.ReadFile(path)

	mp("-b", path, "bob", "p:with colon")
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), string(ours)) {
		t.Errorf("mosquitto_passwd changed gridmq's entry:\nbefore %s\nafter  %s", ours, data)
	}
	if got := listUsers(t, path); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("users = %q", got)
	}
	if !loadVerify(t, path, "alice", "s3cret") || !loadVerify(t, path, "bob", "p:with colon") {
		t.Error("passwords do not verify")
	}

	mp("-D", path, "alice")
	if got := listUsers(t, path); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("after mosquitto_passwd -D: users = %q", got)
	}
}

// A file written by mosquitto_passwd -b -c is listed by gridmq user, verifies, and is
// edited by gridmq user without disturbing mosquitto_passwd's entries.
func TestOurCommandsReadMosquittoPasswd(t *testing.T) {
	mp := mosquittoPasswd(t)
	path := filepath.Join(t.TempDir(), "passwd")
	mp("-b", "-c", path, "alice", "s3cret")
	mp("-b", path, "bob", "other")
	theirs, _ := os.ReadFile(path)

	if got := listUsers(t, path); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("users = %q", got)
	}
	if !loadVerify(t, path, "alice", "s3cret") || !loadVerify(t, path, "bob", "other") || loadVerify(t, path, "alice", "other") {
		t.Error("mosquitto_passwd's hashes verify wrongly")
	}

	if code, _, errOut := runUserInput("c-pw\n", "add", "--file", path, "carol"); code != 0 {
		t.Fatalf("add carol: exit %d, %s", code, errOut)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), string(theirs)) {
		t.Error("gridmq user add changed mosquitto_passwd's entries")
	}
	// And mosquitto_passwd still edits the result.
	mp("-b", path, "dave", "d-pw")
	if got := listUsers(t, path); !slices.Equal(got, []string{"alice", "bob", "carol", "dave"}) {
		t.Errorf("users = %q", got)
	}
	if !loadVerify(t, path, "carol", "c-pw") || !loadVerify(t, path, "dave", "d-pw") {
		t.Error("passwords do not verify")
	}
}

// gridmq passwd -U hashes a plain-text file as mosquitto_passwd -U does: the same users,
// the same passwords, blanks around them trimmed. Where mosquitto_passwd -U hashes a hash
// again and locks the user out, gridmq refuses and leaves the file alone.
func TestUpdateLikeMosquittoPasswd(t *testing.T) {
	mp := mosquittoPasswd(t)
	dir := t.TempDir()
	plain := "alice:s3cret\nbob: spaced out \ncarol:x\n"
	theirs, ours := filepath.Join(dir, "theirs"), filepath.Join(dir, "ours")
	writeFile(t, theirs, plain)
	writeFile(t, ours, plain)
	mp("-U", theirs)
	if code, _, errOut := runCapture("passwd", "-U", ours); code != 0 {
		t.Fatalf("gridmq passwd -U: exit %d, %s", code, errOut)
	}
	t1, err := passwd.Load(theirs)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := passwd.Load(ours)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(t1.Users(), t2.Users()) {
		t.Fatalf("users: mosquitto_passwd %q, gridmq %q", t1.Users(), t2.Users())
	}
	for _, c := range []struct{ user, password string }{
		{"alice", "s3cret"}, {"alice", "S3cret"}, {"bob", "spaced out"}, {"bob", " spaced out "}, {"carol", "x"}, {"carol", ""},
	} {
		if a, b := t1.Verify(c.user, c.password), t2.Verify(c.user, c.password); a != b {
			t.Errorf("Verify(%q, %q): mosquitto_passwd's file %v, gridmq's %v", c.user, c.password, a, b)
		}
	}
	if !t2.Verify("bob", "spaced out") {
		t.Error("bob's password does not verify")
	}

	// Both again, on their now hashed files.
	mp("-U", theirs)
	if again, err := passwd.Load(theirs); err != nil || again.Verify("alice", "s3cret") {
		t.Fatalf("mosquitto_passwd -U no longer hashes hashes (err %v); update this test", err)
	}
	before, _ := os.ReadFile(ours)
	if code, _, errOut := runCapture("passwd", "-U", ours); code != 1 || !strings.Contains(errOut, "already a hash") {
		t.Errorf("gridmq passwd -U twice: exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(ours); string(after) != string(before) || !loadVerify(t, ours, "alice", "s3cret") {
		t.Error("gridmq passwd -U twice changed the file")
	}
}
