package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gridmq/gridmq/internal/config"
)

// serveFlags are the flags of gridmq serve: --config, --listen, and one flag
// per top-level configuration key, named after it with dashes (max_qos is
// --max-qos). The key table in internal/config is the only list of keys, so a
// new key gets its flag and its help without a change here.
type serveFlags struct {
	fs     *flag.FlagSet
	config string
	listen listFlag
}

func newServeFlags() *serveFlags {
	f := &serveFlags{fs: flag.NewFlagSet("gridmq serve", flag.ContinueOnError)}
	// Errors and help are printed by the caller, in gridmq's own words.
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	f.fs.StringVar(&f.config, "config", "", "")
	f.fs.StringVar(&f.config, "c", "", "")
	f.fs.Var(&f.listen, "listen", "")
	for _, k := range config.Keys() {
		f.fs.Var(&keyFlag{key: k.Name, isBool: k.Arg == ""}, flagName(k.Name), k.Usage)
	}
	return f
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// usageError is a mistake on the command line itself, as opposed to a bad
// value; it is printed with a pointer to --help.
type usageError struct{ error }

// parse merges the configuration: defaults, then the --config file, then every
// flag given, then --listen. --allow-anonymous applies to every listener,
// clearing the file's per-listener allow_anonymous. It returns flag.ErrHelp
// for --help.
func (f *serveFlags) parse(args []string) (*config.Config, error) {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if f.fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", f.fs.Arg(0))}
	}
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	var errs []error
	f.fs.Visit(func(fl *flag.Flag) {
		kf, ok := fl.Value.(*keyFlag)
		if !ok {
			return
		}
		if err := cfg.Set(kf.key, kf.value); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %s", fl.Name, message(err)))
			return
		}
		if kf.key == "allow_anonymous" {
			for i := range cfg.Listeners {
				cfg.Listeners[i].AllowAnonymous = nil
			}
		}
	})
	if len(f.listen) > 0 {
		cfg.Listeners, cfg.DefaultListener = nil, false
		for _, addr := range f.listen {
			l, err := config.ParseListener(addr)
			if err != nil {
				errs = append(errs, fmt.Errorf("--listen: %s", message(err)))
				continue
			}
			cfg.Listeners = append(cfg.Listeners, l)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// message is a config error without the key, which the flag name replaces.
func message(err error) string {
	if ce, ok := errors.AsType[*config.Error](err); ok {
		return ce.Msg
	}
	return err.Error()
}

// keyFlag holds a flag's text until the file is loaded; config.Set checks it
// then, with the same rules as the file.
type keyFlag struct {
	key    string
	value  string
	isBool bool
}

func (k *keyFlag) String() string {
	if k == nil {
		return ""
	}
	return k.value
}

func (k *keyFlag) Set(s string) error { k.value = s; return nil }
func (k *keyFlag) IsBoolFlag() bool   { return k.isBool }

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func serveHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage: gridmq serve [flags]

Run the MQTT broker until SIGINT or SIGTERM. With no flags it listens on
127.0.0.1:20200 and admits anonymous clients there. A flag given here
overrides the configuration file.

Flags:
  -c, --config FILE
        YAML configuration file, keys below (docs/configuration.md)
  --listen HOST:PORT
        serve MQTT on HOST:PORT; repeat for more listeners. Replaces the
        file's listener list. ":20200" is every interface, port 0 any free
        port; the address chosen is printed as "listening on HOST:PORT"
`)
	for _, k := range config.Keys() {
		arg := " " + k.Arg
		if k.Arg == "" {
			arg = "[=false]"
		}
		fmt.Fprintf(&b, "  --%s%s\n", flagName(k.Name), arg)
		for _, line := range wrap(k.Name+": "+k.Usage+" (default "+k.Default+")", 66) {
			fmt.Fprintf(&b, "        %s\n", line)
		}
	}
	b.WriteString(`  -h, --help
        print this help

Anonymous clients:
  Only the default listener (127.0.0.1:20200, when no listener is
  configured) admits clients without a username, and only when there is no
  password_file; a configured listener refuses them unless allow_anonymous
  is true (a warning is printed for a non-loopback one). --allow-anonymous
  applies to every listener, over allow_anonymous set per listener in the
  file.

Users and topics:
  password_file and acl_file are Mosquitto's files, unchanged; they are
  reloaded within about a second of a change and on SIGHUP, a file that
  does not load is refused with its line, and clients of a deleted user or
  changed password are disconnected. 'gridmq user' manages the password
  file (docs/users.md).

Configuration file (YAML, Mosquitto's key names; every key is optional):
  listener:                   # replaces the default 127.0.0.1:20200
    - port: 20200             # 1-65535, 0 for any free port
      bind_address: 0.0.0.0   # left out: every interface
      allow_anonymous: false  # left out: the top-level allow_anonymous
`)
	for _, k := range config.Keys() {
		if k.Default == "unset" {
			fmt.Fprintf(&b, "  # %s: true\n", k.Name)
			continue
		}
		fmt.Fprintf(&b, "  %s: %s\n", k.Name, k.Default)
	}
	b.WriteString(`
Exit status: 0 after a clean shutdown, 1 if the broker fails or a listener
cannot be opened, 2 for a bad flag or configuration file.
`)
	io.WriteString(w, b.String())
}

// wrap breaks ASCII text at spaces into lines of at most width bytes.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
