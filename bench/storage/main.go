// Command storage measures candidate storage engines for gridmq's data dir
// on the broker's own workload, so that the choice in
// docs/decisions/0006-storage-engine.md can be checked and repeated.
//
// The candidates are bbolt (go.etcd.io/bbolt), Pebble
// (github.com/cockroachdb/pebble/v2) and an append-only log of segment files
// with an in-memory index, written here with the standard library (applog.go).
// Each runs with real fsync: bbolt with NoSync false, Pebble with synced batch
// commits, the log with (*os.File).Sync.
//
// It reports, as Markdown tables:
//
//   - the floor: 4 KiB written and synced in a loop, with nothing else;
//   - fan-in: 1, 8 and 64 publishers each store a QoS 1 message (19-byte key:
//     session id and sequence number; 102-byte value) and wait until it is
//     durable, while the message stored -lag earlier is deleted, as the
//     subscriber's PUBACK would. One committer goroutine per engine drains
//     whatever is queued, writes it as one batch, syncs once and answers
//     every writer (group commit). Then the same at 64 publishers with
//     durability "interval" (sync every -interval, acknowledged at once) and
//     "none". Reported: acknowledged stores per second, fsyncs per second,
//     p50/p99 latency from request to acknowledgement, and the space on disk
//     at the end of the run;
//   - recovery: -recover-records messages over 1000 sessions, stored in
//     synced batches of 10000, closed, evicted from the page cache, then
//     reopened and scanned in key order in a fresh process: open and scan
//     time, peak RSS, and Go heap still live after the scan;
//   - churn: -churn-records messages stored and deleted with -backlog of
//     them alive at any time, then all deleted: peak space, space with no
//     live records left, and after a close and reopen.
//
// Usage, from the repository root (the module is nested, so gridmq itself
// never depends on the candidates):
//
//	go -C bench/storage run . [flags]
//
// Flags:
//
//	-dir DIR             work under DIR, which should be on the disk that will hold
//	                     the data dir (default: a new temporary directory in bench/out)
//	-engines LIST        comma-separated subset of bbolt,pebble,log
//	-duration D          length of each fan-in run (10s)
//	-writers LIST        publisher counts for durability sync (1,8,64)
//	-relaxed-writers N   publisher count for interval and none (64)
//	-interval D          fsync period for durability interval (10ms)
//	-lag N               messages a publisher's record lives before its delete (100)
//	-recover-records N   records for the recovery test (1000000)
//	-churn-records N     records for the churn test (2000000)
//	-backlog N           live records during churn (100000)
//	-segment-size BYTES  the log's segment size (16777216)
//	-floor D             length of each fsync floor loop (2s)
//	-keep                keep the data directories
//
// The defaults take a little over three minutes on two cores.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type config struct {
	dir            string
	engines        []string
	duration       time.Duration
	writers        []int
	relaxedWriters int
	interval       time.Duration
	lag            int
	recoverRecords int
	churnRecords   int
	backlog        int
	segmentSize    int64
	floor          time.Duration
	keep           bool
}

var openers = map[string]opener{
	"bbolt":  openBolt,
	"pebble": openPebble,
	"log":    openLog,
}

func main() {
	var (
		cfg         config
		engines     string
		writers     string
		childEngine string
	)
	flag.StringVar(&cfg.dir, "dir", "", "work under `DIR` (default: a new temporary directory in bench/out)")
	flag.StringVar(&engines, "engines", "bbolt,pebble,log", "comma-separated `LIST` of engines")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each fan-in run")
	flag.StringVar(&writers, "writers", "1,8,64", "comma-separated publisher counts for durability sync")
	flag.IntVar(&cfg.relaxedWriters, "relaxed-writers", 64, "publisher count for durability interval and none")
	flag.DurationVar(&cfg.interval, "interval", 10*time.Millisecond, "fsync period for durability interval")
	flag.IntVar(&cfg.lag, "lag", 100, "messages a publisher's record lives before its delete")
	flag.IntVar(&cfg.recoverRecords, "recover-records", 1_000_000, "records for the recovery test")
	flag.IntVar(&cfg.churnRecords, "churn-records", 2_000_000, "records for the churn test")
	flag.IntVar(&cfg.backlog, "backlog", 100_000, "live records during churn")
	flag.Int64Var(&cfg.segmentSize, "segment-size", 16<<20, "the log's segment size in bytes")
	flag.DurationVar(&cfg.floor, "floor", 2*time.Second, "length of each fsync floor loop")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the data directories")
	flag.StringVar(&childEngine, "recover-child", "", "internal: open and scan -dir with this engine and report")
	flag.Parse()
	log.SetFlags(0)

	if childEngine != "" {
		if err := recoverChild(childEngine, cfg); err != nil {
			log.Fatal(err)
		}
		return
	}

	cfg.engines = strings.Split(engines, ",")
	for _, e := range cfg.engines {
		if openers[e] == nil {
			log.Fatalf("unknown engine %q", e)
		}
	}
	for _, s := range strings.Split(writers, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			log.Fatalf("bad -writers %q", writers)
		}
		cfg.writers = append(cfg.writers, n)
	}
	made, err := workDir(cfg.dir)
	if err != nil {
		log.Fatal(err)
	}
	if cfg.dir == "" && !cfg.keep {
		defer os.RemoveAll(made)
	}
	cfg.dir = made
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

// workDir returns dir, created if needed, or a new temporary directory in
// the repository's bench/out, found by walking up from the working directory.
func workDir(dir string) (string, error) {
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o700)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "bench", "storage", "main.go")); err == nil {
			out := filepath.Join(d, "bench", "out")
			if err := os.MkdirAll(out, 0o755); err != nil {
				return "", err
			}
			return os.MkdirTemp(out, "storage-")
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no bench/storage above %s: pass -dir", wd)
		}
	}
}

