package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gridmq/gridmq/internal/client"
)

// importConfig is what `gridmq import-retained` was asked to do.
type importConfig struct {
	from, to     client.Options
	filter       string
	quiet        time.Duration // no new retained message for this long ends the collection, if the end marker does not come
	dryRun       bool
	connectLimit time.Duration
}

// runImportRetained is `gridmq import-retained --from HOST:PORT`: it copies
// the retained messages of a running broker (Mosquitto, whose mosquitto.db
// gridmq does not read, or another gridmq) into gridmq over MQTT. Exit
// status: 0 when every message was imported, 1 when a broker could not be
// reached or refused one, 2 for bad flags.
func runImportRetained(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseImport(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		importHelp(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "gridmq import-retained: %v\nRun 'gridmq import-retained --help' for the flags.\n", err)
		return 2
	}
	ctx := context.Background()
	msgs, err := collectRetained(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gridmq import-retained: reading %s: %v\n", cfg.from.Addr, err)
		return 1
	}
	if cfg.dryRun {
		for _, m := range msgs {
			fmt.Fprintf(stdout, "%s (QoS %d, %d bytes)\n", m.topic, m.qos, len(m.payload))
		}
		fmt.Fprintf(stdout, "gridmq import-retained: %d retained messages on %s matching %s; nothing written (--dry-run)\n", len(msgs), cfg.from.Addr, cfg.filter)
		return 0
	}
	if err := publishRetained(ctx, cfg, msgs); err != nil {
		fmt.Fprintf(stderr, "gridmq import-retained: writing to %s: %v\n", cfg.to.Addr, err)
		return 1
	}
	fmt.Fprintf(stdout, "gridmq import-retained: %d retained messages copied from %s to %s\n", len(msgs), cfg.from.Addr, cfg.to.Addr)
	return 0
}

func parseImport(args []string, getenv func(string) string) (importConfig, error) {
	cfg := importConfig{filter: "#", quiet: 2 * time.Second, connectLimit: 10 * time.Second}
	fs := flag.NewFlagSet("gridmq import-retained", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.from.Addr, "from", "", "")
	fs.StringVar(&cfg.to.Addr, "to", "127.0.0.1:20200", "")
	fs.StringVar(&cfg.from.Username, "from-username", "", "")
	fs.StringVar(&cfg.to.Username, "to-username", "", "")
	fs.StringVar(&cfg.filter, "filter", cfg.filter, "")
	fs.DurationVar(&cfg.quiet, "quiet", cfg.quiet, "")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.from.Addr == "" {
		return cfg, errors.New("--from HOST:PORT is required: the broker to copy from")
	}
	if cfg.quiet <= 0 {
		return cfg, fmt.Errorf("--quiet %v: must be above 0", cfg.quiet)
	}
	// Passwords come from the environment, so that they are not on the
	// command line, where ps shows them.
	if pw := getenv("GRIDMQ_FROM_PASSWORD"); pw != "" {
		cfg.from.Password = []byte(pw)
	}
	if pw := getenv("GRIDMQ_TO_PASSWORD"); pw != "" {
		cfg.to.Password = []byte(pw)
	}
	for _, o := range []*client.Options{&cfg.from, &cfg.to} {
		o.CleanStart = true
		o.KeepAlive = 30 * time.Second
		o.DialTimeout = cfg.connectLimit
	}
	return cfg, nil
}

// publishRetained publishes each message to the destination with the
// retain flag, at the QoS it was retained with, and waits until the QoS 1
// and 2 ones are acknowledged, which gridmq does once they are on disk.
func publishRetained(ctx context.Context, cfg importConfig, msgs []retainedMessage) error {
	c, _, err := client.Connect(ctx, cfg.to)
	if err != nil {
		return err
	}
	defer c.Disconnect()
	for _, m := range msgs {
		if err := c.Publish(ctx, m.topic, m.qos, true, m.payload); err != nil {
			return fmt.Errorf("%s: %w", m.topic, err)
		}
	}
	drainCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.Drain(drainCtx); err != nil {
		return err
	}
	return c.Flush(drainCtx)
}

func importHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: gridmq import-retained --from HOST:PORT [flags]

Copy the retained messages of a running broker into gridmq over MQTT: the
way to bring them over from Mosquitto, whose mosquitto.db gridmq does not
read. It lists the source's retained topics matching --filter with a QoS 0
subscription, then reads them at QoS 2 a hundred at a time, so that each
keeps the QoS it was retained with and none is dropped by the source's
queue limits. A round ends when a message the import publishes to a topic
of its own (gridmq/import-retained/...) after subscribing comes back, or,
if the source refuses that topic, when no retained message has come for
--quiet. Then it publishes each message to the destination, retained, and
waits for the QoS 1 and 2 ones to be acknowledged (gridmq acknowledges
once they are on disk).
MQTT 3.1.1 on both sides; $SYS topics are not matched by # and not copied.

Flags:
  --from HOST:PORT       the broker to copy from (required)
  --to HOST:PORT         the gridmq to copy into (default 127.0.0.1:20200)
  --from-username NAME   user name on the source; its password is read
                         from GRIDMQ_FROM_PASSWORD
  --to-username NAME     user name on the destination; its password is read
                         from GRIDMQ_TO_PASSWORD
  --filter FILTER        which retained messages (default #)
  --quiet D              how long without a new retained message ends a
                         round, if the source does not send back the
                         import's own message (default 2s)
  --dry-run              list what would be copied; write nothing
  -h, --help             show this help

Exit status: 0 when every message was copied, 1 when a broker could not be
reached or refused a message, 2 for bad flags.
`)
}
