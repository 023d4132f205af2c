package broker

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// runOnDataDir runs a broker on the data dir dir, with Recover, for as long
// as fn runs, then shuts it down and closes the store; it returns what
// Recover found.
func runOnDataDir(t *testing.T, dir string, fn func(ln *pipeListener)) Recovered {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := quietOptions()
	opts.Durable = st
	srv := New(opts)
	rec, err := srv.Recover()
	if err != nil {
		t.Fatal(err)
	}
	ln := newPipeListener()
	go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
	fn(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return rec
}

// writeRecords puts ops in the data dir dir as a broker that had written
// them would have left it.
func writeRecords(t *testing.T, dir string, ops ...store.Op) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CommitWait(ops); err != nil {
		t.Fatal(err)
	}
}

// A retained message acknowledged at QoS 1 is on disk: a broker started
// later on the same data dir sends it to a new subscriber. A deletion is kept
// too, and a retained message whose expiry passed while the broker was down
// is removed at start.
func TestRetainedSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(t *testing.T, fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }

	run(t, func(ln *pipeListener) {
		c := newClient(t, ln.Dial(), packet.V311)
		c.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i, m := range []struct{ topic, payload string }{{"site/1/power", "42"}, {"site/1/gone", "x"}, {"site/1/gone", ""}} {
			c.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Retain: true, Topic: []byte(m.topic), Payload: []byte(m.payload)})
			if a, ok := c.mustRecv().(*packet.Ack); !ok || a.PacketID != uint16(i+1) {
				t.Fatalf("PUBACK %d: %+v", i+1, a)
			}
		}
	})
	// Written as a broker would have, with an expiry already in the past.
	old := &session.Message{Topic: "site/1/stale", Payload: []byte("old"), Retain: true, Expiry: time.Now().Add(-time.Minute)}
	writeRecords(t, dir, store.Op{Kind: kindRetained, Key: []byte(old.Topic), Value: session.AppendRecord(nil, old)})

	rec := run(t, func(ln *pipeListener) {
		c := newClient(t, ln.Dial(), packet.V311)
		c.connect(&packet.Connect{ClientID: "sub", CleanStart: true})
		c.subscribe(1, "site/#", 1)
		p, ok := c.mustRecv().(*packet.Publish)
		if !ok || string(p.Topic) != "site/1/power" || string(p.Payload) != "42" || !p.Retain {
			t.Fatalf("got %+v, want the retained site/1/power", p)
		}
		c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
		c.send(&packet.Pingreq{})
		if _, ok := c.mustRecv().(*packet.Pingresp); !ok {
			t.Fatal("a deleted or expired retained message came back")
		}
	})
	if rec.Retained != 1 || rec.Expired != 1 {
		t.Errorf("Recover = %+v, want 1 retained and 1 expired", rec)
	}
	if rec := run(t, func(*pipeListener) {}); rec.Expired != 0 || rec.Retained != 1 {
		t.Errorf("after the expired message was removed, Recover = %+v", rec)
	}
}

// heldDisk is a Durable whose commits complete only when the test says.
type heldDisk struct {
	mu   sync.Mutex
	done []func(error)
}

func (h *heldDisk) Commit(_ []store.Op, done func(error)) {
	h.mu.Lock()
	h.done = append(h.done, done)
	h.mu.Unlock()
}

func (h *heldDisk) Scan(func(byte, []byte, []byte) error) error { return nil }
func (h *heldDisk) AwaitRoom()                                  {}
func (h *heldDisk) Count(byte) int                              { return 0 }
func (h *heldDisk) CommitLazy([]store.Op)                       {}

// heldDiskWait bounds a test's wait for the broker to make a commit.
const heldDiskWait = 10 * time.Second

// awaitWaiting waits until at least n commits are held.
func (h *heldDisk) awaitWaiting(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(heldDiskWait); h.waiting() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d commits held after %v, want %d", h.waiting(), heldDiskWait, n)
		}
	}
}

