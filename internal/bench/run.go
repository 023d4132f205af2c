package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridmq/gridmq/internal/client"
	"github.com/gridmq/gridmq/internal/packet"
)

const (
	// connectParallel bounds the connections being set up at once, so a
	// large run does not overflow the broker's listen backlog.
	connectParallel = 64
	// maxErrors is how many error messages a Result keeps.
	maxErrors = 5
	// pollInterval is how often the end of a run is checked for.
	pollInterval = 2 * time.Millisecond
	// rateTick is the finest step of a publisher's --rate: above one
	// message per tick it wakes once a tick and sends what has come due
	// (late by less than a tick, never early).
	rateTick = time.Millisecond
	// pacedGrace is how long after the end of its duration a paced
	// publisher may still send a message that was due before it.
	pacedGrace = 50 * time.Millisecond
)

// Run runs cfg.Scenario and returns what it measured. An error means the
// run could not be set up: a bad configuration, a connection or
// subscription refused or failing. Trouble once it runs (a connection
// lost) shows in the Result's counts and Errors. When ctx ends the run
// stops and reports what it has, marked Interrupted.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := newRun(cfg)
	if cfg.Scenario == Conn {
		return r.conn(ctx)
	}
	return r.messages(ctx)
}

// run is the state of one Run.
type run struct {
	cfg     Config
	id      string // random, in client identifiers and end-to-end topics
	created time.Time

	phase     atomic.Value // string, for the progress display
	started   atomic.Int64 // Unix nanoseconds when publishing started; 0 before
	connected atomic.Int64
	failed    atomic.Int64

	sent    []atomic.Uint64 // by publisher
	tallies []*Tally        // by subscriber
	// persisted is, by subscriber, whether its persistent session may be
	// on the broker, left for endSessions to end.
	persisted []atomic.Bool

	errMu  sync.Mutex // guards the fields below
	errs   []string
	errN   int
	lastMu sync.Mutex // guards loopEnd
	// loopEnd is when the last publisher stopped publishing (before it
	// waited for its acknowledgements).
	loopEnd time.Time
}

func newRun(cfg Config) *run {
	r := &run{cfg: cfg, id: runID(), created: time.Now()}
	r.phase.Store("connecting")
	return r
}

func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (r *run) addErr(format string, args ...any) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errN++
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// base is the start of every topic of the run.
func (r *run) base() string {
	if r.cfg.Scenario.endToEnd() {
		return r.cfg.TopicPrefix + "/" + r.id
	}
	return r.cfg.TopicPrefix
}

// pubTopic is the topic publisher i publishes on.
func (r *run) pubTopic(i int) string { return r.base() + "/" + strconv.Itoa(i) }

// subFilter is the topic filter of subscriber i.
func (r *run) subFilter(i int) string {
	switch r.cfg.Scenario {
	case Fanout:
		return r.pubTopic(0)
	case P2P:
		return r.pubTopic(i)
	}
	return r.base() + "/+"
}

// clientOptions are the options of the client named kind+index.
func (r *run) clientOptions(kind string, i int) client.Options {
	c := r.cfg
	return client.Options{
		Addr:       c.Addr,
		ClientID:   fmt.Sprintf("bench-%s-%s%d", r.id, kind, i), // 23 characters at most up to 10^7 clients (3.1)
		Version:    c.Version,
		Username:   c.Username,
		Password:   c.Password,
		CleanStart: true,
		KeepAlive:  c.KeepAlive,
		Inflight:   c.Inflight,
	}
}

// connectAll connects n clients with up to connectParallel at once;
// connected, when not nil, sees each CONNACK and may refuse it. On the
// first failure it stops, closes those connected and returns the error.
func (r *run) connectAll(ctx context.Context, n int, kind string, opts func(i int) client.Options,
	connected func(i int, ack *packet.Connack) error) ([]*client.Client, error) {
	clients := make([]*client.Client, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		sem      = make(chan struct{}, connectParallel)
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c, ack, err := client.Connect(ctx, opts(i))
			if err == nil && connected != nil {
				if err = connected(i, ack); err != nil {
					c.Close()
				}
			}
			if err != nil {
				if ctx.Err() == nil { // not one cut short by an earlier failure
					r.failed.Add(1)
				}
				once.Do(func() {
					firstErr = fmt.Errorf("connecting %s %d: %w", kindName(kind), i, err)
					cancel()
				})
				return
			}
			r.connected.Add(1)
			clients[i] = c
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(clients)
		return nil, firstErr
	}
	return clients, nil
}

