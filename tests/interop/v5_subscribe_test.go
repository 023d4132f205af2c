package interop

// Subscriptions of v5 clients: retained messages and the Retain Handling and
// Retain As Published options, No Local, Subscription Identifiers,
// overlapping and shared subscriptions, and $SYS.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestV5RetainHandling: with Retain Handling 0 retained messages are sent on
// every SUBSCRIBE [MQTT-3.3.1-9]; with 1 only when the subscription did not
// already exist [MQTT-3.3.1-10]; with 2 never [MQTT-3.3.1-11]. They arrive
// with RETAIN 1 (§3.3.1.3).
func TestV5RetainHandling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		handling      byte
		first, second bool // retained sent on the first and the repeated SUBSCRIBE
	}{
		{0, true, true},
		{1, true, false},
		{2, false, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("handling %d", tt.handling), func(t *testing.T) {
			t.Parallel()
			b := StartBroker(t)
			pub := connectV5(t, b, v5CleanStart("rh-pub"))
			pub.publishString("rh/a", 1, true, "retained a")
			pub.publishString("rh/b", 1, true, "retained b")
			id := fmt.Sprintf("rh-%d", tt.handling)
			sub := connectV5(t, b, v5CleanStart(id))
			for i, want := range []bool{tt.first, tt.second} {
				sub.subscribe(paho.SubscribeOptions{Topic: "rh/+", QoS: 1, RetainHandling: tt.handling})
				if want {
					got := map[string]bool{}
					for range 2 {
						m := sub.next()
						if !m.Retain {
							t.Errorf("SUBSCRIBE %d: retained %q arrived with RETAIN 0", i+1, m.Payload)
						}
						got[string(m.Payload)] = true
					}
					if !got["retained a"] || !got["retained b"] {
						t.Errorf("SUBSCRIBE %d: got %v, want both retained messages", i+1, got)
					}
				}
				// Whatever retained message is sent for a SUBSCRIBE is
				// queued before a message published after its SUBACK.
				marker := fmt.Sprintf("marker %d", i)
				pub.publishString("rh/marker", 1, false, marker)
				m := sub.next()
				if string(m.Payload) != marker {
					t.Fatalf("SUBSCRIBE %d with Retain Handling %d: got %q (retain %v), want no retained message [MQTT-3.3.1-%d]",
						i+1, tt.handling, m.Payload, m.Retain, 9+tt.handling)
				}
			}
		})
	}
}

// TestV5RetainAsPublished: live messages are forwarded with RETAIN 0 when
// Retain As Published is 0 [MQTT-3.3.1-12] and with the publisher's flag
// when it is 1 [MQTT-3.3.1-13].
func TestV5RetainAsPublished(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	plain := connectV5(t, b, v5CleanStart("rap0"))
	plain.subscribe(paho.SubscribeOptions{Topic: "rap/t", QoS: 1})
	asPub := connectV5(t, b, v5CleanStart("rap1"))
	asPub.subscribe(paho.SubscribeOptions{Topic: "rap/t", QoS: 1, RetainAsPublished: true})

	pub := connectV5(t, b, v5CleanStart("rap-pub"))
	pub.publishString("rap/t", 1, true, "retained")
	pub.publishString("rap/t", 1, false, "not retained")

	for _, tt := range []struct {
		c    *v5Client
		want []bool
		id   string
	}{
		{plain, []bool{false, false}, "[MQTT-3.3.1-12]"},
		{asPub, []bool{true, false}, "[MQTT-3.3.1-13]"},
	} {
		for i, payload := range []string{"retained", "not retained"} {
			m := tt.c.nextPayload("rap/t", payload)
			if m.Retain != tt.want[i] {
				t.Errorf("%s: %q forwarded with RETAIN %v, want %v %s", tt.c.ClientID(), payload, m.Retain, tt.want[i], tt.id)
			}
		}
	}
}

