package client

import (
	"context"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// Keep alive, MQTT 5.0 section 3.1.2.10: the client sends a control packet
// at least once per keep alive; with nothing else to send it sends PINGREQ
// [MQTT-3.1.2-20]. A timer, not a goroutine, does it, so an idle client
// holds only its reader. When no PINGRESP comes within another keep alive
// the connection is closed with ErrPingTimeout.

func (c *Client) startKeepAlive() {
	if c.keepAlive <= 0 {
		return
	}
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	if c.kaStopped { // the connection ended already
		return
	}
	c.kaWG.Add(1)
	c.kaTimer = time.AfterFunc(c.keepAlive, c.keepAliveTick)
}

// keepAliveTick runs when the keep alive timer fires and arms it again.
func (c *Client) keepAliveTick() {
	defer c.kaWG.Done()
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	if c.kaStopped {
		return
	}
	now := time.Since(c.start)
	next := c.keepAlive
	if c.pingOutstanding.Load() {
		waited := now - c.pingSent
		if waited >= c.keepAlive {
			c.fail(ErrPingTimeout)
			return
		}
		next = c.keepAlive - waited
	} else if idle := now - time.Duration(c.lastSent.Load()); idle >= c.keepAlive {
		c.pingOutstanding.Store(true)
		c.pingSent = now
		c.send(context.Background(), false, func(b []byte) []byte {
			return (&packet.Pingreq{}).Encode(b, c.version)
		})
	} else {
		next = c.keepAlive - idle
	}
	c.kaWG.Add(1)
	c.kaTimer.Reset(next)
}

// stopKeepAlive disarms the timer and waits for a tick that is running.
func (c *Client) stopKeepAlive() {
	c.kaMu.Lock()
	c.kaStopped = true
	if c.kaTimer != nil && c.kaTimer.Stop() {
		c.kaWG.Done() // the armed tick will not run
	}
	c.kaMu.Unlock()
	c.kaWG.Wait()
}
