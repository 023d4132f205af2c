package main

import (
	"time"
)

// op is one change to the store: a put, or a delete when value is nil.
type op struct {
	key   []byte
	value []byte
}

// engine is the seam every candidate implements; internal/store would hide
// one of these behind the broker's store interface.
type engine interface {
	// apply writes ops as one atomic batch. With sync it returns only once
	// the batch is on stable storage. The caller may reuse the slices of ops
	// after apply returns.
	apply(ops []op, sync bool) error
	// sync makes everything applied so far durable.
	sync() error
	// scan calls fn for every record in key order and returns how many it saw.
	scan(fn func(key, value []byte)) (int, error)
	close() error
}

type opener func(dir string, cfg config) (engine, error)

// durability says when a commit reaches stable storage.
type durability string

const (
	durabilitySync     durability = "sync"     // fsync before the acknowledgement
	durabilityInterval durability = "interval" // acknowledge at once, fsync every interval
	durabilityNone     durability = "none"     // leave it to the kernel
)

// request is one writer's change, answered on done once committed (and, in
// sync mode, durable). Each writer owns one request and reuses it, so at most
// one request per writer is ever queued.
type request struct {
	ops  [2]op
	n    int
	done chan error // capacity 1
}

// committer is the group-commit loop: it takes whatever requests are queued,
// writes them as one batch, makes that batch durable with one fsync, then
// answers all of them.
type committer struct {
	eng      engine
	mode     durability
	interval time.Duration
	maxBatch int
	reqs     chan *request // capacity = writers; each writer has at most one request queued

	commits int64 // batches written; read after run returns
	syncs   int64 // fsyncs issued; read after run returns
}

// run owns the engine's write side until reqs is closed.
func (c *committer) run() error {
	var tick <-chan time.Time
	if c.mode == durabilityInterval {
		t := time.NewTicker(c.interval)
		defer t.Stop()
		tick = t.C
	}
	var (
		waiting []*request
		batch   []op
		dirty   bool
	)
	for {
		select {
		case r, ok := <-c.reqs:
			if !ok {
				if dirty {
					c.syncs++
					return c.eng.sync()
				}
				return nil
			}
			waiting = append(waiting[:0], r)
			closed := false
		drain:
			for len(waiting) < c.maxBatch {
				select {
				case r, ok := <-c.reqs:
					if !ok {
						closed = true
						break drain
					}
					waiting = append(waiting, r)
				default:
					break drain
				}
			}
			batch = batch[:0]
			for _, w := range waiting {
				batch = append(batch, w.ops[:w.n]...)
			}
			sync := c.mode == durabilitySync
			err := c.eng.apply(batch, sync)
			c.commits++
			if sync {
				c.syncs++
			} else {
				dirty = true
			}
			for _, w := range waiting {
				w.done <- err
			}
			if closed {
				if dirty {
					c.syncs++
					return c.eng.sync()
				}
				return nil
			}
		case <-tick:
			if dirty {
				if err := c.eng.sync(); err != nil {
					return err
				}
				c.syncs++
				dirty = false
			}
		}
	}
}
