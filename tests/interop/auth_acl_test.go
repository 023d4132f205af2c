package interop

// acl_file against the real binary with real clients: the rules of
// mosquitto.conf(5) ("acl_file") and Mosquitto's aclfile.example, one
// subtest and one broker each. gridmq also checks SUBSCRIBE, which Mosquitto
// 2.0 leaves to the delivery check: a filter no read rule covers is refused
// with SUBACK 0x87 Not authorized (5.0, 3.9.3) or 0x80 Failure (3.1.1,
// [MQTT-3.8.4-5]), one code per filter in order [MQTT-3.9.3-1]. A PUBLISH
// the rules refuse is acknowledged with PUBACK 0x87 (5.0, 3.4.2.1) and not
// delivered. Read access is checked at every delivery, retained messages
// included.

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// aclBroker is a broker with a password file holding users (name ->
// password) and the ACL file acl; extra holds further YAML keys.
type aclBroker struct {
	*Broker
	t     *testing.T
	users map[string]string
	acl   string // the ACL file's path
}

func startACLBroker(t *testing.T, users map[string]string, acl, extra string, args ...string) *aclBroker {
	t.Helper()
	dir := t.TempDir()
	passwd, aclPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	for name, pw := range users {
		// A few PBKDF2 iterations: these tests are about topics, not hashes.
		runGridmq(t, pw+"\n", "user", "add", "-f", passwd, "--iterations", "1000", name)
	}
	writeFile(t, aclPath, acl)
	return &aclBroker{
		Broker: startWithConfig(t, dir, authKeys(passwd, aclPath)+extra, args...),
		t:      t, users: users, acl: aclPath,
	}
}

// client connects as user over MQTT 5.0 with the given client identifier.
func (b *aclBroker) client(user, clientID string) *v5Client {
	b.t.Helper()
	return connectV5(b.t, b.Broker, v5Login(clientID, user, b.users[user]))
}

// wantSuback fails the test unless subscribing to filter gets reason want.
func wantSuback(t *testing.T, c *v5Client, who, filter string, want byte) {
	t.Helper()
	if r := c.trySubscribe(filter); r != want {
		t.Errorf("%s SUBSCRIBE %q: SUBACK reason %#02x, want %#02x", who, filter, r, want)
	}
}

// wantPuback fails the test unless a QoS 1 PUBLISH to topic gets want.
func wantPuback(t *testing.T, c *v5Client, who, topic string, want byte) {
	t.Helper()
	if r := c.tryPublish(topic, false, who+" on "+topic); r != want {
		t.Errorf("%s PUBLISH %q: PUBACK reason %#02x, want %#02x", who, topic, r, want)
	}
}