// releaseNext waits for at least one commit and answers every one held
// with err.
func (h *heldDisk) releaseNext(t *testing.T, err error) {
	t.Helper()
	h.awaitWaiting(t, 1)
	h.release(err)
}

// releaseFromNowOn answers every commit, as they come, until the test ends:
// for the part of a test where the disk is no longer what it looks at.
func (h *heldDisk) releaseFromNowOn(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			h.release(nil)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}

// waiting is the number of commits not yet released.
func (h *heldDisk) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.done)
}

func (h *heldDisk) release(err error) int {
	h.mu.Lock()
	done := h.done
	h.done = nil
	h.mu.Unlock()
	for _, d := range done {
		if d != nil {
			d(err)
		}
	}
	return len(done)
}

// A retained QoS 1 message is acknowledged only once it is durable, and the
// acknowledgements and other control packets after it wait their turn:
// PUBACKs go out in the order of the PUBLISHes [MQTT-4.6.0-2]. A v5
// publisher whose message could not be stored is told (0x97 for a full
// disk); a 3.1.1 publisher cannot be, and is disconnected unacknowledged.
func TestAcknowledgementsWaitForTheDisk(t *testing.T) {
	disk := &heldDisk{}
	opts := quietOptions()
	opts.Durable = disk
	_, ln := startPipeServer(t, opts)
	c := newClient(t, ln.Dial(), packet.V5)
	defer c.nc.Close() // Shutdown would wait to flush to a pipe nobody reads
	c.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	c.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: []byte("r"), Payload: []byte("kept")})
	c.send(&packet.Publish{QoS: 1, PacketID: 2, Topic: []byte("plain"), Payload: []byte("x")})
	c.send(&packet.Pingreq{})

	// Nothing may come before the disk answers.
	got := make(chan packet.Packet, 3)
	go func() {
		for range 3 {
			p, err := c.recv()
			if err != nil {
				close(got)
				return
			}
			if a, ok := p.(*packet.Ack); ok {
				cp := *a
				p = &cp
			}
			got <- p
		}
	}()
	for disk.release(nil) == 0 {
		select {
		case p := <-got:
			t.Fatalf("%v sent before the retained message was durable", p.Type())
		case <-time.After(time.Millisecond):
		}
	}
	for want := range 3 {
		var p packet.Packet
		deadline := time.After(10 * time.Second)
		for p == nil {
			select {
			case p = <-got:
			case <-time.After(time.Millisecond):
				disk.release(nil) // commits queued behind the first, as they come
			case <-deadline:
				t.Fatal("acknowledgements never came")
			}
		}
		switch want {
		case 0, 1:
			a, ok := p.(*packet.Ack)
			if !ok || a.Kind != packet.PUBACK || a.PacketID != uint16(want+1) || a.ReasonCode != packet.Success {
				t.Fatalf("packet %d: %+v, want PUBACK %d", want+1, p, want+1)
			}
		case 2:
			if _, ok := p.(*packet.Pingresp); !ok {
				t.Fatalf("packet 3: %v, want PINGRESP", p.Type())
			}
		}
	}
	for disk.release(nil) > 0 {
	}

	c.send(&packet.Publish{QoS: 1, PacketID: 3, Retain: true, Topic: []byte("r"), Payload: []byte("no room")})
	disk.releaseNext(t, store.ErrFull)
	if a, ok := c.mustRecv().(*packet.Ack); !ok || a.PacketID != 3 || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("full disk: %+v, want PUBACK 3 with 0x97", a)
	}

	old := newClient(t, ln.Dial(), packet.V311)
	old.connect(&packet.Connect{ClientID: "old", CleanStart: true})
	old.send(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: []byte("r"), Payload: []byte("no room")})
	disk.releaseNext(t, store.ErrFull)
	if p, err := old.recv(); err == nil {
		t.Fatalf("3.1.1 publisher got %v for a message not stored; want the connection closed", p.Type())
	}
}

