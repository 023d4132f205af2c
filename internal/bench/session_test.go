package bench

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/brokertest"
	"github.com/gridmq/gridmq/internal/client"
	"github.com/gridmq/gridmq/internal/packet"
)

// startServer runs the real broker on a loopback port until the test ends,
// and returns the server too, whose session count shows what a run leaves
// behind.
func startServer(t *testing.T) (*broker.Server, string) {
	t.Helper()
	return brokertest.StartServer(t, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
}

// waitSessions waits until the broker holds want sessions and no client is
// connected: the broker ends a connection's session after the client has
// gone, not before its DISCONNECT returns.
func waitSessions(t *testing.T, srv *broker.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := srv.Stats()
		if st.Sessions == want && st.ClientsConnected == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker holds %d sessions with %d clients connected, want %d sessions and none connected",
				st.Sessions, st.ClientsConnected, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var testVersions = []byte{packet.V311, packet.V5}

// TestPersistentSession follows one persistent subscriber the way a run
// does: its session outlives its connection, holds a message published
// while it is away, and endSessions finds it (Session Present 1) and ends
// it. A clean subscriber, by contrast, leaves no session when it goes.
func TestPersistentSession(t *testing.T) {
	srv, addr := startServer(t)
	ctx := context.Background()
	for _, version := range testVersions {
		for _, persistent := range []bool{false, true} {
			c := testConfig(Fanin, addr)
			c.QoS, c.Version, c.Persistent = 1, version, persistent
			r := newRun(c)
			r.persisted = make([]atomic.Bool, 1)
			subs, err := r.connectAll(ctx, 1, "s", r.subscriberOptions, r.subscriberConnected)
			if err != nil {
				t.Fatalf("v%d persistent %v: %v", version, persistent, err)
			}
			if err := r.subscribeAll(ctx, subs); err != nil {
				t.Fatal(err)
			}
			disconnectAll(subs)
			if !persistent {
				waitSessions(t, srv, 0)
				if r.persisted[0].Load() {
					t.Errorf("v%d: a clean subscriber was marked persisted", version)
				}
				continue
			}
			waitSessions(t, srv, 1)

			// A message for the subscriber while it is away: ending the
			// session discards it, so a later session never sees it.
			pub, _, err := client.Connect(ctx, r.clientOptions("p", 0))
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.PublishWait(ctx, r.pubTopic(0), 1, false, newPayload(c.Payload)); err != nil {
				t.Fatal(err)
			}
			pub.Disconnect()

			r.endSessions(ctx)
			if r.errN != 0 || r.persisted[0].Load() {
				t.Errorf("v%d: endSessions: errors %v, still persisted %v", version, r.errs, r.persisted[0].Load())
			}
			waitSessions(t, srv, 0)

			// Nothing of the session remains to be resumed.
			probe := r.subscriberOptions(0)
			probe.CleanStart = false
			var got int
			probe.OnMessage = func(*client.Message) { got++ }
			pc, ack, err := client.Connect(ctx, probe)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // time for a queued message, if any, to arrive
			pc.Disconnect()
			if ack.SessionPresent || got != 0 {
				t.Errorf("v%d: after endSessions, Session Present %v and %d messages on resuming", version, ack.SessionPresent, got)
			}
			probe.CleanStart, probe.SessionExpiry = true, 0
			if pc, _, err = client.Connect(ctx, probe); err != nil {
				t.Fatal(err)
			}
			pc.Disconnect()
			waitSessions(t, srv, 0)
		}
	}
}

// TestPersistentRun runs fanin, fanout and sub with persistent subscribers
// through the real broker: every message arrives once, the run found each
// session kept past its connection (an error otherwise), and it leaves no
// session behind.
func TestPersistentRun(t *testing.T) {
	srv, addr := startServer(t)
	for _, version := range testVersions {
		for _, sc := range []Scenario{Fanin, Fanout} {
			c := testConfig(sc, addr)
			c.QoS, c.Version, c.Persistent = 1, version, true
			res, err := Run(context.Background(), c)
			if err != nil {
				t.Fatalf("%s v%d: %v", sc, version, err)
			}
			if !res.Persistent || res.Delivered != res.Expected || res.Expected == 0 || res.Lost != 0 ||
				res.Duplicated != 0 || res.Unrecognised != 0 || res.ErrorCount != 0 {
				t.Errorf("%s v%d: persistent %v expected %d delivered %d lost %d duplicated %d unrecognised %d; errors %v",
					sc, version, res.Persistent, res.Expected, res.Delivered, res.Lost, res.Duplicated, res.Unrecognised, res.Errors)
			}
			var out strings.Builder
			res.WriteText(&out)
			if !strings.Contains(out.String(), "persistent sessions") {
				t.Errorf("summary does not say the sessions were persistent:\n%s", out.String())
			}
			waitSessions(t, srv, 0)
		}
	}
}

// TestPersistentInterrupted: a sub run ended by its context, as by Ctrl-C,
// still ends its subscribers' sessions.
func TestPersistentInterrupted(t *testing.T) {
	srv, addr := startServer(t)
	c := testConfig(Sub, addr)
	c.Subscribers, c.Count, c.QoS, c.Persistent = 3, 0, 1, true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Progress = func(p Progress) {
		if p.Phase == "receiving" {
			cancel()
		}
	}
	res, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.ErrorCount != 0 {
		t.Errorf("interrupted %v, errors %v", res.Interrupted, res.Errors)
	}
	waitSessions(t, srv, 0)
}

// TestPersistentLeftover: a 3.1.1 run refuses to start on a session it did
// not create, which would bring subscriptions and messages from elsewhere,
// and ends it; a 5.0 run's Clean Start discards it and the run goes on.
func TestPersistentLeftover(t *testing.T) {
	srv, addr := startServer(t)
	ctx := context.Background()
	for _, version := range testVersions {
		c := testConfig(Fanin, addr)
		c.QoS, c.Version, c.Persistent = 1, version, true
		r := newRun(c)

		left := r.clientOptions("s", 0)
		left.CleanStart, left.SessionExpiry = false, persistentSessionExpiry
		lc, _, err := client.Connect(ctx, left)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lc.Subscribe(ctx, packet.Subscription{Filter: "elsewhere/#", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		lc.Disconnect()
		waitSessions(t, srv, 1)

		res, err := r.messages(ctx)
		switch version {
		case packet.V5:
			if err != nil || res.Lost != 0 || res.Unrecognised != 0 || res.ErrorCount != 0 {
				t.Errorf("v5 over a leftover session: %v; result %+v", err, res)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), "already held a session") {
				t.Errorf("v%d over a leftover session: %v, want a refusal", version, err)
			}
		}
		waitSessions(t, srv, 0)
	}
}
