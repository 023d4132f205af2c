package session

import (
	"bytes"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

func ptr[T any](v T) *T { return &v }

// withProps returns p with the given scalar properties marked present.
func withProps(p packet.Properties, present ...packet.PropertyID) packet.Properties {
	for _, id := range present {
		p.Set(id)
	}
	return p
}

// TestNewMessageCopies checks that the message owns its bytes: a decoded
// PUBLISH aliases the read buffer, which is reused for the next packet.
func TestNewMessageCopies(t *testing.T) {
	buf := []byte("sensors/1/temp" + "21.5" + "corr")
	p := &packet.Publish{
		QoS:     2,
		Retain:  true,
		Topic:   buf[:14],
		Payload: buf[14:18],
		Properties: withProps(packet.Properties{
			CorrelationData: buf[18:22],
			User:            []packet.UserProperty{{Key: "k", Value: "v"}},
		}, packet.PropCorrelationData),
	}
	origin := new(int)
	m := NewMessage(p, time.Unix(0, 0), origin)

	// The reader reuses its buffer and the User slice for the next packet.
	for i := range buf {
		buf[i] = 'X'
	}
	p.Properties.User[0] = packet.UserProperty{Key: "changed", Value: "changed"}
	p.Properties.User = append(p.Properties.User[:0], packet.UserProperty{Key: "other"})

	if m.Topic != "sensors/1/temp" {
		t.Errorf("Topic %q after the source changed", m.Topic)
	}
	if string(m.Payload) != "21.5" {
		t.Errorf("Payload %q after the source changed", m.Payload)
	}
	if string(m.Props.CorrelationData) != "corr" {
		t.Errorf("CorrelationData %q after the source changed", m.Props.CorrelationData)
	}
	if want := []packet.UserProperty{{Key: "k", Value: "v"}}; !reflect.DeepEqual(m.Props.User, want) {
		t.Errorf("User %v after the source changed, want %v", m.Props.User, want)
	}
	if m.QoS != 2 || !m.Retain || m.Origin != origin {
		t.Errorf("QoS %d Retain %v Origin %p, want 2 true %p", m.QoS, m.Retain, m.Origin, origin)
	}
	if m.Fanout {
		t.Error("Fanout set by NewMessage")
	}
}

func TestNewMessageEmpty(t *testing.T) {
	m := NewMessage(&packet.Publish{Topic: []byte("a")}, time.Unix(0, 0), nil)
	if m.Topic != "a" || len(m.Payload) != 0 || m.Props != nil || !m.Expiry.IsZero() || m.Origin != nil {
		t.Errorf("got %+v", m)
	}
}

// TestNewMessageProperties checks which v5 properties are forwarded to
// subscribers unaltered: Payload Format Indicator [MQTT-3.3.2-4], Response
// Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16], User Properties
// in order [MQTT-3.3.2-17] [MQTT-3.3.2-18] and Content Type [MQTT-3.3.2-20];
// and which are per delivery and left out: Topic Alias (a mapping of the
// publisher's connection [MQTT-3.3.2-7]), Subscription Identifiers (per
// subscription) and Message Expiry Interval (recomputed when sent
// [MQTT-3.3.2-6]).
func TestNewMessageProperties(t *testing.T) {
	user := []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: ""}}
	tests := []struct {
		name string
		in   packet.Properties
		want packet.Properties
	}{
		{name: "none"},
		{name: "payload format 1",
			in:   withProps(packet.Properties{PayloadFormat: 1}, packet.PropPayloadFormat),
			want: withProps(packet.Properties{PayloadFormat: 1}, packet.PropPayloadFormat)},
		{name: "payload format 0 stays present",
			in:   withProps(packet.Properties{}, packet.PropPayloadFormat),
			want: withProps(packet.Properties{}, packet.PropPayloadFormat)},
		{name: "content type",
			in:   withProps(packet.Properties{ContentType: "application/json"}, packet.PropContentType),
			want: withProps(packet.Properties{ContentType: "application/json"}, packet.PropContentType)},
		{name: "response topic",
			in:   withProps(packet.Properties{ResponseTopic: "reply/1"}, packet.PropResponseTopic),
			want: withProps(packet.Properties{ResponseTopic: "reply/1"}, packet.PropResponseTopic)},
		{name: "correlation data",
			in:   withProps(packet.Properties{CorrelationData: []byte{0, 1, 2}}, packet.PropCorrelationData),
			want: withProps(packet.Properties{CorrelationData: []byte{0, 1, 2}}, packet.PropCorrelationData)},
		{name: "user properties keep order and duplicates",
			in:   packet.Properties{User: user},
			want: packet.Properties{User: user}},
		{name: "topic alias dropped",
			in: withProps(packet.Properties{TopicAlias: 3}, packet.PropTopicAlias)},
		{name: "subscription ids dropped",
			in: packet.Properties{SubscriptionIDs: []uint32{1, 7}}},
		{name: "message expiry dropped",
			in: withProps(packet.Properties{MessageExpiry: 60}, packet.PropMessageExpiry)},
		{name: "all together",
			in: withProps(packet.Properties{
				PayloadFormat: 1, MessageExpiry: 60, ContentType: "text/plain", ResponseTopic: "r",
				CorrelationData: []byte("c"), SubscriptionIDs: []uint32{5}, TopicAlias: 9, User: user,
			}, packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType,
				packet.PropResponseTopic, packet.PropCorrelationData, packet.PropTopicAlias),
			want: withProps(packet.Properties{
				PayloadFormat: 1, ContentType: "text/plain", ResponseTopic: "r",
				CorrelationData: []byte("c"), User: user,
			}, packet.PropPayloadFormat, packet.PropContentType, packet.PropResponseTopic, packet.PropCorrelationData)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &packet.Publish{Topic: []byte("t"), Properties: tc.in}
			m := NewMessage(p, time.Unix(100, 0), nil)
			// Nothing forwarded is no properties at all: a nil pointer.
			var got packet.Properties
			if m.Props != nil {
				got = *m.Props
				if got.Empty() {
					t.Error("empty forwarded properties kept instead of nil")
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Props\n %+v\nwant\n %+v", got, tc.want)
			}
			for _, id := range []packet.PropertyID{packet.PropTopicAlias, packet.PropSubscriptionID, packet.PropMessageExpiry} {
				if got.Has(id) {
					t.Errorf("per-delivery property %#x forwarded", id)
				}
			}
			// ForwardedProperties is what NewMessage uses, and what a will
			// message goes through.
			if fp := ForwardedProperties(&tc.in); (fp == nil) != (m.Props == nil) || (fp != nil && !reflect.DeepEqual(*fp, tc.want)) {
				t.Errorf("ForwardedProperties\n %+v\nwant\n %+v", fp, tc.want)
			}
		})
	}
}

