package interop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTT 3.1.1 behaviour through Eclipse Paho paho.mqtt.golang over real TCP,
// against the real binary; MQTT 3.1 (SetProtocolVersion(3)) where the
// behaviour exists there too. Each test names the normative statements of
// MQTT Version 3.1.1 (OASIS Standard, 29 October 2014) it checks. Where a
// test checks something the standard leaves open, it says so and names the
// gridmq behaviour instead.

// paho3Payload is message i of a stream: a mix of the shapes that break
// codecs (empty, every byte value, multi-byte UTF-8, larger than one read
// buffer), each tagged with i so that loss, duplication and reordering show.
func paho3Payload(i int) []byte {
	tag := fmt.Sprintf("#%04d;", i)
	switch {
	case i == 0:
		return []byte{} // a zero-length payload is legal outside retain
	case i%20 == 7:
		big := make([]byte, 100<<10)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range big {
			big[j] = byte(r.Uint32())
		}
		return append([]byte(tag), big...)
	case i%3 == 0:
		all := make([]byte, 256)
		for j := range all {
			all[j] = byte(j)
		}
		return append([]byte(tag), all...)
	case i%3 == 1:
		return []byte(tag + "grüße, 電力網 ✓")
	default:
		return []byte(tag)
	}
}

// Every pairing of publish QoS and subscription QoS, over 3.1.1 and 3.1.
// Client to server, the publisher's flow completes: PUBACK for QoS 1, PUBREC
// then PUBCOMP for QoS 2 [MQTT-4.3.2-2] [MQTT-4.3.3-2]. Server to client, the
// subscriber gets every message exactly once [MQTT-4.5.0-1] at the minimum
// of the published QoS and the granted QoS [MQTT-3.8.4-6] (paho answers
// PUBACK, PUBREC/PUBREL/PUBCOMP), payload byte for byte, in publish order
// [MQTT-4.6.0-5] [MQTT-4.6.0-6], with RETAIN 0 because it matches an
// established subscription [MQTT-3.3.1-9] and DUP 0 on a first delivery
// [MQTT-3.3.1-3]. The SUBACK grants the requested QoS [MQTT-3.8.4-5]
// (gridmq's default --max-qos is 2).
func TestPaho311QoSMatrix(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const n = 60
	for _, version := range []uint{mqtt311, mqtt31} {
		for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
			for subQoS := byte(0); subQoS <= 2; subQoS++ {
				name := fmt.Sprintf("%s/pub-qos%d/sub-qos%d", paho3VersionName(version), pubQoS, subQoS)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					topic := "matrix/" + name
					sub, in := paho3Client(t, b, version, "msub")
					if granted := paho3Subscribe(t, sub, topic, subQoS); granted != subQoS {
						t.Fatalf("SUBACK granted QoS %d, want %d [MQTT-3.8.4-5]", granted, subQoS)
					}
					// One message in flight at a time: pipelining has a
					// test of its own, TestPaho311PipelinedQoS2.
					pub, _ := paho3Client(t, b, version, "mpub")
					for i := range n {
						paho3Wait(t, pub.Publish(topic, pubQoS, false, paho3Payload(i)), fmt.Sprintf("publish %d", i))
					}

					got := in.waitN(t, n, fmt.Sprintf("%d messages", n))
					wantQoS := min(pubQoS, subQoS)
					for i, m := range got[:n] {
						if m.Topic != topic {
							t.Fatalf("message %d: topic %q, want %q", i, m.Topic, topic)
						}
						if want := paho3Payload(i); !bytes.Equal(m.Payload, want) {
							t.Fatalf("message %d: payload of %d bytes starting %q, want %d bytes starting %q (lost, reordered or corrupted) [MQTT-4.6.0-6]",
								i, len(m.Payload), paho3Head(m.Payload), len(want), paho3Head(want))
						}
						if m.QoS != wantQoS {
							t.Errorf("message %d: delivered at QoS %d, want min(%d, %d) = %d [MQTT-3.8.4-6]", i, m.QoS, pubQoS, subQoS, wantQoS)
						}
						if m.Retained {
							t.Errorf("message %d: RETAIN 1 on delivery to an established subscription [MQTT-3.3.1-9]", i)
						}
						if m.Duplicate {
							t.Errorf("message %d: DUP 1 on a first delivery [MQTT-3.3.1-3]", i)
						}
					}
					in.expectNoMore(t, n, "each message exactly once")
				})
			}
		}
	}
}

