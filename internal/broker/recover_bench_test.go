package broker

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// BenchmarkRecoverQueued measures a start on a data dir that holds n QoS 1
// messages of 64 bytes queued for one offline persistent session: opening
// the store (which replays the log) and Recover, which rebuilds the queue.
// It reports the time of one start and the heap it leaves per queued
// message. bench/startup.sh measures the same through the real binary,
// beside Mosquitto.
//
//	go test -run x -bench RecoverQueued -benchtime 3x ./internal/broker
func BenchmarkRecoverQueued(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "data")
			writeQueued(b, dir, n)
			var heap uint64
			for b.Loop() {
				before := liveHeap()
				st, err := store.Open(dir, store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				srv := New(quietOptions())
				srv.opts.Durable = st
				rec, err := srv.Recover()
				if err != nil || rec.Queued != n {
					b.Fatalf("Recover = %+v, %v; want %d queued", rec, err, n)
				}
				b.StopTimer()
				heap = liveHeap() - before
				runtime.KeepAlive(srv)
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/float64(n), "heap-B/msg")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/start")
		})
	}
}

// writeQueued fills dir as a broker would that queued n messages for one
// persistent session whose client is away.
func writeQueued(b *testing.B, dir string, n int) {
	b.Helper()
	st, err := store.Open(dir, store.Options{Durability: store.None})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sess := sessionState{incarnation: 7}
	rec := sessionRecord{version: packet.V311, expiry: neverExpires, disconnected: time.Now(), incarnation: sess.incarnation}
	if err := st.CommitWait([]store.Op{
		{Kind: kindSession, Key: []byte("meter-reader"), Value: rec.append(nil)},
		{Kind: kindSubscription, Key: subscriptionKey("meter-reader", "site/#"), Value: appendSubOptions(nil, subOptions{QoS: 1})},
	}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 64)
	const batch = 1000
	ops := make([]store.Op, 0, batch)
	for i := range n {
		m := &session.Message{Topic: fmt.Sprintf("site/%d/meter/%d", i%50, i%7), Payload: payload, QoS: 1}
		ops = append(ops, store.Op{Kind: kindQueued, Key: sess.queuedKey(uint64(i + 1)), Value: appendQueuedRecord(nil, &session.Delivery{Msg: m, QoS: 1})})
		if len(ops) == batch || i == n-1 {
			if err := st.CommitWait(ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