func TestNewMessageExpiry(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		props    packet.Properties
		want     time.Time
		wantLeft uint32 // RemainingExpiry at now
	}{
		{name: "absent never expires"},
		{name: "absent with other properties",
			props: withProps(packet.Properties{ContentType: "x"}, packet.PropContentType)},
		{name: "60 seconds", props: withProps(packet.Properties{MessageExpiry: 60}, packet.PropMessageExpiry),
			want: now.Add(time.Minute), wantLeft: 60},
		{name: "largest", props: withProps(packet.Properties{MessageExpiry: 1<<32 - 1}, packet.PropMessageExpiry),
			want: now.Add((1<<32 - 1) * time.Second), wantLeft: 1<<32 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMessage(&packet.Publish{Topic: []byte("t"), Properties: tc.props}, now, nil)
			if !m.Expiry.Equal(tc.want) {
				t.Errorf("Expiry %v, want %v", m.Expiry, tc.want)
			}
			if tc.want.IsZero() {
				if m.Expired(now.AddDate(1000, 0, 0)) {
					t.Error("a message without expiry expired")
				}
				return
			}
			if got := m.RemainingExpiry(now); got != tc.wantLeft {
				t.Errorf("RemainingExpiry at arrival %d, want %d", got, tc.wantLeft)
			}
			if m.Expired(tc.want.Add(-time.Nanosecond)) || !m.Expired(tc.want) {
				t.Errorf("Expired does not turn true exactly at %v", tc.want)
			}
		})
	}
}

