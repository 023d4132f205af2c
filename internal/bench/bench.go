// Package bench is gridmq's load generator, in the spirit of emqtt-bench:
// it opens connections, publishes and subscribes through internal/client
// and measures what the broker does with it, end to end.
//
// Every publisher numbers its messages (see Header), and every subscriber
// records which numbers arrived from which publisher (see SeqSet), so loss
// and duplicates are exact, not estimated from totals; the send time in
// the payload gives each message's latency (see Histogram).
//
// It imports internal/client and internal/packet, never the broker.
package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// Scenario is what a run does.
type Scenario string

const (
	// Conn opens Connections connections at ConnectRate and holds them for
	// Duration.
	Conn Scenario = "conn"
	// Pub runs Publishers publishers, publisher i on topic PREFIX/i.
	Pub Scenario = "pub"
	// Sub runs Subscribers subscribers on PREFIX/+, counting what arrives
	// from publishers elsewhere (such as a pub run with the same prefix).
	Sub Scenario = "sub"
	// Fanin runs Publishers publishers into one subscriber on a wildcard.
	Fanin Scenario = "fanin"
	// Fanout runs one publisher to Subscribers subscribers.
	Fanout Scenario = "fanout"
	// P2P runs Publishers pairs of a publisher and a subscriber, each pair
	// on its own topic.
	P2P Scenario = "p2p"
)

// Scenarios lists every scenario, in the order help shows them.
var Scenarios = []Scenario{Conn, Pub, Sub, Fanin, Fanout, P2P}

// ParseScenario returns the scenario named s.
func ParseScenario(s string) (Scenario, error) {
	for _, sc := range Scenarios {
		if string(sc) == s {
			return sc, nil
		}
	}
	return "", fmt.Errorf("unknown scenario %q (want conn, pub, sub, fanin, fanout or p2p)", s)
}

// publishes reports whether the scenario has publishers.
func (sc Scenario) publishes() bool { return sc != Conn && sc != Sub }

// endToEnd reports whether the run has both ends, so that it knows what
// every subscriber should receive.
func (sc Scenario) endToEnd() bool { return sc == Fanin || sc == Fanout || sc == P2P }

// Hears reports whether subscriber sub receives publisher pub's messages.
func (sc Scenario) Hears(sub, pub int) bool {
	switch sc {
	case Fanin, Fanout:
		return true
	case P2P:
		return sub == pub
	}
	return false
}

// Expected is the number of deliveries a run should see when publisher p
// sent sent[p] messages and there are subscribers subscribers: for fanin
// the sum of sent, for fanout sent[0] times the subscribers, for p2p the
// sum of sent (each pair on its own); 0 for the scenarios without both ends.
func Expected(sc Scenario, sent []uint64, subscribers int) uint64 {
	var n uint64
	for s := range subscribers {
		for p, c := range sent {
			if sc.Hears(s, p) {
				n += c
			}
		}
	}
	return n
}

// Config is one run.
type Config struct {
	Scenario Scenario
	Addr     string
	Version  byte // packet.V31, V311 or V5
	QoS      byte
	Payload  int // bytes, at least HeaderLen

	// A publisher stops after Count messages or Duration, whichever comes
	// first; 0 leaves either out. (It stops at MaxSeq messages in any case.) Sub stops when every subscriber has
	// Count messages from each of Publishers publishers, or after
	// Duration, or when its context ends. Conn holds its connections for
	// Duration.
	Count    uint64
	Duration time.Duration
	// Rate is the messages per second of each publisher; 0 is as fast as
	// the window and the broker allow.
	Rate float64
	// Inflight is each client's window of unacknowledged QoS 1/2 PUBLISHes.
	Inflight int

	Publishers  int
	Subscribers int
	Connections int     // conn only
	ConnectRate float64 // conn only: connections per second; 0 is as fast as possible
	Subscribe   bool    // conn only: each connection subscribes to a topic of its own at QoS

	// Persistent gives every subscriber a persistent session: Clean Session
	// 0 in 3.1 and 3.1.1, a Session Expiry Interval of an hour in 5.0. Its
	// QoS 1 and 2 messages are then state the broker must keep until the
	// subscriber acknowledges them, which is what a broker with a data dir
	// makes durable. The run starts each session afresh (client identifiers
	// are unique to the run, and one the broker already knows is refused)
	// and ends it when the run ends, so repeated runs leave nothing behind.
	// Publishers keep clean sessions: once a QoS 1 PUBLISH is acknowledged
	// the publisher's session holds nothing of it.
	Persistent bool

	Username string
	Password []byte // nil sends none

	// TopicPrefix starts every topic. The scenarios with both ends add a
	// random run identifier after it, so runs sharing a broker never mix;
	// pub and sub do not, so they can be paired across processes.
	TopicPrefix string
	// Drain bounds the wait for the last acknowledgements and deliveries
	// once publishing stops; the wait ends early when everything arrived.
	Drain time.Duration
	// KeepAlive of every client.
	KeepAlive time.Duration

	// Progress, when set, is called about four times a second during the
	// run, from a goroutine of Run's.
	Progress func(Progress)
}