// A 3.1.1 or 3.1 client may have as many QoS 2 messages unacknowledged as
// it has Packet Identifiers [MQTT-2.3.1-2]: these protocol versions have no
// Receive Maximum, so nothing tells the client a smaller limit and the server
// must not close the connection over one. Each message gets PUBREC and
// PUBCOMP [MQTT-4.3.3-2], is delivered once [MQTT-4.5.0-1], in order
// [MQTT-4.6.0-6]. paho sends all 200 PUBLISH packets without waiting.
func TestPaho311PipelinedQoS2(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const n = 200
	for _, version := range []uint{mqtt311, mqtt31} {
		t.Run(paho3VersionName(version), func(t *testing.T) {
			t.Parallel()
			topic := "pipelined/" + paho3VersionName(version)
			sub, in := paho3Client(t, b, version, "plsub")
			paho3Subscribe(t, sub, topic, 2)
			lost := make(chan error, 1)
			pub, _ := paho3Connect(t, paho3Options(b, version, paho3ID("plpub")).
				SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
			tokens := make([]mqtt.Token, n)
			for i := range n {
				tokens[i] = pub.Publish(topic, 2, false, strconv.Itoa(i))
			}
			for i, tok := range tokens {
				if !tok.WaitTimeout(paho3Ack) || tok.Error() != nil {
					select {
					case err := <-lost:
						t.Fatalf("publish %d of %d pipelined QoS 2 messages: the broker closed the connection (%v)\nbroker:\n%s", i, n, err, b.Output())
					case <-time.After(time.Second):
						t.Fatalf("publish %d of %d pipelined QoS 2 messages: %v\nbroker:\n%s", i, n, tok.Error(), b.Output())
					}
				}
			}
			got := in.waitN(t, n, fmt.Sprintf("%d messages", n))
			for i, m := range got[:n] {
				if string(m.Payload) != strconv.Itoa(i) {
					t.Fatalf("message %d is %s (lost or reordered) [MQTT-4.6.0-6]", i, m)
				}
			}
			in.expectNoMore(t, n, "each message exactly once")
		})
	}
}

func paho3Head(p []byte) string {
	if len(p) > 12 {
		p = p[:12]
	}
	return string(p)
}

// A session with CleanSession 0 outlives its connection: its subscriptions
// stay, QoS 1 and QoS 2 messages matching them while it is offline are
// stored [MQTT-3.1.2-4] [MQTT-3.1.2-5], and reconnecting with the same
// client identifier resumes it: Session Present 1 [MQTT-3.2.2-2] (0 on the
// very first connection [MQTT-3.2.2-3]; MQTT 3.1 has no such flag), then the
// stored messages, in order per QoS [MQTT-4.6.0-6], and live messages on the
// subscription made by the earlier connection. QoS 0 messages may or may not
// be stored, so they are published but not required.
func TestPaho311PersistentSession(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	for _, version := range []uint{mqtt311, mqtt31} {
		t.Run(paho3VersionName(version), func(t *testing.T) {
			t.Parallel()
			topic := "persist/" + paho3VersionName(version)
			id := paho3ID("persist")

			first := newV3Inbox()
			sub, present := paho3Connect(t, paho3Options(b, version, id).SetCleanSession(false).SetDefaultPublishHandler(first.handle))
			if version == mqtt311 && present {
				t.Errorf("first connection of %q: Session Present 1, want 0 [MQTT-3.2.2-3]", id)
			}
			paho3Subscribe(t, sub, topic, 2)
			sub.Disconnect(250)

			pub, _ := paho3Client(t, b, version, "ppub")
			const perQoS = 5
			for i := range perQoS {
				for qos := byte(0); qos <= 2; qos++ {
					paho3Publish(t, pub, topic, qos, false, fmt.Appendf(nil, "q%d-%d", qos, i))
				}
			}

			second := newV3Inbox()
			_, present = paho3Connect(t, paho3Options(b, version, id).SetCleanSession(false).SetDefaultPublishHandler(second.handle))
			if version == mqtt311 && !present {
				t.Errorf("reconnect of %q with CleanSession 0: Session Present 0, want 1 [MQTT-3.2.2-2]", id)
			}
			stored := func(msgs []v3Message) (q1, q2 []string) {
				for _, m := range msgs {
					switch p := string(m.Payload); {
					case strings.HasPrefix(p, "q1-"):
						q1 = append(q1, p)
					case strings.HasPrefix(p, "q2-"):
						q2 = append(q2, p)
					}
				}
				return q1, q2
			}
			got := second.waitUntil(t, paho3Ack, "the QoS 1 and QoS 2 messages stored while offline [MQTT-3.1.2-5]", func(msgs []v3Message) bool {
				q1, q2 := stored(msgs)
				return len(q1) >= perQoS && len(q2) >= perQoS
			})
			q1, q2 := stored(got)
			for i := range perQoS {
				if want := fmt.Sprintf("q1-%d", i); q1[i] != want {
					t.Errorf("stored QoS 1 message %d is %q, want %q [MQTT-4.6.0-6]; all: %q", i, q1[i], want, q1)
				}
				if want := fmt.Sprintf("q2-%d", i); q2[i] != want {
					t.Errorf("stored QoS 2 message %d is %q, want %q [MQTT-4.6.0-6]; all: %q", i, q2[i], want, q2)
				}
			}
			for _, m := range got {
				p := string(m.Payload)
				if want := p[1] - '0'; m.QoS != want {
					t.Errorf("%s delivered at QoS %d, want %d [MQTT-3.8.4-6]", p, m.QoS, want)
				}
			}

			// The subscription belongs to the session, not to the connection
			// that made it [MQTT-3.1.2-4].
			before := second.count()
			paho3Publish(t, pub, topic, 1, false, []byte("live"))
			second.waitUntil(t, paho3Ack, "a live message on the resumed subscription [MQTT-3.1.2-4]", func(msgs []v3Message) bool {
				return slices.ContainsFunc(msgs[before:], func(m v3Message) bool { return string(m.Payload) == "live" })
			})
			if first.count() != 0 {
				t.Errorf("the first connection got messages after it disconnected:\n%s", v3Summary(first.all()))
			}
		})
	}
}

// CleanSession 1 discards any previous session and starts one that lasts
// only as long as the connection [MQTT-3.1.2-6]: Session Present is 0
// [MQTT-3.2.2-1], messages stored for the old session and its subscriptions
// are gone, and the clean session is not offered to a later CleanSession 0
// connection (Session Present 0 [MQTT-3.2.2-3]).
func TestPaho311CleanSessionDiscardsState(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	pub, _ := paho3Client(t, b, mqtt311, "cpub")

	t.Run("clean connection discards a stored session", func(t *testing.T) {
		t.Parallel()
		topic, id := "clean/stored", paho3ID("clean")
		old, _ := paho3Connect(t, paho3Options(b, mqtt311, id).SetCleanSession(false))
		paho3Subscribe(t, old, topic, 1)
		old.Disconnect(250)
		paho3Publish(t, pub, topic, 1, false, []byte("queued while offline"))

		in := newV3Inbox()
		c, present := paho3Connect(t, paho3Options(b, mqtt311, id).SetCleanSession(true).SetDefaultPublishHandler(in.handle))
		if present {
			t.Errorf("CleanSession 1: Session Present 1, want 0 [MQTT-3.2.2-1]")
		}
		paho3Publish(t, pub, topic, 1, false, []byte("after the clean connect"))
		in.expectNoMore(t, 0, "neither the stored message nor the old subscription may survive CleanSession 1 [MQTT-3.1.2-6]")
		c.Disconnect(250)

		in2 := newV3Inbox()
		_, present = paho3Connect(t, paho3Options(b, mqtt311, id).SetCleanSession(false).SetDefaultPublishHandler(in2.handle))
		if present {
			t.Errorf("CleanSession 0 after a clean session: Session Present 1, want 0 [MQTT-3.1.2-6] [MQTT-3.2.2-3]")
		}
		paho3Publish(t, pub, topic, 1, false, []byte("after the persistent connect"))
		in2.expectNoMore(t, 0, "state of the clean session must not be reused [MQTT-3.1.2-6]")
	})

	t.Run("clean session is not stored", func(t *testing.T) {
		t.Parallel()
		topic, id := "clean/transient", paho3ID("clean")
		old, _ := paho3Connect(t, paho3Options(b, mqtt311, id).SetCleanSession(true))
		paho3Subscribe(t, old, topic, 1)
		old.Disconnect(250)
		paho3Publish(t, pub, topic, 1, false, []byte("published after a clean session ended"))

		in := newV3Inbox()
		_, present := paho3Connect(t, paho3Options(b, mqtt311, id).SetCleanSession(false).SetDefaultPublishHandler(in.handle))
		if present {
			t.Errorf("Session Present 1 for a client whose previous session was clean, want 0 [MQTT-3.1.2-6] [MQTT-3.2.2-3]")
		}
		in.expectNoMore(t, 0, "a clean session lasts only as long as its connection [MQTT-3.1.2-6]")
	})
}

// Retained messages. A PUBLISH with RETAIN 1 is stored with its QoS
// [MQTT-3.3.1-5] and the last one on a topic is sent to each new matching
// subscription [MQTT-3.3.1-6] with RETAIN 1 [MQTT-3.3.1-8], again on a
// re-subscription with the same filter [MQTT-3.8.4-3]; existing subscribers
// get it with RETAIN 0 [MQTT-3.3.1-9]. It outlives the publisher's session
// [MQTT-3.1.2-7]. A PUBLISH with RETAIN 0 neither stores nor replaces it
// [MQTT-3.3.1-12]. An empty retained payload is delivered as normal and
// removes the retained message, and is itself not stored [MQTT-3.3.1-10]
// [MQTT-3.3.1-11].
func TestPaho311Retained(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const topic = "retained/meter/1"

	existing, live := paho3Client(t, b, mqtt311, "rlive")
	paho3Subscribe(t, existing, topic, 2)

	pub, _ := paho3Client(t, b, mqtt311, "rpub")
	paho3Publish(t, pub, topic, 1, true, []byte("v1"))
	paho3Publish(t, pub, topic, 1, true, []byte("v2"))
	pub.Disconnect(250)
	for i, m := range live.waitN(t, 2, "both retained publishes on the established subscription") {
		if m.Retained {
			t.Errorf("live delivery %d (%s) has RETAIN 1, want 0 [MQTT-3.3.1-9]", i, m)
		}
	}

	// newSubscriber subscribes a fresh client and returns what it got once
	// the retained message, if any, had time to arrive.
	newSubscriber := func(t *testing.T, filter string, qos byte, want int) (mqtt.Client, *v3Inbox, []v3Message) {
		t.Helper()
		c, in := paho3Client(t, b, mqtt311, "rnew")
		paho3Subscribe(t, c, filter, qos)
		if want > 0 {
			in.waitN(t, want, fmt.Sprintf("%d retained message(s) on subscribing to %s [MQTT-3.3.1-6]", want, filter))
		}
		in.expectNoMore(t, want, "retained messages on a new subscription to "+filter)
		return c, in, in.all()
	}

	t.Run("new subscriber gets the last one with RETAIN 1", func(t *testing.T) {
		c, in, got := newSubscriber(t, topic, 2, 1)
		if m := got[0]; string(m.Payload) != "v2" || !m.Retained || m.QoS != 1 {
			t.Errorf("got %s, want \"v2\" with RETAIN 1 [MQTT-3.3.1-8] at its stored QoS 1 [MQTT-3.3.1-5] [MQTT-3.8.4-6]", m)
		}
		// Subscribing again with the same filter re-sends it [MQTT-3.8.4-3].
		paho3Subscribe(t, c, topic, 2)
		got = in.waitN(t, 2, "the retained message again on re-subscribing [MQTT-3.8.4-3]")
		if m := got[1]; string(m.Payload) != "v2" || !m.Retained {
			t.Errorf("re-subscribing: got %s, want \"v2\" with RETAIN 1 [MQTT-3.8.4-3] [MQTT-3.3.1-8]", m)
		}
	})

	t.Run("wildcard subscription gets one per matching topic", func(t *testing.T) {
		p, _ := paho3Client(t, b, mqtt311, "rpub")
		paho3Publish(t, p, "retained/meter/2", 0, true, []byte("m2"))
		paho3Publish(t, p, "retained/other", 1, true, []byte("not matched"))
		_, _, got := newSubscriber(t, "retained/meter/+", 1, 2)
		var payloads []string
		for _, m := range got {
			payloads = append(payloads, string(m.Payload))
			if !m.Retained {
				t.Errorf("%s: RETAIN 0, want 1 [MQTT-3.3.1-8]", m)
			}
		}
		slices.Sort(payloads)
		if !slices.Equal(payloads, []string{"m2", "v2"}) {
			t.Errorf("got retained %q, want [m2 v2] [MQTT-3.3.1-6]", payloads)
		}
	})

	t.Run("RETAIN 0 does not replace it", func(t *testing.T) {
		p, _ := paho3Client(t, b, mqtt311, "rpub")
		paho3Publish(t, p, topic, 1, false, []byte("not retained"))
		_, _, got := newSubscriber(t, topic, 1, 1)
		if m := got[0]; string(m.Payload) != "v2" || !m.Retained {
			t.Errorf("got %s, want the retained \"v2\" [MQTT-3.3.1-12]", m)
		}
	})

	t.Run("empty payload deletes it", func(t *testing.T) {
		p, _ := paho3Client(t, b, mqtt311, "rpub")
		before := live.count()
		paho3Publish(t, p, topic, 1, true, []byte{})
		got := live.waitUntil(t, paho3Ack, "the empty retained publish on the established subscription [MQTT-3.3.1-10]", func(m []v3Message) bool {
			return slices.ContainsFunc(m[before:], func(m v3Message) bool { return len(m.Payload) == 0 })
		})
		for _, m := range got[before:] {
			if len(m.Payload) == 0 && m.Retained {
				t.Errorf("empty retained publish reached an established subscription with RETAIN 1, want 0 [MQTT-3.3.1-9]")
			}
		}
		newSubscriber(t, topic, 1, 0) // nothing retained [MQTT-3.3.1-10] [MQTT-3.3.1-11]
	})
}

// The Will Message is published when the network connection closes without
// DISCONNECT [MQTT-3.1.2-8], as a non-retained message when Will Retain is 0
// [MQTT-3.1.2-16] and as a retained one when it is 1 [MQTT-3.1.2-17], at
// most once [MQTT-3.1.2-10]. After DISCONNECT it is discarded and never
// published [MQTT-3.14.4-3] [MQTT-3.1.2-10].
func TestPaho311Will(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)

	for _, version := range []uint{mqtt311, mqtt31} {
		for _, tc := range []struct {
			name     string
			crash    bool // close TCP without DISCONNECT, else Disconnect()
			retained bool
		}{
			{name: "connection dropped", crash: true},
			{name: "connection dropped, will retained", crash: true, retained: true},
			{name: "normal disconnect"},
		} {
			name := paho3VersionName(version) + "/" + tc.name
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				willTopic := "will/" + name
				watcher, watched := paho3Client(t, b, version, "wwatch")
				paho3Subscribe(t, watcher, willTopic, 2)

				var opener paho3ConnOpener
				o := paho3Options(b, version, paho3ID("wdie")).
					SetWill(willTopic, "gone", 1, tc.retained).
					SetCustomOpenConnectionFn(opener.open)
				dying, _ := paho3Connect(t, o)

				if !tc.crash {
					dying.Disconnect(250)
					watched.expectNoMore(t, 0, "no Will Message after DISCONNECT [MQTT-3.14.4-3]")
					return
				}
				opener.drop()
				got := watched.waitN(t, 1, "the Will Message after the connection dropped [MQTT-3.1.2-8]")
				if m := got[0]; m.Topic != willTopic || string(m.Payload) != "gone" || m.QoS != 1 || m.Retained {
					t.Errorf("got %s, want %s \"gone\" at Will QoS 1, RETAIN 0 on an established subscription [MQTT-3.1.2-8] [MQTT-3.3.1-9]", m, willTopic)
				}
				watched.expectNoMore(t, 1, "the Will Message is published once [MQTT-3.1.2-10]")

				late, lateIn := paho3Client(t, b, version, "wlate")
				paho3Subscribe(t, late, willTopic, 2)
				if tc.retained {
					got := lateIn.waitN(t, 1, "the retained Will Message on a new subscription [MQTT-3.1.2-17]")
					if m := got[0]; string(m.Payload) != "gone" || !m.Retained {
						t.Errorf("new subscriber got %s, want retained \"gone\" [MQTT-3.1.2-17] [MQTT-3.3.1-8]", m)
					}
				} else {
					lateIn.expectNoMore(t, 0, "a Will with Will Retain 0 is not retained [MQTT-3.1.2-16]")
				}
			})
		}
	}
}

