package broker

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/store"
)

// recordsDisk is a Durable holding records given to it: what a data dir
// that passed its checksums, but not necessarily the broker's reading,
// would give Recover. Commits succeed and change nothing.
type recordsDisk struct{ records []store.Op }

func (d *recordsDisk) Commit(_ []store.Op, done func(error)) {
	if done != nil {
		go done(nil) // never under the caller's locks, as the store does
	}
}
func (d *recordsDisk) CommitLazy([]store.Op) {}
func (d *recordsDisk) AwaitRoom()            {}

func (d *recordsDisk) Scan(fn func(byte, []byte, []byte) error) error {
	for _, r := range d.records {
		if err := fn(r.Kind, r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func (d *recordsDisk) Count(kind byte) int {
	n := 0
	for _, r := range d.records {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// encodeFuzzRecords is the fuzz input form of records: kind, key length
// (1 byte), key, value length (2 bytes), value, repeated.
func encodeFuzzRecords(ops ...store.Op) []byte {
	var b []byte
	for _, op := range ops {
		b = append(b, op.Kind, byte(len(op.Key)))
		b = append(b, op.Key...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(op.Value)))
		b = append(b, op.Value...)
	}
	return b
}

func decodeFuzzRecords(b []byte) []store.Op {
	var ops []store.Op
	for len(b) >= 2 {
		kind, kl := b[0], int(b[1])
		b = b[2:]
		if len(b) < kl+2 {
			break
		}
		key := b[:kl]
		vl := int(binary.BigEndian.Uint16(b[kl:]))
		b = b[kl+2:]
		vl = min(vl, len(b))
		ops = append(ops, store.Op{Kind: kind, Key: key, Value: b[:vl]})
		b = b[vl:]
	}
	return ops
}

// fuzzRecordSeeds are records as a broker writes them: a persistent
// session of client "c" subscribed to "site/#", with a queued QoS 1
// message, a released QoS 2 one and an inbound QoS 2 id; a disconnected
// session with a delayed will; a retained message.
func fuzzRecordSeeds() [][]byte {
	const inc = 7
	msg := &session.Message{Topic: "site/1/power", Payload: []byte("42"), QoS: 1}
	qkey := func(seq uint64) []byte {
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, inc), seq)
	}
	live := sessionRecord{version: packet.V5, expiry: time.Hour, incarnation: inc}
	gone := sessionRecord{version: packet.V311, expiry: neverExpires, disconnected: time.Now().Add(-time.Second), incarnation: 9,
		will: &will{msg: &session.Message{Topic: "site/2/will", Payload: []byte("gone"), QoS: 1}, delay: time.Minute}}
	records := []store.Op{
		{Kind: kindSession, Key: []byte("c"), Value: live.append(nil)},
		{Kind: kindSubscription, Key: subscriptionKey("c", "site/#"), Value: appendSubOptions(nil, subOptions{QoS: 2, SubIDs: []uint32{3}})},
		{Kind: kindQueued, Key: qkey(1), Value: appendQueuedRecord(nil, &session.Delivery{Msg: msg, QoS: 1})},
		{Kind: kindQueued, Key: qkey(2), Value: appendQueuedRecord(nil, &session.Delivery{QoS: 2, Released: true})},
		{Kind: kindInbound, Key: binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, inc), 5)},
		{Kind: kindSession, Key: []byte("w"), Value: gone.append(nil)},
		{Kind: kindRetained, Key: []byte(msg.Topic), Value: session.AppendRecord(nil, msg)},
	}
	seeds := [][]byte{encodeFuzzRecords(records...)}
	for _, r := range records {
		seeds = append(seeds, encodeFuzzRecords(r))
	}
	return seeds
}

// FuzzRecover gives Recover arbitrary records. A record the broker cannot
// take is an error naming it, never a panic; records it takes must leave a
// broker that serves: the sessions they make resume, their queues are sent,
// and the server shuts down.
func FuzzRecover(f *testing.F) {
	for _, seed := range fuzzRecordSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := quietOptions()
		opts.Durable = &recordsDisk{records: decodeFuzzRecords(data)}
		srv := New(opts)
		if _, err := srv.Recover(); err != nil {
			if err.Error() == "" {
				t.Fatal("Recover failed without saying why")
			}
			return
		}
		ln := newPipeListener()
		go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
		for _, id := range []string{"c", "w"} {
			nc := ln.Dial()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			c := newClient(t, nc, packet.V5)
			c.connect(&packet.Connect{ClientID: id, Properties: sessionExpiry(3600)})
			// Queued messages may come before the SUBACK.
			c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "#", QoS: 2}}})
			c.send(&packet.Pingreq{})
			drainUntilPingresp(t, c)
			nc.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// drainUntilPingresp acknowledges what the broker sends until it answers
// the PINGREQ sent last.
func drainUntilPingresp(t *testing.T, c *client) {
	t.Helper()
	for {
		switch p := c.mustRecv().(type) {
		case *packet.Pingresp:
			return
		case *packet.Publish:
			switch p.QoS {
			case 1:
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			case 2:
				c.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
			}
		case *packet.Ack:
			if p.Kind == packet.PUBREL {
				c.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID})
			}
		}
	}
}

// The fuzz seeds are records Recover takes whole, so that the fuzzer
// starts from inputs that reach past the decoding: client "c" resumes with
// its in-flight QoS 1 message sent again with DUP, then the PUBREL it is
// owed, under the packet ids of their places in its queue [MQTT-4.4.0-1].
func TestFuzzRecordSeedsAreTaken(t *testing.T) {
	opts := quietOptions()
	opts.Durable = &recordsDisk{records: decodeFuzzRecords(fuzzRecordSeeds()[0])}
	srv := New(opts)
	rec, err := srv.Recover()
	if err != nil {
		t.Fatal(err)
	}
	want := Recovered{Retained: 1, Sessions: 2, Subscriptions: 1, Queued: 2, WillsPending: 1}
	if rec != want {
		t.Fatalf("Recover = %+v, want %+v", rec, want)
	}
	ln := newPipeListener()
	go srv.Serve(ln, ListenerOptions{AllowAnonymous: true})
	defer srv.Shutdown(context.Background())
	c := newClient(t, ln.Dial(), packet.V5)
	defer c.nc.Close()
	if ack := c.connect(&packet.Connect{ClientID: "c", Properties: sessionExpiry(3600)}); !ack.SessionPresent {
		t.Fatal("Session Present 0 for a recovered session")
	}
	p := recvPublish(t, c)
	if !p.Dup || p.PacketID != session.PacketIDFor(1) || string(p.Payload) != "42" {
		t.Fatalf("got %+v, want the queued message again with DUP and id %d", p, session.PacketIDFor(1))
	}
	if r, ok := c.mustRecv().(*packet.Ack); !ok || r.Kind != packet.PUBREL || r.PacketID != session.PacketIDFor(2) {
		t.Fatalf("got %+v, want PUBREL %d", r, session.PacketIDFor(2))
	}
}
