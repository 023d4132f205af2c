package broker

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// fakeAuth admits alice with "secret", refuses bob as not authorized, and
// anyone else as a bad password.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ netip.Addr, user string, password []byte) (string, error) {
	switch {
	case user == "alice" && string(password) == "secret":
		return "alice-1", nil
	case user == "bob":
		return "", packet.NotAuthorized
	case user == "flood":
		return "", &packet.Error{Code: packet.ConnectionRateExceeded, Reason: "backing off"}
	}
	return "", packet.BadUserNameOrPassword
}

func (fakeAuth) StillValid(user, stamp string) bool { return user == "alice" && stamp == "alice-1" }

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
		{"backing off", "flood", "x", packet.ConnectionRateExceeded}, // 3.1.1: 3, server unavailable
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

// switchAuth admits everyone with a username until revoked is set; then
// only stamps from before stay valid for users other than "alice".
type switchAuth struct{ revoked atomic.Bool }

func (a *switchAuth) Authenticate(_ netip.Addr, user string, _ []byte) (string, error) {
	return "stamp-" + user, nil
}
func (a *switchAuth) StillValid(user, stamp string) bool {
	return stamp == "stamp-"+user && (user != "alice" || !a.revoked.Load())
}

// After the password file changes, the broker closes the connections of a
// user whose password changed or who was deleted, telling a v5 client why
// (DISCONNECT 0x87), and keeps every other connection, anonymous included.
func TestRecheckCredentialsClosesOnlyRevokedUsers(t *testing.T) {
	auth := &switchAuth{}
	opts := quietOptions()
	opts.Authenticator = auth
	srv := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	login := func(id, user string, version byte) *client {
		c := dialClient(t, ln, version)
		cp := &packet.Connect{ClientID: id, CleanStart: true}
		if user != "" {
			cp.UsernameFlag, cp.Username, cp.PasswordFlag, cp.Password = true, user, true, []byte("pw")
		}
		if ack := c.connect(cp); ack.ReasonCode != packet.Success {
			t.Fatalf("%s: CONNACK %v", id, ack.ReasonCode)
		}
		return c
	}
	alice5 := login("alice-5", "alice", packet.V5)
	alice3 := login("alice-3", "alice", packet.V311)
	carol := login("carol", "carol", packet.V5)
	anon := login("anon", "", packet.V311)

	if n := srv.RecheckCredentials(); n != 0 {
		t.Fatalf("RecheckCredentials closed %d connections with nothing revoked", n)
	}
	auth.revoked.Store(true)
	if n := srv.RecheckCredentials(); n != 2 {
		t.Fatalf("RecheckCredentials closed %d connections, want alice's 2", n)
	}
	if code, got := alice5.expectClosed(); !got || code != packet.NotAuthorized {
		t.Errorf("alice (v5): DISCONNECT %v (received %v), want 0x87", code, got)
	}
	if _, got := alice3.expectClosed(); got {
		t.Error("alice (3.1.1) was sent a DISCONNECT, which 3.1.1 servers never send")
	}
	for _, c := range []*client{carol, anon} {
		c.send(&packet.Pingreq{})
		if _, ok := c.mustRecv().(*packet.Pingresp); !ok {
			t.Error("a client still allowed lost its connection")
		}
	}
}

// auth_fail_delay holds back the CONNACK that refuses credentials, and only
// that one.
func TestAuthFailDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := quietOptions()
		opts.Authenticator = fakeAuth{}
		opts.AuthFailDelay = 3 * time.Second
		_, ln := startPipeServer(t, opts)
		for _, tc := range []struct {
			password string
			want     packet.ReasonCode
			wait     time.Duration
		}{{"guess", packet.BadUserNameOrPassword, 3 * time.Second}, {"secret", packet.Success, 0}} {
			c := newClient(t, ln.Dial(), packet.V5)
			start := time.Now()
			ack := c.connect(&packet.Connect{ClientID: "a", CleanStart: true, UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte(tc.password)})
			if ack.ReasonCode != tc.want || time.Since(start) != tc.wait {
				t.Errorf("password %q: CONNACK %v after %v, want %v after %v", tc.password, ack.ReasonCode, time.Since(start), tc.want, tc.wait)
			}
			c.nc.Close()
		}
	})
}
