package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/gridmq/gridmq/internal/auth/passwd"
)

// passwdOptions are mosquitto_passwd's options, which gridmq passwd takes so that scripts
// written for it keep working.
type passwdOptions struct {
	batch, create, delete, update bool
	hash                          string // -H
	iterations                    int    // -I; 0 means passwd.DefaultIterations
	args                          []string
}

// runPasswd is `gridmq passwd`, mosquitto_passwd's command line over gridmq's password
// files. It behaves as mosquitto_passwd 2.0 does, except that it writes 210000 PBKDF2
// iterations rather than 101 unless -I says otherwise, writes mode 0600, does not write
// Mosquitto 1.6's "-H sha512", and -U refuses passwords that are already hashed. Exit status:
// 0 on success, 1 on failure, 2 for a usage error (mosquitto_passwd returns 1 for all).
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parsePasswd(args)
	if errors.Is(err, errHelp) {
		passwdHelp(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gridmq passwd: %v\nRun 'gridmq passwd --help' for the usage.\n", err)
		return 2
	}
	if err := o.run(stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "gridmq passwd: %v\n", err)
		return 1
	}
	return 0
}

var errHelp = errors.New("help requested")

// parsePasswd reads options up to the first argument that is not one, as mosquitto_passwd
// does, then checks the combination.
func parsePasswd(args []string) (*passwdOptions, error) {
	o := &passwdOptions{hash: "sha512-pbkdf2"}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-"; i++ {
		switch a := args[i]; a {
		case "--":
			i++
			o.args = args[i:]
			return o, o.check()
		case "-h", "-help", "--help":
			return nil, errHelp
		case "-b":
			o.batch = true
		case "-c":
			o.create = true
		case "-D":
			o.delete = true
		case "-U":
			o.update = true
		case "-H", "-I":
			if i+1 == len(args) {
				return nil, fmt.Errorf("%s needs a value", a)
			}
			i++
			if a == "-H" {
				o.hash = args[i]
				continue
			}
			n, err := strconv.Atoi(args[i])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("-I: iterations must be a positive integer (got %q)", args[i])
			}
			o.iterations = n
		default:
			return nil, fmt.Errorf("unknown option %q", a)
		}
	}
	o.args = args[i:]
	return o, o.check()
}

func (o *passwdOptions) check() error {
	switch {
	case o.create && o.delete:
		return errors.New("-c and -D cannot be used together")
	case o.batch && o.delete:
		return errors.New("-b and -D cannot be used together")
	case o.update && (o.batch || o.create || o.delete):
		return errors.New("-U cannot be used with -b, -c or -D")
	case o.update && len(o.args) != 1:
		return errors.New("-U takes the password file only")
	case o.batch && len(o.args) != 3:
		return errors.New("-b takes the password file, the username and the password")
	case !o.update && !o.batch && len(o.args) != 2:
		return errors.New("want the password file and the username")
	}
	return nil
}

func (o *passwdOptions) hasher() (passwd.Hasher, error) {
	switch o.hash {
	case "sha512-pbkdf2":
		return passwd.PBKDF2{Iterations: o.iterations}, nil
	case "argon2id":
		if o.iterations != 0 {
			return nil, errors.New("-I applies to -H sha512-pbkdf2 only")
		}
		return passwd.Argon2id{}, nil
	case "sha512":
		return nil, errors.New("-H sha512 (one round of SHA-512, for Mosquitto 1.6) is too weak to write; use sha512-pbkdf2, the default, which Mosquitto 2.0 and later read")
	}
	return nil, fmt.Errorf("unknown hash type %q: want sha512-pbkdf2 or argon2id", o.hash)
}

func (o *passwdOptions) run(stdin io.Reader, stdout io.Writer) error {
	h, err := o.hasher()
	if err != nil {
		return err
	}
	path := o.args[0]
	if o.update {
		_, err := hashPlainFile(path, h)
		return err
	}
	user := o.args[1]
	if err := passwd.CheckUsername(user); err != nil {
		return err
	}
	var f *passwd.File
	if o.create {
		f = passwd.New()
	} else if f, err = passwd.Load(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot open password file %s: it does not exist (-c creates it)", path)
	} else if err != nil {
		return err
	}
	if o.delete {
		if !f.Delete(user) {
			return fmt.Errorf("user %s not found in password file %s", user, path)
		}
		return f.WriteFile(path)
	}
	var pw string
	if o.batch {
		pw = o.args[2]
	} else if pw, err = promptTwice(newPasswordInput(stdin), stdout); err != nil {
		return err
	}
	if err := f.Set(user, pw, h); err != nil {
		return err
	}
	return f.WriteFile(path)
}

// promptTwice asks as mosquitto_passwd does, prompts on stdout, the same whether or not
// standard input is a terminal, so that a script piping two lines in keeps working.
func promptTwice(in *passwordInput, w io.Writer) (string, error) {
	pw, err := in.read("Password: ", w)
	if err != nil {
		return "", err
	}
	again, err := in.read("Reenter password: ", w)
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errPasswordMismatch
	}
	if pw == "" {
		return "", passwd.ErrEmptyPassword
	}
	return pw, nil
}

func passwdHelp(w io.Writer) {
	io.WriteString(w, `Usage: gridmq passwd [-H hash] [-I iter] [-c | -D] passwordfile username
       gridmq passwd [-H hash] [-I iter] [-c] -b passwordfile username password
       gridmq passwd [-H hash] [-I iter] -U passwordfile

Manage a password file with mosquitto_passwd's options, so that scripts
written for mosquitto_passwd keep working. Without -b the password is asked
for twice ("Password:", "Reenter password:"): on a terminal without echo,
otherwise as two lines of standard input. 'gridmq user' does the same with
clearer subcommands and never takes a password on the command line.

Options (before the file name):
  -b    batch mode: the password is the last argument. Other users can read
        it in the process list, and it stays in the shell history
  -c    create the file, overwriting any file already there
  -D    delete the user; fails if the user is not in the file
  -H    hash: sha512-pbkdf2 (default; "$7$", read by Mosquitto 2.0 and
        later) or argon2id (read by Mosquitto 2.1 only). sha512, Mosquitto
        1.6's hash, is refused as too weak
  -I    PBKDF2 iterations (default 210000; mosquitto_passwd 2.0 writes
        101, which is far too few today)
  -U    hash the plain-text "username:password" lines of the file in place.
        Unlike mosquitto_passwd, refuses a file that already holds hashes
        rather than hashing the hashes
  -h, --help
        print this help

Without -c the file must exist. The file is written atomically with mode
0600, keeping its owner and group.

Exit status: 0 on success, 1 on failure, 2 for a usage error.
`)
}
