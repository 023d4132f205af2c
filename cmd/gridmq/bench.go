package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gridmq/gridmq/internal/bench"
)

// runBench is `gridmq bench SCENARIO [flags]`. Exit status: 0 when the run
// completed (whatever it measured), 1 when it could not be set up, 2 for
// bad flags.
func runBench(args []string, stdout, stderr io.Writer) int {
	cfg, jsonOut, err := parseBench(args, os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		benchHelp(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "gridmq bench: %v\nRun 'gridmq bench --help' for the scenarios and flags.\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once the run is stopping, a second signal ends the process at once.
	context.AfterFunc(ctx, stop)

	progress := !jsonOut && isTerminal(stdout)
	if progress {
		var meter bench.ProgressMeter
		cfg.Progress = func(p bench.Progress) {
			fmt.Fprintf(stdout, "\r%s\x1b[K", meter.Line(p, 10))
		}
	}
	res, err := bench.Run(ctx, cfg)
	if progress {
		fmt.Fprint(stdout, "\r\x1b[K")
	}
	if err != nil {
		fmt.Fprintf(stderr, "gridmq bench: %v\n", err)
		return 1
	}
	if !jsonOut {
		res.WriteText(stdout)
		return 0
	}
	// stdout carries exactly one JSON object; the errors go to stderr.
	for _, e := range res.Errors {
		fmt.Fprintf(stderr, "gridmq bench: %s\n", e)
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintf(stderr, "gridmq bench: %v\n", err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal, where the progress line is
// drawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// benchFlagScope says which scenarios a flag applies to; a flag given to
// another scenario is an error rather than silently ignored. (Fanin's one
// subscriber and fanout's one publisher may be given; Validate checks the
// numbers fit the scenario.)
var benchFlagScope = map[string][]bench.Scenario{
	"qos":          {bench.Conn, bench.Pub, bench.Sub, bench.Fanin, bench.Fanout, bench.P2P},
	"payload":      {bench.Pub, bench.Fanin, bench.Fanout, bench.P2P},
	"count":        {bench.Pub, bench.Sub, bench.Fanin, bench.Fanout, bench.P2P},
	"rate":         {bench.Pub, bench.Fanin, bench.Fanout, bench.P2P},
	"inflight":     {bench.Pub, bench.Fanin, bench.Fanout, bench.P2P},
	"drain":        {bench.Pub, bench.Fanin, bench.Fanout, bench.P2P},
	"publishers":   {bench.Pub, bench.Sub, bench.Fanin, bench.Fanout, bench.P2P},
	"subscribers":  {bench.Sub, bench.Fanin, bench.Fanout, bench.P2P},
	"topic-prefix": {bench.Pub, bench.Sub, bench.Fanin, bench.Fanout, bench.P2P},
	"persistent":   {bench.Sub, bench.Fanin, bench.Fanout, bench.P2P},
	"connections":  {bench.Conn},
	"connect-rate": {bench.Conn},
	"subscribe":    {bench.Conn},
}

// parseBench turns the arguments into a run's configuration. The scenario
// comes first; the password, when --password is not given, comes from
// GRIDMQ_PASSWORD (through getenv), so it need not be on the command line.
func parseBench(args []string, getenv func(string) string) (cfg bench.Config, jsonOut bool, err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		for _, a := range args {
			if a == "-h" || a == "-help" || a == "--help" {
				return cfg, false, flag.ErrHelp
			}
		}
		return cfg, false, errors.New("no scenario: name one of conn, pub, sub, fanin, fanout, p2p before the flags")
	}
	sc, err := bench.ParseScenario(args[0])
	if err != nil {
		return cfg, false, err
	}
	cfg = bench.DefaultConfig(sc)

	fs := flag.NewFlagSet("gridmq bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by the caller
	fs.Usage = func() {}
	qos := fs.Uint("qos", uint(cfg.QoS), "")
	version := fs.String("version", "3.1.1", "")
	password := fs.String("password", "", "")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "")
	fs.IntVar(&cfg.Payload, "payload", cfg.Payload, "")
	fs.Uint64Var(&cfg.Count, "count", cfg.Count, "")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "")
	fs.IntVar(&cfg.Inflight, "inflight", cfg.Inflight, "")
	fs.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "")
	fs.IntVar(&cfg.Subscribers, "subscribers", cfg.Subscribers, "")
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", cfg.ConnectRate, "")
	fs.BoolVar(&cfg.Subscribe, "subscribe", cfg.Subscribe, "")
	fs.BoolVar(&cfg.Persistent, "persistent", cfg.Persistent, "")
	fs.StringVar(&cfg.Username, "username", "", "")
	fs.StringVar(&cfg.TopicPrefix, "topic-prefix", cfg.TopicPrefix, "")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "")
	fs.BoolVar(&jsonOut, "json", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q (flags come after the scenario)", fs.Arg(0))
	}

	set := map[string]bool{}
	var errs []string
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if scope, ok := benchFlagScope[f.Name]; ok && !hasScenario(scope, sc) {
			errs = append(errs, fmt.Sprintf("--%s does not apply to %s", f.Name, sc))
		}
	})
	if len(errs) > 0 {
		return cfg, false, errors.New(strings.Join(errs, "; "))
	}
	if *qos > 2 {
		return cfg, false, fmt.Errorf("--qos %d: QoS is 0, 1 or 2", *qos)
	}
	cfg.QoS = byte(*qos)
	if cfg.Version, err = bench.ParseVersion(*version); err != nil {
		return cfg, false, fmt.Errorf("--version: %v", err)
	}
	if set["password"] {
		cfg.Password = []byte(*password)
	} else if pw := getenv("GRIDMQ_PASSWORD"); pw != "" {
		cfg.Password = []byte(pw)
	}
	if set["count"] && !set["duration"] {
		cfg.Duration = 0 // the count alone ends the run
	}
	if sc == bench.P2P && !set["subscribers"] {
		cfg.Subscribers = cfg.Publishers // one per pair; when given, it must say the same
	}
	if err := cfg.Validate(); err != nil {
		return cfg, false, err
	}
	return cfg, jsonOut, nil
}

