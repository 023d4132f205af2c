package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gridmq/gridmq/internal/config"
	"github.com/gridmq/gridmq/internal/store"
)

// dataDirFor is where the broker keeps its state, or "" with the reason it
// keeps it in memory: data_dir when set; nowhere with persistence off;
// otherwise a directory named after the first listener's port under the
// state directory (dataRoot), so that brokers on one host, one per port as
// a site runs them, each have their own. A listener on port 0 gets a new
// port each start, under which no earlier state would be found: such a
// broker keeps its state in memory unless data_dir says where.
func dataDirFor(cfg *config.Config, getenv func(string) string, euid int) (dir, inMemory string) {
	switch {
	case !cfg.Persistence:
		return "", "persistence is false"
	case cfg.DataDir != "":
		return cfg.DataDir, ""
	case len(cfg.Listeners) == 0 || cfg.Listeners[0].Port == 0:
		return "", "the listener is on a random port; set data_dir to keep state across restarts"
	}
	root := dataRoot(getenv, euid)
	if root == "" {
		return "", "no state directory is known (no HOME); set data_dir"
	}
	return filepath.Join(root, strconv.Itoa(cfg.Listeners[0].Port)), ""
}

// dataRoot is the directory under which default data dirs go: the one
// systemd made for the service (StateDirectory=), /var/lib/gridmq for root,
// or the user's XDG state directory.
func dataRoot(getenv func(string) string, euid int) string {
	if d := getenv("STATE_DIRECTORY"); d != "" {
		d, _, _ = strings.Cut(d, ":") // systemd lists one per StateDirectory entry
		return d
	}
	if euid == 0 {
		return "/var/lib/gridmq"
	}
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "gridmq")
	}
	if home := getenv("HOME"); filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state", "gridmq")
	}
	return ""
}

// openDataDir opens the data dir dir. A Mosquitto persistence file found
// there is not read, and the operator is told so.
func openDataDir(cfg *config.Config, dir string, stderr io.Writer) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.db")); err == nil {
		fmt.Fprintf(stderr, "gridmq: %s holds mosquitto.db, which gridmq does not read: it keeps its own files beside it, and Mosquitto's retained messages and sessions are not carried over\n", dir)
	}
	o := store.Options{SyncEvery: cfg.DurabilityInterval}
	switch cfg.Durability {
	case "interval":
		o.Durability = store.Interval
	case "none":
		o.Durability = store.None
	}
	st, err := store.Open(dir, o)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, err // its message names the dir and the other process
		}
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return st, nil
}