func kindName(kind string) string {
	switch kind {
	case "p":
		return "publisher"
	case "s":
		return "subscriber"
	}
	return "connection"
}

// closeAll closes every client, several at once.
func closeAll(clients []*client.Client) {
	forEach(clients, func(c *client.Client) { c.Close() })
}

// disconnectAll sends DISCONNECT on every client, several at once.
func disconnectAll(clients []*client.Client) {
	forEach(clients, func(c *client.Client) { c.Disconnect() })
}

func forEach(clients []*client.Client, fn func(*client.Client)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, connectParallel)
	for _, c := range clients {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(c)
		})
	}
	wg.Wait()
}

// startProgress calls cfg.Progress about four times a second until the
// returned function is called.
func (r *run) startProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.cfg.Progress(r.snapshot())
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func (r *run) snapshot() Progress {
	c := r.cfg
	p := Progress{
		Phase:     r.phase.Load().(string),
		Connected: int(r.connected.Load()),
		Failed:    int(r.failed.Load()),
		Fraction:  -1,
	}
	var since time.Time
	if s := r.started.Load(); s != 0 {
		since = time.Unix(0, s)
	} else {
		since = r.created
	}
	p.Elapsed = time.Since(since)
	sent := make([]uint64, len(r.sent))
	for i := range r.sent {
		sent[i] = r.sent[i].Load()
		p.Sent += sent[i]
	}
	for _, t := range r.tallies {
		if t != nil {
			p.Delivered += t.received.Load()
		}
	}
	if c.Scenario.endToEnd() {
		p.Expected = Expected(c.Scenario, sent, len(r.tallies))
	}
	switch {
	case p.Phase == "connecting":
		want := c.Publishers + c.Subscribers
		if c.Scenario == Conn {
			want = c.Connections
		}
		p.Fraction = float64(p.Connected+p.Failed) / float64(max(want, 1))
	case p.Phase == "holding":
		p.Fraction = p.Elapsed.Seconds() / max(c.Duration.Seconds(), 1e-9)
	case c.Scenario.endToEnd() && c.Count > 0:
		all := make([]uint64, c.Publishers)
		for i := range all {
			all[i] = c.Count
		}
		p.Fraction = float64(p.Delivered) / float64(max(Expected(c.Scenario, all, len(r.tallies)), 1))
	case c.Scenario == Pub && c.Count > 0:
		p.Fraction = float64(p.Sent) / float64(c.Count*uint64(c.Publishers))
	case c.Scenario == Sub && c.Count > 0:
		p.Fraction = float64(p.Delivered) / float64(c.Count*uint64(c.Publishers*c.Subscribers))
	case c.Duration > 0:
		p.Fraction = p.Elapsed.Seconds() / c.Duration.Seconds()
	}
	if p.Phase == "draining" && p.Expected > 0 {
		p.Fraction = float64(p.Delivered) / float64(p.Expected)
	}
	return p
}

// messages runs every scenario but conn.
func (r *run) messages(ctx context.Context) (*Result, error) {
	c := r.cfg
	sc := c.Scenario
	npub, nsub := 0, 0
	if sc.publishes() {
		npub = c.Publishers
	}
	if sc != Pub {
		nsub = c.Subscribers
	}
	r.sent = make([]atomic.Uint64, npub)
	r.tallies = make([]*Tally, nsub)
	for i := range r.tallies {
		r.tallies[i] = new(Tally)
	}
	r.persisted = make([]atomic.Bool, nsub)
	stopProgress := r.startProgress()
	defer stopProgress()

	subs, err := r.connectAll(ctx, nsub, "s", func(i int) client.Options {
		o := r.subscriberOptions(i)
		t := r.tallies[i]
		o.OnMessage = func(m *client.Message) { t.Record(m.Payload, time.Now().UnixNano()) }
		return o
	}, r.subscriberConnected)
	if err != nil {
		r.endSessions(ctx)
		return nil, err
	}
	if err := r.subscribeAll(ctx, subs); err != nil {
		closeAll(subs)
		r.endSessions(ctx)
		return nil, err
	}
	pubs, err := r.connectAll(ctx, npub, "p", func(i int) client.Options { return r.clientOptions("p", i) }, nil)
	if err != nil {
		closeAll(subs)
		r.endSessions(ctx)
		return nil, err
	}

	start := time.Now()
	r.started.Store(start.UnixNano())
	var publishing time.Duration
	if sc == Sub {
		r.phase.Store("receiving")
		r.awaitSubscribers(ctx, start)
	} else {
		r.phase.Store("publishing")
		var wg sync.WaitGroup
		for i, p := range pubs {
			wg.Go(func() { r.publish(ctx, i, p, start) })
		}
		wg.Wait()
		publishing = time.Since(start)
		if sc.endToEnd() {
			r.phase.Store("draining")
			r.awaitDeliveries(ctx)
		}
	}

	r.phase.Store("closing")
	disconnectAll(pubs)
	disconnectAll(subs) // the tallies are complete once the readers have ended
	r.endSessions(ctx)
	for i, p := range pubs {
		if err := p.Err(); err != nil {
			r.addErr("publisher %d: %v", i, err)
		}
	}
	for i, s := range subs {
		if err := s.Err(); err != nil {
			r.addErr("subscriber %d: %v", i, err)
		}
	}
	return r.result(ctx, start, publishing), nil
}

