package broker

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// Wills of persistent sessions are in the data dir [MQTT-3.1.2-8]
// [MQTT-3.1.3-9]: one whose connection a crash ended is published when the
// broker starts again; one whose Will Delay Interval ran out while the
// broker was down is published at start; one still waiting keeps waiting.
// A published will leaves the session's record, so another restart does
// not publish it twice.
func TestWillsSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	willOf := func(topic string, delay time.Duration) *will {
		return &will{msg: &session.Message{Topic: topic, Payload: []byte("gone"), QoS: 1}, delay: delay}
	}
	now := time.Now()
	records := []struct {
		id  string
		rec sessionRecord
	}{
		// Connected when the broker died.
		{"crashed", sessionRecord{version: packet.V311, expiry: neverExpires, incarnation: 11, will: willOf("status/crashed", 0)}},
		// Left ten minutes ago with a will delayed by one.
		{"late", sessionRecord{version: packet.V5, expiry: time.Hour, disconnected: now.Add(-10 * time.Minute), incarnation: 12, will: willOf("status/late", time.Minute)}},
		// Left a minute ago with a will delayed by an hour.
		{"waiting", sessionRecord{version: packet.V5, expiry: 2 * time.Hour, disconnected: now.Add(-time.Minute), incarnation: 13, will: willOf("status/waiting", time.Hour)}},
		// Expired an hour ago: its session's end publishes its will.
		{"expired", sessionRecord{version: packet.V5, expiry: time.Minute, disconnected: now.Add(-time.Hour), incarnation: 14, will: willOf("status/expired", 10*time.Minute)}},
		{"watcher", sessionRecord{version: packet.V311, expiry: neverExpires, incarnation: 15}},
	}
	var ops []store.Op
	for _, r := range records {
		ops = append(ops, store.Op{Kind: kindSession, Key: []byte(r.id), Value: r.rec.append(nil)})
	}
	ops = append(ops, store.Op{Kind: kindSubscription, Key: subscriptionKey("watcher", "status/#"), Value: appendSubOptions(nil, subOptions{QoS: 1})})
	writeRecords(t, dir, ops...)

	got := runOnDataDir(t, dir, func(ln *pipeListener) {
		c := newClient(t, ln.Dial(), packet.V311)
		if ack := c.connect(&packet.Connect{ClientID: "watcher"}); !ack.SessionPresent {
			t.Fatal("watcher's session not resumed")
		}
		seen := map[string]bool{}
		for range 3 {
			p := recvPublish(t, c)
			seen[string(p.Topic)] = true
			c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
		}
		for _, topic := range []string{"status/crashed", "status/late", "status/expired"} {
			if !seen[topic] {
				t.Errorf("will on %s not published at start; got %v", topic, seen)
			}
		}
		expectNothing(t, c)
		c.nc.Close()
	})
	if got.Wills != 3 || got.WillsPending != 1 || got.SessionsExpired != 1 || got.Sessions != 4 {
		t.Errorf("Recover = %+v, want 3 wills published, 1 waiting, 1 session expired, 4 sessions", got)
	}
	if again := runOnDataDir(t, dir, func(*pipeListener) {}); again.Wills != 0 || again.WillsPending != 1 {
		t.Errorf("second restart: Recover = %+v, want no will published again and 1 still waiting", again)
	}
}

// A will kept on disk while its client is connected is the one of the
// attached connection: a DISCONNECT that deletes it [MQTT-3.1.2-10] leaves
// nothing to publish after a restart.
func TestWillOfCleanDisconnectIsNotKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	runOnDataDir(t, dir, func(ln *pipeListener) {
		c := newClient(t, ln.Dial(), packet.V311)
		c.connect(&packet.Connect{ClientID: "dev", Will: &packet.Will{Topic: "status/dev", Payload: []byte("gone"), QoS: 1}})
		c.send(&packet.Disconnect{})
		c.nc.Close()
	})
	if got := runOnDataDir(t, dir, func(*pipeListener) {}); got.Wills != 0 || got.WillsPending != 0 || got.Sessions != 1 {
		t.Errorf("Recover = %+v, want the session and no will", got)
	}
}

// A session record written before wills and incarnations were kept still
// reads.
func TestSessionRecordVersion1(t *testing.T) {
	v1 := []byte{1, packet.V311, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'l', 'i', 'c', 'e'}
	r, err := decodeSessionRecord(v1)
	if err != nil || r.username != "alice" || r.expiry != neverExpires || r.will != nil || r.incarnation != 0 {
		t.Fatalf("decode v1 = %+v, %v", r, err)
	}
	w := &will{msg: &session.Message{Topic: "t", Payload: []byte("p"), QoS: 2, Retain: true}, delay: 5 * time.Second, expiry: time.Minute}
	in := sessionRecord{version: packet.V5, expiry: time.Hour, disconnected: time.Unix(0, 42), username: "bob", incarnation: 7, will: w}
	out, err := decodeSessionRecord(in.append(nil))
	if err != nil || out.username != "bob" || out.incarnation != 7 || out.will == nil || out.will.delay != w.delay ||
		out.will.expiry != w.expiry || out.will.msg.Topic != "t" || !out.will.msg.Retain || !out.disconnected.Equal(in.disconnected) {
		t.Fatalf("round trip = %+v (will %+v), %v", out, out.will, err)
	}
}