// TestV5RetainedEmptyPayloadDeletes: a retained PUBLISH with an empty payload
// is forwarded as usual but removes the retained message [MQTT-3.3.1-6] and
// is not itself retained [MQTT-3.3.1-7]; a new retained message replaces the
// old one [MQTT-3.3.1-5].
func TestV5RetainedEmptyPayloadDeletes(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	pub := connectV5(t, b, v5CleanStart("del-pub"))
	pub.publishString("del/t", 1, true, "old")
	pub.publishString("del/t", 1, true, "new")

	s1 := connectV5(t, b, v5CleanStart("del-s1"))
	s1.subscribe(paho.SubscribeOptions{Topic: "del/t", QoS: 1})
	if m := s1.nextPayload("del/t", "new"); !m.Retain {
		t.Errorf("retained message delivered with RETAIN 0")
	}

	pub.publishString("del/t", 1, true, "")
	if m := s1.next(); m.Topic != "del/t" || len(m.Payload) != 0 {
		t.Errorf("got %q on %q, want the empty message forwarded to the existing subscriber [MQTT-3.3.1-6]", m.Payload, m.Topic)
	}

	s2 := connectV5(t, b, v5CleanStart("del-s2"))
	s2.subscribe(paho.SubscribeOptions{Topic: "del/#", QoS: 1})
	pub.publishString("del/marker", 1, false, "marker")
	if m := s2.next(); string(m.Payload) != "marker" {
		t.Fatalf("new subscriber got %q on %q (retain %v) after the retained message was deleted [MQTT-3.3.1-6] [MQTT-3.3.1-7]",
			m.Payload, m.Topic, m.Retain)
	}
}

// TestV5NoLocal: with No Local the server does not send a client its own
// messages [MQTT-3.8.3-3]; without it, and to other clients, it does.
func TestV5NoLocal(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	self := connectV5(t, b, v5CleanStart("nolocal"))
	self.subscribe(paho.SubscribeOptions{Topic: "nl/t", QoS: 1, NoLocal: true})
	echo := connectV5(t, b, v5CleanStart("local"))
	echo.subscribe(paho.SubscribeOptions{Topic: "nl/t", QoS: 1})
	other := connectV5(t, b, v5CleanStart("other"))
	other.subscribe(paho.SubscribeOptions{Topic: "nl/t", QoS: 1})

	self.publishString("nl/t", 1, false, "from nolocal")
	echo.publishString("nl/t", 1, false, "from local")
	other.nextPayload("nl/t", "from nolocal")
	other.nextPayload("nl/t", "from local")
	echo.nextPayload("nl/t", "from nolocal")
	echo.nextPayload("nl/t", "from local") // its own, without No Local
	if m := self.next(); string(m.Payload) != "from local" {
		t.Fatalf("client with No Local got %q, want only others' messages [MQTT-3.8.3-3]", m.Payload)
	}
}