// A CONNECT with the client identifier of a connected client makes the
// server disconnect the existing one [MQTT-3.1.4-2]; the new connection
// works and, with CleanSession 0 on both, takes the session over
// (Session Present 1 [MQTT-3.2.2-2], and the subscription made by the first
// connection delivers to the second [MQTT-3.1.2-4]).
func TestPaho311SessionTakeover(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	for _, version := range []uint{mqtt311, mqtt31} {
		t.Run(paho3VersionName(version), func(t *testing.T) {
			t.Parallel()
			id := paho3ID("takeover")
			topic := "takeover/" + paho3VersionName(version)

			lost := make(chan error, 1)
			firstIn := newV3Inbox()
			first, _ := paho3Connect(t, paho3Options(b, version, id).
				SetCleanSession(false).
				SetDefaultPublishHandler(firstIn.handle).
				SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err }))
			paho3Subscribe(t, first, topic, 1)

			secondIn := newV3Inbox()
			second, present := paho3Connect(t, paho3Options(b, version, id).
				SetCleanSession(false).
				SetDefaultPublishHandler(secondIn.handle))
			select {
			case <-lost:
			case <-time.After(paho3Ack):
				t.Fatalf("the first connection of %q is still open %v after a second CONNECT with the same id [MQTT-3.1.4-2]", id, paho3Ack)
			}
			if version == mqtt311 && !present {
				t.Errorf("taking over a CleanSession 0 session: Session Present 0, want 1 [MQTT-3.2.2-2]")
			}

			pub, _ := paho3Client(t, b, version, "tpub")
			paho3Publish(t, pub, topic, 1, false, []byte("to the new connection"))
			got := secondIn.waitN(t, 1, "a message on the taken-over subscription [MQTT-3.1.2-4]")
			if string(got[0].Payload) != "to the new connection" {
				t.Errorf("got %s", got[0])
			}
			if !second.IsConnectionOpen() {
				t.Errorf("the new connection was closed too")
			}
			if n := firstIn.count(); n != 0 {
				t.Errorf("the old connection received %d messages", n)
			}
		})
	}
}