// A persistent session survives a restart with its subscriptions: it is
// resumed with Session Present [MQTT-3.2.2-2] and receives what was published
// for it while its client was away. A session whose expiry ran out while the
// broker was down is gone, and a Clean Start removes a session from disk too.
func TestPersistentSessionsSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(t *testing.T, fn func(ln *pipeListener)) Recovered { return runOnDataDir(t, dir, fn) }
	expiring := func(secs uint32) packet.Properties {
		var p packet.Properties
		p.SessionExpiry = secs
		p.Set(packet.PropSessionExpiry)
		return p
	}

	run(t, func(ln *pipeListener) {
		dev := newClient(t, ln.Dial(), packet.V5)
		dev.connect(&packet.Connect{ClientID: "dev", Properties: expiring(3600)})
		dev.subscribe(1, "cmd/dev", 1)
		dev.send(&packet.Disconnect{})
		dev.nc.Close()

		old := newClient(t, ln.Dial(), packet.V311)
		old.connect(&packet.Connect{ClientID: "old"}) // Clean Session 0
		old.subscribe(1, "cmd/old", 1)
		old.nc.Close()

		gone := newClient(t, ln.Dial(), packet.V311)
		gone.connect(&packet.Connect{ClientID: "gone"})
		gone.subscribe(1, "cmd/gone", 1)
		gone.nc.Close()
	})

	// A session record as the broker writes it, for a client that left an
	// hour ago with a one-minute expiry.
	rec := sessionRecord{version: packet.V5, expiry: time.Minute, disconnected: time.Now().Add(-time.Hour), anonymous: true}
	writeRecords(t, dir,
		store.Op{Kind: kindSession, Key: []byte("stale"), Value: rec.append(nil)},
		store.Op{Kind: kindSubscription, Key: subscriptionKey("stale", "x"), Value: appendSubOptions(nil, subOptions{QoS: 1})},
	)

	got := run(t, func(ln *pipeListener) {
		pub := newClient(t, ln.Dial(), packet.V311)
		pub.connect(&packet.Connect{ClientID: "pub", CleanStart: true})
		for i, topic := range []string{"cmd/dev", "cmd/old"} {
			pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte(topic), Payload: []byte("while away")})
			pub.mustRecv()
		}
		pub.nc.Close()

		for _, tc := range []struct {
			id      string
			version byte
			topic   string
			props   packet.Properties
		}{{"dev", packet.V5, "cmd/dev", expiring(3600)}, {"old", packet.V311, "cmd/old", packet.Properties{}}} {
			c := newClient(t, ln.Dial(), tc.version)
			ack := c.connect(&packet.Connect{ClientID: tc.id, Properties: tc.props})
			if !ack.SessionPresent {
				t.Errorf("%s: Session Present 0 after a restart", tc.id)
			}
			p, ok := c.mustRecv().(*packet.Publish)
			if !ok || string(p.Topic) != tc.topic || string(p.Payload) != "while away" {
				t.Errorf("%s: got %+v, want the message published while it was away", tc.id, p)
			}
			c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			c.nc.Close()
		}

		fresh := newClient(t, ln.Dial(), packet.V311)
		if ack := fresh.connect(&packet.Connect{ClientID: "gone", CleanStart: true}); ack.SessionPresent {
			t.Error("Clean Start resumed a session")
		}
		fresh.send(&packet.Disconnect{})
		fresh.nc.Close()
	})
	if got.Sessions != 3 || got.Subscriptions != 3 || got.SessionsExpired != 1 {
		t.Errorf("Recover = %+v, want 3 sessions with 3 subscriptions, 1 expired", got)
	}
	if got := run(t, func(*pipeListener) {}); got.Sessions != 2 || got.Subscriptions != 2 || got.SessionsExpired != 0 {
		t.Errorf("after a Clean Start ended one, Recover = %+v, want 2 sessions, 2 subscriptions", got)
	}
}
