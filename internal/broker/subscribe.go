package broker

import (
	"errors"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
	"github.com/gridmq/gridmq/internal/topic"
)

// handleSubscribe adds each subscription and answers with one SUBACK code
// per filter, in order [MQTT-3.8.4-6]; then it sends the retained messages
// the subscriptions ask for, after the SUBACK.
func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	s := c.srv
	st := c.sess
	var subIDs []uint32
	if len(p.Properties.SubscriptionIDs) > 1 {
		return packet.Errorf(packet.ProtocolError, "more than one subscription identifier in SUBSCRIBE")
	}
	if len(p.Properties.SubscriptionIDs) == 1 {
		subIDs = []uint32{p.Properties.SubscriptionIDs[0]}
	}
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Subscriptions))}
	type retainedFor struct {
		filter  string
		options subOptions
	}
	var wantRetained []retainedFor
	var kept []store.Op // for a persistent session
	for i, sub := range p.Subscriptions {
		_, inner, shared, err := topic.ParseShared(sub.Filter)
		if err == nil && !shared {
			err = topic.ValidateFilter(sub.Filter)
		}
		if err != nil {
			ack.ReasonCodes[i] = packet.TopicFilterInvalid
			s.log.Info("subscription refused", "client", c.clientID, "filter", sub.Filter, "reason", err.Error())
			continue
		}
		if a := s.opts.Authorizer; a != nil && !a.CanSubscribe(c.clientID, c.username, c.anonymous, sub.Filter) {
			ack.ReasonCodes[i] = packet.NotAuthorized // 3.1.1: 0x80 Failure
			s.log.Info("subscription refused", "client", c.clientID, "filter", sub.Filter, "reason", "not authorized")
			continue
		}
		if shared && sub.NoLocal {
			return packet.Errorf(packet.ProtocolError, "No Local on shared subscription %q [MQTT-3.8.3-4]", sub.Filter)
		}
		o := subOptions{
			QoS:               min(sub.QoS, s.opts.MaxQoS), // [MQTT-3.2.2-10]
			NoLocal:           sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished,
			RetainHandling:    sub.RetainHandling,
			SubIDs:            subIDs,
		}
		if c.version != packet.V5 {
			o.NoLocal, o.RetainAsPublished, o.RetainHandling = false, false, 0
		}
		st.mu.Lock()
		if st.ended {
			st.mu.Unlock()
			return errors.New("session ended")
		}
		existed := s.index.Subscribe(st, sub.Filter, o)
		if !existed {
			st.filters = append(st.filters, sub.Filter)
		}
		if st.persisted {
			kept = append(kept, store.Op{Kind: kindSubscription, Key: subscriptionKey(st.id, sub.Filter), Value: appendSubOptions(nil, o)})
		}
		st.mu.Unlock()
		ack.ReasonCodes[i] = packet.ReasonCode(o.QoS)
		// Retained messages are not sent for shared subscriptions (5.0
		// section 4.8.2); Retain Handling 1 sends them only for a new
		// subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
		if !shared && (o.RetainHandling == 0 || (o.RetainHandling == 1 && !existed)) {
			wantRetained = append(wantRetained, retainedFor{filter: inner, options: o})
		}
	}
	if len(kept) > 0 {
		// SUBACK once the subscriptions are durable. The reader waits for
		// that here, so that the retained messages they ask for are queued
		// after it on this goroutine: not on the store's committer, where a
		// large retained set would hold back every client's acknowledgements.
		if err := c.commitAndWait(kept); err != nil {
			return err
		}
	}
	c.sendControl(ack)
	for _, w := range wantRetained {
		c.sendRetained(w.filter, w.options)
	}
	return nil
}

// sendRetained queues the retained messages matching filter, with the
// retain flag set [MQTT-3.3.1-8]. Reader goroutine only.
func (c *conn) sendRetained(filter string, o subOptions) {
	var msgs []*session.Message
	c.srv.retained.Match(filter, func(_ string, m *session.Message) bool {
		msgs = append(msgs, m)
		return true
	})
	for _, m := range msgs {
		if c.srv.mayReceive(c.sess, m.Topic) {
			c.srv.deliverAll(c.sess, session.Delivery{Msg: m, QoS: min(m.QoS, o.QoS), Retain: true, SubIDs: o.SubIDs}, c)
		}
	}
}

// handleUnsubscribe removes subscriptions and answers UNSUBACK [MQTT-3.10.4-4].
func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) error {
	s := c.srv
	st := c.sess
	ack := &packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}
	var kept []store.Op // for a persistent session
	for i, f := range p.Filters {
		st.mu.Lock()
		existed := !st.ended && s.index.Unsubscribe(st, f)
		if existed {
			st.forgetFilter(f)
			if st.persisted {
				kept = append(kept, store.Op{Kind: kindSubscription, Key: subscriptionKey(st.id, f), Delete: true})
			}
		}
		st.mu.Unlock()
		if !existed {
			ack.ReasonCodes[i] = packet.NoSubscriptionExisted
		}
	}
	if len(kept) > 0 {
		c.commitInOrder(kept, ack.Encode(nil, c.version), nil)
		return nil
	}
	c.sendControl(ack)
	return nil
}
