package passwd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests check compatibility against the Mosquitto installed on this machine (Debian's
// 2.0.11 when written) and skip when it is missing.

func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		// Debian installs the broker in /usr/sbin, often not on a user's PATH.
		if p := "/usr/sbin/" + name; fileExists(p) {
			return p
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// mosquitto_passwd writes the file; this package must read it and verify its passwords.
func TestReadsMosquittoPasswd(t *testing.T) {
	mp := needTool(t, "mosquitto_passwd")
	path := filepath.Join(t.TempDir(), "passwd")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(mp, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %q: %v\n%s", args, err, out)
		}
	}
	run("-b", "-c", path, "alice", "s3cret")
	run("-b", path, "bob", "p:with colon and ünïcode")

	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, password string
		want           bool
	}{
		{"alice", "s3cret", true},
		{"alice", "s3creT", false},
		{"bob", "p:with colon and ünïcode", true},
		{"bob", "s3cret", false},
		{"carol", "s3cret", false},
	}
	for _, tt := range tests {
		if got := f.Verify(tt.user, tt.password); got != tt.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", tt.user, tt.password, got, tt.want)
		}
	}
}

// This package writes the file with its default hasher; a Mosquitto broker must accept the
// right password and refuse a wrong one.
func TestMosquittoReadsOurFile(t *testing.T) {
	broker := needTool(t, "mosquitto")
	pub := needTool(t, "mosquitto_pub")

	dir := t.TempDir()
	pwPath := filepath.Join(dir, "passwd")
	f := New()
	if err := f.Set("alice", "s3cret", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("bob", "other", PBKDF2{Iterations: 101}); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile(pwPath); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	// Run as whoever runs the test: started as root, Mosquitto would otherwise switch to the
	// "mosquitto" user, which cannot read a 0600 file in our temporary directory.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\nuser %s\nlog_dest stderr\n",
		port, pwPath, me.Username)
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, broker, "-c", confPath)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", log.String())
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	tests := []struct {
		user, password string
		want           bool
	}{
		{"alice", "s3cret", true},
		{"alice", "wrong", false},
		{"bob", "other", true},
		{"bob", "s3cret", false},
		{"carol", "s3cret", false},
	}
	for _, tt := range tests {
		out, err := exec.CommandContext(ctx, pub, "-h", "127.0.0.1", "-p", fmt.Sprint(port),
			"-u", tt.user, "-P", tt.password, "-q", "1", "-t", "gridmq/test", "-m", "hi").CombinedOutput()
		if got := err == nil; got != tt.want {
			t.Errorf("mosquitto_pub -u %s -P %s: success %v, want %v (%v: %s)", tt.user, tt.password, got, tt.want, err, out)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