// With Keep Alive 1 and then silence, the server must close the connection
// within one and a half Keep Alive periods, as if the network had failed
// [MQTT-3.1.2-24], and so publish the Will Message [MQTT-3.1.2-8]. The test
// allows up to 5 s for a loaded machine and treats a close before 1 s as a
// failure too: a conforming client may legitimately stay silent that long.
// A client that sends PINGREQ within its Keep Alive stays connected and gets
// PINGRESP for each [MQTT-3.12.4-1].
func TestPaho311KeepAlive(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)

	t.Run("silent client is disconnected", func(t *testing.T) {
		t.Parallel()
		watcher, watched := paho3Client(t, b, mqtt311, "kwatch")
		paho3Subscribe(t, watcher, "keepalive/will", 1)

		c := dialRaw(t, b.Addr)
		start := time.Now()
		if _, code := raw3Connack(t, c, raw3Connect{
			ClientID: paho3ID("silent"), Clean: true, KeepAlive: 1,
			WillTopic: "keepalive/will", WillPayload: []byte("timed out"), WillQoS: 1,
		}); code != 0 {
			t.Fatalf("CONNACK return code %d, want 0", code)
		}
		if err := c.ExpectClosed(5 * time.Second); err != nil {
			t.Fatalf("Keep Alive 1 s, client silent: %v; want closed after at most 1.5 s [MQTT-3.1.2-24]", err)
		}
		if elapsed := time.Since(start); elapsed < time.Second {
			t.Errorf("closed %v after CONNECT, before the 1 s Keep Alive had even passed [MQTT-3.1.2-24]", elapsed)
		}
		got := watched.waitN(t, 1, "the Will Message after the keep alive timeout [MQTT-3.1.2-8]")
		if string(got[0].Payload) != "timed out" {
			t.Errorf("got %s, want the Will Message \"timed out\"", got[0])
		}
	})

	t.Run("pinging client stays connected", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, b.Addr)
		if _, code := raw3Connack(t, c, raw3Connect{ClientID: paho3ID("pinger"), Clean: true, KeepAlive: 1}); code != 0 {
			t.Fatalf("CONNACK return code %d, want 0", code)
		}
		for i := range 8 { // 8 x 400 ms: more than twice 1.5 x Keep Alive
			time.Sleep(400 * time.Millisecond)
			if err := c.Write(wirePingreq); err != nil {
				t.Fatalf("writing PINGREQ %d: %v", i, err)
			}
			p, err := c.ReadPacket(paho3Ack)
			if err != nil {
				t.Fatalf("PINGREQ %d: %v (the server closed a client that kept its Keep Alive?) [MQTT-3.1.2-24] [MQTT-3.12.4-1]", i, err)
			}
			if p.first != pktPINGRESP<<4 || len(p.body) != 0 {
				t.Fatalf("PINGREQ %d: got %02x % x, want PINGRESP d0 00 [MQTT-3.12.4-1]", i, p.first, p.body)
			}
		}
	})
}