// TestV5SubscriptionIdentifiers: a message is sent with the Subscription
// Identifier of the subscription it matched; for overlapping subscriptions
// the identifiers of all of them are carried [MQTT-3.3.4-3], all in one
// PUBLISH [MQTT-3.3.4-4] or one per copy [MQTT-3.3.4-5]. A subscription
// without one gets none.
func TestV5SubscriptionIdentifiers(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := dialV5Raw(t, b)
	ca := c.mustConnect(v5Connect{ClientID: "subids", CleanStart: true})
	if ca.Props.has(propSubIDAvailable) && ca.Props.num(propSubIDAvailable) != 1 {
		t.Fatalf("Subscription Identifiers Available 0")
	}
	c.subscribe(1, properties{numProp(propSubscriptionID, 7)}, v5Sub{Filter: "sid/single", QoS: 1})
	c.subscribe(2, properties{numProp(propSubscriptionID, 1)}, v5Sub{Filter: "sid/+", QoS: 1})
	c.subscribe(3, properties{numProp(propSubscriptionID, 268435455)}, v5Sub{Filter: "sid/both", QoS: 1}) // largest (§3.8.2.1.2)
	c.subscribe(4, nil, v5Sub{Filter: "none/t", QoS: 1})
	pub := connectV5(t, b, v5CleanStart("subids-pub"))

	// A retained message sent because of a SUBSCRIBE carries that
	// subscription's identifier.
	pub.publishString("sidr/t", 1, true, "retained")
	c.subscribe(5, properties{numProp(propSubscriptionID, 9)}, v5Sub{Filter: "sidr/#", QoS: 1})
	r := c.expectPublish(v5WaitFor)
	c.send(v5EncodeAck(pktPUBACK, r.PacketID, v5ReasonSuccess))
	if got := r.Props.getAll(propSubscriptionID); r.Topic != "sidr/t" || len(got) != 1 || got[0].Num != 9 {
		t.Errorf("retained %q on %q carries Subscription Identifiers %v, want 9 [MQTT-3.3.4-3]", r.Payload, r.Topic, got)
	}

	// collect reads the copies of one message, acknowledging them, until
	// the marker published after it arrives.
	collect := func(topic string) []v5Publish {
		t.Helper()
		pub.publishString(topic, 1, false, "x")
		pub.publishString("none/t", 1, false, "marker")
		var copies []v5Publish
		for {
			p := c.expectPublish(v5WaitFor)
			c.send(v5EncodeAck(pktPUBACK, p.PacketID, v5ReasonSuccess))
			if p.Topic == "none/t" {
				if p.Props.has(propSubscriptionID) {
					t.Errorf("message for a subscription without an identifier carries %v", p.Props.getAll(propSubscriptionID))
				}
				return copies
			}
			copies = append(copies, p)
		}
	}
	ids := func(p v5Publish) []uint32 {
		var out []uint32
		for _, sp := range p.Props.getAll(propSubscriptionID) {
			out = append(out, sp.Num)
		}
		slices.Sort(out)
		return out
	}

	// sid/single matches "sid/single" (7) and "sid/+" (1).
	// sid/other matches only "sid/+" (1).
	// sid/both matches "sid/+" (1) and "sid/both" (268435455).
	for _, tt := range []struct {
		topic string
		want  []uint32
	}{
		{"sid/other", []uint32{1}},
		{"sid/single", []uint32{1, 7}},
		{"sid/both", []uint32{1, 268435455}},
	} {
		copies := collect(tt.topic)
		if len(copies) == 0 || len(copies) > len(tt.want) {
			t.Errorf("%s: %d copies, want 1 to %d", tt.topic, len(copies), len(tt.want))
			continue
		}
		var all []uint32
		for _, p := range copies {
			got := ids(p)
			if len(copies) > 1 && len(got) != 1 {
				t.Errorf("%s: one of %d copies carries identifiers %v, want exactly one each [MQTT-3.3.4-5]", tt.topic, len(copies), got)
			}
			all = append(all, got...)
		}
		slices.Sort(all)
		if !slices.Equal(all, tt.want) {
			t.Errorf("%s: Subscription Identifiers %v, want %v [MQTT-3.3.4-3] [MQTT-3.3.4-4]", tt.topic, all, tt.want)
		}
	}
}

// TestV5OverlappingSubscriptions: a message that matches several of one
// client's subscriptions is delivered respecting the highest QoS among them
// [MQTT-3.3.4-2], as one copy or one per subscription (§3.3.4).
func TestV5OverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	sub := connectV5(t, b, v5CleanStart("overlap"))
	sub.subscribe(
		paho.SubscribeOptions{Topic: "ov/#", QoS: 0},
		paho.SubscribeOptions{Topic: "ov/+/x", QoS: 2},
		paho.SubscribeOptions{Topic: "ov/a/x", QoS: 1},
	)
	pub := connectV5(t, b, v5CleanStart("overlap-pub"))
	pub.publishString("ov/a/x", 2, false, "overlapping")
	pub.publishString("ov/end", 0, false, "end")
	var qos []byte
	for {
		m := sub.next()
		if string(m.Payload) == "end" {
			break
		}
		if m.Topic != "ov/a/x" || string(m.Payload) != "overlapping" {
			t.Fatalf("got %q on %q", m.Payload, m.Topic)
		}
		qos = append(qos, m.QoS)
	}
	if len(qos) == 0 || len(qos) > 3 {
		t.Fatalf("%d copies, want 1 to 3", len(qos))
	}
	if slices.Max(qos) != 2 {
		t.Errorf("copies at QoS %v: none at the highest matching QoS 2 [MQTT-3.3.4-2]", qos)
	}
}

