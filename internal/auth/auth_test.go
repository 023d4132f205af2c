package auth

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridmq/gridmq/internal/auth/passwd"
	"github.com/gridmq/gridmq/internal/auth/ratelimit"
	"github.com/gridmq/gridmq/internal/packet"
)

// cheap keeps the tests fast; the iteration count does not change what they check.
var cheap = passwd.PBKDF2{Iterations: 1000}

func writePasswd(t *testing.T, path string, users map[string]string) {
	t.Helper()
	f := passwd.New()
	for u, pw := range users {
		if err := f.Set(u, pw, cheap); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

var addr = netip.MustParseAddr("192.0.2.7")

// The standard user is added to a missing password file, which is created
// with mode 0600, and is never changed once it is there.
func TestStandardUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	s, err := Open(Options{PasswordFile: path, StandardUser: "smc", StandardPassword: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v; want it created 0600", err, fi.Mode().Perm())
	}
	if _, err := s.Authenticate(addr, "smc", []byte("first")); err != nil {
		t.Fatalf("smc with its configured password: %v", err)
	}
	s, err = Open(Options{PasswordFile: path, StandardUser: "smc", StandardPassword: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(addr, "smc", []byte("first")); err != nil {
		t.Errorf("the existing password was replaced: %v", err)
	}
	if _, err := s.Authenticate(addr, "smc", []byte("second")); !errors.Is(err, packet.BadUserNameOrPassword) {
		t.Errorf("the new configured password was accepted (%v); the file's must win", err)
	}
	for _, o := range []Options{{StandardUser: "smc", StandardPassword: "x"}, {PasswordFile: path, StandardUser: "smc"}, {PasswordFile: path, StandardPassword: "x"}} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) succeeded; want an error naming what is missing", o)
		}
	}
}

// A reload that fails names the file and line and keeps the users and rules
// in force; one that loads replaces both, and credentials that no longer
// match stop being valid.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	pw, aclPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	writePasswd(t, pw, map[string]string{"alice": "a", "bob": "b"})
	os.WriteFile(aclPath, []byte("user alice\ntopic readwrite a/#\n"), 0o600)
	s, err := Open(Options{PasswordFile: pw, ACLFile: aclPath})
	if err != nil {
		t.Fatal(err)
	}
	aliceStamp, err := s.Authenticate(addr, "alice", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	bobStamp, _ := s.Authenticate(addr, "bob", []byte("b"))
	if !s.CanPublish("c", "alice", false, "a/1") || s.CanPublish("c", "bob", false, "a/1") {
		t.Fatal("ACL not in force")
	}

	os.WriteFile(aclPath, []byte("user alice\ntopic readwrite a/#\ntopc read b\n"), 0o600)
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), aclPath+":3:") {
		t.Fatalf("Reload with a bad ACL line = %v, want an error naming %s:3", err, aclPath)
	}
	if !s.CanPublish("c", "alice", false, "a/1") {
		t.Error("a failed reload dropped the rules in force")
	}
	os.WriteFile(pw, []byte("alice:not-a-hash\n"), 0o600)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), pw+":1:") || strings.Contains(err.Error(), "not-a-hash") {
		t.Errorf("Reload with a bad password line = %v, want %s:1 without the hash", err, pw)
	}
	if !s.StillValid("bob", bobStamp) {
		t.Error("a failed reload dropped the users in force")
	}

	writePasswd(t, pw, map[string]string{"alice": "new"}) // bob deleted, alice's password changed
	os.WriteFile(aclPath, []byte("user bob\ntopic readwrite a/#\n"), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.StillValid("alice", aliceStamp) || s.StillValid("bob", bobStamp) {
		t.Error("credentials of a changed password or a deleted user are still valid")
	}
	if s.CanPublish("c", "alice", false, "a/1") {
		t.Error("the reloaded ACL is not in force")
	}
	if st, err := s.Authenticate(addr, "alice", []byte("new")); err != nil || !s.StillValid("alice", st) {
		t.Errorf("alice with the new password: %v", err)
	}
}

// Without an ACL file every topic is allowed, as in Mosquitto.
func TestNoACLAllowsAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, path, map[string]string{"u": "p"})
	s, err := Open(Options{PasswordFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if !s.CanPublish("c", "u", false, "x") || !s.CanSubscribe("c", "", true, "#") || !s.CanReceive("c", "u", false, "$SYS/x") {
		t.Error("a topic was refused without an ACL file")
	}
}

// Failures back off per address and username (0x9F, before any hash), but
// credentials that succeeded before are admitted at once.
func TestFailuresBackOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, path, map[string]string{"device": "right", "target": "secret"})
	s, err := Open(Options{PasswordFile: path, Limiter: ratelimit.Config{Free: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(addr, "device", []byte("right")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Authenticate(addr, "target", []byte("guess")); !errors.Is(err, packet.BadUserNameOrPassword) {
			t.Fatalf("guess %d: %v, want bad user name or password", i+1, err)
		}
	}
	if _, err := s.Authenticate(addr, "target", []byte("secret")); !errors.Is(err, packet.ConnectionRateExceeded) {
		t.Errorf("right password while backing off: %v, want connection rate exceeded", err)
	}
	other := netip.MustParseAddr("198.51.100.1")
	if _, err := s.Authenticate(other, "target", []byte("secret")); !errors.Is(err, packet.ConnectionRateExceeded) {
		t.Errorf("the username backs off from any address: %v", err)
	}
	if _, err := s.Authenticate(addr, "device", []byte("right")); err != nil {
		t.Errorf("a device that logged in before was slowed down by its address's failures: %v", err)
	}
	if _, err := s.Authenticate(addr, "nobody", []byte("x")); !errors.Is(err, packet.ConnectionRateExceeded) {
		t.Errorf("new credentials from a backing-off address: %v, want connection rate exceeded", err)
	}
}

// A device that retries before its user exists is let in as soon as a reload
// adds the user: failures for an unknown user do not count against its
// address, and a user added or changed starts with a clean record.
func TestNewUserNotHeldBackByEarlierRetries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, path, map[string]string{"smc": "x"})
	s, err := Open(Options{PasswordFile: path, Limiter: ratelimit.Config{Free: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := s.Authenticate(addr, "site7", []byte("pw")); err == nil {
			t.Fatal("an unknown user was admitted")
		}
	}
	writePasswd(t, path, map[string]string{"smc": "x", "site7": "pw"})
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(addr, "site7", []byte("pw")); err != nil {
		t.Errorf("the added user after retries: %v, want admitted", err)
	}
	if _, err := s.Authenticate(addr, "smc", []byte("x")); err != nil {
		t.Errorf("another user from the same address: %v, want admitted", err)
	}
}