// A zero-byte client identifier with CleanSession 1 is accepted and the
// server assigns a unique identifier [MQTT-3.1.3-6] (two such clients do
// not take each other over); with CleanSession 0 the CONNECT is answered
// with CONNACK return code 0x02, Session Present 0, and the connection is
// closed [MQTT-3.1.3-7] [MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5].
func TestPaho311ZeroLengthClientID(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)

	t.Run("CleanSession 1 accepted", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, b.Addr)
		flags, code := raw3Connack(t, c, raw3Connect{ClientID: "", Clean: true, KeepAlive: 60})
		if flags != 0 || code != 0 {
			t.Fatalf("CONNACK 20 02 %02x %02x, want 20 02 00 00 [MQTT-3.1.3-6] [MQTT-3.2.2-1]", flags, code)
		}
		if err := c.Write(wirePingreq); err != nil {
			t.Fatalf("writing PINGREQ: %v", err)
		}
		if p, err := c.ReadPacket(paho3Ack); err != nil || p.first != pktPINGRESP<<4 {
			t.Fatalf("PINGREQ after an accepted empty client id: %02x, %v", p.first, err)
		}
	})

	t.Run("CleanSession 0 refused with 0x02", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, b.Addr)
		flags, code := raw3Connack(t, c, raw3Connect{ClientID: "", Clean: false, KeepAlive: 60})
		if flags != 0 || code != 0x02 {
			t.Fatalf("CONNACK 20 02 %02x %02x, want 20 02 00 02 (identifier rejected) [MQTT-3.1.3-8] [MQTT-3.2.2-4]", flags, code)
		}
		if err := c.ExpectClosed(5 * time.Second); err != nil {
			t.Fatalf("after CONNACK 0x02: %v [MQTT-3.1.3-8] [MQTT-3.2.2-5]", err)
		}
	})

	t.Run("two empty ids get distinct sessions", func(t *testing.T) {
		t.Parallel()
		var lost [2]chan error
		var clients [2]mqtt.Client
		for i := range clients {
			lost[i] = make(chan error, 1)
			ch := lost[i]
			clients[i], _ = paho3Connect(t, paho3Options(b, mqtt311, "").
				SetConnectionLostHandler(func(_ mqtt.Client, err error) { ch <- err }))
		}
		select {
		case err := <-lost[0]:
			t.Fatalf("the first empty-id client was disconnected when the second connected (%v): the server must assign each a unique id [MQTT-3.1.3-6]", err)
		case err := <-lost[1]:
			t.Fatalf("the second empty-id client was disconnected (%v) [MQTT-3.1.3-6]", err)
		case <-time.After(paho3Quiet):
		}
		for i, c := range clients {
			paho3Subscribe(t, c, fmt.Sprintf("empty-id/%d", i), 1)
		}
	})
}

