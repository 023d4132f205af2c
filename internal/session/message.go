// Package session holds the per-client state of an MQTT session: the
// application message as routed, the outbox (queue and in-flight window with
// packet identifiers), inbound QoS 2 state and topic alias tables.
//
// Nothing here locks: the broker's session owns one mutex that guards all of
// it. It imports only packet and the standard library, never the broker.
package session

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gridmq/gridmq/internal/packet"
)

// Message is one application message as routed. It is immutable once built
// and shared by every subscriber's queue, so it is copied out of the read
// buffer exactly once.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool // as published
	// Props are the v5 properties forwarded unchanged to subscribers:
	// Payload Format Indicator, Content Type, Response Topic, Correlation
	// Data and User Properties [MQTT-3.3.2-17] [MQTT-3.3.2-18]; nil when
	// there are none, as for most messages. Topic Alias, Subscription
	// Identifiers and Message Expiry are per delivery.
	Props *packet.Properties
	// Expiry is when the message stops being deliverable; zero means never.
	Expiry time.Time
	// Origin identifies the publishing session for No Local; nil for
	// messages the broker makes itself.
	Origin any
	// Fanout is set, before the message is shared, when it goes to more
	// than one subscriber: then its PUBLISH header is encoded once per wire
	// variant and copied for each (see Header).
	Fanout bool

	// headers holds the encoded headers of a fan-out message, made on first
	// use: most messages go to one subscriber, and a queue of a million
	// should not carry four empty slots each.
	headers atomic.Pointer[headerSet]
}

// headerSet is a message's encoded PUBLISH header per wire variant.
type headerSet [numHeaderVariants]atomic.Pointer[[]byte]

// Header variants: protocol level 3/4 or 5, without or with a packet identifier.
const (
	headerV3QoS0 = iota
	headerV3QoS12
	headerV5QoS0
	headerV5QoS12
	numHeaderVariants
)

// Header returns the encoded PUBLISH header of the message (see
// packet.Publish.EncodeHeader) for a protocol level, with room for a packet
// identifier when withID, encoding it on first use. Its first byte has QoS 1
// or 0 and no DUP or retain flag, and the packet identifier is 0: the sender
// patches them per delivery. In v5 it carries only the forwarded properties,
// so it serves deliveries that add none (subscription identifiers, expiry,
// topic alias).
func (m *Message) Header(version byte, withID bool) []byte {
	v := headerV3QoS0
	if version == packet.V5 {
		v = headerV5QoS0
	}
	if withID {
		v++
	}
	set := m.headers.Load()
	if set == nil {
		m.headers.CompareAndSwap(nil, new(headerSet))
		set = m.headers.Load()
	}
	if h := set[v].Load(); h != nil {
		return *h
	}
	p := packet.Publish{Topic: unsafe.Slice(unsafe.StringData(m.Topic), len(m.Topic)), Payload: m.Payload}
	if withID {
		p.QoS = 1
	}
	if version == packet.V5 {
		if m.Props != nil {
			p.Properties = *m.Props
		}
	}
	h := p.EncodeHeader(nil, version)
	set[v].Store(&h) // a concurrent first use stores the same bytes
	return h
}

// NewMessage copies a decoded PUBLISH (which aliases the read buffer) into a
// Message with a single allocation for topic and payload.
func NewMessage(p *packet.Publish, now time.Time, origin any) *Message {
	buf := make([]byte, len(p.Topic)+len(p.Payload))
	n := copy(buf, p.Topic)
	copy(buf[n:], p.Payload)
	m := &Message{
		Topic:   unsafe.String(unsafe.SliceData(buf), n), // shares buf, which is never modified
		Payload: buf[n:len(buf):len(buf)],
		QoS:     p.QoS,
		Retain:  p.Retain,
		Origin:  origin,
	}
	if !p.Properties.Empty() {
		m.Props = ForwardedProperties(&p.Properties)
		if p.Properties.Has(packet.PropMessageExpiry) {
			m.Expiry = now.Add(time.Duration(p.Properties.MessageExpiry) * time.Second)
		}
	}
	return m
}

// ForwardedProperties copies the properties a server forwards with a PUBLISH
// (or a will message), leaving out those that are per connection or per
// delivery; nil when there are none.
func ForwardedProperties(in *packet.Properties) *packet.Properties {
	if !in.Has(packet.PropPayloadFormat) && !in.Has(packet.PropContentType) && !in.Has(packet.PropResponseTopic) &&
		!in.Has(packet.PropCorrelationData) && len(in.User) == 0 {
		return nil
	}
	out := new(packet.Properties)
	if in.Has(packet.PropPayloadFormat) {
		out.PayloadFormat = in.PayloadFormat
		out.Set(packet.PropPayloadFormat)
	}
	if in.Has(packet.PropContentType) {
		out.ContentType = in.ContentType
		out.Set(packet.PropContentType)
	}
	if in.Has(packet.PropResponseTopic) {
		out.ResponseTopic = in.ResponseTopic
		out.Set(packet.PropResponseTopic)
	}
	if in.Has(packet.PropCorrelationData) {
		out.CorrelationData = append([]byte(nil), in.CorrelationData...)
		out.Set(packet.PropCorrelationData)
	}
	if len(in.User) > 0 {
		out.User = append([]packet.UserProperty(nil), in.User...)
	}
	return out
}

// Expired reports whether the message may no longer be delivered.
func (m *Message) Expired(now time.Time) bool {
	return !m.Expiry.IsZero() && !now.Before(m.Expiry)
}

// RemainingExpiry is the Message Expiry Interval to send: the time left,
// rounded up to whole seconds [MQTT-3.3.2-6].
func (m *Message) RemainingExpiry(now time.Time) uint32 {
	left := m.Expiry.Sub(now)
	if left <= 0 {
		return 0
	}
	return uint32((left + time.Second - 1) / time.Second)
}