func TestACLMosquittoRules(t *testing.T) {
	t.Parallel()

	// "topic read": the user receives but may not publish; its refused
	// PUBLISH reaches nobody, which the message after it proves.
	t.Run("read only", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"ro": "ro-pw", "rw": "rw-pw"},
			"user ro\ntopic read sensors/#\n\nuser rw\ntopic readwrite sensors/#\n", "")
		ro, rw := b.client("ro", "ro-1"), b.client("rw", "rw-1")
		ro.mustSubscribe("sensors/#")
		rw.mustSubscribe("sensors/#")

		wantPuback(t, ro, "read-only user", "sensors/t1", v5ReasonNotAuthorized)
		if r := ro.tryPublishQoS("sensors/t1", 2, false, "qos 2"); r != v5ReasonNotAuthorized {
			t.Errorf("read-only user PUBLISH QoS 2: PUBREC reason %#02x, want 0x87 (3.5.2.1)", r)
		}
		if r := ro.tryPublish("sensors/kept", true, "retained"); r != v5ReasonNotAuthorized {
			t.Errorf("read-only user retained PUBLISH: PUBACK reason %#02x, want 0x87", r)
		}
		rw.publishString("sensors/t2", 1, false, "from rw")
		rw.nextPayload("sensors/t2", "from rw")
		ro.nextPayload("sensors/t2", "from rw")
		ro.expectNothing(v5Quiet)

		// The refused retained PUBLISH was not kept either.
		late := b.client("rw", "rw-2")
		late.mustSubscribe("sensors/#")
		late.expectNothing(v5Quiet)
	})

	// "topic write": the user publishes but may not subscribe, over 5.0
	// (0x87) and 3.1.1 (0x80).
	t.Run("write only", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"wo": "wo-pw", "rw": "rw-pw"},
			"user wo\ntopic write cmd/#\nuser rw\ntopic readwrite cmd/#\n", "")
		wo, rw := b.client("wo", "wo-1"), b.client("rw", "rw-1")
		rw.mustSubscribe("cmd/#")
		wantSuback(t, wo, "write-only user", "cmd/#", v5ReasonNotAuthorized)
		wantSuback(t, wo, "write-only user", "cmd/x", v5ReasonNotAuthorized)

		wo311, _ := paho3Connect(t, paho3Options(b.Broker, mqtt311, paho3ID("wo")).SetUsername("wo").SetPassword("wo-pw"))
		tok := wo311.Subscribe("cmd/#", 1, nil)
		paho3Wait(t, tok, "3.1.1 SUBSCRIBE cmd/#")
		for filter, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code != 0x80 {
				t.Errorf("write-only user over 3.1.1 SUBSCRIBE %q: SUBACK return code %#02x, want 0x80 Failure [MQTT-3.8.4-5]", filter, code)
			}
		}

		wantPuback(t, wo, "write-only user", "cmd/go", v5ReasonSuccess)
		rw.nextPayload("cmd/go", "write-only user on cmd/go")
		wo.expectNothing(v5Quiet)
	})

	// "topic readwrite" (and "topic" alone, which means readwrite) grant
	// both, and nothing outside the filter.
	t.Run("readwrite", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"u": "u-pw", "v": "v-pw"},
			"user u\ntopic readwrite rw/#\nuser v\ntopic plain/#\n", "")
		u, v := b.client("u", "u-1"), b.client("v", "v-1")
		u.mustSubscribe("rw/#")
		v.mustSubscribe("plain/#")
		wantPuback(t, u, "readwrite user", "rw/a", v5ReasonSuccess)
		u.nextPayload("rw/a", "readwrite user on rw/a")
		wantPuback(t, v, "user of a bare topic rule", "plain/a", v5ReasonSuccess)
		v.nextPayload("plain/a", "user of a bare topic rule on plain/a")
		wantPuback(t, u, "readwrite user", "elsewhere", v5ReasonNotAuthorized)
		wantSuback(t, u, "readwrite user", "#", v5ReasonNotAuthorized)
		wantSuback(t, u, "readwrite user", "plain/#", v5ReasonNotAuthorized)
	})

	// "topic deny" wins over a broader allow, for publishing, subscribing
	// and delivery on a wider subscription.
	t.Run("deny overrides allow", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"u": "u-pw", "admin": "admin-pw"},
			"user u\ntopic readwrite home/#\ntopic deny home/secret/#\nuser admin\ntopic readwrite #\n", "")
		u, admin := b.client("u", "u-1"), b.client("admin", "admin-1")
		u.mustSubscribe("home/#")
		wantSuback(t, u, "user with a deny rule", "home/secret/#", v5ReasonNotAuthorized)
		wantPuback(t, u, "user with a deny rule", "home/secret/key", v5ReasonNotAuthorized)

		admin.publishString("home/secret/key", 1, false, "hidden")
		admin.publishString("home/open", 1, false, "visible")
		u.nextPayload("home/open", "visible")
		u.expectNothing(v5Quiet)
	})

	// Rules before the first "user" line apply to anonymous clients only
	// (mosquitto.conf(5): "the first set of topics are applied to anonymous
	// clients"); a client with a username does not get them.
	t.Run("anonymous rules", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"alice": "alice-pw", "pub": "pub-pw"},
			"topic read public/#\n\nuser alice\ntopic readwrite private/#\nuser pub\ntopic write public/#\n",
			"allow_anonymous: true\n")
		anon := connectV5(t, b.Broker, v5CleanStart("anon-1"))
		alice, pub := b.client("alice", "alice-1"), b.client("pub", "pub-1")

		anon.mustSubscribe("public/#")
		wantSuback(t, anon, "anonymous client", "private/#", v5ReasonNotAuthorized)
		wantPuback(t, anon, "anonymous client", "public/x", v5ReasonNotAuthorized)
		wantSuback(t, alice, "alice", "public/#", v5ReasonNotAuthorized)
		alice.mustSubscribe("private/#")

		pub.publishString("public/news", 1, false, "for everyone")
		anon.nextPayload("public/news", "for everyone")
		alice.publishString("private/note", 1, false, "for alice")
		alice.nextPayload("private/note", "for alice")
		anon.expectNothing(v5Quiet)
	})

	// A Will Message is a PUBLISH of the client's: it needs write access.
	// A client whose Will topic it may not write either is refused at
	// CONNECT (0x87) or has its Will dropped when the connection is lost;
	// the same Will from a client that may write it is published
	// [MQTT-3.1.2-8].
	t.Run("will needs write access", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"ro": "ro-pw", "rw": "rw-pw"},
			"user ro\ntopic read status/#\nuser rw\ntopic readwrite status/#\n", "")
		watcher := b.client("rw", "watcher")
		watcher.mustSubscribe("status/#")
		for _, who := range []string{"ro", "rw"} {
			c, err := openRaw(b.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			flags := connClean | connWill | connWillQoS1 | connUsername | connPassword
			c.Write(wireConnect("MQTT", level5, flags, wireProps(), wireString(who+"-will"),
				wireProps(), wireString("status/"+who), wireString(who+" gone"),
				wireString(who), wireString(b.users[who])))
			p, err := c.ReadPacket(authWaitFor)
			if err != nil {
				t.Fatalf("%s: waiting for CONNACK: %v", who, err)
			}
			ca, err := decodeConnack(p, level5)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case who == "ro" && ca.Reason == v5ReasonNotAuthorized:
				t.Logf("CONNECT with a Will on a read-only topic refused with 0x87")
				continue
			case ca.Reason != v5ReasonSuccess:
				t.Fatalf("%s: CONNECT with a Will refused with %#02x", who, ca.Reason)
			}
			c.Ping() // the session is in place before the connection is lost
			c.Close()
		}
		watcher.nextPayload("status/rw", "rw gone")
		watcher.expectNothing(v5Quiet)
	})

	// "pattern": %u is the username and %c the client identifier, for every
	// client; a user's own rules come first.
	t.Run("pattern substitution", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"dev1": "dev1-pw", "admin": "admin-pw"},
			"user admin\ntopic readwrite #\n\npattern readwrite devices/%u/#\npattern read clients/%c\n", "")
		dev, admin := b.client("dev1", "cid-7"), b.client("admin", "admin-1")
		admin.mustSubscribe("devices/#")

		wantPuback(t, dev, "dev1", "devices/dev1/temp", v5ReasonSuccess)
		admin.nextPayload("devices/dev1/temp", "dev1 on devices/dev1/temp")
		wantPuback(t, dev, "dev1", "devices/dev2/temp", v5ReasonNotAuthorized)
		wantSuback(t, dev, "dev1", "devices/dev2/#", v5ReasonNotAuthorized)
		dev.mustSubscribe("devices/dev1/#")

		dev.mustSubscribe("clients/cid-7")
		wantSuback(t, dev, "dev1 (client cid-7)", "clients/cid-8", v5ReasonNotAuthorized)
		wantSuback(t, dev, "dev1 (client cid-7)", "clients/dev1", v5ReasonNotAuthorized)
		wantPuback(t, dev, "dev1 (client cid-7)", "clients/cid-7", v5ReasonNotAuthorized)
		admin.publishString("clients/cid-7", 1, false, "to cid-7")
		dev.nextPayload("clients/cid-7", "to cid-7")
		admin.publishString("devices/dev1/cmd", 1, false, "to dev1")
		dev.nextPayload("devices/dev1/cmd", "to dev1")
		admin.nextPayload("devices/dev1/cmd", "to dev1")
	})

	// A '$' topic is matched only by a rule starting with '$': "topic
	// readwrite #" grants no $SYS topic, "topic read $SYS/#" does.
	t.Run("$SYS needs a $ rule", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"all": "all-pw", "sys": "sys-pw"},
			"user all\ntopic readwrite #\nuser sys\ntopic read $SYS/#\n", "", "--sys-interval", "1")
		all, sys := b.client("all", "all-1"), b.client("sys", "sys-1")
		wantSuback(t, all, "user with readwrite #", "$SYS/#", v5ReasonNotAuthorized)
		wantSuback(t, all, "user with readwrite #", "$SYS/broker/version", v5ReasonNotAuthorized)
		all.mustSubscribe("#")
		sys.mustSubscribe("$SYS/broker/version")
		if m := sys.next(); m.Topic != "$SYS/broker/version" || len(m.Payload) == 0 {
			t.Errorf("user with read $SYS/#: got %q on %q, want the version on $SYS/broker/version", m.Payload, m.Topic)
		}
		all.expectNothing(v5Quiet)
	})

	// A retained message on a topic the client may not read is not sent
	// when it subscribes to a filter that matches it; the readable one is.
	t.Run("retained needs read access", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"w": "w-pw", "r": "r-pw"},
			"user w\ntopic readwrite #\nuser r\ntopic read news/#\ntopic deny news/secret\n", "")
		w := b.client("w", "w-1")
		w.publishString("news/secret", 1, true, "hidden")
		w.publishString("news/open", 1, true, "visible")
		r := b.client("r", "r-1")
		r.mustSubscribe("news/#")
		if m := r.nextPayload("news/open", "visible"); !m.Retain {
			t.Errorf("retained message delivered with RETAIN 0 [MQTT-3.3.1-8]")
		}
		r.expectNothing(v5Quiet)
	})

	// An ACL change that takes away read access stops deliveries on an
	// existing subscription once the broker has seen the file, and the
	// client stays connected. The time from writing the file to the last
	// delivery is reported.
	t.Run("revoked read stops deliveries", func(t *testing.T) {
		t.Parallel()
		b := startACLBroker(t, map[string]string{"r": "r-pw", "w": "w-pw"},
			"user r\ntopic read feed/#\ntopic read other/#\nuser w\ntopic write feed/#\n", "")
		r, w := b.client("r", "r-1"), b.client("w", "w-1")
		r.mustSubscribe("feed/#")
		w.publishString("feed/a", 1, false, "before")
		r.nextPayload("feed/a", "before")

		reloads := logCount(b.Broker, reloadedMsg)
		writeFile(t, b.acl, "user r\ntopic read other/#\nuser w\ntopic write feed/#\n")
		written := time.Now()
		var lastDelivery time.Duration
		for logCount(b.Broker, reloadedMsg) <= reloads {
			if time.Since(written) > authWaitFor {
				t.Fatalf("no reload logged within %v of writing the ACL file\nbroker:\n%s", authWaitFor, b.Output())
			}
			w.publishString("feed/a", 1, false, "during")
			select {
			case <-r.msgs:
				lastDelivery = time.Since(written)
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Logf("reload logged %.2fs after the ACL file was written; last delivery %.2fs after (target 2s)",
			time.Since(written).Seconds(), lastDelivery.Seconds())
		// Drain what was in flight when the reload was logged.
		for drained := false; !drained; {
			select {
			case <-r.msgs:
			case <-time.After(200 * time.Millisecond):
				drained = true
			}
		}
		w.publishString("feed/a", 1, false, "after")
		r.expectNothing(v5Quiet)
		r.expectConnected("the client whose read access was revoked")
		r.mustSubscribe("other/#") // the connection still answers
	})
}

// The same ACL over MQTT 3.1.1 with paho.mqtt.golang: a refused PUBLISH is
// acknowledged (PUBACK has no reason code in 3.1.1) but not delivered, as
// Mosquitto does, and the connection stays open.
func TestACLPublishRefused311(t *testing.T) {
	t.Parallel()
	b := startACLBroker(t, map[string]string{"ro": "ro-pw", "rw": "rw-pw"},
		"user ro\ntopic read sensors/#\nuser rw\ntopic readwrite sensors/#\n", "")
	rw := b.client("rw", "rw-1")
	rw.mustSubscribe("sensors/#")

	ro, _ := paho3Connect(t, paho3Options(b.Broker, mqtt311, paho3ID("ro")).SetUsername("ro").SetPassword("ro-pw"))
	paho3Publish(t, ro, "sensors/t1", 1, false, []byte("refused"))
	rw.publish(&paho.Publish{Topic: "sensors/t2", QoS: 1, Payload: []byte("marker")})
	rw.nextPayload("sensors/t2", "marker")
	rw.expectNothing(v5Quiet)
	if !ro.IsConnectionOpen() {
		t.Errorf("3.1.1 client closed after a refused PUBLISH, want it acknowledged and kept")
	}
}