// TestMessageExpired checks the boundary: a message is undeliverable from
// its expiry instant on [MQTT-3.3.2-5].
func TestMessageExpired(t *testing.T) {
	exp := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		expiry time.Time
		now    time.Time
		want   bool
	}{
		{"never", time.Time{}, exp, false},
		{"never, far future", time.Time{}, exp.AddDate(1000, 0, 0), false},
		{"before", exp, exp.Add(-time.Nanosecond), false},
		{"at", exp, exp, true},
		{"after", exp, exp.Add(time.Nanosecond), true},
	}
	for _, tc := range tests {
		m := &Message{Expiry: tc.expiry}
		if got := m.Expired(tc.now); got != tc.want {
			t.Errorf("%s: Expired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRemainingExpiry checks the interval sent on is the time left rounded
// up to whole seconds [MQTT-3.3.2-6], never 0 while the message is live.
func TestRemainingExpiry(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		left time.Duration
		want uint32
	}{
		{-time.Hour, 0},
		{-time.Nanosecond, 0},
		{0, 0},
		{time.Nanosecond, 1},
		{time.Second - time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{9*time.Second + 500*time.Millisecond, 10},
		{10 * time.Second, 10},
		{time.Hour, 3600},
	}
	for _, tc := range tests {
		m := &Message{Expiry: now.Add(tc.left)}
		if got := m.RemainingExpiry(now); got != tc.want {
			t.Errorf("%v left: RemainingExpiry = %d, want %d", tc.left, got, tc.want)
		}
	}
}

// headerMessage is a message whose v5 header differs from its v3 one.
func headerMessage() *Message {
	return &Message{
		Topic:   "a/b",
		Payload: []byte("hi"),
		QoS:     2,
		Retain:  true,
		Props:   ptr(withProps(packet.Properties{ContentType: "t", User: []packet.UserProperty{{Key: "k", Value: "v"}}}, packet.PropContentType)),
		Expiry:  time.Unix(1e9, 0),
	}
}

var headerVariants = []struct {
	name    string
	version byte
	withID  bool
}{
	{"3.1 QoS 0", packet.V31, false},
	{"3.1 QoS 1/2", packet.V31, true},
	{"3.1.1 QoS 0", packet.V311, false},
	{"3.1.1 QoS 1/2", packet.V311, true},
	{"5.0 QoS 0", packet.V5, false},
	{"5.0 QoS 1/2", packet.V5, true},
}

// wantHeader is the header Header should produce: the message as a PUBLISH
// of QoS 1 (with an identifier of 0) or 0, no DUP or RETAIN, properties
// only in v5.
func wantHeader(m *Message, version byte, withID bool) []byte {
	p := packet.Publish{Topic: []byte(m.Topic), Payload: m.Payload}
	if withID {
		p.QoS = 1
	}
	if version == packet.V5 && m.Props != nil {
		p.Properties = *m.Props
	}
	return p.EncodeHeader(nil, version)
}

func TestMessageHeader(t *testing.T) {
	for _, tc := range headerVariants {
		t.Run(tc.name, func(t *testing.T) {
			m := headerMessage()
			h := m.Header(tc.version, tc.withID)
			if want := wantHeader(m, tc.version, tc.withID); !bytes.Equal(h, want) {
				t.Fatalf("Header\n % x\nwant\n % x", h, want)
			}
			// Header and payload make the whole PUBLISH: the remaining
			// length counts the payload.
			full := packet.Publish{Topic: []byte(m.Topic), Payload: m.Payload}
			if tc.withID {
				full.QoS = 1
			}
			if tc.version == packet.V5 {
				full.Properties = *m.Props
			}
			if got, want := append(append([]byte(nil), h...), m.Payload...), full.Encode(nil, tc.version); !bytes.Equal(got, want) {
				t.Errorf("header+payload\n % x\nwant\n % x", got, want)
			}
			if h[0]&0x09 != 0 {
				t.Errorf("first byte %#x has DUP or RETAIN set", h[0])
			}
			off := packet.PublishPacketIDOffset(h)
			if tc.withID != (off >= 0) {
				t.Fatalf("PublishPacketIDOffset = %d with withID %v", off, tc.withID)
			}
			if tc.withID && (h[off] != 0 || h[off+1] != 0) {
				t.Errorf("packet identifier % x, want 00 00", h[off:off+2])
			}

			// Encoded once: a second call returns the same slice.
			h2 := m.Header(tc.version, tc.withID)
			if &h2[0] != &h[0] || len(h2) != len(h) {
				t.Error("second call encoded again")
			}
		})
	}
}

// TestMessageHeaderBytes pins the header bytes for one message, so the
// test does not rest on the encoder alone.
func TestMessageHeaderBytes(t *testing.T) {
	m := &Message{Topic: "a/b", Payload: []byte("hi"), QoS: 1, Retain: true,
		Props: ptr(withProps(packet.Properties{PayloadFormat: 1}, packet.PropPayloadFormat))}
	tests := []struct {
		version byte
		withID  bool
		want    []byte
	}{
		// type 3, remaining 2+3 topic +2 payload
		{packet.V311, false, []byte{0x30, 7, 0, 3, 'a', '/', 'b'}},
		// QoS 1, remaining +2 for the packet identifier
		{packet.V311, true, []byte{0x32, 9, 0, 3, 'a', '/', 'b', 0, 0}},
		// properties: length 2, Payload Format Indicator 1
		{packet.V5, false, []byte{0x30, 10, 0, 3, 'a', '/', 'b', 2, 0x01, 1}},
		{packet.V5, true, []byte{0x32, 12, 0, 3, 'a', '/', 'b', 0, 0, 2, 0x01, 1}},
	}
	for _, tc := range tests {
		if got := m.Header(tc.version, tc.withID); !bytes.Equal(got, tc.want) {
			t.Errorf("v%d withID %v:\n % x\nwant\n % x", tc.version, tc.withID, got, tc.want)
		}
	}
}

// TestMessageHeaderConcurrent has many goroutines ask for every variant at
// once, as the writers of several subscribers do when a message fans out.
// Run with -race.
func TestMessageHeaderConcurrent(t *testing.T) {
	m := headerMessage()
	m.Fanout = true
	want := make([][]byte, len(headerVariants))
	for i, v := range headerVariants {
		want[i] = wantHeader(m, v.version, v.withID)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			<-start
			for j := range headerVariants {
				v := headerVariants[(g+j)%len(headerVariants)]
				if got := m.Header(v.version, v.withID); !bytes.Equal(got, want[(g+j)%len(headerVariants)]) {
					t.Errorf("goroutine %d %s:\n % x\nwant\n % x", g, v.name, got, want[(g+j)%len(headerVariants)])
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, v := range headerVariants {
		if got := m.Header(v.version, v.withID); !bytes.Equal(got, want[i]) {
			t.Errorf("after the race %s:\n % x\nwant\n % x", v.name, got, want[i])
		}
	}
}

// NewMessage copies topic and payload out of the read buffer in one allocation
// (the Message itself is the other).
func TestNewMessageAllocations(t *testing.T) {
	p := &packet.Publish{QoS: 1, Topic: []byte("site/1/power"), Payload: []byte("42.0")}
	if n := testing.AllocsPerRun(100, func() { NewMessage(p, time.Time{}, nil) }); n > 2 {
		t.Errorf("NewMessage: %v allocations, want 2", n)
	}
}