// Wildcards: "+" matches exactly one level, "#" the parent and any number of
// levels below, at any level of the filter [MQTT-4.7.1-2] [MQTT-4.7.1-3];
// matching is exact, byte for byte, with no normalisation [MQTT-4.7.3-4].
// Filters starting with a wildcard do not match topics starting with "$"
// [MQTT-4.7.2-1], shown with the broker's own $SYS topics.
func TestPaho311Wildcards(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--sys-interval", "1")

	topics := []string{
		"sport",
		"sport/",
		"sport/tennis",
		"sport/tennis/player1",
		"sport/tennis/player1/ranking",
		"sport/football/player1",
		"Sport/tennis/player1",
		"/finance",
		"finance",
	}
	cases := []struct {
		filter string
		want   []string
	}{
		{"sport/tennis/player1", []string{"sport/tennis/player1"}},
		{"sport/tennis/+", []string{"sport/tennis/player1"}},
		{"sport/+", []string{"sport/", "sport/tennis"}},
		{"sport/#", []string{"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/football/player1"}},
		{"+/+/player1", []string{"sport/tennis/player1", "sport/football/player1", "Sport/tennis/player1"}},
		{"+/tennis/#", []string{"sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "Sport/tennis/player1"}},
		{"+", []string{"sport", "finance"}},
		{"/+", []string{"/finance"}},
		{"+/+", []string{"sport/", "sport/tennis", "/finance"}},
		{"#", topics},
	}

	subs := make([]*v3Inbox, len(cases))
	for i, tc := range cases {
		c, in := paho3Client(t, b, mqtt311, "wild")
		paho3Subscribe(t, c, tc.filter, 1)
		subs[i] = in
	}
	pub, _ := paho3Client(t, b, mqtt311, "wpub")
	for _, topic := range topics {
		paho3Publish(t, pub, topic, 1, false, []byte(topic))
	}
	for i, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			t.Parallel()
			in := subs[i]
			in.waitN(t, len(tc.want), fmt.Sprintf("%d matches of %q", len(tc.want), tc.filter))
			in.expectNoMore(t, len(tc.want), "matches of "+tc.filter) // also gives $SYS time to show up
			var got []string
			for _, m := range in.all() {
				got = append(got, m.Topic)
			}
			want := slices.Clone(tc.want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("filter %q matched %q, want %q [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1]", tc.filter, got, want)
			}
		})
	}

	t.Run("$SYS is reachable by an explicit filter", func(t *testing.T) {
		t.Parallel()
		c, in := paho3Client(t, b, mqtt311, "wsys")
		paho3Subscribe(t, c, "$SYS/#", 0)
		got := in.waitN(t, 1, "a $SYS message with --sys-interval 1")
		if !strings.HasPrefix(got[0].Topic, "$SYS/") {
			t.Errorf("got %s on $SYS/#", got[0])
		}
		// And "+/broker/#" does not reach it [MQTT-4.7.2-1].
		c2, in2 := paho3Client(t, b, mqtt311, "wsys")
		paho3Subscribe(t, c2, "+/broker/#", 0)
		time.Sleep(time.Second) // at least one more --sys-interval 1 period
		in2.expectNoMore(t, 0, `"+/broker/#" must not match $SYS topics [MQTT-4.7.2-1]`)
	})
}

