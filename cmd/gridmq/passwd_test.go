package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runPasswdInput runs gridmq passwd with stdin as standard input.
func runPasswdInput(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = runPasswd(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPasswdBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")

	// Without -c the file must exist, as with mosquitto_passwd.
	code, _, errOut := runCapture("passwd", "-b", path, "alice", "s3cret")
	if code != 1 || !strings.Contains(errOut, "does not exist (-c creates it)") {
		t.Errorf("no -c, no file: exit %d, stderr %q", code, errOut)
	}

	if code, out, errOut := runCapture("passwd", "-I", "10", "-c", "-b", path, "alice", "s3cret"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("-c -b: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	checkMode0600(t, path)
	if code, _, errOut := runCapture("passwd", "-b", "-I", "10", path, "bob", "b-pw"); code != 0 {
		t.Fatalf("-b add: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCapture("passwd", "-b", "-I", "10", path, "alice", "new-a"); code != 0 {
		t.Fatalf("-b update: exit %d, %s", code, errOut)
	}
	if got := listUsers(t, path); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("users = %q", got)
	}
	if !loadVerify(t, path, "alice", "new-a") || !loadVerify(t, path, "bob", "b-pw") {
		t.Error("passwords do not verify")
	}

	// -c overwrites.
	if code, _, _ := runCapture("passwd", "-c", "-b", "-I", "10", path, "carol", "c-pw"); code != 0 {
		t.Fatal("-c over an existing file failed")
	}
	if got := listUsers(t, path); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("after -c: users = %q, want only carol", got)
	}

	if code, _, errOut := runCapture("passwd", "-D", path, "dave"); code != 1 || !strings.Contains(errOut, "user dave not found") {
		t.Errorf("-D missing user: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCapture("passwd", "-D", path, "carol"); code != 0 {
		t.Errorf("-D: exit %d, %s", code, errOut)
	}
	if got := listUsers(t, path); len(got) != 0 {
		t.Errorf("after -D: users = %q", got)
	}

	if code, _, errOut := runCapture("passwd", "-b", path, "a:b", "x"); code != 1 || !strings.Contains(errOut, "invalid username") {
		t.Errorf("colon in name: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCapture("passwd", "-b", path, "a", ""); code != 1 || !strings.Contains(errOut, "empty password") {
		t.Errorf("empty password: exit %d, stderr %q", code, errOut)
	}
}

func TestPasswdHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if code, _, errOut := runCapture("passwd", "-c", "-b", "-H", "argon2id", path, "a", "pw-a"); code != 0 {
		t.Fatalf("-H argon2id: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCapture("passwd", "-b", "-H", "sha512-pbkdf2", "-I", "5", path, "b", "pw-b"); code != 0 {
		t.Fatalf("-H sha512-pbkdf2 -I 5: exit %d, %s", code, errOut)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "a:$argon2id$") || !strings.Contains(string(data), "\nb:$7$5$") {
		t.Errorf("file:\n%s", data)
	}
	before := string(data)
	for _, args := range [][]string{
		{"passwd", "-b", "-H", "sha512", path, "c", "x"},
		{"passwd", "-b", "-H", "argon2id", "-I", "5", path, "c", "x"},
	} {
		if code, _, errOut := runCapture(args...); code != 1 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want 1", args, code, errOut)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != before {
		t.Error("a refused hash changed the file")
	}
}

func TestPasswdPrompt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	// As with mosquitto_passwd, two lines of standard input when it is not a terminal, and
	// the prompts on stdout.
	code, out, errOut := runPasswdInput("s3cret\ns3cret\n", "-c", "-I", "10", path, "alice")
	if code != 0 || out != "Password: \nReenter password: \n" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !loadVerify(t, path, "alice", "s3cret") {
		t.Error("password does not verify")
	}
	tests := []struct{ name, stdin, want string }{
		{"mismatch", "one\ntwo\n", "passwords do not match"},
		{"one line", "one\n", "no password on standard input"},
		{"empty", "\n\n", "empty password"},
	}
	for _, tt := range tests {
		code, _, errOut := runPasswdInput(tt.stdin, "-I", "10", path, "alice")
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tt.name, code, errOut, tt.want)
		}
		noSecret(t, errOut, "one", "two")
	}
	if !loadVerify(t, path, "alice", "s3cret") {
		t.Error("a failed prompt changed the password")
	}
}

func TestPasswdUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain")
	writeFile(t, path, "alice:pw-a\nbob:pw-b\n")
	if code, out, errOut := runCapture("passwd", "-I", "10", "-U", path); code != 0 || out != "" || errOut != "" {
		t.Fatalf("-U: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !loadVerify(t, path, "alice", "pw-a") || !loadVerify(t, path, "bob", "pw-b") {
		t.Error("passwords do not verify")
	}
	hashed, _ := os.ReadFile(path)
	code, _, errOut := runCapture("passwd", "-U", path)
	if code != 1 || !strings.Contains(errOut, path+`:1: user "alice": password is already a hash`) {
		t.Errorf("-U twice: exit %d, stderr %q", code, errOut)
	}
	if again, _ := os.ReadFile(path); string(again) != string(hashed) {
		t.Error("a refused -U changed the file")
	}
}

func TestPasswdUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	tests := [][]string{
		{"passwd"},
		{"passwd", path},
		{"passwd", "-c", "-D", path, "a"},
		{"passwd", "-b", "-D", path, "a"},
		{"passwd", "-b", path, "a"},
		{"passwd", path, "a", "password-on-the-line"},
		{"passwd", "-U", path, "a"},
		{"passwd", "-U", "-b", path},
		{"passwd", "-x", path, "a"},
		{"passwd", "-H"},
		{"passwd", "-I", "0", path, "a"},
		{"passwd", "-I", "many", path, "a"},
	}
	for _, args := range tests {
		code, out, errOut := runCapture(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "gridmq passwd --help") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a pointer to --help", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a usage error created the file")
	}
	for _, args := range [][]string{{"passwd", "--help"}, {"passwd", "-h"}, {"help", "passwd"}} {
		code, out, errOut := runCapture(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "-b passwordfile username password") || !strings.Contains(out, "-U passwordfile") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		checkWidth(t, out)
	}
}
