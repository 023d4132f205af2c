package broker

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/gridmq/gridmq/internal/packet"
)

// fakeAuth admits alice with "secret", refuses bob as not authorized, and
// anyone else as a bad password.
type fakeAuth struct{}

func (fakeAuth) Authenticate(user string, password []byte) error {
	switch {
	case user == "alice" && string(password) == "secret":
		return nil
	case user == "bob":
		return packet.NotAuthorized
	}
	return packet.BadUserNameOrPassword
}

// fakeACL lets clients publish under w/, subscribe under s/, and receive
// everything under s/ but s/secret, which only alice may read.
type fakeACL struct{}

func (fakeACL) CanPublish(_, _ string, _ bool, topic string) bool {
	return strings.HasPrefix(topic, "w/") || strings.HasPrefix(topic, "s/")
}
func (fakeACL) CanSubscribe(_, _ string, _ bool, filter string) bool {
	return strings.HasPrefix(filter, "s/")
}
func (fakeACL) CanReceive(_, user string, _ bool, topic string) bool {
	return topic != "s/secret" || user == "alice"
}

func startAuthServer(t *testing.T, lo ListenerOptions) net.Listener {
	t.Helper()
	opts := quietOptions()
	opts.Authenticator = fakeAuth{}
	opts.Authorizer = fakeACL{}
	srv := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, lo)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return ln
}

// CONNACK codes for each outcome and level: v5 0x86 / 0x87 [MQTT-3.2.2-8];
// 3.1 and 3.1.1 return codes 4 and 5 [MQTT-3.2.2-5].
func TestAuthenticationOutcomes(t *testing.T) {
	ln := startAuthServer(t, ListenerOptions{AllowAnonymous: false})
	for _, tc := range []struct {
		name     string
		user     string
		password string
		want     packet.ReasonCode
	}{
		{"right password", "alice", "secret", packet.Success},
		{"wrong password", "alice", "guess", packet.BadUserNameOrPassword},
		{"unknown user", "mallory", "x", packet.BadUserNameOrPassword},
		{"refused user", "bob", "x", packet.NotAuthorized},
		{"anonymous", "", "", packet.NotAuthorized},
	} {
		for _, version := range []byte{packet.V31, packet.V311, packet.V5} {
			c := dialClient(t, ln, version)
			cp := &packet.Connect{ClientID: "c-" + tc.user, CleanStart: true}
			if tc.user != "" {
				cp.UsernameFlag, cp.Username = true, tc.user
				cp.PasswordFlag, cp.Password = true, []byte(tc.password)
			}
			got := c.connect(cp).ReasonCode
			if version != packet.V5 {
				if got.V3ConnackCode() != tc.want.V3ConnackCode() {
					t.Errorf("%s, level %d: return code %d, want %d", tc.name, version, got.V3ConnackCode(), tc.want.V3ConnackCode())
				}
			} else if got != tc.want {
				t.Errorf("%s, v5: CONNACK %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

// Publish needs write access (v5: PUBACK 0x87, nothing routed), subscribe
// needs subscribe access (SUBACK 0x87 / 0x80), and every delivery needs
// read access, retained messages included.
func TestAuthorization(t *testing.T) {
	ln := startAuthServer(t, ListenerOptions{AllowAnonymous: true})

	sub := dialClient(t, ln, packet.V5)
	sub.connect(&packet.Connect{ClientID: "reader", CleanStart: true})
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "s/#", QoS: 1}, {Filter: "x/#", QoS: 1}}})
	ack, ok := sub.mustRecv().(*packet.Suback)
	if !ok || len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != packet.GrantedQoS1 || ack.ReasonCodes[1] != packet.NotAuthorized {
		t.Fatalf("SUBACK %+v, want [granted QoS 1, not authorized]", ack)
	}

	pub := dialClient(t, ln, packet.V5)
	pub.connect(&packet.Connect{ClientID: "writer", CleanStart: true})
	for i, topic := range []string{"x/forbidden", "s/secret", "s/ok"} {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: []byte(topic), Payload: []byte(topic)})
		a, ok := pub.mustRecv().(*packet.Ack)
		want := packet.Success
		if topic == "x/forbidden" {
			want = packet.NotAuthorized
		}
		if !ok || a.ReasonCode != want {
			t.Fatalf("PUBACK for %s: %+v, want %v", topic, a, want)
		}
	}
	// Only s/ok reaches the anonymous reader: s/secret is alice's to read.
	p, ok := sub.mustRecv().(*packet.Publish)
	if !ok || string(p.Topic) != "s/ok" {
		t.Fatalf("reader got %v %q, want only s/ok", p.Type(), p.Topic)
	}

	// A retained message the subscriber may not read is not sent either.
	pub.send(&packet.Publish{QoS: 1, PacketID: 9, Retain: true, Topic: []byte("s/secret"), Payload: []byte("kept")})
	pub.mustRecv()
	late := dialClient(t, ln, packet.V311)
	late.connect(&packet.Connect{ClientID: "late", CleanStart: true})
	late.subscribe(1, "s/#", 0)
	late.send(&packet.Pingreq{})
	if _, ok := late.mustRecv().(*packet.Pingresp); !ok {
		t.Error("a retained message the client may not read was sent to it")
	}
}
