package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gridmq/gridmq/internal/config"
	"github.com/gridmq/gridmq/internal/store"
)

// openDataDir opens the data dir a configuration names, or returns nil when
// it names none. A Mosquitto persistence file found there is not read, and
// the operator is told so.
func openDataDir(cfg *config.Config, stderr io.Writer) (*store.Store, error) {
	if cfg.DataDir == "" {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "mosquitto.db")); err == nil {
		fmt.Fprintf(stderr, "gridmq: %s holds mosquitto.db, which gridmq does not read: it keeps its own files beside it, and Mosquitto's retained messages and sessions are not carried over\n", cfg.DataDir)
	}
	o := store.Options{SyncEvery: cfg.DurabilityInterval}
	switch cfg.Durability {
	case "interval":
		o.Durability = store.Interval
	case "none":
		o.Durability = store.None
	}
	st, err := store.Open(cfg.DataDir, o)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, err // its message names the dir and the other process
		}
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	return st, nil
}
