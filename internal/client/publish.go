package client

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/gridmq/gridmq/internal/packet"
)

// Publish sends a PUBLISH. At QoS 0 it returns once the packet is queued
// for writing (Flush waits for the write). At QoS 1 and 2 it waits only for
// a free slot in the in-flight window, not for the acknowledgement:
// PublishWait and Drain wait for that. payload is copied before Publish
// returns and may be reused at once.
//
// A PUBLISH the server would refuse by its announced limits (QoS, retain,
// Maximum Packet Size) or with an invalid topic is not sent: the error is
// a *packet.Error with the reason code. A refusal that comes back in a v5
// PUBACK or PUBREC is reported only by PublishWait.
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	_, err := c.publish(ctx, topic, qos, retain, payload, false)
	return err
}

// PublishWait is Publish, then waits for the PUBACK (QoS 1) or the PUBCOMP
// (QoS 2), or for the write at QoS 0. A v5 acknowledgement with an error
// reason code is returned as a *packet.Error. When ctx ends first the
// PUBLISH stays in flight and still takes its slot until acknowledged.
func (c *Client) PublishWait(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	done, err := c.publish(ctx, topic, qos, retain, payload, true)
	if err != nil {
		return err
	}
	if done == nil {
		return c.Flush(ctx)
	}
	return c.await(ctx, done).err
}

// await waits for a request's result.
func (c *Client) await(ctx context.Context, done chan result) result {
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return result{err: ctx.Err()}
	case <-c.quit:
		select {
		case r := <-done: // answered just before the end
			return r
		default:
			return result{err: c.closedErr()}
		}
	}
}

// Drain waits until every QoS 1 and 2 PUBLISH sent so far is acknowledged
// and everything queued is written.
func (c *Client) Drain(ctx context.Context) error {
	c.mu.Lock()
	if c.pubs > 0 {
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		idle := c.idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.quit:
			return c.closedErr()
		}
	} else {
		c.mu.Unlock()
	}
	return c.Flush(ctx)
}

