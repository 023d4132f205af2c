package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/auth/passwd"
)

// fast keeps PBKDF2 cheap in tests that are not about its cost.
const fast = "--iterations=10"

// runUserInput runs gridmq user with stdin as standard input, which run leaves as os.Stdin.
func runUserInput(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = runUser(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func loadVerify(t *testing.T, path string, user, password string) bool {
	t.Helper()
	f, err := passwd.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.Verify(user, password)
}

func checkMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

// storedHash matches a hash as stored, not the names of the formats that messages give.
var storedHash = regexp.MustCompile(`\$7\$\d+\$|\$6\$[A-Za-z0-9+/]{4}|\$argon2id\$v=`)

// noSecret fails if a password or any hash appears in the output.
func noSecret(t *testing.T, output string, passwords ...string) {
	t.Helper()
	for _, p := range passwords {
		if strings.Contains(output, p) {
			t.Errorf("output shows the password %q: %q", p, output)
		}
	}
	if storedHash.MatchString(output) {
		t.Errorf("output shows a hash: %q", output)
	}
}

func TestUserAddPasswdDeleteList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")

	code, out, errOut := runUserInput("s3cret-a\n", "add", "--file", path, fast, "alice")
	if code != 0 || out != "+ alice\n" || errOut != "" {
		t.Fatalf("add alice: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	checkMode0600(t, path)
	if !loadVerify(t, path, "alice", "s3cret-a") {
		t.Fatal("alice's password does not verify")
	}

	// Flags after the user, -f for --file; a CRLF line ending is not part of the password.
	code, out, errOut = runUserInput("s3cret-b\r\nignored\n", "add", "bob", "-f", path, fast)
	if code != 0 || out != "+ bob\n" {
		t.Fatalf("add bob: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !loadVerify(t, path, "bob", "s3cret-b") || loadVerify(t, path, "bob", "ignored") {
		t.Fatal("bob's password is not the first line of input")
	}

	code, out, errOut = runUserInput("other\n", "add", "--file", path, fast, "alice")
	if code != 1 || out != "" || !strings.Contains(errOut, `user "alice" is already in`) || !strings.Contains(errOut, "gridmq user passwd alice") {
		t.Errorf("add alice again: exit %d, stdout %q, stderr %q; want 1 and a pointer to passwd", code, out, errOut)
	}
	noSecret(t, out+errOut, "other")
	if !loadVerify(t, path, "alice", "s3cret-a") {
		t.Error("a refused add changed the password")
	}

	code, out, errOut = runCapture("user", "list", "--file", path)
	if code != 0 || out != "alice\nbob\n" || errOut != "" {
		t.Errorf("list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, errOut = runUserInput("n3w-a\n", "passwd", "--file", path, fast, "alice")
	if code != 0 || out != "~ alice (password changed)\n" {
		t.Fatalf("passwd alice: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !loadVerify(t, path, "alice", "n3w-a") || loadVerify(t, path, "alice", "s3cret-a") {
		t.Error("passwd did not change alice's password")
	}
	noSecret(t, out+errOut, "n3w-a")

	code, _, errOut = runUserInput("x\n", "passwd", "--file", path, fast, "carol")
	if code != 1 || !strings.Contains(errOut, `no user "carol"`) || !strings.Contains(errOut, "gridmq user add carol") {
		t.Errorf("passwd carol: exit %d, stderr %q; want 1 and a pointer to add", code, errOut)
	}

	code, out, errOut = runCapture("user", "delete", "--file", path, "bob")
	if code != 0 || out != "- bob\n" {
		t.Fatalf("delete bob: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	before, _ := os.ReadFile(path)
	code, out, errOut = runCapture("user", "delete", "--file", path, "bob")
	if want := `gridmq user delete: no user "bob" in ` + path + "\n"; code != 1 || out != "" || errOut != want {
		t.Errorf("delete bob again: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed delete changed the file")
	}
	if code, out, _ = runCapture("user", "list", "--file", path); out != "alice\n" {
		t.Errorf("list after delete: exit %d, %q", code, out)
	}
	checkMode0600(t, path)
}

func TestUserFileRequired(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	t.Setenv(passwordFileEnv, "")
	code, _, errOut := runCapture("user", "list")
	if code != 2 || !strings.Contains(errOut, "--file PATH") || !strings.Contains(errOut, passwordFileEnv) {
		t.Errorf("list without a file: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCapture("user", "list", "--file", path)
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("list of a missing file: exit %d, stderr %q", code, errOut)
	}

	t.Setenv(passwordFileEnv, path)
	if code, out, errOut := runUserInput("pw\n", "add", fast, "alice"); code != 0 || out != "+ alice\n" {
		t.Fatalf("add with %s: exit %d, %q %q", passwordFileEnv, code, out, errOut)
	}
	if code, out, _ := runCapture("user", "list"); code != 0 || out != "alice\n" {
		t.Errorf("list with %s: exit %d, %q", passwordFileEnv, code, out)
	}
	// --file wins over the environment.
	other := filepath.Join(dir, "other")
	if code, _, _ := runUserInput("pw\n", "add", "--file", other, fast, "bob"); code != 0 || !loadVerify(t, other, "bob", "pw") {
		t.Errorf("add --file: exit %d", code)
	}
}

func TestUserPasswordInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	tests := []struct {
		name, stdin, user, want string
	}{
		{"no input", "", "alice", "no password on standard input"},
		{"empty line", "\nsecond\n", "alice", "empty password"},
		{"bad name", "pw\n", "a:b", "invalid username"},
		{"comment name", "pw\n", "#a", "invalid username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runUserInput(tt.stdin, "add", "--file", path, fast, "--", tt.user)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tt.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("a failed add created the file")
			}
		})
	}
	// A last line without a newline is a password; "--" lets a name start with '-'.
	if code, _, errOut := runUserInput("no-newline", "add", "--file", path, fast, "--", "-dash"); code != 0 || !loadVerify(t, path, "-dash", "no-newline") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestUserUsageErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if code, out, errOut := runCapture("user"); code != 2 || out != "" || !strings.HasPrefix(errOut, "Usage: gridmq user") {
		t.Errorf("no subcommand: exit %d, stdout %q, stderr %q; want 2 and the usage", code, out, errOut)
	}
	tests := [][]string{
		{"user", "frob"},
		{"user", "add", "--file", path},
		{"user", "add", "--file", path, "a", "b"},
		{"user", "add", "--file", path, "--password", "x", "a"},
		{"user", "add", "--file", path, "--hash", "md5", "a"},
		{"user", "add", "--file", path, "--iterations", "0", "a"},
		{"user", "add", "--file", path, "--hash", "argon2id", "--iterations", "5", "a"},
		{"user", "list", "--file", path, "extra"},
		{"user", "sync", "--file", path},
		{"user", "import"},
	}
	for _, args := range tests {
		code, out, errOut := runCapture(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "gridmq user --help") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a pointer to --help", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a usage error created the file")
	}
}

func TestUserHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if code, _, errOut := runUserInput("pw-a\n", "add", "--file", path, "--hash", "argon2id", "alice"); code != 0 {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	if code, _, errOut := runUserInput("pw-b\n", "add", "--file", path, "--iterations", "7", "bob"); code != 0 {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "alice:$argon2id$v=19$m=47104,t=1,p=1$") || !strings.Contains(string(data), "\nbob:$7$7$") {
		t.Errorf("file:\n%s", data)
	}
	if !loadVerify(t, path, "alice", "pw-a") || !loadVerify(t, path, "bob", "pw-b") {
		t.Error("passwords do not verify")
	}
}

func TestUserImport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(path, []byte("# site users\nalice:pass word\nbob: spaced \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCapture("user", "import", fast, path)
	if code != 0 || out != "hashed 2 passwords in "+path+"\n" || errOut != "" {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	checkMode0600(t, path)
	if !loadVerify(t, path, "alice", "pass word") || !loadVerify(t, path, "bob", "spaced") {
		t.Error("imported passwords do not verify")
	}
	hashed, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(hashed), "# site users\nalice:$7$10$") {
		t.Errorf("file:\n%s", hashed)
	}

	// Importing again would hash the hashes, as mosquitto_passwd -U does; it is refused.
	code, out, errOut = runCapture("user", "import", fast, path)
	if code != 1 || out != "" || !strings.Contains(errOut, path+`:2: user "alice": password is already a hash`) {
		t.Errorf("second import: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	noSecret(t, errOut)
	if again, _ := os.ReadFile(path); string(again) != string(hashed) {
		t.Error("a refused import changed the file")
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUserSync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	list := filepath.Join(dir, "users.yaml")
	// site7's hash is mosquitto_passwd 2.0's, for "s3cret".
	const site7 = "$7$101$3RGeqAde6tzNOAup$E3KKnMMfpSZ3lE3aO0VUl7Lumqk+Ig7aHqrwALaTbQCDej1BF94pf9Fkt0vYnv8PchrIaWdxb2trFBbzoan3+Q=="
	writeFile(t, list, `users:
  - name: smc
    password: smc-secret
  - name: site7
    password_hash: "`+site7+`"
`)

	// From no file at all: everything is added.
	code, out, errOut := runCapture("user", "sync", "--file", path, "--from", list, fast)
	if code != 0 || out != "+ smc\n+ site7\n" || errOut != "" {
		t.Fatalf("first sync: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	checkMode0600(t, path)
	noSecret(t, out, "smc-secret")

	sync := func() (int, string, string) {
		return runCapture("user", "sync", "--file", path, "--from", list, fast)
	}
	assertUntouched := func(what string) {
		t.Helper()
		// An mtime in the past shows a rewrite without waiting for the clock to move.
		old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		code, out, errOut := sync()
		if code != 0 || out != "no changes\n" || errOut != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and \"no changes\"", what, code, out, errOut)
		}
		after, _ := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if string(after) != string(before) || !fi.ModTime().Equal(old) {
			t.Errorf("%s: the file was rewritten", what)
		}
	}
	assertUntouched("second sync")

	// The operator changes things by hand; sync puts them back.
	if code, _, _ := runUserInput("typo\n", "passwd", "--file", path, fast, "smc"); code != 0 {
		t.Fatal("passwd smc failed")
	}
	if code, _, _ := runUserInput("x\n", "add", "--file", path, fast, "intruder"); code != 0 {
		t.Fatal("add intruder failed")
	}
	writeFile(t, list, `users:
  - name: smc
    password: smc-secret
  - name: site7
    password_hash: "`+site7+`"
  - name: fresh
    password: fresh-secret
`)
	before, _ := os.ReadFile(path)
	code, out, errOut = runCapture("user", "sync", "--file", path, "--from", list, "--dry-run", fast)
	want := "~ smc (password changed)\n- intruder\n+ fresh\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("--dry-run changed the file")
	}
	code, out, errOut = sync()
	if code != 0 || out != want {
		t.Fatalf("sync: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	noSecret(t, out+errOut, "smc-secret", "fresh-secret", "typo")
	if code, out, _ := runCapture("user", "list", "--file", path); code != 0 || out != "smc\nsite7\nfresh\n" {
		t.Errorf("list after sync: %q", out)
	}
	f, err := passwd.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, password string }{{"smc", "smc-secret"}, {"site7", "s3cret"}, {"fresh", "fresh-secret"}} {
		if !f.Verify(c.user, c.password) {
			t.Errorf("%s does not verify after sync", c.user)
		}
	}
	if !strings.Contains(string(f.Bytes()), "site7:"+site7+"\n") {
		t.Error("password_hash not copied verbatim")
	}
	assertUntouched("sync after changes")

	// --dry-run with nothing to do says so too.
	if code, out, _ := runCapture("user", "sync", "--file", path, "--from", list, "--dry-run"); code != 0 || out != "no changes\n" {
		t.Errorf("dry run without changes: exit %d, %q", code, out)
	}
}

func TestUserSyncErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	list := filepath.Join(dir, "users.yaml")
	writeFile(t, path, "# kept\n")
	writeFile(t, list, "users:\n  - name: smc\n    password: smc-secret\n    pasword: typo\n")
	code, out, errOut := runCapture("user", "sync", "--file", path, "--from", list)
	if want := list + `:4: invalid user list: unknown key "pasword"`; code != 1 || out != "" || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
	}
	noSecret(t, errOut, "smc-secret", "typo")
	if data, _ := os.ReadFile(path); string(data) != "# kept\n" {
		t.Error("a failed sync changed the file")
	}
	code, _, errOut = runCapture("user", "sync", "--file", path, "--from", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing list: exit %d, stderr %q", code, errOut)
	}
	writeFile(t, path, "smc:hunter2xyz\n")
	writeFile(t, list, "users: []\n")
	code, _, errOut = runCapture("user", "sync", "--file", path, "--from", list)
	if code != 1 || !strings.Contains(errOut, path+":1:") {
		t.Errorf("bad password file: exit %d, stderr %q", code, errOut)
	}
	noSecret(t, errOut, "hunter2xyz")
}

func TestUserHelp(t *testing.T) {
	for _, args := range [][]string{{"user", "--help"}, {"user", "-h"}, {"help", "user"}, {"user", "add", "--help"}, {"user", "sync", "-h"}} {
		code, out, errOut := runCapture(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"add USER", "passwd USER", "delete USER", "list", "import PLAINFILE", "sync --from", "--file PATH", passwordFileEnv, "--hash", "--iterations", "--dry-run", "password_hash"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: help lacks %q", args, want)
			}
		}
		checkWidth(t, out)
	}
	if _, out, _ := runCapture("help"); !strings.Contains(out, "gridmq user") || !strings.Contains(out, "gridmq passwd") {
		t.Error("the usage does not list user and passwd")
	}
}

func checkWidth(t *testing.T, text string) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if len(line) > 80 {
			t.Errorf("help line longer than 80 columns: %q", line)
		}
	}
}

// The users of the file as gridmq user list prints them.
func listUsers(t *testing.T, path string) []string {
	t.Helper()
	code, out, errOut := runCapture("user", "list", "--file", path)
	if code != 0 {
		t.Fatalf("list: exit %d, %s", code, errOut)
	}
	return strings.Fields(out)
}
