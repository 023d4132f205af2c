package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/gridmq/gridmq/internal/auth/passwd"
)

// runUser is `gridmq user SUBCOMMAND`, which manages the Mosquitto-format password file named
// by --file or GRIDMQ_PASSWORD_FILE. Passwords come from stdin, never from the command line.
// Exit status: 0 on success, 1 when the change cannot be made (a user missing or already
// there, a file that cannot be read or written), 2 for bad flags or arguments.
func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		userHelp(stderr)
		return 2
	}
	sub, rest := args[0], args[1:]
	var err error
	switch sub {
	case "-h", "-help", "--help", "help":
		userHelp(stdout)
		return 0
	case "add":
		err = userAdd(rest, stdin, stdout, stderr)
	case "passwd":
		err = userPasswd(rest, stdin, stdout, stderr)
	case "delete":
		err = userDelete(rest, stdout)
	case "list":
		err = userList(rest, stdout)
	case "import":
		err = userImport(rest, stdout)
	case "sync":
		err = userSync(rest, stdout)
	default:
		fmt.Fprintf(stderr, "gridmq user: unknown subcommand %q\nRun 'gridmq user --help' for the subcommands.\n", sub)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		userHelp(stdout)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "gridmq user %s: %v\nRun 'gridmq user --help' for the subcommands and flags.\n", sub, ue.error)
		return 2
	}
	fmt.Fprintf(stderr, "gridmq user %s: %v\n", sub, err)
	return 1
}

// parseUsage parses f, marking mistakes on the command line as usage errors.
func parseUsage(f *userFlags, args []string, want ...string) ([]string, error) {
	pos, err := f.parse(args, want...)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return nil, usageError{err}
	}
	return pos, err
}

func hasherUsage(f *userFlags) (passwd.Hasher, error) {
	h, err := f.hasher()
	if err != nil {
		return nil, usageError{err}
	}
	return h, nil
}

// loadOrNew reads the password file, or starts an empty one if there is none yet.
func loadOrNew(path string) (*passwd.File, error) {
	f, err := passwd.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return passwd.New(), nil
	}
	return f, err
}

func userAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl, user, h, err := parseUserCommand("add", args)
	if err != nil {
		return err
	}
	f, err := loadOrNew(fl.file)
	if err != nil {
		return err
	}
	if f.Has(user) {
		return fmt.Errorf("user %q is already in %s; 'gridmq user passwd %s' changes its password", user, fl.file, user)
	}
	return setPassword(f, fl.file, user, h, stdin, stdout, stderr, "+ "+user)
}

func userPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl, user, h, err := parseUserCommand("passwd", args)
	if err != nil {
		return err
	}
	f, err := passwd.Load(fl.file)
	if err != nil {
		return err
	}
	if !f.Has(user) {
		return fmt.Errorf("no user %q in %s; 'gridmq user add %s' adds it", user, fl.file, user)
	}
	return setPassword(f, fl.file, user, h, stdin, stdout, stderr, "~ "+user+" (password changed)")
}

// parseUserCommand parses the flags and the USER argument of a command that
// sets a password.
func parseUserCommand(name string, args []string) (fl *userFlags, user string, h passwd.Hasher, err error) {
	fl = newUserFlags(name).withFile().withHash()
	pos, err := parseUsage(fl, args, "USER")
	if err != nil {
		return nil, "", nil, err
	}
	if h, err = hasherUsage(fl); err != nil {
		return nil, "", nil, err
	}
	return fl, pos[0], h, nil
}

// setPassword reads user's new password, stores it in f, writes f to path and reports done
// on stdout. Prompts go to stderr, so stdout carries only the result.
func setPassword(f *passwd.File, path, user string, h passwd.Hasher, stdin io.Reader, stdout, stderr io.Writer, done string) error {
	// Check the name before asking for a password that could not be stored.
	if err := passwd.CheckUsername(user); err != nil {
		return err
	}
	pw, err := newPasswordInput(stdin).newPassword(user, stderr)
	if err != nil {
		return err
	}
	if err := f.Set(user, pw, h); err != nil {
		return err
	}
	if err := f.WriteFile(path); err != nil {
		return err
	}
	fmt.Fprintln(stdout, done)
	return nil
}

