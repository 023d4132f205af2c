package client

import (
	"context"
	"fmt"

	"github.com/gridmq/gridmq/internal/packet"
)

// Subscribe sends SUBSCRIBE and waits for SUBACK. It returns one reason
// code per subscription (the granted QoS, or a failure). When the server
// refuses a subscription the error is a *packet.Error with the first
// failure's code; the codes are returned all the same. The v5 options of
// a Subscription are dropped before v5.
func (c *Client) Subscribe(ctx context.Context, subs ...packet.Subscription) ([]packet.ReasonCode, error) {
	filters := make([]string, len(subs))
	for i, s := range subs {
		if s.QoS > 2 {
			return nil, packet.Errorf(packet.QoSNotSupported, "subscription to %q with QoS %d", s.Filter, s.QoS)
		}
		filters[i] = s.Filter
	}
	if err := checkFilters(filters); err != nil {
		return nil, err
	}
	p := &packet.Subscribe{Subscriptions: subs}
	r := c.request(ctx, packet.SUBSCRIBE, func(id uint16, b []byte) []byte {
		p.PacketID = id
		return p.Encode(b, c.version)
	})
	if r.err != nil {
		return nil, r.err
	}
	if len(r.codes) != len(subs) {
		return r.codes, fmt.Errorf("client: %s: %w", c.addr, packet.Errorf(packet.ProtocolError,
			"SUBACK has %d reason codes for %d subscriptions", len(r.codes), len(subs)))
	}
	for i, code := range r.codes {
		if code.IsError() {
			return r.codes, &packet.Error{Code: code, Reason: fmt.Sprintf("subscription to %q refused", subs[i].Filter)}
		}
	}
	return r.codes, nil
}

// Unsubscribe sends UNSUBSCRIBE and waits for UNSUBACK. In v5 a filter the
// server refuses is an error carrying its reason code (No Subscription
// Existed is not a failure).
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) error {
	if err := checkFilters(filters); err != nil {
		return err
	}
	p := &packet.Unsubscribe{Filters: filters}
	r := c.request(ctx, packet.UNSUBSCRIBE, func(id uint16, b []byte) []byte {
		p.PacketID = id
		return p.Encode(b, c.version)
	})
	if r.err != nil {
		return r.err
	}
	for i, code := range r.codes {
		if code.IsError() && i < len(filters) {
			return &packet.Error{Code: code, Reason: fmt.Sprintf("unsubscribe from %q refused", filters[i])}
		}
	}
	return nil
}

// request sends a SUBSCRIBE or UNSUBSCRIBE under a fresh packet identifier
// and waits for its acknowledgement.
func (c *Client) request(ctx context.Context, kind packet.Type, encode func(id uint16, b []byte) []byte) result {
	if err := ctx.Err(); err != nil {
		return result{err: err}
	}
	done := make(chan result, 1)
	id, err := c.register(request{kind: kind, done: done})
	if err != nil {
		return result{err: err}
	}
	if err := c.send(ctx, true, func(b []byte) []byte { return encode(id, b) }); err != nil {
		c.complete(id, kind, 0, result{err: err})
		return result{err: err}
	}
	return c.await(ctx, done)
}
