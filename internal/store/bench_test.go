package store

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommit measures synced commits shaped like the broker's: a
// writer stores a 100-byte message under a 19-byte key and, in the same
// commit, deletes the one it stored 100 commits earlier.
func BenchmarkCommit(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("sync/writers=%d", writers), func(b *testing.B) {
			s := mustOpen(b, b.TempDir(), Options{})
			defer s.Close()
			payload := make([]byte, 100)
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						ops := []Op{{Kind: 'q', Key: fmt.Appendf(nil, "client-%06d\x00%06d", w, i%1000), Value: payload}}
						if i >= 100 {
							ops = append(ops, Op{Kind: 'q', Key: fmt.Appendf(nil, "client-%06d\x00%06d", w, (i-100)%1000), Delete: true})
						}
						if err := s.CommitWait(ops); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
			b.ReportMetric(float64(st.Fsyncs)/float64(b.N), "fsyncs/commit")
		})
	}
}

// BenchmarkOpen1M opens a data dir of 1,000,000 live 100-byte records and
// reports the heap the index keeps per record.
func BenchmarkOpen1M(b *testing.B) {
	const records = 1_000_000
	dir := b.TempDir()
	s := mustOpen(b, dir, Options{Durability: None})
	payload := make([]byte, 100)
	ops := make([]Op, 0, 10_000)
	for i := range records {
		ops = append(ops, Op{Kind: 'q', Key: fmt.Appendf(nil, "client-%06d\x00%08d", i%1000, i), Value: payload})
		if len(ops) == cap(ops) {
			mustCommit(b, s, nil, ops...)
			ops = ops[:0]
		}
	}
	mustClose(b, s)

	var heap float64
	for b.Loop() {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		s := mustOpen(b, dir, Options{})
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := s.Stats().LiveRecords; got != records {
			b.Fatalf("%d records", got)
		}
		heap = float64(after.HeapAlloc-before.HeapAlloc) / records
		mustClose(b, s)
		b.StartTimer()
	}
	b.ReportMetric(heap, "heap-B/record")
}
