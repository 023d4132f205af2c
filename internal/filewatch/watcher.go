// Package filewatch notices when a few small files change, so that the broker can reload its
// password and ACL files without a SIGHUP. It polls: see docs/decisions/0005-file-watching.md
// for why that is sounder than inotify for files replaced by rename.
//
// A file counts as changed when it is replaced by another file (editors, Ansible and
// mosquitto_passwd write a temporary file and rename it over the old one), when its size or
// modification time changes, or, for files under MaxHashed bytes, when its content changes
// while both stay the same (two writes within one tick of a coarse file system clock). A file
// that disappears or becomes unreadable is reported too: the caller's load then fails and it
// keeps the rules it has, and when the file comes back it is reported again.
//
// This package is a leaf: it must never import the broker.
package filewatch

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultInterval is the polling interval New uses when given zero. A change is reported after
// two polls at most, one to see it and one to see it settled, so within about 1 s.
const DefaultInterval = 500 * time.Millisecond

// Watcher polls a fixed list of files.
type Watcher struct {
	paths    []string               // immutable
	interval time.Duration          // immutable
	onChange func(changed []string) // called by Run only, never under mu

	mu       sync.Mutex    // guards the fields below; held while polling
	reported []fingerprint // per path: the state last reported, or found by New
	seen     []fingerprint // per path: the state found by the latest poll
	hash     maphash.Hash  // reused for every file's content
	buf      []byte        // read buffer for hashing
}

// New returns a Watcher of paths that calls onChange from Run. It records each file's current
// state, so a caller that creates the Watcher before loading the files cannot miss a change
// made while it loads them. An interval of zero or less means DefaultInterval.
func New(paths []string, interval time.Duration, onChange func(changed []string)) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	w := &Watcher{
		paths:    append([]string(nil), paths...),
		interval: interval,
		onChange: onChange,
		reported: make([]fingerprint, len(paths)),
		seen:     make([]fingerprint, len(paths)),
		buf:      make([]byte, 32<<10),
	}
	for i, path := range w.paths {
		w.reported[i] = w.take(path)
	}
	copy(w.seen, w.reported)
	return w
}

// Run polls every interval until ctx is done, and calls onChange with the paths, in the order
// given to New, that changed since they were last reported. A change is reported only once a
// poll finds the file as the previous poll did, so a file written in several steps, or deleted
// and then created again, is reported once, settled, rather than loaded half written. Run starts
// no goroutine; onChange runs on Run's, and polling waits while it runs.
func (w *Watcher) Run(ctx context.Context) {
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if changed := w.poll(true); len(changed) > 0 {
			w.onChange(changed)
		}
	}
}

// Check polls once and returns the paths that changed since they were last reported, without
// waiting for them to settle, and counts them as reported: Run will not report them again. It
// suits a forced reload, such as on SIGHUP, and may be called while Run runs.
func (w *Watcher) Check() []string {
	return w.poll(false)
}

// poll takes every file's fingerprint and returns the paths to report; if settled, only those
// the previous poll found in the same state.
func (w *Watcher) poll(settled bool) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var changed []string
	for i, path := range w.paths {
		now := w.take(path)
		stable := now.same(w.seen[i])
		w.seen[i] = now
		if (stable || !settled) && !now.same(w.reported[i]) {
			w.reported[i] = now
			changed = append(changed, path)
		}
	}
	return changed
}