// Overlapping subscriptions of one client: the message is delivered
// respecting the maximum QoS of all matching subscriptions [MQTT-3.3.5-1],
// capped by the published QoS [MQTT-3.8.4-6]. MQTT 3.1.1 also allows one
// further copy per additional matching subscription; gridmq, like
// Mosquitto's default, sends one copy, and this test holds it to that.
func TestPaho311OverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c, in := paho3Client(t, b, mqtt311, "overlap")
	filters := map[string]byte{"overlap/#": 0, "overlap/+": 2, "overlap/a": 1, "+/a": 0}
	tok := c.SubscribeMultiple(filters, nil)
	paho3Wait(t, tok, "subscribe to overlapping filters")
	for f, q := range filters {
		if got := tok.(*mqtt.SubscribeToken).Result()[f]; got != q {
			t.Fatalf("SUBACK for %s: %d, want %d [MQTT-3.8.4-5]", f, got, q)
		}
	}
	pub, _ := paho3Client(t, b, mqtt311, "opub")
	for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
		paho3Publish(t, pub, "overlap/a", pubQoS, false, fmt.Appendf(nil, "published at %d", pubQoS))
	}
	in.waitN(t, 3, "one copy of each of three messages")
	in.expectNoMore(t, 3, "one copy per message for overlapping subscriptions")
	for _, m := range in.all() {
		pubQoS := m.Payload[len(m.Payload)-1] - '0'
		if want := min(pubQoS, 2); m.QoS != want {
			t.Errorf("%s: delivered at QoS %d, want min(published %d, max subscription QoS 2) = %d [MQTT-3.3.5-1]", m, m.QoS, pubQoS, want)
		}
	}
}

// UNSUBSCRIBE deletes the subscription whose filter matches exactly, byte
// for byte [MQTT-3.10.4-1], and no new messages are delivered on it
// [MQTT-3.10.4-2]; an UNSUBSCRIBE for a filter not subscribed is still
// answered with UNSUBACK [MQTT-3.10.4-5].
func TestPaho311Unsubscribe(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	c, in := paho3Client(t, b, mqtt311, "unsub")
	paho3Subscribe(t, c, "unsub/a", 1)
	paho3Subscribe(t, c, "unsub/#", 1)
	pub, _ := paho3Client(t, b, mqtt311, "upub")

	send := func(payload string) { paho3Publish(t, pub, "unsub/a", 1, false, []byte(payload)) }
	arrived := func(payload string) func([]v3Message) bool {
		return func(msgs []v3Message) bool {
			return slices.ContainsFunc(msgs, func(m v3Message) bool { return string(m.Payload) == payload })
		}
	}
	send("both subscribed")
	in.waitUntil(t, paho3Ack, "a message while subscribed", arrived("both subscribed"))

	paho3Wait(t, c.Unsubscribe("unsub/+"), "unsubscribe a filter never subscribed [MQTT-3.10.4-5]")
	paho3Wait(t, c.Unsubscribe("unsub/a"), "unsubscribe unsub/a")
	send("unsub/# left")
	in.waitUntil(t, paho3Ack, "a message on the remaining unsub/#, which unsubscribing unsub/+ and unsub/a must not remove [MQTT-3.10.4-1]", arrived("unsub/# left"))

	paho3Wait(t, c.Unsubscribe("unsub/#"), "unsubscribe unsub/#")
	send("none left")
	time.Sleep(paho3Quiet)
	if arrived("none left")(in.all()) {
		t.Errorf("a message arrived after its only subscription was unsubscribed [MQTT-3.10.4-2]")
	}
}

// Shared subscriptions "$share/{group}/{filter}" (an MQTT 5.0 feature, 4.8.2,
// that gridmq, like Mosquitto, also offers to 3.1.1 clients): each message
// goes to exactly one member of the group, while a non-shared subscriber on
// the same topic gets every message; and the members share the load (each
// gets some of 300 messages). MQTT 3.1.1 has no statement for this.
func TestPaho311SharedSubscription(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const (
		topic = "shared/readings"
		n     = 300
	)
	members := make([]*v3Inbox, 3)
	for i := range members {
		c, in := paho3Client(t, b, mqtt311, "member")
		paho3Subscribe(t, c, "$share/meters/"+topic, 1)
		members[i] = in
	}
	oc, outside := paho3Client(t, b, mqtt311, "outside")
	paho3Subscribe(t, oc, topic, 1)

	pub, _ := paho3Client(t, b, mqtt311, "spub")
	tokens := make([]mqtt.Token, n)
	for i := range n {
		tokens[i] = pub.Publish(topic, 1, false, strconv.Itoa(i))
	}
	for i, tok := range tokens {
		paho3Wait(t, tok, fmt.Sprintf("publish %d", i))
	}

	outside.waitN(t, n, "every message on the non-shared subscription")
	total := func() int {
		s := 0
		for _, in := range members {
			s += in.count()
		}
		return s
	}
	deadline := time.Now().Add(paho3Ack)
	for total() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(paho3Quiet) // let any extra copies arrive

	seen := make(map[string]int)
	for i, in := range members {
		msgs := in.all()
		if len(msgs) == 0 {
			t.Errorf("member %d got none of %d messages: the group's load is not shared", i, n)
		}
		t.Logf("member %d got %d messages", i, len(msgs))
		for _, m := range msgs {
			if m.Topic != topic {
				t.Errorf("member %d: message on topic %q, want %q", i, m.Topic, topic)
			}
			seen[string(m.Payload)]++
		}
	}
	for i := range n {
		if k := seen[strconv.Itoa(i)]; k != 1 {
			t.Errorf("message %d reached %d members of the group, want exactly 1", i, k)
		}
	}
	if got := len(outside.all()); got != n {
		t.Errorf("non-shared subscriber got %d messages, want %d", got, n)
	}
}