// TestV5SharedSubscription: each message published to a shared
// subscription's topic goes to exactly one member of the group (§4.8.2) and
// the members share the load, while a non-shared subscriber on the same topic
// receives everything and a shared filter is matched like the plain one.
func TestV5SharedSubscription(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const members, n = 3, 30
	var group []*v5Client
	for i := range members {
		c := connectV5(t, b, v5CleanStart(fmt.Sprint("member-", i)))
		if p := c.Connack.Properties; p != nil && !p.SharedSubAvailable {
			t.Fatalf("Shared Subscription Available 0")
		}
		c.subscribe(paho.SubscribeOptions{Topic: "$share/workers/jobs/+", QoS: 1})
		group = append(group, c)
	}
	other := connectV5(t, b, v5CleanStart("other-group"))
	other.subscribe(paho.SubscribeOptions{Topic: "$share/audit/jobs/#", QoS: 1})
	plain := connectV5(t, b, v5CleanStart("plain"))
	plain.subscribe(paho.SubscribeOptions{Topic: "jobs/#", QoS: 1})

	pub := connectV5(t, b, v5CleanStart("jobs-pub"))
	for i := range n {
		pub.publishString(fmt.Sprint("jobs/", i%4), 1, false, fmt.Sprint("job ", i))
	}
	for i := range n {
		plain.nextPayload(fmt.Sprint("jobs/", i%4), fmt.Sprint("job ", i))
		other.nextPayload(fmt.Sprint("jobs/", i%4), fmt.Sprint("job ", i))
	}

	seen := map[string]int{}
	perMember := make([]int, members)
	deadline := time.After(v5WaitFor)
	for len(seen) < n {
		got := false
		for i, c := range group {
			select {
			case m := <-c.msgs:
				if !strings.HasPrefix(m.Topic, "jobs/") {
					t.Fatalf("member %d got topic %q: the share prefix must not be part of it", i, m.Topic)
				}
				seen[string(m.Payload)]++
				perMember[i]++
				got = true
			default:
			}
		}
		if got {
			continue
		}
		select {
		case <-deadline:
			t.Fatalf("group received %d of %d messages: %v", len(seen), n, seen)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// A second copy to another member would be queued before this marker
	// reaches the member it goes to; then sweep once more.
	pub.publishString("jobs/end", 1, false, "end")
	deadline = time.After(v5WaitFor)
	for ended := false; !ended; {
		for i, c := range group {
			select {
			case m := <-c.msgs:
				if string(m.Payload) == "end" {
					ended = true
					continue
				}
				seen[string(m.Payload)]++
				perMember[i]++
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no member received the end marker")
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond)
	for i, c := range group {
		for len(c.msgs) > 0 {
			m := <-c.msgs
			seen[string(m.Payload)]++
			perMember[i]++
		}
	}
	for payload, count := range seen {
		if count != 1 {
			t.Errorf("%q delivered to the group %d times, want exactly once (§4.8.2)", payload, count)
		}
	}
	t.Logf("messages per member: %v", perMember)
	for i, k := range perMember {
		if k == 0 {
			t.Errorf("member %d received none of %d messages: the group does not share the load (%v)", i, n, perMember)
		}
	}
}

// TestV5WildcardDoesNotMatchSys: filters starting with a wildcard do not match
// topics starting with $ [MQTT-4.7.2-1], while $SYS/# does.
func TestV5WildcardDoesNotMatchSys(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--sys-interval", "1")
	all := connectV5(t, b, v5CleanStart("hash"))
	all.subscribe(paho.SubscribeOptions{Topic: "#", QoS: 0}, paho.SubscribeOptions{Topic: "+/broker/#", QoS: 0})
	sys := connectV5(t, b, v5CleanStart("sys"))
	sys.subscribe(paho.SubscribeOptions{Topic: "$SYS/#", QoS: 0})

	first := sys.next()
	if !strings.HasPrefix(first.Topic, "$SYS/") {
		t.Fatalf("$SYS/# delivered %q", first.Topic)
	}
	// Another interval's worth of $SYS updates must not reach "#".
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case m := <-all.msgs:
			t.Fatalf("%q delivered to a subscription to # or +/broker/# [MQTT-4.7.2-1]", m.Topic)
		case <-time.After(time.Until(deadline)):
		}
	}
	pub := connectV5(t, b, v5CleanStart("hash-pub"))
	pub.publishString("plain/topic", 0, false, "plain")
	all.nextPayload("plain/topic", "plain")
}

// TestV5NoLocalOnSharedSubscription: No Local on a Shared Subscription is a
// Protocol Error [MQTT-3.8.3-4]; the server closes the connection with
// DISCONNECT 0x82 (§4.13).
func TestV5NoLocalOnSharedSubscription(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c := dialV5Raw(t, b)
	c.mustConnect(v5Connect{ClientID: "shared-nolocal", CleanStart: true})
	c.send(v5EncodeSubscribe(1, nil, v5Sub{Filter: "$share/g/t", QoS: 1, NoLocal: true}))
	c.expectDisconnectAndClose(v5ReasonProtocolError, "Protocol Error [MQTT-3.8.3-4]")
}