// subscribeAll subscribes every subscriber to its filter.
func (r *run) subscribeAll(ctx context.Context, subs []*client.Client) error {
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, connectParallel)
	for i, s := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = s.Subscribe(ctx, packet.Subscription{Filter: r.subFilter(i), QoS: r.cfg.QoS})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("subscribing subscriber %d to %q: %w", i, r.subFilter(i), err)
		}
	}
	return nil
}

// publish is publisher i's loop: Count messages or until Duration, at Rate,
// then the wait for the acknowledgements.
func (r *run) publish(ctx context.Context, i int, c *client.Client, start time.Time) {
	cfg := r.cfg
	pctx := ctx
	var stopAt time.Time
	if cfg.Duration > 0 {
		// At a rate, the messages due before stopAt are sent, the last ones
		// up to a tick after it, or later when timers fire late on a busy
		// machine: the deadline, which also ends a wait for the window,
		// allows for that.
		stopAt = start.Add(cfg.Duration)
		deadline := stopAt
		if cfg.Rate > 0 {
			deadline = deadline.Add(pacedGrace)
		}
		var cancel context.CancelFunc
		pctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	// Message seq is due at start + offset + seq*interval: the publishers
	// are spread over an interval. Faster than one message a tick, a
	// publisher wakes on a grid of ticks (spread over a tick in the same
	// way) and sends what has come due, back to back: a timer per message
	// would cost more than the message.
	var interval, offset float64 // nanoseconds
	var phase time.Duration
	if cfg.Rate > 0 {
		interval = 1e9 / cfg.Rate
		offset = interval * float64(i) / float64(cfg.Publishers)
		phase = rateTick * time.Duration(i) / time.Duration(cfg.Publishers)
	}
	topic := r.pubTopic(i)
	payload := newPayload(cfg.Payload)
	for seq := uint64(0); (cfg.Count == 0 || seq < cfg.Count) && seq < MaxSeq; seq++ {
		if interval > 0 {
			due := start.Add(time.Duration(offset + float64(seq)*interval))
			if !stopAt.IsZero() && !due.Before(stopAt) {
				break
			}
			if time.Until(due) > 0 {
				wake := due
				if interval < float64(rateTick) {
					ticks := (due.Sub(start) - phase + rateTick - 1) / rateTick
					wake = start.Add(phase + max(ticks, 0)*rateTick)
				}
				if !sleepUntil(pctx, wake) {
					break
				}
			}
		}
		now := time.Now()
		if interval == 0 && !stopAt.IsZero() && !now.Before(stopAt) {
			break
		}
		PutHeader(payload, Header{Publisher: uint64(i), Seq: seq, SentNanos: now.UnixNano()})
		if err := c.Publish(pctx, topic, cfg.QoS, false, payload); err != nil {
			if pctx.Err() == nil {
				r.addErr("publisher %d: %v", i, err)
			}
			break
		}
		r.sent[i].Add(1)
	}
	r.lastMu.Lock()
	if now := time.Now(); now.After(r.loopEnd) {
		r.loopEnd = now
	}
	r.lastMu.Unlock()
	if ctx.Err() != nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Drain)
	defer cancel()
	if err := c.Drain(dctx); err != nil && ctx.Err() == nil {
		r.addErr("publisher %d: waiting for acknowledgements: %v", i, err)
	}
}

