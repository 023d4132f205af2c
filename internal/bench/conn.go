package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gridmq/gridmq/internal/client"
	"github.com/gridmq/gridmq/internal/packet"
)

// conn opens Connections connections at ConnectRate (at most
// connectParallel being set up at once), holds them for Duration and
// disconnects them. A failed connection is counted, not fatal, unless none
// succeeds.
func (r *run) conn(ctx context.Context) (*Result, error) {
	c := r.cfg
	stopProgress := r.startProgress()
	defer stopProgress()

	clients := make([]*client.Client, c.Connections)
	var (
		mu       sync.Mutex // guards connTime, lastAck and firstErr
		connTime Histogram  // dial to CONNACK
		lastAck  time.Time
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, connectParallel)
		interval float64 // nanoseconds between connection starts
	)
	if c.ConnectRate > 0 {
		interval = 1e9 / c.ConnectRate
	}
	start := time.Now()
	r.started.Store(start.UnixNano())
	for i := range c.Connections {
		if interval > 0 && !sleepUntil(ctx, start.Add(time.Duration(float64(i)*interval))) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			cl, _, err := client.Connect(ctx, r.clientOptions("c", i))
			if err != nil {
				if ctx.Err() == nil {
					r.failed.Add(1)
					r.addErr("connection %d: %v", i, err)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
				}
				return
			}
			if c.Subscribe {
				sub := packet.Subscription{Filter: fmt.Sprintf("%s/idle/%d", c.TopicPrefix, i), QoS: c.QoS}
				if _, err := cl.Subscribe(ctx, sub); err != nil {
					cl.Close()
					if ctx.Err() == nil {
						r.failed.Add(1)
						r.addErr("connection %d: subscribe: %v", i, err)
					}
					return
				}
			}
			now := time.Now()
			mu.Lock()
			connTime.Record(int64(now.Sub(t0)))
			if now.After(lastAck) {
				lastAck = now
			}
			mu.Unlock()
			clients[i] = cl
			r.connected.Add(1)
		})
	}
	wg.Wait()
	connected := int(r.connected.Load())
	if connected == 0 {
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		return nil, fmt.Errorf("no connection succeeded: %w", firstErr)
	}
	connecting := lastAck.Sub(start)

	if c.Duration > 0 && ctx.Err() == nil {
		r.phase.Store("holding")
		hold := time.Now()
		r.started.Store(hold.UnixNano())
		sleepUntil(ctx, hold.Add(c.Duration))
	}
	dropped := 0
	for i, cl := range clients {
		if cl == nil {
			continue
		}
		select {
		case <-cl.Done():
			dropped++
			r.addErr("connection %d lost: %v", i, cl.Err())
		default:
		}
	}
	r.phase.Store("closing")
	disconnectAll(clients)

	res := r.baseResult()
	res.Interrupted = ctx.Err() != nil
	res.Connections = connected - dropped
	res.Dropped = dropped
	res.ElapsedS = round(connecting.Seconds(), 3)
	res.ConnectPerSec = perSec(uint64(connected), connecting)
	res.LatencyUS = latencyOf(&connTime)
	res.Samples = connTime.Count()
	return res, nil
}