func run(cfg config) error {
	progress := log.New(os.Stderr, "", 0)
	fmt.Printf("Go %s, %s/%s, %d CPUs (GOMAXPROCS %d), %s\ndir %s\n\n",
		strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), cfg.dir)

	progress.Print("fsync floor")
	floor, err := fsyncFloor(cfg)
	if err != nil {
		return err
	}
	fmt.Println("| floor | ops/s | p50 | p99 |")
	fmt.Println("|---|--:|--:|--:|")
	for _, f := range floor {
		fmt.Printf("| %s | %.0f | %s | %s |\n", f.name, float64(f.ops)/f.elapsed.Seconds(), dur(f.p50), dur(f.p99))
	}
	fmt.Println()

	type faninCase struct {
		mode    durability
		writers int
	}
	var cases []faninCase
	for _, w := range cfg.writers {
		cases = append(cases, faninCase{durabilitySync, w})
	}
	cases = append(cases, faninCase{durabilityInterval, cfg.relaxedWriters}, faninCase{durabilityNone, cfg.relaxedWriters})
	fmt.Printf("Fan-in, %s per run, delete after %d messages:\n\n", cfg.duration, cfg.lag)
	fmt.Println("| engine | durability | writers | acked stores/s | fsyncs/s | stores per fsync | p50 | p99 | disk at end |")
	fmt.Println("|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, name := range cfg.engines {
		for _, c := range cases {
			progress.Printf("fan-in %s %s %d", name, c.mode, c.writers)
			r, err := fanin(name, openers[name], cfg, c.mode, c.writers)
			if err != nil {
				return fmt.Errorf("fan-in %s %s %d: %w", name, c.mode, c.writers, err)
			}
			perSync := "-"
			if r.syncs > 0 {
				perSync = fmt.Sprintf("%.1f", float64(r.acked)/float64(r.syncs))
			}
			fmt.Printf("| %s | %s | %d | %.0f | %.0f | %s | %s | %s | %s |\n",
				r.engine, r.mode, r.writers, float64(r.acked)/r.elapsed.Seconds(),
				float64(r.syncs)/r.elapsed.Seconds(), perSync, dur(r.p50), dur(r.p99), mib(r.disk))
		}
	}
	fmt.Println()

	fmt.Printf("Recovery, %d records over 1000 sessions, page cache evicted before reopen:\n\n", cfg.recoverRecords)
	fmt.Println("| engine | fill (synced batches of 10000) | disk | open | scan in key order | open + scan | peak RSS | live heap after scan |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, name := range cfg.engines {
		progress.Printf("recovery %s", name)
		r, err := recovery(name, cfg)
		if err != nil {
			return fmt.Errorf("recovery %s: %w", name, err)
		}
		if r.scanned != r.records {
			return fmt.Errorf("recovery %s: scanned %d of %d records", name, r.scanned, r.records)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.engine, dur(r.fill), mib(r.disk),
			dur(r.open), dur(r.scan), dur(r.open+r.scan), mib(r.peakRSS), mib(r.heap))
	}
	fmt.Println()

	fmt.Printf("Churn, %d records stored and deleted, %d live at a time, then none:\n\n", cfg.churnRecords, cfg.backlog)
	fmt.Println("| engine | time | peak disk | disk with 0 live | after close + reopen |")
	fmt.Println("|---|--:|--:|--:|--:|")
	for _, name := range cfg.engines {
		progress.Printf("churn %s", name)
		r, err := churn(name, openers[name], cfg)
		if err != nil {
			return fmt.Errorf("churn %s: %w", name, err)
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.engine, dur(r.elapsed), mib(r.peak), mib(r.end), mib(r.afterReopen))
	}
	return nil
}

// recovery fills a data dir, closes it, evicts it from the page cache and
// has a fresh process reopen and scan it, so that the memory figures are the
// reopen's alone.
func recovery(name string, cfg config) (recoveryResult, error) {
	res := recoveryResult{engine: name, records: cfg.recoverRecords}
	dir := filepath.Join(cfg.dir, "recover-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	}
	eng, err := openers[name](dir, cfg)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := fillRecords(eng, cfg.recoverRecords, 1000, 10000); err != nil {
		eng.close()
		return res, err
	}
	res.fill = time.Since(start)
	if err := eng.close(); err != nil {
		return res, err
	}
	res.disk = dirSize(dir)
	evictPageCache(dir)

	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(self, "-recover-child", name, "-dir", dir,
		"-segment-size", strconv.FormatInt(cfg.segmentSize, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, err
	}
	var openNs, scanNs int64
	_, err = fmt.Sscan(string(out), &res.scanned, &openNs, &scanNs, &res.peakRSS, &res.heap)
	res.open, res.scan = time.Duration(openNs), time.Duration(scanNs)
	return res, err
}

// recoverChild is the fresh process of recovery: it prints the record count,
// open and scan time in nanoseconds, peak RSS and live heap in bytes.
func recoverChild(name string, cfg config) error {
	open := openers[name]
	if open == nil {
		return fmt.Errorf("unknown engine %q", name)
	}
	start := time.Now()
	eng, err := open(cfg.dir, cfg)
	if err != nil {
		return err
	}
	opened := time.Now()
	var bytes int
	n, err := eng.scan(func(k, v []byte) { bytes += len(k) + len(v) })
	if err != nil {
		return err
	}
	scanned := time.Now()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println(n, opened.Sub(start).Nanoseconds(), scanned.Sub(opened).Nanoseconds(), peakRSS(), ms.HeapAlloc)
	return eng.close()
}

// peakRSS reads VmHWM, the process's resident set high-water mark, in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
}

func mib(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
