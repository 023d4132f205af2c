package broker

import (
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

var (
	fuzzOnce     sync.Once
	fuzzListener *pipeListener
)

// fuzzServer is one server shared by every input of a fuzzing process, so
// that state left by one input (sessions, retained messages, subscriptions)
// meets the next.
func fuzzServer() *pipeListener {
	fuzzOnce.Do(func() {
		opts := quietOptions()
		opts.StallTimeout = 50 * time.Millisecond
		srv := New(opts)
		fuzzListener = newPipeListener()
		go srv.Serve(fuzzListener, ListenerOptions{AllowAnonymous: true})
	})
	return fuzzListener
}

// FuzzConnection sends a valid CONNECT for a protocol level followed by
// arbitrary bytes. The broker must never panic or stop reading, whatever a
// client sends; a malformed stream only closes that connection.
func FuzzConnection(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed.version, seed.data)
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		version = []byte{packet.V31, packet.V311, packet.V5}[int(version)%3]
		ln := fuzzServer()
		nc := ln.Dial()
		defer nc.Close()
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, nc)
			close(drained)
		}()
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		connect := (&packet.Connect{ProtocolVersion: version, ClientID: "fuzz", CleanStart: true}).Encode(nil, version)
		if _, err := nc.Write(append(connect, data...)); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("broker stopped reading")
		}
		// The same client id next time takes this session over; a ping
		// proves the server still answers.
		probe := ln.Dial()
		defer probe.Close()
		pc := newClient(t, probe, packet.V311)
		probe.SetDeadline(time.Now().Add(5 * time.Second))
		pc.connect(&packet.Connect{ClientID: "probe", CleanStart: true})
		pc.send(&packet.Pingreq{})
		if _, ok := pc.mustRecv().(*packet.Pingresp); !ok {
			t.Fatal("no PINGRESP from the server")
		}
		nc.Close()
		<-drained
	})
}

type fuzzSeed struct {
	version byte
	data    []byte
}

func fuzzSeeds() []fuzzSeed {
	var seeds []fuzzSeed
	for vi, v := range []byte{packet.V31, packet.V311, packet.V5} {
		var b []byte
		sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: "a/+/c", QoS: 2}, {Filter: "$share/g/a/#", QoS: 1}, {Filter: "#", QoS: 0}}}
		if v == packet.V5 {
			sub.Properties.SubscriptionIDs = []uint32{7}
		}
		b = sub.Encode(b, v)
		for qos := byte(0); qos <= 2; qos++ {
			p := &packet.Publish{QoS: qos, Retain: qos == 1, Topic: []byte("a/b/c"), Payload: []byte("payload")}
			if qos > 0 {
				p.PacketID = uint16(qos)
			}
			if v == packet.V5 {
				p.Properties.TopicAlias = 1
				p.Properties.Set(packet.PropTopicAlias)
				p.Properties.MessageExpiry = 5
				p.Properties.Set(packet.PropMessageExpiry)
			}
			b = p.Encode(b, v)
		}
		b = (&packet.Ack{Kind: packet.PUBREL, PacketID: 2}).Encode(b, v)
		b = (&packet.Ack{Kind: packet.PUBACK, PacketID: 1}).Encode(b, v)
		b = (&packet.Unsubscribe{PacketID: 3, Filters: []string{"a/+/c"}}).Encode(b, v)
		b = (&packet.Pingreq{}).Encode(b, v)
		seeds = append(seeds, fuzzSeed{byte(vi), b})
		seeds = append(seeds, fuzzSeed{byte(vi), (&packet.Disconnect{}).Encode(nil, v)})
	}
	seeds = append(seeds,
		fuzzSeed{1, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}},       // huge remaining length, no body
		fuzzSeed{2, []byte{0x30, 0x04, 0x00, 0x00, 0x00, 0x00}}, // empty topic without alias
		fuzzSeed{1, []byte{0x10, 0x00}},                         // second CONNECT
	)
	return seeds
}