func hasScenario(list []bench.Scenario, sc bench.Scenario) bool {
	for _, s := range list {
		if s == sc {
			return true
		}
	}
	return false
}

func benchHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: gridmq bench SCENARIO [flags]

Load an MQTT broker and measure it end to end. Every message carries its
publisher, a sequence number and its send time, so loss, duplicates and
latency are counted exactly.

Scenarios:
  conn     open --connections connections at --connect-rate and hold them
           for --duration; reports connections/s and connect errors
  pub      --publishers publishers (default 1), publisher i on PREFIX/i
  sub      --subscribers subscribers on PREFIX/+ counting what arrives
           (from a pub run elsewhere); runs until --duration, until each
           has --count messages from each of --publishers, or Ctrl-C;
           latency uses the publisher's clock, so run both on one host
  fanin    --publishers publishers (default 8) -> 1 subscriber on a wildcard
  fanout   1 publisher -> --subscribers subscribers (default 8)
  p2p      --publishers pairs (default 8), each pair on its own topic;
           --subscribers, if given, must be the same number

Flags:
  --addr HOST:PORT     broker address (default 127.0.0.1:20200)
  --version V          MQTT version: 3.1, 3.1.1 or 5 (or 3, 4, 5);
                       default 3.1.1
  --username NAME      user name to connect with
  --password PASS      password; GRIDMQ_PASSWORD is used when not given
  --qos N              QoS of publishes and subscriptions (default 0)
  --payload BYTES      payload size, at least 24 (default 64)
  --count N            messages per publisher
  --duration D         how long to publish (default 10s unless --count is
                       given); for conn, how long to hold the connections
  --rate N             messages/s per publisher (default 0: as fast as
                       possible)
  --inflight N         unacknowledged QoS 1/2 messages per publisher
                       (default 100; a v5 broker's Receive Maximum lowers it)
  --publishers N       number of publishers
  --subscribers N      number of subscribers
  --persistent         subscribers hold persistent sessions (3.1.1 Clean
                       Session 0, 5.0 Session Expiry Interval 1h), so the
                       broker must keep their QoS 1/2 messages until
                       acknowledged; after the run each session is
                       resumed, to check the broker kept it, then ended
  --connections N      conn: number of connections (default 1000)
  --connect-rate N     conn: connections/s (default 0: as fast as possible)
  --subscribe          conn: each connection subscribes to a topic of its
                       own (PREFIX/idle/N) at --qos, as a device would
  --topic-prefix P     topic prefix (default gridmq-bench); fanin, fanout
                       and p2p add a random run id after it
  --drain D            wait for the last deliveries after publishing stops,
                       at most this long (default 5s)
  --json               print one JSON object instead of the summary
  -h, --help           show this help

Latency is measured from the send to the arrival of each first delivery,
in a histogram precise to 0.4%; with --rate 0 it includes the wait for a
free in-flight slot, so use --rate to measure latency under a given load.

Exit status: 0 when the run completed (even with loss: the numbers say
it), 1 when it could not start (cannot connect, refused), 2 for bad flags.
`)
}