// Many publishers, one subscriber, QoS 1: every message the server
// acknowledged reaches the matching subscription [MQTT-4.5.0-1]
// [MQTT-4.3.2-2], none twice on an unbroken connection, and each
// publisher's messages arrive in the order it sent them [MQTT-4.6.0-6].
func TestPaho311ManyPublishersQoS1(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const (
		publishers = 8
		each       = 2000
		topic      = "fanin/readings"
	)
	sub, in := paho3Client(t, b, mqtt311, "fanin")
	paho3Subscribe(t, sub, topic, 1)

	pubs := make([]mqtt.Client, publishers)
	for p := range pubs {
		pubs[p], _ = paho3Client(t, b, mqtt311, "fpub")
	}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p, c := range pubs {
		wg.Go(func() {
			tokens := make([]mqtt.Token, each)
			for i := range each {
				payload := make([]byte, 8)
				binary.BigEndian.PutUint32(payload, uint32(p))
				binary.BigEndian.PutUint32(payload[4:], uint32(i))
				tokens[i] = c.Publish(topic, 1, false, payload)
			}
			for i, tok := range tokens {
				if !tok.WaitTimeout(time.Minute) {
					errs <- fmt.Errorf("publisher %d: message %d not acknowledged within a minute", p, i)
					return
				}
				if err := tok.Error(); err != nil {
					errs <- fmt.Errorf("publisher %d: message %d: %v", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const total = publishers * each
	in.waitUntil(t, time.Minute, fmt.Sprintf("%d messages", total), func(m []v3Message) bool { return len(m) >= total })
	in.expectNoMore(t, total, "no duplicates on an unbroken connection")
	next := make([]uint32, publishers)
	for k, m := range in.all() {
		if len(m.Payload) != 8 {
			t.Fatalf("message %d: %d-byte payload, want 8", k, len(m.Payload))
		}
		p, i := binary.BigEndian.Uint32(m.Payload), binary.BigEndian.Uint32(m.Payload[4:])
		if p >= publishers {
			t.Fatalf("message %d: unknown publisher %d", k, p)
		}
		if i != next[p] {
			t.Fatalf("message %d: publisher %d's message %d, want its message %d (lost, duplicated or reordered) [MQTT-4.6.0-6]", k, p, i, next[p])
		}
		next[p]++
	}
}

// A subscriber that reads slowly but keeps reading loses nothing, even at
// QoS 0, and gets everything in order [MQTT-4.6.0-6]. QoS 0 allows loss, so
// this is gridmq's flow-control contract rather than a statement of the
// standard: the subscriber's queue is bounded, and when it is full the
// broker stops reading from the publisher instead of dropping.
func TestPaho311SlowSubscriberQoS0(t *testing.T) {
	t.Parallel()
	b := StartBroker(t)
	const (
		n     = 50000
		topic = "slow/readings"
	)
	var (
		mu       sync.Mutex // guards received
		received []uint32
		done     = make(chan struct{})
	)
	slow := func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		if len(m.Payload()) == 4 {
			received = append(received, binary.BigEndian.Uint32(m.Payload()))
		} else {
			received = append(received, ^uint32(0))
		}
		k := len(received)
		mu.Unlock()
		if k%1000 == 0 {
			time.Sleep(20 * time.Millisecond) // paho stops reading while the handler runs
		}
		if k == n {
			close(done)
		}
	}
	sub, _ := paho3Connect(t, paho3Options(b, mqtt311, paho3ID("slow")).SetDefaultPublishHandler(slow))
	paho3Subscribe(t, sub, topic, 0)

	pub, _ := paho3Client(t, b, mqtt311, "spub")
	start := time.Now()
	var last mqtt.Token
	for i := range n {
		payload := make([]byte, 4)
		binary.BigEndian.PutUint32(payload, uint32(i))
		last = pub.Publish(topic, 0, false, payload)
	}
	if !last.WaitTimeout(time.Minute) {
		t.Fatalf("publishing %d QoS 0 messages: the last not written within a minute", n)
	}
	if err := last.Error(); err != nil {
		t.Fatalf("publishing %d QoS 0 messages: %v", n, err)
	}
	t.Logf("published %d QoS 0 messages in %v", n, time.Since(start))

	select {
	case <-done:
	case <-time.After(2 * time.Minute):
	}
	time.Sleep(200 * time.Millisecond) // let anything extra show up
	mu.Lock()
	got := slices.Clone(received)
	mu.Unlock()
	t.Logf("received %d messages %v after the first publish", len(got), time.Since(start))
	if len(got) != n {
		t.Errorf("slow subscriber received %d of %d QoS 0 messages", len(got), n)
	}
	for k, i := range got {
		if i != uint32(k) {
			t.Fatalf("message %d of the stream is %d: lost or reordered from there on [MQTT-4.6.0-6]", k, i)
		}
	}
}

// $SYS/broker/clients/connected, published every --sys-interval seconds
// under Mosquitto's name, counts the clients connected now. The standard
// reserves "$" topics for the server (4.7.2) and says nothing more.
func TestPaho311SysClientsConnected(t *testing.T) {
	t.Parallel()
	b := StartBroker(t, "--sys-interval", "1")
	const topic = "$SYS/broker/clients/connected"
	observer, in := paho3Client(t, b, mqtt311, "sysobs")
	paho3Subscribe(t, observer, topic, 0)

	waitFor := func(want int) {
		t.Helper()
		wantS := strconv.Itoa(want)
		in.waitUntil(t, 15*time.Second, fmt.Sprintf("%s = %d", topic, want), func(msgs []v3Message) bool {
			return len(msgs) > 0 && msgs[len(msgs)-1].Topic == topic && strings.TrimSpace(string(msgs[len(msgs)-1].Payload)) == wantS
		})
	}

	others := make([]mqtt.Client, 3)
	for i := range others {
		others[i], _ = paho3Client(t, b, mqtt311, "syscli")
	}
	waitFor(1 + len(others))
	others[0].Disconnect(250)
	others[1].Disconnect(250)
	waitFor(2)
}
