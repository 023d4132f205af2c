package main

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A stored QoS 1 message as the broker would keep it: the key is the session
// id followed by the big-endian sequence number, so a session's queue is one
// contiguous key range in delivery order; the value is a small header, the
// topic and a 64-byte payload, 102 bytes in all.
const (
	payloadSize = 64
	topicName   = "site/0042/device/0007/telemetry"
)

func sessionID(i int) string { return fmt.Sprintf("client-%05d", i) }

func appendKey(dst []byte, session string, seq uint64) []byte {
	dst = append(dst[:0], session...)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// messageValue is flags (1 byte: QoS, retain, dup), message expiry (4), topic
// length (2), topic, payload.
func messageValue() []byte {
	v := []byte{0x01, 0, 0, 0x0e, 0x10}
	v = binary.BigEndian.AppendUint16(v, uint16(len(topicName)))
	v = append(v, topicName...)
	for i := range payloadSize {
		v = append(v, byte(i))
	}
	return v
}

type faninResult struct {
	engine   string
	mode     durability
	writers  int
	elapsed  time.Duration
	acked    int
	commits  int64
	syncs    int64
	p50, p99 time.Duration
	disk     int64
}

// fanin runs writers publishers against one engine for cfg.duration. Each
// writer stores a message, waits for its acknowledgement (durable in sync
// mode) and, cfg.lag messages later, deletes it again together with the next
// store, as the subscriber's PUBACK would.
func fanin(name string, open opener, cfg config, mode durability, writers int) (faninResult, error) {
	res := faninResult{engine: name, mode: mode, writers: writers}
	dir := filepath.Join(cfg.dir, fmt.Sprintf("fanin-%s-%s-%d", name, mode, writers))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	}
	eng, err := open(dir, cfg)
	if err != nil {
		return res, err
	}
	c := &committer{
		eng:      eng,
		mode:     mode,
		interval: cfg.interval,
		maxBatch: writers,
		reqs:     make(chan *request, writers),
	}
	committed := make(chan error, 1)
	go func() { committed <- c.run() }()

	value := messageValue()
	latencies := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var failed error
	var failOnce sync.Once
	for w := range writers {
		wg.Go(func() {
			session := sessionID(w)
			r := &request{done: make(chan error, 1)}
			lat := make([]time.Duration, 0, 1<<14)
			for seq := uint64(0); time.Now().Before(deadline); seq++ {
				r.ops[0] = op{key: appendKey(r.ops[0].key, session, seq), value: value}
				r.n = 1
				if seq >= uint64(cfg.lag) {
					r.ops[1] = op{key: appendKey(r.ops[1].key, session, seq-uint64(cfg.lag))}
					r.n = 2
				}
				t := time.Now()
				c.reqs <- r
				if err := <-r.done; err != nil {
					failOnce.Do(func() { failed = err })
					break
				}
				lat = append(lat, time.Since(t))
			}
			latencies[w] = lat
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(c.reqs)
	if err := <-committed; err != nil && failed == nil {
		failed = err
	}
	res.commits, res.syncs = c.commits, c.syncs
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	res.acked = len(all)
	slices.Sort(all)
	res.p50, res.p99 = percentile(all, 0.50), percentile(all, 0.99)
	res.disk = dirSize(dir)
	if err := eng.close(); err != nil && failed == nil {
		failed = err
	}
	return res, failed
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

type recoveryResult struct {
	engine     string
	records    int
	fill       time.Duration
	disk       int64
	open, scan time.Duration
	scanned    int
	peakRSS    int64
	heap       int64
}

// fillRecords stores n messages spread over sessions, in batches of batch,
// synced, the way a broker with many offline sessions accumulates them.
func fillRecords(eng engine, n, sessions, batch int) error {
	value := messageValue()
	ops := make([]op, 0, batch)
	perSession := (n + sessions - 1) / sessions
	done := 0
	for seq := 0; seq < perSession && done < n; seq++ {
		for s := 0; s < sessions && done < n; s++ {
			ops = append(ops, op{key: appendKey(nil, sessionID(s), uint64(seq)), value: value})
			done++
			if len(ops) == batch {
				if err := eng.apply(ops, true); err != nil {
					return err
				}
				ops = ops[:0]
			}
		}
	}
	if len(ops) > 0 {
		return eng.apply(ops, true)
	}
	return nil
}

type churnResult struct {
	engine      string
	records     int
	elapsed     time.Duration
	peak        int64
	end         int64 // live records zero, engine still open
	afterReopen int64
}

// churn stores cfg.churnRecords messages and deletes each once cfg.backlog
// newer ones exist, then deletes the rest: a queue that fills to the backlog,
// runs at that depth, and drains to empty. Batches of 1000 stores plus their
// deletes are synced one by one.
func churn(name string, open opener, cfg config) (churnResult, error) {
	res := churnResult{engine: name, records: cfg.churnRecords}
	dir := filepath.Join(cfg.dir, "churn-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	}
	eng, err := open(dir, cfg)
	if err != nil {
		return res, err
	}
	const batch, sessions = 1000, 64
	value := messageValue()
	key := func(seq int) []byte {
		return appendKey(nil, sessionID(seq%sessions), uint64(seq/sessions))
	}
	start := time.Now()
	ops := make([]op, 0, 2*batch)
	deleted, batches := 0, 0
	for put := 0; put < cfg.churnRecords || deleted < cfg.churnRecords; {
		ops = ops[:0]
		for i := 0; i < batch && put < cfg.churnRecords; i++ {
			ops = append(ops, op{key: key(put), value: value})
			put++
		}
		for deleted < put && (put-deleted > cfg.backlog || put == cfg.churnRecords) && len(ops) < 2*batch {
			ops = append(ops, op{key: key(deleted)})
			deleted++
		}
		if err := eng.apply(ops, true); err != nil {
			eng.close()
			return res, err
		}
		if batches++; batches%50 == 0 {
			res.peak = max(res.peak, dirSize(dir))
		}
	}
	res.elapsed = time.Since(start)
	res.end = dirSize(dir)
	res.peak = max(res.peak, res.end)
	if err := eng.close(); err != nil {
		return res, err
	}
	eng, err = open(dir, cfg)
	if err != nil {
		return res, err
	}
	if err := eng.close(); err != nil {
		return res, err
	}
	res.afterReopen = dirSize(dir)
	return res, nil
}

// dirSize is the space the files under dir occupy on disk (allocated blocks,
// as du reports), which counts preallocation and leaves out holes.
func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

// evictPageCache asks the kernel to drop the cached pages of every file under
// dir, so that a reopen reads from the disk rather than from memory. It needs
// no privileges, unlike /proc/sys/vm/drop_caches; the hypervisor's cache, if
// any, is out of its reach.
func evictPageCache(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		return nil
	})
}

type floorResult struct {
	name     string
	ops      int
	elapsed  time.Duration
	p50, p99 time.Duration
}

// fsyncFloor measures the disk alone: 4 KiB written and synced in a loop,
// appended (the file grows, so its size must be synced too) or overwritten
// in place, synced with fsync or fdatasync.
func fsyncFloor(cfg config) ([]floorResult, error) {
	kinds := []struct {
		name   string
		append bool
		sync   func(*os.File) error
	}{
		{"append 4 KiB + fsync", true, (*os.File).Sync},
		{"overwrite 4 KiB + fsync", false, (*os.File).Sync},
		{"overwrite 4 KiB + fdatasync", false, func(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }},
	}
	block := make([]byte, 4096)
	var out []floorResult
	for _, k := range kinds {
		path := filepath.Join(cfg.dir, "floor.dat")
		f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		if !k.append {
			if _, err := f.WriteAt(block, 0); err != nil {
				return nil, err
			}
			if err := f.Sync(); err != nil {
				return nil, err
			}
		}
		var lat []time.Duration
		start := time.Now()
		var off int64
		for time.Since(start) < cfg.floor {
			t := time.Now()
			if _, err := f.WriteAt(block, off); err != nil {
				return nil, err
			}
			if k.append {
				off += int64(len(block))
			}
			if err := k.sync(f); err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t))
		}
		r := floorResult{name: k.name, ops: len(lat), elapsed: time.Since(start)}
		slices.Sort(lat)
		r.p50, r.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
		out = append(out, r)
		f.Close()
		os.Remove(path)
	}
	return out, nil
}
