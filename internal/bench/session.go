package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gridmq/gridmq/internal/client"
	"github.com/gridmq/gridmq/internal/packet"
)

const (
	// persistentSessionExpiry is the v5 Session Expiry Interval of a
	// persistent subscriber, in seconds: far longer than the moment between
	// its DISCONNECT and the reconnection that ends its session, and short
	// enough that a session left behind by a killed run does not stay for
	// good. (3.1 and 3.1.1 have no expiry: such a session stays until the
	// broker's own limit, Mosquitto's persistent_client_expiration.)
	persistentSessionExpiry = 3600
	// endSessionsTimeout bounds the reconnections that end the persistent
	// sessions once the run is over.
	endSessionsTimeout = 15 * time.Second
)

// subscriberOptions are the options of subscriber i. A persistent one
// starts a session that outlives the connection: in v5 with Clean Start 1
// and a Session Expiry Interval, which discards any session of the same
// identifier; in 3.1 and 3.1.1 with Clean Session 0, which resumes one, so
// subscriberConnected refuses a CONNACK with Session Present.
func (r *run) subscriberOptions(i int) client.Options {
	o := r.clientOptions("s", i)
	if r.cfg.Persistent {
		if r.cfg.Version == packet.V5 {
			o.SessionExpiry = persistentSessionExpiry
		} else {
			o.CleanStart = false
		}
	}
	return o
}

// subscriberConnected notes that subscriber i's session exists on the
// broker, so that endSessions ends it whatever happens next, and checks
// that the session is new: a resumed one would bring subscriptions and
// messages from outside the run.
func (r *run) subscriberConnected(i int, ack *packet.Connack) error {
	if !r.cfg.Persistent {
		return nil
	}
	r.persisted[i].Store(true)
	if ack.SessionPresent {
		return fmt.Errorf("the broker already held a session for client identifier %q", r.clientOptions("s", i).ClientID)
	}
	return nil
}

// endSessions runs once the subscribers have disconnected. For each
// persistent session it reconnects twice: first resuming it (Clean Start
// 0, the same expiry), where Session Present 1 shows the broker kept the session past the
// connection (Session Present 0 is reported as an error: the run did not
// measure what it claims), then with Clean Start 1 and no expiry, which
// ends the session, queued messages and all. It runs when ctx has ended
// too, so that an interrupted run cleans up as well.
func (r *run) endSessions(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endSessionsTimeout)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, connectParallel)
	for i := range r.persisted {
		if !r.persisted[i].Load() {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r.endSession(ctx, i)
		})
	}
	wg.Wait()
}

func (r *run) endSession(ctx context.Context, i int) {
	o := r.subscriberOptions(i) // no OnMessage: what is still queued is not counted
	o.CleanStart = false        // in v5 too, where the run's first CONNECT had Clean Start 1
	c, ack, err := client.Connect(ctx, o)
	if err != nil {
		r.addErr("subscriber %d: reconnecting to its persistent session: %v", i, err)
	} else {
		c.Disconnect()
		if !ack.SessionPresent {
			r.addErr("subscriber %d: the broker did not keep its persistent session (Session Present 0 on reconnecting)", i)
		}
	}
	o.CleanStart, o.SessionExpiry = true, 0
	if c, _, err = client.Connect(ctx, o); err != nil {
		r.addErr("subscriber %d: ending its persistent session: %v", i, err)
		return
	}
	c.Disconnect()
	r.persisted[i].Store(false)
}