// publish checks and queues a PUBLISH; for QoS 1 and 2 with wait it
// returns the channel its acknowledgement arrives on.
func (c *Client) publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte, wait bool) (chan result, error) {
	// Topic aliases the string: Encode only reads it.
	p := packet.Publish{QoS: qos, Retain: retain, Topic: stringBytes(topic), Payload: payload}
	if err := c.checkPublish(&p); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	encode := func(b []byte) []byte { return p.Encode(b, c.version) }
	if qos == 0 {
		return nil, c.send(ctx, true, encode)
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	var done chan result
	if wait {
		done = make(chan result, 1)
	}
	next := packet.PUBACK
	if qos == 2 {
		next = packet.PUBREC
	}
	id, err := c.register(request{kind: packet.PUBLISH, next: next, done: done})
	if err != nil {
		<-c.window
		return nil, err
	}
	p.PacketID = id
	if err := c.send(ctx, true, encode); err != nil {
		// Not queued, so no acknowledgement can come.
		c.complete(id, packet.PUBLISH, 0, result{err: err})
		return nil, err
	}
	return done, nil
}

// checkPublish refuses what the server announced it would refuse, and
// what no server accepts.
func (c *Client) checkPublish(p *packet.Publish) error {
	switch {
	case p.QoS > 2:
		return packet.Errorf(packet.QoSNotSupported, "QoS %d does not exist", p.QoS)
	case p.QoS > c.serverMaxQoS:
		return packet.Errorf(packet.QoSNotSupported, "the server accepts QoS %d at most", c.serverMaxQoS)
	case p.Retain && !c.retainOK:
		return packet.Errorf(packet.RetainNotSupported, "the server does not support retained messages")
	}
	if err := checkTopicName(p.Topic); err != nil {
		return err
	}
	n := p.EncodedLen(c.version)
	if n-5 > packet.MaxRemainingLength || (c.serverMaxSize > 0 && uint64(n) > uint64(c.serverMaxSize)) {
		limit := uint64(c.serverMaxSize)
		if limit == 0 {
			limit = packet.MaxRemainingLength
		}
		return packet.Errorf(packet.PacketTooLarge, "PUBLISH of %d bytes, the limit is %d", n, limit)
	}
	return nil
}

// checkTopicName enforces the rules for a topic name: not empty, no
// wildcard [MQTT-3.3.2-2], UTF-8 without U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2],
// at most 65,535 bytes.
func checkTopicName(t []byte) error {
	if len(t) == 0 {
		return packet.Errorf(packet.TopicNameInvalid, "empty topic")
	}
	if len(t) > 65535 {
		return packet.Errorf(packet.TopicNameInvalid, "topic of %d bytes, the limit is 65535", len(t))
	}
	ascii := true
	for _, b := range t {
		switch {
		case b == '+' || b == '#':
			return packet.Errorf(packet.TopicNameInvalid, "topic %q contains a wildcard [MQTT-3.3.2-2]", t)
		case b == 0:
			return packet.Errorf(packet.TopicNameInvalid, "topic contains U+0000 [MQTT-1.5.4-2]")
		case b >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(t) {
		return packet.Errorf(packet.TopicNameInvalid, "topic is not valid UTF-8 [MQTT-1.5.4-1]")
	}
	return nil
}

// checkFilters refuses the topic filters no server accepts: empty, or not
// UTF-8. Wildcard placement is for the server to judge.
func checkFilters(filters []string) error {
	if len(filters) == 0 {
		return packet.Errorf(packet.ProtocolError, "no topic filter")
	}
	for _, f := range filters {
		if f == "" || len(f) > 65535 || !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
			return packet.Errorf(packet.TopicFilterInvalid, "topic filter %q", f)
		}
	}
	return nil
}

// stringBytes views s as bytes without copying; the result is never written.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// acquire takes a slot in the in-flight window, waiting for one.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.window <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.window <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.quit:
		return c.closedErr()
	}
}

var errNoPacketID = errors.New("client: every packet identifier is in use")

// register takes a free packet identifier for r.
func (c *Client) register(r request) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1 // 0 is not a packet identifier [MQTT-2.2.1-3]
		}
		if _, used := c.pending[c.nextID]; !used {
			c.pending[c.nextID] = r
			if r.kind == packet.PUBLISH {
				c.pubs++
			}
			return c.nextID, nil
		}
	}
	return 0, errNoPacketID
}

// advance moves an outgoing QoS 2 PUBLISH from awaiting PUBREC to awaiting
// PUBCOMP. It reports whether id was such a PUBLISH (or already past PUBREC,
// when the server resent PUBREC).
func (c *Client) advance(id uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.pending[id]
	if !ok || r.kind != packet.PUBLISH || (r.next != packet.PUBREC && r.next != packet.PUBCOMP) {
		return false
	}
	r.next = packet.PUBCOMP
	c.pending[id] = r
	return true
}

// complete ends the request with identifier id if it is of kind (and, for
// a PUBLISH, when next is not 0, awaiting that acknowledgement), frees the
// identifier and the window slot, and hands res to its waiter. It reports
// whether there was such a request.
func (c *Client) complete(id uint16, kind, next packet.Type, res result) bool {
	c.mu.Lock()
	r, ok := c.pending[id]
	if !ok || r.kind != kind || (next != 0 && r.next != next) {
		c.mu.Unlock()
		return false
	}
	delete(c.pending, id)
	if kind == packet.PUBLISH {
		c.pubs--
		if c.pubs == 0 && c.idle != nil {
			close(c.idle)
			c.idle = nil
		}
	}
	c.mu.Unlock()
	if kind == packet.PUBLISH {
		<-c.window
	}
	if r.done != nil {
		r.done <- res
	}
	return true
}