// DefaultConfig is the configuration of sc when no flag says otherwise.
func DefaultConfig(sc Scenario) Config {
	c := Config{
		Scenario:    sc,
		Addr:        "127.0.0.1:20200",
		Version:     packet.V311,
		QoS:         0,
		Payload:     64,
		Duration:    10 * time.Second,
		Inflight:    100,
		Publishers:  1,
		Subscribers: 1,
		Connections: 1000,
		TopicPrefix: "gridmq-bench",
		Drain:       5 * time.Second,
		KeepAlive:   60 * time.Second,
	}
	switch sc {
	case Fanin, P2P:
		c.Publishers = 8
	case Fanout:
		c.Subscribers = 8
	case Sub:
		c.Duration = 0 // until interrupted
	case Conn:
		c.Duration = 0 // report as soon as every connection is up
	}
	if sc == P2P {
		c.Subscribers = c.Publishers
	}
	return c
}

// Validate reports the first setting that is out of range or does not fit
// the scenario.
func (c *Config) Validate() error {
	if _, err := ParseScenario(string(c.Scenario)); err != nil {
		return err
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Addr == "" {
		bad("the broker address is empty")
	}
	if c.Version != packet.V31 && c.Version != packet.V311 && c.Version != packet.V5 {
		bad("protocol version %d (want 3, 4 or 5)", c.Version)
	}
	if c.QoS > 2 {
		bad("QoS %d (want 0, 1 or 2)", c.QoS)
	}
	if c.Payload < HeaderLen || c.Payload > packet.MaxRemainingLength-65535 {
		bad("payload of %d bytes (at least %d, for the publisher, sequence number and send time)", c.Payload, HeaderLen)
	}
	if c.Duration < 0 || c.Drain < 0 || c.KeepAlive < 0 {
		bad("negative duration")
	}
	if c.Rate < 0 || c.ConnectRate < 0 {
		bad("negative rate")
	}
	if c.Inflight < 1 || c.Inflight > 65000 {
		bad("in-flight window %d (1 to 65000)", c.Inflight)
	}
	if c.Scenario.publishes() && c.Count == 0 && c.Duration == 0 {
		bad("neither a count nor a duration: the publishers would never stop")
	}
	if c.Persistent && (c.Scenario == Conn || c.Scenario == Pub) {
		bad("persistent sessions are for subscribers, and %s has none", c.Scenario)
	}
	switch c.Scenario {
	case Conn:
		if c.Connections < 1 {
			bad("%d connections (at least 1)", c.Connections)
		}
	case Pub:
		if c.Publishers < 1 {
			bad("%d publishers (at least 1)", c.Publishers)
		}
	case Sub:
		if c.Subscribers < 1 {
			bad("%d subscribers (at least 1)", c.Subscribers)
		}
		if c.Count > 0 && c.Publishers < 1 {
			bad("%d publishers to expect (at least 1)", c.Publishers)
		}
	case Fanin:
		if c.Publishers < 1 {
			bad("%d publishers (at least 1)", c.Publishers)
		}
		if c.Subscribers != 1 {
			bad("fanin has one subscriber, not %d", c.Subscribers)
		}
	case Fanout:
		if c.Publishers != 1 {
			bad("fanout has one publisher, not %d", c.Publishers)
		}
		if c.Subscribers < 1 {
			bad("%d subscribers (at least 1)", c.Subscribers)
		}
	case P2P:
		if c.Publishers < 1 {
			bad("%d pairs (at least 1)", c.Publishers)
		}
		if c.Subscribers != c.Publishers {
			bad("p2p pairs every publisher with a subscriber: %d publishers, %d subscribers", c.Publishers, c.Subscribers)
		}
	}
	if c.TopicPrefix == "" || strings.ContainsAny(c.TopicPrefix, "+#\x00") {
		bad("topic prefix %q (not empty, no wildcard)", c.TopicPrefix)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// ParseVersion reads a protocol version as a level (3, 4, 5) or a name
// (3.1, 3.1.1, 5, 5.0).
func ParseVersion(s string) (byte, error) {
	switch s {
	case "3", "3.1":
		return packet.V31, nil
	case "4", "3.1.1":
		return packet.V311, nil
	case "5", "5.0":
		return packet.V5, nil
	}
	return 0, fmt.Errorf("unknown MQTT version %q (want 3.1, 3.1.1 or 5, or the levels 3, 4, 5)", s)
}

// versionName is the protocol's name for a level.
func versionName(v byte) string {
	switch v {
	case packet.V31:
		return "3.1"
	case packet.V311:
		return "3.1.1"
	case packet.V5:
		return "5.0"
	}
	return strconv.Itoa(int(v))
}