// sleepUntil waits until t; it reports false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// awaitDeliveries waits, after publishing, until every expected delivery
// has arrived or Drain has passed since the last publisher stopped.
func (r *run) awaitDeliveries(ctx context.Context) {
	sent := make([]uint64, len(r.sent))
	for i := range r.sent {
		sent[i] = r.sent[i].Load()
	}
	expected := Expected(r.cfg.Scenario, sent, len(r.tallies))
	r.lastMu.Lock()
	deadline := r.loopEnd.Add(r.cfg.Drain)
	r.lastMu.Unlock()
	for {
		var unique uint64
		for _, t := range r.tallies {
			unique += t.unique.Load()
		}
		if unique >= expected || !time.Now().Before(deadline) || !sleepUntil(ctx, time.Now().Add(pollInterval)) {
			return
		}
	}
}

// awaitSubscribers is the sub scenario's wait: until Duration, until each
// subscriber has Count messages from each of Publishers publishers, or
// until ctx ends.
func (r *run) awaitSubscribers(ctx context.Context, start time.Time) {
	c := r.cfg
	target := c.Count * uint64(c.Publishers)
	for {
		if c.Duration > 0 && time.Since(start) >= c.Duration {
			return
		}
		if target > 0 {
			done := true
			for _, t := range r.tallies {
				if t.unique.Load() < target {
					done = false
					break
				}
			}
			if done {
				return
			}
		}
		if !sleepUntil(ctx, time.Now().Add(pollInterval)) {
			return
		}
	}
}

// result gathers the counts once every client has ended.
func (r *run) result(ctx context.Context, start time.Time, publishing time.Duration) *Result {
	c := r.cfg
	res := r.baseResult()
	res.Interrupted = ctx.Err() != nil
	res.Publishing = publishing
	sent := make([]uint64, len(r.sent))
	for i := range r.sent {
		sent[i] = r.sent[i].Load()
		res.Sent += sent[i]
	}
	var totals Totals
	if c.Scenario == Sub {
		totals = Infer(r.tallies)
	} else {
		totals = Account(c.Scenario, r.tallies, sent)
	}
	res.Expected, res.Delivered, res.Lost = totals.Expected, totals.Delivered, totals.Lost
	res.Duplicated, res.Unrecognised = totals.Duplicated, totals.Unrecognised

	var hist Histogram
	var first, last int64
	for _, t := range r.tallies {
		hist.Merge(&t.latency)
		if t.received.Load() > 0 {
			if first == 0 || t.first < first {
				first = t.first
			}
			last = max(last, t.last)
		}
	}
	res.LatencyUS = latencyOf(&hist)
	res.Samples = hist.Count()

	elapsed := publishing
	switch {
	case c.Scenario == Sub:
		elapsed = time.Duration(last - first)
	case c.Scenario.endToEnd() && last != 0:
		elapsed = time.Duration(last - start.UnixNano())
	}
	res.ElapsedS = round(elapsed.Seconds(), 3)
	res.SentPerSec = perSec(res.Sent, publishing)
	res.DeliveredPerSec = perSec(res.Delivered, elapsed)
	if c.Scenario == Pub {
		res.DeliveredPerSec = 0
	}
	return res
}

func (r *run) baseResult() *Result {
	c := r.cfg
	res := &Result{
		Scenario:      c.Scenario,
		Addr:          c.Addr,
		Version:       int(c.Version),
		QoS:           int(c.QoS),
		Payload:       c.Payload,
		Rate:          c.Rate,
		Inflight:      c.Inflight,
		Persistent:    c.Persistent,
		Connections:   int(r.connected.Load()),
		ConnectErrors: int(r.failed.Load()),
	}
	switch c.Scenario {
	case Pub:
		res.Publishers = c.Publishers
	case Sub:
		res.Subscribers = c.Subscribers
		if c.Count > 0 {
			res.Publishers = c.Publishers
		}
	case Conn:
	default:
		res.Publishers, res.Subscribers = c.Publishers, c.Subscribers
	}
	r.errMu.Lock()
	res.Errors, res.ErrorCount = r.errs, r.errN
	r.errMu.Unlock()
	return res
}
