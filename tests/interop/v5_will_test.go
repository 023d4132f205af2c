package interop

// Will Messages of v5 clients: when they are published, when not, the Will
// Delay Interval, and the properties they carry.

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

func v5WithWill(cp *paho.Connect, topic, payload string, props *paho.WillProperties) *paho.Connect {
	cp.WillMessage = &paho.WillMessage{Topic: topic, QoS: 1, Payload: []byte(payload)}
	cp.WillProperties = props
	return cp
}

// v5WillWatcher subscribes to will/# before the client with the will connects.
func v5WillWatcher(t *testing.T, b *Broker, id string) *v5Client {
	w := connectV5(t, b, v5CleanStart(id))
	w.subscribe(paho.SubscribeOptions{Topic: "will/#", QoS: 1})
	return w
}

// TestV5WillPublication: how the connection ends decides whether the Will is
// published. It is after a close without DISCONNECT [MQTT-3.1.2-8] and after
// DISCONNECT 0x04 Disconnect with Will Message or any reason but 0x00
// (§3.14.2.1); DISCONNECT 0x00 deletes it [MQTT-3.1.2-10].
func TestV5WillPublication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		end       func(*v5Client)
		published bool
	}{
		{"socket closed", (*v5Client).dropConnection, true},
		{"disconnect 0x00", func(c *v5Client) { c.disconnect(v5ReasonSuccess, nil) }, false},
		{"disconnect 0x04", func(c *v5Client) { c.disconnect(v5ReasonDisconnectWithWill, nil) }, true},
		{"disconnect 0x80", func(c *v5Client) { c.disconnect(0x80, nil) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := StartBroker(t)
			w := v5WillWatcher(t, b, "watcher")
			c := connectV5(t, b, v5WithWill(v5CleanStart("dying"), "will/dying", "gone: "+tt.name, nil))
			tt.end(c)
			if tt.published {
				var m *paho.Publish
				select {
				case m = <-w.msgs:
				case <-time.After(v5WaitFor):
					t.Fatalf("no will within %v after %s: only DISCONNECT 0x00 deletes it [MQTT-3.1.2-8] [MQTT-3.1.2-10]", v5WaitFor, tt.name)
				}
				if m.Topic != "will/dying" || string(m.Payload) != "gone: "+tt.name {
					t.Fatalf("got %q on %q, want the will", m.Payload, m.Topic)
				}
				if m.QoS != 1 {
					t.Errorf("will delivered at QoS %d, want 1", m.QoS)
				}
				return
			}
			w.expectNothing(2 * time.Second)
		})
	}
}

// TestV5WillDelayInterval: the Will waits for its Will Delay Interval or the
// end of the session, whichever comes first [MQTT-3.1.2-8], and is not sent
// at all when the client reconnects to the session in time [MQTT-3.1.3-9].
func TestV5WillDelayInterval(t *testing.T) {
	t.Parallel()
	t.Run("reconnect within the delay", func(t *testing.T) {
		t.Parallel()
		b := StartBroker(t)
		w := v5WillWatcher(t, b, "watcher")
		cp := v5WithWill(v5Persistent("delayed", 60), "will/delayed", "should not be sent",
			&paho.WillProperties{WillDelayInterval: v5U32(2)})
		c := connectV5(t, b, cp)
		c.dropConnection()
		start := time.Now()
		again := connectV5(t, b, v5Resume("delayed", 60))
		if took := time.Since(start); took > time.Second {
			t.Logf("reconnecting took %v; the delay is 2 s", took)
		}
		if !again.Connack.SessionPresent {
			t.Errorf("Session Present 0 on resuming within the session expiry [MQTT-3.2.2-2]")
		}
		w.expectNothing(3 * time.Second)
	})
	// Whichever of the two comes first is 1 s; the other is 60 s.
	for _, tt := range []struct {
		name                     string
		sessionExpiry, willDelay uint32 // seconds
		payload                  string
		early                    string // what a will sooner than 1 s comes before
	}{
		{"delay elapses", 60, 1, "after 1 s", "its 1 s Will Delay Interval"},
		{"session ends first", 1, 60, "at session end", "the 1 s session expiry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := StartBroker(t)
			w := v5WillWatcher(t, b, "watcher")
			cp := v5WithWill(v5Persistent("delayed", tt.sessionExpiry), "will/delayed", tt.payload,
				&paho.WillProperties{WillDelayInterval: v5U32(tt.willDelay)})
			c := connectV5(t, b, cp)
			c.dropConnection()
			closed := time.Now()
			w.nextPayload("will/delayed", tt.payload)
			if after := time.Since(closed); after < 900*time.Millisecond {
				t.Errorf("will published %v after the close, before %s [MQTT-3.1.2-8]", after, tt.early)
			}
		})
	}
}

