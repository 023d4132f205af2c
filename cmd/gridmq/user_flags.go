package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gridmq/gridmq/internal/auth/passwd"
)

// passwordFileEnv names the password file when --file is not given, so that a shell or an
// Ansible role can set it once.
const passwordFileEnv = "GRIDMQ_PASSWORD_FILE"

// userFlags are the flags the gridmq user subcommands share; each registers the ones it takes.
type userFlags struct {
	fs         *flag.FlagSet
	file       string
	hash       string
	iterations int
}

func newUserFlags(sub string) *userFlags {
	f := &userFlags{fs: flag.NewFlagSet("gridmq user "+sub, flag.ContinueOnError)}
	// Errors and help are printed by the caller, in gridmq's own words.
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	return f
}

func (f *userFlags) withFile() *userFlags {
	f.fs.StringVar(&f.file, "file", "", "")
	f.fs.StringVar(&f.file, "f", "", "")
	return f
}

func (f *userFlags) withHash() *userFlags {
	f.fs.StringVar(&f.hash, "hash", "pbkdf2", "")
	f.fs.IntVar(&f.iterations, "iterations", 0, "")
	return f
}

// parse parses flags placed before, between or after the arguments, as in
// "gridmq user add smc --file /etc/gridmq/passwd", and checks there are want arguments.
// "--" ends the flags, for a username that starts with '-'.
func (f *userFlags) parse(args []string, want ...string) ([]string, error) {
	var positional []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		consumed := len(args) - f.fs.NArg()
		rest := f.fs.Args()
		if consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case len(positional) < len(want):
		return nil, fmt.Errorf("missing %s", want[len(positional)])
	case len(positional) > len(want):
		return nil, fmt.Errorf("unexpected argument %q", positional[len(want)])
	}
	if f.fs.Lookup("file") != nil && f.file == "" {
		f.file = os.Getenv(passwordFileEnv)
		if f.file == "" {
			return nil, fmt.Errorf("no password file: give --file PATH or set %s", passwordFileEnv)
		}
	}
	return positional, nil
}

// hasher is the hash --hash and --iterations choose.
func (f *userFlags) hasher() (passwd.Hasher, error) {
	iterationsSet := false
	f.fs.Visit(func(fl *flag.Flag) { iterationsSet = iterationsSet || fl.Name == "iterations" })
	switch f.hash {
	case "pbkdf2", "sha512-pbkdf2":
		if iterationsSet && f.iterations < 1 {
			return nil, fmt.Errorf("--iterations must be at least 1 (got %d)", f.iterations)
		}
		return passwd.PBKDF2{Iterations: f.iterations}, nil
	case "argon2id":
		if iterationsSet {
			return nil, errors.New("--iterations applies to --hash pbkdf2 only")
		}
		return passwd.Argon2id{}, nil
	}
	return nil, fmt.Errorf("--hash must be pbkdf2 or argon2id (got %q)", f.hash)
}
