package bench

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/brokertest"
	"github.com/gridmq/gridmq/internal/packet"
)

// startBroker runs the real broker on a loopback port until the test ends.
func startBroker(t *testing.T, lo broker.ListenerOptions) string {
	return brokertest.Start(t, brokertest.QuietOptions(), lo)
}

func testConfig(sc Scenario, addr string) Config {
	c := DefaultConfig(sc)
	c.Addr = addr
	c.Count = 500
	c.Duration = 0
	c.Drain = 10 * time.Second
	switch sc {
	case Fanin:
		c.Publishers = 4
	case Fanout:
		c.Subscribers = 3
	case P2P:
		c.Publishers, c.Subscribers = 5, 5
	}
	return c
}

// TestEndToEnd runs fanin, fanout and p2p through the real broker: every
// message must arrive once.
func TestEndToEnd(t *testing.T) {
	addr := startBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	before := runtime.NumGoroutine()
	for _, sc := range []Scenario{Fanin, Fanout, P2P} {
		for qos := byte(0); qos <= 1; qos++ {
			for _, version := range []byte{packet.V311, packet.V5} {
				c := testConfig(sc, addr)
				c.QoS, c.Version = qos, version
				res, err := Run(context.Background(), c)
				if err != nil {
					t.Fatalf("%s QoS %d v%d: %v", sc, qos, version, err)
				}
				want := map[Scenario]int{Fanin: 4 * 500, Fanout: 500 * 3, P2P: 5 * 500}[sc]
				if res.Sent != uint64(c.Count)*uint64(c.Publishers) || res.Expected != uint64(want) ||
					res.Delivered != res.Expected || res.Lost != 0 || res.Duplicated != 0 || res.Unrecognised != 0 {
					t.Errorf("%s QoS %d v%d: sent %d expected %d delivered %d lost %d duplicated %d unrecognised %d; errors %v",
						sc, qos, version, res.Sent, res.Expected, res.Delivered, res.Lost, res.Duplicated, res.Unrecognised, res.Errors)
				}
				if res.Samples != res.Delivered || res.LatencyUS.Max <= 0 || res.LatencyUS.P50 > res.LatencyUS.P99 {
					t.Errorf("%s: latency %+v from %d samples", sc, res.LatencyUS, res.Samples)
				}
				if res.Connections != c.Publishers+c.Subscribers || res.ElapsedS <= 0 || res.DeliveredPerSec <= 0 {
					t.Errorf("%s: %+v", sc, res)
				}
			}
		}
	}
	waitGoroutines(t, before)
}

// TestPubSub pairs a sub run and a pub run in one process.
func TestPubSub(t *testing.T) {
	addr := startBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	subCfg := testConfig(Sub, addr)
	subCfg.Subscribers, subCfg.Publishers, subCfg.Count = 2, 3, 200
	subCfg.QoS = 1
	ready := make(chan struct{})
	var once bool
	subCfg.Progress = func(p Progress) {
		if p.Phase == "receiving" && !once {
			once = true
			close(ready)
		}
	}
	type outcome struct {
		res *Result
		err error
	}
	subDone := make(chan outcome, 1)
	go func() {
		res, err := Run(context.Background(), subCfg)
		subDone <- outcome{res, err}
	}()
	select {
	case <-ready:
	case o := <-subDone:
		t.Fatalf("sub ended early: %v", o.err)
	}

	pubCfg := testConfig(Pub, addr)
	pubCfg.Publishers, pubCfg.Count, pubCfg.QoS = 3, 200, 1
	pub, err := Run(context.Background(), pubCfg)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Sent != 600 || pub.SentPerSec <= 0 || pub.Expected != 0 {
		t.Errorf("pub: %+v", pub)
	}
	o := <-subDone
	if o.err != nil {
		t.Fatal(o.err)
	}
	if s := o.res; s.Expected != 1200 || s.Delivered != 1200 || s.Lost != 0 || s.Duplicated != 0 {
		t.Errorf("sub: expected %d delivered %d lost %d duplicated %d", s.Expected, s.Delivered, s.Lost, s.Duplicated)
	}
}

func TestConn(t *testing.T) {
	addr := startBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	c := DefaultConfig(Conn)
	c.Addr, c.Connections, c.ConnectRate, c.Duration = addr, 200, 2000, 100*time.Millisecond
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Connections != 200 || res.ConnectErrors != 0 || res.ConnectPerSec <= 0 || res.ConnectPerSec > 2500 || res.Samples != 200 {
		t.Errorf("conn: %+v", res)
	}
	var out strings.Builder
	res.WriteText(&out)
	if !strings.Contains(out.String(), "connected    200") {
		t.Errorf("summary:\n%s", out.String())
	}
}

// TestSetupError: a refused connection ends the run with the reason code.
func TestSetupError(t *testing.T) {
	addr := startBroker(t, broker.ListenerOptions{AllowAnonymous: false})
	for _, sc := range []Scenario{Fanin, Conn} {
		c := testConfig(sc, addr)
		c.Connections = 5
		_, err := Run(context.Background(), c)
		if !errors.Is(err, packet.NotAuthorized) {
			t.Errorf("%s: %v, want not authorized", sc, err)
		}
	}
}

// TestDuration stops publishers by time and at a rate.
func TestDuration(t *testing.T) {
	addr := startBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	c := testConfig(Fanin, addr)
	c.Count, c.Duration, c.Rate, c.Publishers = 0, 500*time.Millisecond, 200, 2
	var lines []string
	var m ProgressMeter
	c.Progress = func(p Progress) { lines = append(lines, m.Line(p, 20)) }
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// 2 publishers x 200/s x 0.5 s: the messages due within the duration,
	// all of them unless a timer fired over 50 ms late.
	if res.Sent < 196 || res.Sent > 200 || res.Lost != 0 || res.Delivered != res.Sent {
		t.Errorf("sent %d delivered %d lost %d", res.Sent, res.Delivered, res.Lost)
	}
	if len(lines) == 0 || !strings.Contains(lines[0], "[") {
		t.Errorf("progress lines %q", lines)
	}
	var out strings.Builder
	res.WriteText(&out)
	t.Logf("\n%s%s", strings.Join(lines, "\n")+"\n", out.String())
}

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