func userDelete(args []string, stdout io.Writer) error {
	fl := newUserFlags("delete").withFile()
	pos, err := parseUsage(fl, args, "USER")
	if err != nil {
		return err
	}
	user := pos[0]
	f, err := passwd.Load(fl.file)
	if err != nil {
		return err
	}
	if !f.Delete(user) {
		return fmt.Errorf("no user %q in %s", user, fl.file)
	}
	if err := f.WriteFile(fl.file); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "- "+user)
	return nil
}

func userList(args []string, stdout io.Writer) error {
	fl := newUserFlags("list").withFile()
	if _, err := parseUsage(fl, args); err != nil {
		return err
	}
	f, err := passwd.Load(fl.file)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, u := range f.Users() {
		b.WriteString(u + "\n")
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// userImport hashes a plain-text "user:password" file in place, as mosquitto_passwd -U does,
// but refuses a file that already holds hashes instead of hashing them again.
func userImport(args []string, stdout io.Writer) error {
	fl := newUserFlags("import").withHash()
	pos, err := parseUsage(fl, args, "PLAINFILE")
	if err != nil {
		return err
	}
	h, err := hasherUsage(fl)
	if err != nil {
		return err
	}
	n, err := hashPlainFile(pos[0], h)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hashed %d passwords in %s\n", n, pos[0])
	return nil
}

// hashPlainFile replaces the plain-text passwords of the file at path by their hashes and
// returns how many there were. The file is left as it was on any error.
func hashPlainFile(path string, h passwd.Hasher) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f, err := passwd.ParsePlain(path, data, h)
	if err != nil {
		return 0, err
	}
	if err := f.WriteFile(path); err != nil {
		return 0, err
	}
	return len(f.Users()), nil
}

func userHelp(w io.Writer) {
	io.WriteString(w, `Usage: gridmq user SUBCOMMAND [flags] [arguments]

Manage a Mosquitto-format password file: the file mosquitto_passwd writes
and password_file names. Passwords are read from standard input: on a
terminal they are asked for twice without echo; otherwise the first line is
the password. They are never taken from the command line.

Subcommands:
  add USER          add USER; fails if USER is already there
  passwd USER       change the password of USER; fails if USER is missing
  delete USER       remove USER; fails if USER is missing
  list              print the users, one per line, in file order
  import PLAINFILE  hash a file of "user:password" lines in place, like
                    mosquitto_passwd -U; refuses lines already hashed
  sync --from LIST  make the file hold exactly the users of the YAML LIST
                    and print what changed, or "no changes"

Flags:
  -f, --file PATH
        the password file (default $GRIDMQ_PASSWORD_FILE); add and sync
        create it if missing. Written atomically with mode 0600, keeping
        its owner and group
  --hash pbkdf2|argon2id
        hash for new passwords (add, passwd, import, sync). pbkdf2
        (PBKDF2-SHA512, "$7$") is read by Mosquitto 2.0 and later; argon2id
        only by Mosquitto 2.1 (default pbkdf2)
  --iterations N
        PBKDF2 iterations (default 210000; mosquitto_passwd 2.0 writes 101)
  --from LIST
        sync: the YAML user list, in the form below
  --dry-run
        sync: print the changes without writing anything
  -h, --help
        print this help

User list for sync:
  users:
    - name: smc
      password: secret                # plain text, or
    - name: site7
      password_hash: "$7$101$..."     # a hash, copied verbatim
  Users not listed are removed. A password is changed only if the stored
  hash does not verify it, so running sync again changes nothing.

Exit status: 0 on success, 1 if the change cannot be made, 2 for bad flags
or arguments. See also 'gridmq passwd', which takes mosquitto_passwd's flags.
`)
}
