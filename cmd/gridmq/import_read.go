package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gridmq/gridmq/internal/client"
	"github.com/gridmq/gridmq/internal/packet"
)

// retainedMessage is one retained message as read from the source.
type retainedMessage struct {
	topic   string
	payload []byte
	qos     byte
}

// topicsPerRound bounds the topics read at QoS 2 in one round. A broker
// sends a new subscription's retained messages all at once, and Mosquitto
// drops the QoS 1 and 2 ones beyond its in-flight window and queue
// (max_inflight_messages 20 and max_queued_messages 1000 by default)
// without telling anyone. A topic missing from its round is read again
// alone, and a round whose marker was dropped too makes the next ones
// smaller.
const topicsPerRound = 100

// collectRetained reads the source's retained messages matching cfg.filter.
//
// A broker sets the retain flag only on the retained messages it sends for
// a new subscription [MQTT-3.3.1-8] (live messages come without it to a
// 3.1.1 client [MQTT-3.3.1-9]). A first round subscribes to the filter at
// QoS 0, which no broker queues for a client that reads, to learn every
// topic; then rounds of up to topicsPerRound topics at QoS 2 read each
// message at the QoS it was retained with.
func collectRetained(ctx context.Context, cfg importConfig) ([]retainedMessage, error) {
	r := &retainedReader{quiet: cfg.quiet, marker: endMarkerTopic(), limit: cfg.connectLimit}
	o := cfg.from
	o.OnMessage = r.onMessage
	c, _, err := client.Connect(ctx, o)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect()
	r.c = c
	// If the source refuses the marker's topic, --quiet ends each round.
	subCtx, cancel := context.WithTimeout(ctx, cfg.connectLimit)
	_, err = c.Subscribe(subCtx, packet.Subscription{Filter: r.marker, QoS: 1})
	cancel()
	r.hasMarker = err == nil

	listed, _, err := r.round(ctx, 0, cfg.filter)
	if err != nil {
		return nil, err
	}
	topics := make([]string, 0, len(listed))
	for t := range listed {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	msgs := make([]retainedMessage, 0, len(topics))
	perRound := topicsPerRound
	for len(topics) > 0 {
		batch := topics[:min(perRound, len(topics))]
		topics = topics[len(batch):]
		got, complete, err := r.round(ctx, 2, batch...)
		if err != nil {
			return nil, err
		}
		if !complete {
			// The source dropped the marker too: its queue is shorter than
			// the round.
			perRound = max(1, perRound/4)
		}
		for _, t := range batch {
			m, ok := got[t]
			if !ok && len(batch) > 1 {
				var alone map[string]retainedMessage
				if alone, _, err = r.round(ctx, 2, t); err != nil {
					return nil, err
				}
				m, ok = alone[t]
			}
			if ok { // otherwise deleted since the listing
				msgs = append(msgs, m)
			}
		}
	}
	return msgs, nil
}

// retainedReader reads retained messages over one connection, one round
// at a time. A round subscribes to its filters and ends when a message of
// its own, published to the marker topic after the subscription, comes
// back: a broker queues a subscription's retained messages as it handles
// the SUBSCRIBE, so that message comes after every one of them. The
// marker is subscribed at QoS 1 so that it also waits behind any QoS 1 or
// 2 message the source holds back for its in-flight window.
type retainedReader struct {
	c         *client.Client
	quiet     time.Duration // ends a round without its marker
	limit     time.Duration // for each request
	marker    string
	hasMarker bool

	mu    sync.Mutex
	n     int // the current round, the payload of its marker
	got   map[string]retainedMessage
	seen  chan struct{} // a retained message came
	ended chan struct{} // the round's marker came; nil once it has
}

// round subscribes to filters at qos and returns the retained messages
// they bring, and whether its marker came: if not, the source may have
// dropped some of them.
func (r *retainedReader) round(ctx context.Context, qos byte, filters ...string) (got map[string]retainedMessage, complete bool, err error) {
	r.mu.Lock()
	r.n++
	r.got = map[string]retainedMessage{}
	r.seen = make(chan struct{}, 1)
	r.ended = make(chan struct{})
	seen, ended, id := r.seen, r.ended, strconv.Itoa(r.n)
	r.mu.Unlock()

	reqCtx, cancel := context.WithTimeout(ctx, r.limit)
	defer cancel()
	subs := make([]packet.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = packet.Subscription{Filter: f, QoS: qos}
	}
	if _, err := r.c.Subscribe(reqCtx, subs...); err != nil {
		return nil, false, err // refused, too
	}
	if r.hasMarker {
		if err := r.c.Publish(reqCtx, r.marker, 1, false, []byte(id)); err != nil {
			return nil, false, err
		}
	}
	quiet := time.NewTimer(r.quiet)
	defer quiet.Stop()
wait:
	for {
		select {
		case <-seen:
			quiet.Reset(r.quiet)
		case <-ended:
			complete = true
			break wait
		case <-quiet.C:
			break wait
		case <-r.c.Done():
			return nil, false, r.c.Err()
		}
	}
	if err := r.c.Unsubscribe(reqCtx, filters...); err != nil {
		return nil, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	got, r.got = r.got, nil
	return got, complete, nil
}

func (r *retainedReader) onMessage(m *client.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !m.Retain:
		// The filter # matches the marker too: its second copy ends nothing.
		if m.Topic == r.marker && string(m.Payload) == strconv.Itoa(r.n) && r.ended != nil {
			close(r.ended)
			r.ended = nil
		}
	case r.got != nil:
		r.got[m.Topic] = retainedMessage{topic: m.Topic, payload: append([]byte(nil), m.Payload...), qos: m.QoS}
		select {
		case r.seen <- struct{}{}:
		default:
		}
	}
}

// endMarkerTopic is a topic no one else publishes to.
func endMarkerTopic() string {
	var b [8]byte
	rand.Read(b[:])
	return "gridmq/import-retained/" + hex.EncodeToString(b[:])
}