// TestV5WillProperties: the Will is published with the properties it was
// given: Payload Format Indicator, Message Expiry Interval, Content Type,
// Response Topic, Correlation Data (§3.1.3.2), User Properties in order
// [MQTT-3.1.3-10]; with Will Retain 1 it is retained [MQTT-3.1.2-17].
//
// The dying client is the raw one: paho.golang v0.23 encodes Will Properties
// with the rules of CONNECT properties and so drops all but Will Delay
// Interval and User Properties.
func TestV5WillProperties(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	w := v5WillWatcher(t, b, "watcher")
	user := paho.UserProperties{{Key: "z", Value: "last"}, {Key: "a", Value: "first"}, {Key: "z", Value: "again"}}
	corr := []byte{0xDE, 0xAD, 0x00, 0xBE, 0xEF}
	willProps := properties{
		numProp(propPayloadFormat, 1),
		numProp(propMessageExpiry, 120),
		strProp(propContentType, "application/json"),
		strProp(propResponseTopic, "will/replies"),
		binProp(propCorrelationData, corr),
	}
	for _, u := range user {
		willProps = append(willProps, userProp(u.Key, u.Value))
	}
	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "dying", CleanStart: true, Will: &v5Publish{
		Topic: "will/props", QoS: 2, Retain: true, Payload: []byte(`{"state":"offline"}`), Props: willProps,
	}})
	c.conn.Close()

	check := func(who string, m *paho.Publish) {
		t.Helper()
		p := m.Properties
		if p == nil {
			t.Fatalf("%s: will has no properties", who)
		}
		if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
			t.Errorf("%s: Payload Format Indicator %v, want 1", who, v5Deref(p.PayloadFormat))
		}
		if p.MessageExpiry == nil || *p.MessageExpiry > 120 || *p.MessageExpiry < 100 {
			t.Errorf("%s: Message Expiry Interval %v, want 120 less the time waited [MQTT-3.3.2-6]", who, v5Deref(p.MessageExpiry))
		}
		if p.ContentType != "application/json" || p.ResponseTopic != "will/replies" || !bytes.Equal(p.CorrelationData, corr) {
			t.Errorf("%s: Content Type %q, Response Topic %q, Correlation Data %x", who, p.ContentType, p.ResponseTopic, p.CorrelationData)
		}
		if !slices.Equal(p.User, user) {
			t.Errorf("%s: User Properties %v, want %v in order [MQTT-3.1.3-10]", who, p.User, user)
		}
	}
	m := w.nextPayload("will/props", `{"state":"offline"}`)
	if m.QoS != 1 {
		t.Errorf("will delivered at QoS %d to a QoS 1 subscription, want 1 [MQTT-3.8.4-8]", m.QoS)
	}
	check("live subscriber", m)

	late := connectV5(t, b, v5CleanStart("late"))
	late.subscribe(paho.SubscribeOptions{Topic: "will/props", QoS: 2})
	r := late.nextPayload("will/props", `{"state":"offline"}`)
	if !r.Retain {
		t.Errorf("will with Will Retain 1 not retained [MQTT-3.1.2-17]")
	}
	if r.QoS != 2 {
		t.Errorf("retained will delivered at QoS %d, want 2 [MQTT-3.8.4-8]", r.QoS)
	}
	check("later subscriber", r)
}
