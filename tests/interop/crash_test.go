package interop

// A crash test of the data dir: publishers stream QoS 1, QoS 2 and retained
// messages while the broker is killed with SIGKILL over and over, and
// persistent subscribers come and go. Whatever the broker acknowledged
// (PUBACK, PUBREC, SUBACK) must survive every kill, and the QoS 2 exchanges
// that a kill interrupts must still deliver each message exactly once.
//
// The clients here are written on the raw wire helpers of rawconn_test.go,
// not on a library, because the test must see and control what a library
// hides: the DUP flag, packet identifiers, when each acknowledgement leaves,
// and the client's own session state across reconnections.

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Each publisher has a topic of its own, so the order in which its messages
// reach a subscriber is prescribed: a server treats every topic as an Ordered
// Topic [MQTT-4.6.0-6].
const (
	crashTopicQoS1    = "crash/q1"
	crashTopicQoS2    = "crash/q2"
	crashRetainPrefix = "crashret/"
	crashRetainTopics = 8

	// crashMaxPerCycle bounds each publisher's new messages in one cycle, far
	// above what a cycle lasts, so that a broker that never gets killed
	// cannot make a publisher run away.
	crashMaxPerCycle = 5000
	// crashWindow is how many QoS 1 or QoS 2 messages each publisher keeps
	// unacknowledged: enough to have PUBLISHes, PUBRECs and PUBRELs on the
	// wire whenever the kill comes, few enough to keep the rate moderate.
	crashWindow = 8
	// crashWait bounds every wait on the broker, from CONNACK to the
	// acknowledgements a cycle waits for.
	crashWait = 20 * time.Second
)

// crashStreams are the publishers' streams, named by their payloads' prefix.
var crashStreams = map[string]struct {
	topic string
	qos   byte
}{
	"q1": {crashTopicQoS1, 1},
	"q2": {crashTopicQoS2, 2},
}

// The broker prints this line at start when it has read its data dir back.
var crashRecoveredRE = regexp.MustCompile(`data dir recovered\b.*`)

// Once the broker has acknowledged a QoS 1 message with PUBACK, a QoS 2
// message with PUBREC or a subscription with SUBACK, kill -9 loses none of
// it: messages queued for offline persistent sessions (3.1.1 Clean Session 0,
// 5.0 Session Expiry above 0) and those in flight to them come back after a
// restart on the same data dir, sessions resume with Session Present 1,
// unacknowledged messages are resent with DUP 1 and their original packet
// identifiers [MQTT-4.4.0-1], and QoS 2 state is kept both ways, so that a
// QoS 2 message is delivered once however the kills fall [MQTT-4.3.3-10].
//
// Two persistent subscribers (3.1.1 and 5.0) subscribe and go offline, then
// the broker is killed 20 times at a random moment while a QoS 1
// publisher (3.1.1, clean), a QoS 2 publisher (5.0, persistent, which resumes
// its own exchanges after each restart) and a retained-message publisher are
// mid-stream. Every third cycle the subscribers are connected too, so that
// deliveries in flight to them cross a kill. After the last kill the
// subscribers drain their sessions, and every acknowledged message must have
// reached both, QoS 2 ones exactly once, and every acknowledged retained
// message must still be retained.
//
// GRIDMQ_CRASH_SEED=N repeats a run's kill points; the moment a kill lands
// in the broker's work still varies with scheduling.
func TestAcknowledgedMessagesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the broker 20 times")
	}
	const cycles = 20

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GRIDMQ_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GRIDMQ_CRASH_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (GRIDMQ_CRASH_SEED=%d repeats these kill points)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))

	dir := filepath.Join(t.TempDir(), "data")
	// Never drop queued messages: every loss must be the data dir's.
	args := []string{"--data-dir", dir, "--max-queued-messages", "0"}

	faults := newCrashFaults(t)
	ledger := newCrashLedger()
	subs := []*crashSubscriber{
		newCrashSubscriber("3.1.1 subscriber", "crash-sub3", level311, faults),
		newCrashSubscriber("5.0 subscriber", "crash-sub5", level5, faults),
	}
	pub2 := &crashQoS2Publisher{clientID: "crash-pub2", msgs: map[uint16]*crashOutbound{}}

	// The subscriptions are acknowledged, then the broker is killed at once:
	// SUBACK is a promise that the session and its subscriptions are on disk.
	b := StartBroker(t, args...)
	for _, s := range subs {
		if err := s.subscribe(b.Addr); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	b.kill()

	cyclesStart := time.Now()
	for cycle := range cycles {
		b := StartBroker(t, args...)
		if crashRecovered(b) == "" {
			t.Errorf("cycle %d: start-up output does not report the data dir recovered:\n%s", cycle, b.Output())
		}
		consume := cycle%3 == 2
		killAt := 100 + rng.IntN(600)
		jitter := time.Duration(rng.IntN(20)) * time.Millisecond
		ledger.startCycle()

		var killed atomic.Bool
		var wg sync.WaitGroup
		// ended reports a client whose connection ended before the kill:
		// until then the broker has no reason to drop anyone.
		ended := func(who string, err error) {
			if !killed.Load() {
				faults.add("client cut off", "cycle %d: %s: connection ended before the kill: %v", cycle, who, err)
			}
		}
		// abort ends the cycle's clients before failing, so none of them
		// reports to a test that has returned.
		abort := func(format string, args ...any) {
			killed.Store(true)
			b.kill()
			if !waitGroupWithin(&wg, crashWait) {
				t.Errorf("cycle %d: clients still running %v after the broker was killed", cycle, crashWait)
			}
			t.Fatalf(format, args...)
		}
		if consume {
			// The subscribers connect before any publisher, so a message
			// published in this cycle cannot have been sent to them on an
			// earlier connection: its first PUBLISH must have DUP 0.
			for _, s := range subs {
				c, err := s.connect(b.Addr, cycle)
				if err != nil {
					abort("cycle %d: %s: %v", cycle, s.name, err)
				}
				wg.Go(func() { ended(s.name, s.consume(c, nil)) })
			}
		}
		wg.Go(func() { ended("QoS 1 publisher", crashPublishQoS1(b.Addr, cycle, ledger, faults)) })
		wg.Go(func() { ended("QoS 2 publisher", pub2.run(b.Addr, cycle, crashMaxPerCycle, ledger, faults)) })
		wg.Go(func() { ended("retained publisher", crashPublishRetained(b.Addr, cycle, ledger, faults)) })

		// Kill once killAt QoS 1 and 2 acknowledgements have arrived in this
		// cycle (and the subscribers are receiving, when they are connected),
		// then a few milliseconds more so the kill does not always follow an
		// acknowledgement closely.
		deadline := time.Now().Add(crashWait)
		for !crashKillPointReached(ledger, subs, killAt, consume) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		if !crashKillPointReached(ledger, subs, killAt, consume) {
			abort("cycle %d: %d QoS 1/2 acknowledgements in %v, want %d (subscribers connected and receiving: %v)",
				cycle, ledger.cycleAcks(), crashWait, killAt, consume)
		}
		time.Sleep(jitter)
		killed.Store(true)
		b.kill()
		if !waitGroupWithin(&wg, crashWait) {
			t.Fatalf("cycle %d: clients still running %v after the broker was killed", cycle, crashWait)
		}
	}

	// The last start: the QoS 2 publisher finishes its exchanges, then the
	// subscribers drain what their sessions hold.
	b = StartBroker(t, args...)
	recovered := crashRecovered(b)
	if recovered == "" {
		t.Errorf("final start-up output does not report the data dir recovered:\n%s", b.Output())
	}
	if err := pub2.run(b.Addr, cycles, 0, ledger, faults); err != nil {
		t.Errorf("QoS 2 publisher finishing its exchanges after the last restart: %v", err)
	}
	if len(pub2.pending) > 0 {
		t.Errorf("QoS 2 publisher: %d exchanges unfinished after the last restart (packet ids %v)",
			len(pub2.pending), pub2.pending)
	}
	wantQ1, wantQ2 := ledger.ackedPayloads(1), ledger.ackedPayloads(2)
	drainStart := time.Now()
	crashDrain(t, b.Addr, cycles, subs, slices.Concat(wantQ1, wantQ2), faults)
	drained := time.Since(drainStart)

	// Every acknowledged retained message, or a later one on its topic, is
	// what a new subscriber gets.
	retainedLost := crashCheckRetained(t, b.Addr, ledger)

	var lost, dups [3]int
	delivered := 0
	for _, s := range subs {
		s.mu.Lock()
		for _, d := range s.deliveries {
			delivered += d
		}
		for qos, want := range [][]string{1: wantQ1, 2: wantQ2} {
			if qos == 0 {
				continue
			}
			var missing []string
			for _, p := range want {
				if s.deliveries[p] == 0 {
					missing = append(missing, p)
				}
			}
			lost[qos] += len(missing)
			if len(missing) > 0 {
				t.Errorf("%s: %d of %d acknowledged QoS %d messages lost (queued or in flight to it across kill -9), e.g. %s",
					s.name, len(missing), len(want), qos, ledger.describe(missing[:min(5, len(missing))]))
			}
		}
		var twice []string
		for p, d := range s.deliveries {
			if d > 1 {
				if strings.HasPrefix(p, "q2-") {
					twice = append(twice, fmt.Sprintf("%s x%d", p, d))
					dups[2]++
				} else {
					dups[1]++
				}
			}
		}
		if len(twice) > 0 {
			sort.Strings(twice)
			t.Errorf("%s: %d QoS 2 messages delivered more than once [MQTT-4.3.3-10], e.g. %v",
				s.name, len(twice), twice[:min(5, len(twice))])
		}
		if len(s.awaitingRel) > 0 {
			t.Errorf("%s: PUBREL never came for QoS 2 packet ids %v it answered with PUBREC [MQTT-4.4.0-1]",
				s.name, slices.Sorted(maps.Keys(s.awaitingRel)))
		}
		s.mu.Unlock()
	}
	faults.reportSuppressed()

	ledger.mu.Lock()
	t.Logf("%d cycles; acknowledged: %d QoS 1 (of %d sent), %d QoS 2 (of %d sent, %d refused), %d retained (of %d sent); "+
		"delivered %d to %d subscribers; duplicates %d QoS 1, %d QoS 2; lost %d QoS 1, %d QoS 2, %d retained topics; "+
		"resent with DUP %d, PUBREL after a restart %d, publisher PUBCOMP 0x92 %d",
		cycles, ledger.acked[1], ledger.sent[1], ledger.acked[2], ledger.sent[2], ledger.refused, ledger.retainAckedN, ledger.retainSentN,
		delivered, len(subs), dups[1], dups[2], lost[1], lost[2], retainedLost,
		crashSum(subs, func(s *crashSubscriber) int { return s.dupRedeliveries }),
		crashSum(subs, func(s *crashSubscriber) int { return s.pubrelsCarried }), pub2.pubcompNotFound)
	ledger.mu.Unlock()
	t.Logf("cycles took %v, the final drain %v; final start: %s",
		drainStart.Sub(cyclesStart).Round(time.Millisecond), drained.Round(time.Millisecond), recovered)
}

// crashRecovered returns the start-up line that reports the data dir
// recovered, or "" if there is none. The broker prints it before the line
// StartBroker waits for, but the copy kept for Output may trail what
// StartBroker has read, so that line is awaited there first.
func crashRecovered(b *Broker) string {
	deadline := time.Now().Add(5 * time.Second)
	for !listeningRE.MatchString(b.Output()) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return crashRecoveredRE.FindString(b.Output())
}

// crashKillPointReached says whether the current cycle has gone far enough
// to be killed.
func crashKillPointReached(l *crashLedger, subs []*crashSubscriber, acks int, consume bool) bool {
	if l.cycleAcks() < acks {
		return false
	}
	if consume {
		for _, s := range subs {
			s.mu.Lock()
			n := s.connPublishes
			s.mu.Unlock()
			if n == 0 {
				return false
			}
		}
	}
	return true
}

// crashDrain connects the subscribers to the last broker and lets them
// consume until every message in want has reached each of them, no QoS 2
// exchange waits for PUBREL, and nothing more came for a short while (so
// that late duplicates are seen too); or until a minute has passed, or ten
// seconds without a packet.
func crashDrain(t *testing.T, addr string, cycle int, subs []*crashSubscriber, want []string, faults *crashFaults) {
	t.Helper()
	const (
		limit = 60 * time.Second
		idle  = 10 * time.Second
		quiet = 500 * time.Millisecond
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range subs {
		c, err := s.connect(addr, cycle)
		if err != nil {
			close(stop)
			waitGroupWithin(&wg, crashWait)
			t.Fatalf("final drain: %s: %v", s.name, err)
		}
		wg.Go(func() {
			if err := s.consume(c, stop); err != nil {
				faults.add("client cut off", "final drain: %s: connection ended: %v", s.name, err)
			}
		})
	}
	for {
		done, last := true, start
		for _, s := range subs {
			s.mu.Lock()
			for _, p := range want {
				if s.deliveries[p] == 0 {
					done = false
					break
				}
			}
			if len(s.awaitingRel) > 0 {
				done = false
			}
			if s.lastPacket.After(last) {
				last = s.lastPacket
			}
			s.mu.Unlock()
		}
		since := time.Since(last)
		if done && since >= quiet {
			break
		}
		if since >= idle || time.Since(start) >= limit {
			t.Logf("final drain stopped after %v with messages still missing (%v since the last packet)",
				time.Since(start).Round(time.Millisecond), since.Round(time.Millisecond))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	if !waitGroupWithin(&wg, crashWait) {
		t.Fatalf("final drain: subscribers did not disconnect within %v", crashWait)
	}
}

// crashCheckRetained subscribes a new client to every retained topic and
// checks that each topic holds its newest acknowledged message or one
// published after it. It returns how many topics fall short.
func crashCheckRetained(t *testing.T, addr string, l *crashLedger) int {
	t.Helper()
	l.mu.Lock()
	sent, ackedAt := l.retainSent, l.retainAcked
	l.mu.Unlock()
	if len(ackedAt) == 0 {
		t.Errorf("no retained message was acknowledged in any cycle")
		return 0
	}
	c, err := openRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Connect(level311, "crash-retcheck"); err != nil {
		t.Fatalf("retained check: %v", err)
	}
	sub := wirePacket(pktSUBSCRIBE<<4|0x02, wireU16(1), wireString(crashRetainPrefix+"#"), []byte{1})
	if err := c.Write(sub); err != nil {
		t.Fatalf("retained check: sending SUBSCRIBE: %v", err)
	}
	got := map[string]string{}
	deadline := time.Now().Add(crashWait)
	for !crashHasAll(got, ackedAt) {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		p, err := c.ReadPacket(wait)
		if err != nil {
			if !isTimeout(err) {
				t.Errorf("retained check: %v", err)
			}
			break
		}
		switch p.Type() {
		case pktSUBACK:
			if code, _ := p.ReasonCode(level311); code != 1 {
				t.Errorf("retained check: SUBACK %v, want QoS 1 granted", p)
			}
		case pktPUBLISH:
			pub, err := crashDecodePublish(p, level311)
			if err != nil {
				t.Fatalf("retained check: %v: %v", p, err)
			}
			if !pub.Retain {
				t.Errorf("retained check: %s = %q, sent for a new subscription, arrived with RETAIN 0 [MQTT-3.3.1-8] (3.1.1)",
					pub.Topic, pub.Payload)
			}
			got[pub.Topic] = string(pub.Payload)
			if pub.QoS > 0 {
				if err := c.Write(crashAck(pktPUBACK, pub.PacketID)); err != nil {
					t.Fatalf("retained check: %v", err)
				}
			}
		default:
			t.Errorf("retained check: unexpected %v", p)
		}
	}
	c.Write(wireDisconnect)
	lost := 0
	for _, topic := range slices.Sorted(maps.Keys(ackedAt)) {
		at := ackedAt[topic]
		idx := slices.Index(sent[topic], got[topic])
		if idx < at {
			lost++
			t.Errorf("retained %s: got %q after the last restart, want %q (its newest acknowledged value) or a later one",
				topic, got[topic], sent[topic][at])
		}
	}
	return lost
}

func crashHasAll(got map[string]string, want map[string]int) bool {
	for topic := range want {
		if _, ok := got[topic]; !ok {
			return false
		}
	}
	return true
}

func crashSum(subs []*crashSubscriber, f func(*crashSubscriber) int) int {
	n := 0
	for _, s := range subs {
		s.mu.Lock()
		n += f(s)
		s.mu.Unlock()
	}
	return n
}

// waitGroupWithin waits for wg at most d and says whether it finished.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// ---- what the test knows ----

// crashFaults counts protocol and durability faults by kind and fails the
// test with the first few of each, so that a broken broker is reported with
// examples rather than thousands of lines.
type crashFaults struct {
	t      testing.TB
	mu     sync.Mutex // guards counts
	counts map[string]int
}

const crashFaultExamples = 3

func newCrashFaults(t testing.TB) *crashFaults {
	return &crashFaults{t: t, counts: map[string]int{}}
}

// add records one fault; it may be called from any goroutine the test waits for.
func (f *crashFaults) add(kind, format string, args ...any) {
	f.mu.Lock()
	f.counts[kind]++
	n := f.counts[kind]
	f.mu.Unlock()
	if n <= crashFaultExamples {
		f.t.Errorf(kind+": "+format, args...)
	}
}

func (f *crashFaults) reportSuppressed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, kind := range slices.Sorted(maps.Keys(f.counts)) {
		if n := f.counts[kind]; n > crashFaultExamples {
			f.t.Errorf("%s: %d in all (%d shown above)", kind, n, crashFaultExamples)
		}
	}
}

// crashLedger is what the publishers know: every message they sent and which
// ones the broker acknowledged.
type crashLedger struct {
	mu           sync.Mutex // guards the fields below
	sent         [3]int     // by QoS
	acked        [3]int     // by QoS
	refused      int        // PUBREC with a reason code of 0x80 or more
	ackedSet     map[string]bool
	ackedOrder   [3][]string    // payloads by QoS, in acknowledgement order
	ackedResent  map[string]int // QoS 2 payload -> cycle in which PUBREC came for its PUBLISH resent after a restart
	thisCycle    int            // QoS 1 and 2 acknowledgements in the current cycle
	retainSent   map[string][]string
	retainAcked  map[string]int // topic -> index in retainSent of its newest acknowledged value
	retainSentN  int
	retainAckedN int
}

func newCrashLedger() *crashLedger {
	return &crashLedger{
		ackedSet:    map[string]bool{},
		ackedResent: map[string]int{},
		retainSent:  map[string][]string{},
		retainAcked: map[string]int{},
	}
}

func (l *crashLedger) startCycle() {
	l.mu.Lock()
	l.thisCycle = 0
	l.mu.Unlock()
}

func (l *crashLedger) cycleAcks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.thisCycle
}

func (l *crashLedger) recordSent(qos byte) {
	l.mu.Lock()
	l.sent[qos]++
	l.mu.Unlock()
}

func (l *crashLedger) recordAcked(qos byte, payload string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ackedSet[payload] {
		return
	}
	l.ackedSet[payload] = true
	l.acked[qos]++
	l.ackedOrder[qos] = append(l.ackedOrder[qos], payload)
	l.thisCycle++
}

// describe lists payloads with how each was acknowledged, when that is
// more than a PUBACK or PUBREC to its first PUBLISH.
func (l *crashLedger) describe(payloads []string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range payloads {
		if c, ok := l.ackedResent[p]; ok {
			p += fmt.Sprintf(" (PUBREC to its PUBLISH resent with DUP 1 in cycle %d)", c)
		}
		out = append(out, p)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func (l *crashLedger) ackedPayloads(qos byte) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ackedOrder[qos])
}

// crashPayload reads a payload "q1-<cycle>-<n>" or "q2-<cycle>-<n>": the
// publisher's stream and where the message stands in it.
func crashPayload(p string) (stream string, cycle, order int, ok bool) {
	parts := strings.Split(p, "-")
	if _, ok := crashStreams[parts[0]]; len(parts) != 3 || !ok {
		return "", 0, 0, false
	}
	c, err1 := strconv.Atoi(parts[1])
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return parts[0], c, c*1_000_000 + n, true
}

// ---- packets ----

// crashPublish is a PUBLISH at either protocol level; 5.0 adds an empty
// property list.
func crashPublish(level byte, topic string, qos byte, retain, dup bool, id uint16, payload string) []byte {
	if level >= level5 {
		return v5Publish{Topic: topic, QoS: qos, Retain: retain, Dup: dup, PacketID: id, Payload: []byte(payload)}.encode()
	}
	flags := qos << 1
	if retain {
		flags |= 0x01
	}
	if dup {
		flags |= 0x08
	}
	parts := [][]byte{wireString(topic)}
	if qos > 0 {
		parts = append(parts, wireU16(id))
	}
	return wirePacket(pktPUBLISH<<4|flags, append(parts, []byte(payload))...)
}

// crashDecodePublish reads a PUBLISH sent at either protocol level.
func crashDecodePublish(p rawPacket, level byte) (v5Publish, error) {
	if level >= level5 {
		return v5DecodePublish(p)
	}
	if p.Type() != pktPUBLISH {
		return v5Publish{}, fmt.Errorf("want PUBLISH, got %v", p)
	}
	pub := v5Publish{QoS: p.first >> 1 & 0x03, Retain: p.first&0x01 != 0, Dup: p.first&0x08 != 0, Size: p.size}
	r := &wireReader{b: p.body}
	pub.Topic = r.string()
	if pub.QoS > 0 {
		pub.PacketID = r.uint16()
	}
	pub.Payload = append([]byte(nil), r.b...)
	return pub, r.err
}

// crashAck is PUBACK, PUBREC, PUBREL or PUBCOMP in its two-byte form, which
// both levels share: in 5.0 a Remaining Length of 2 means reason 0x00
// Success (§3.4.2.1). PUBREL's flags are 0010 [MQTT-3.6.1-1].
func crashAck(typ byte, id uint16) []byte {
	var flags byte
	if typ == pktPUBREL {
		flags = 0x02
	}
	return wirePacket(typ<<4|flags, wireU16(id))
}

// crashNextID is the packet identifier after prev that inUse does not hold:
// non-zero and currently unused [MQTT-2.2.1-3] (5.0), [MQTT-2.3.1-2] (3.1.1).
func crashNextID[V any](prev uint16, inUse map[uint16]V) uint16 {
	id := prev
	for {
		id++
		if id == 0 {
			continue
		}
		if _, busy := inUse[id]; !busy {
			return id
		}
	}
}

// ---- publishers ----

// crashPublishQoS1 is one cycle of a 3.1.1 clean-session publisher: QoS 1
// messages "q1-<cycle>-<n>", crashWindow of them unacknowledged at a time,
// until its connection ends. A message counts as acknowledged when its PUBACK
// arrives.
func crashPublishQoS1(addr string, cycle int, l *crashLedger, f *crashFaults) error {
	c, err := openRaw(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Connect(level311, "crash-pub1"); err != nil {
		return err
	}
	inflight := map[uint16]string{}
	var id uint16
	for n := 0; ; {
		for len(inflight) < crashWindow && n < crashMaxPerCycle {
			id = crashNextID(id, inflight)
			payload := fmt.Sprintf("q1-%d-%d", cycle, n)
			n++
			inflight[id] = payload
			l.recordSent(1)
			if err := c.Write(crashPublish(level311, crashTopicQoS1, 1, false, false, id, payload)); err != nil {
				return err
			}
		}
		p, err := c.ReadPacket(crashWait)
		if err != nil {
			return err
		}
		ackID, _ := p.PacketID()
		payload, ok := inflight[ackID]
		if p.Type() != pktPUBACK || !ok {
			f.add("publisher protocol", "QoS 1 publisher got %v with %d in flight, want PUBACK for one of them", p, len(inflight))
			return fmt.Errorf("unexpected %v", p)
		}
		delete(inflight, ackID)
		l.recordAcked(1, payload)
	}
}

// crashPublishRetained is one cycle of a 3.1.1 clean-session publisher of
// retained QoS 1 messages, one at a time and paced, over crashRetainTopics
// topics. Publishing one at a time makes "the newest acknowledged value of a
// topic" well defined.
func crashPublishRetained(addr string, cycle int, l *crashLedger, f *crashFaults) error {
	c, err := openRaw(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Connect(level311, "crash-ret"); err != nil {
		return err
	}
	for n := 0; n < crashMaxPerCycle; n++ {
		topic := fmt.Sprintf("%s%d", crashRetainPrefix, n%crashRetainTopics)
		payload := fmt.Sprintf("r-%d-%d", cycle, n)
		l.mu.Lock()
		l.retainSent[topic] = append(l.retainSent[topic], payload)
		idx := len(l.retainSent[topic]) - 1
		l.retainSentN++
		l.mu.Unlock()
		id := uint16(n%65535 + 1)
		if err := c.Write(crashPublish(level311, topic, 1, true, false, id, payload)); err != nil {
			return err
		}
		p, err := c.ReadPacket(crashWait)
		if err != nil {
			return err
		}
		if ackID, _ := p.PacketID(); p.Type() != pktPUBACK || ackID != id {
			f.add("publisher protocol", "retained publisher got %v, want PUBACK %d", p, id)
			return fmt.Errorf("unexpected %v", p)
		}
		l.mu.Lock()
		l.retainAcked[topic] = idx
		l.retainAckedN++
		l.mu.Unlock()
		time.Sleep(2 * time.Millisecond) // pacing: retained messages are not the load here
	}
	_, err = c.ReadPacket(crashWait) // nothing more to say; wait for the kill
	return err
}

// crashQoS2Publisher is a 5.0 client with a persistent session that publishes
// at QoS 2 and keeps its side of every exchange across reconnections, as
// [MQTT-4.4.0-1] asks: after a restart it resends, in order
// [MQTT-4.6.0-1], each PUBLISH still waiting for PUBREC (DUP 1, same packet
// identifier) and each PUBREL still waiting for PUBCOMP. Between cycles only
// the test goroutine touches it.
type crashQoS2Publisher struct {
	clientID        string
	hadSession      bool
	lastID          uint16
	pending         []uint16 // packet ids of unfinished exchanges, in the order the PUBLISHes were first sent
	msgs            map[uint16]*crashOutbound
	pubcompNotFound int // PUBCOMP 0x92: the broker no longer knew the PUBREL's packet id
}

type crashOutbound struct {
	payload  string
	resent   bool // sent again with DUP 1 after a restart
	released bool // PUBREC received and PUBREL sent: the PUBLISH is never sent again [MQTT-4.3.3-6]
}

// run connects, resumes the session, publishes up to newMessages new
// messages "q2-<cycle>-<n>" and returns when the connection ends, or, once
// it has published them all and every exchange is complete, disconnects and
// returns nil. A message counts as acknowledged when a PUBREC below 0x80
// arrives for it.
func (p *crashQoS2Publisher) run(addr string, cycle, newMessages int, l *crashLedger, f *crashFaults) error {
	c, err := openRaw(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	expiry := properties{numProp(propSessionExpiry, 0xFFFFFFFF)}
	if err := c.Write(v5Connect{ClientID: p.clientID, Props: expiry}.encode()); err != nil {
		return err
	}
	pkt, err := c.ReadPacket(crashWait)
	if err != nil {
		return fmt.Errorf("waiting for CONNACK: %w", err)
	}
	ca, err := decodeConnack(pkt, level5)
	if err != nil || ca.Reason != v5ReasonSuccess {
		return fmt.Errorf("CONNACK %v: %v", pkt, err)
	}
	if p.hadSession && !ca.SessionPresent {
		f.add("session lost", "cycle %d: QoS 2 publisher: Session Present 0 after a restart, with %d QoS 2 exchanges unfinished [MQTT-3.2.2-3]",
			cycle, len(p.pending))
		// [MQTT-3.2.2-5] (5.0): the client discards its session state.
		p.pending, p.msgs = nil, map[uint16]*crashOutbound{}
	}
	p.hadSession = true
	window := crashWindow
	if ca.Props.has(propReceiveMaximum) {
		window = min(window, int(ca.Props.num(propReceiveMaximum)))
	}
	if ca.SessionPresent {
		for _, id := range p.pending {
			m := p.msgs[id]
			out := crashAck(pktPUBREL, id)
			if !m.released {
				out = crashPublish(level5, crashTopicQoS2, 2, false, true, id, m.payload)
				m.resent = true
			}
			if err := c.Write(out); err != nil {
				return err
			}
		}
	}
	for n := 0; ; {
		for len(p.pending) < window && n < newMessages {
			p.lastID = crashNextID(p.lastID, p.msgs)
			payload := fmt.Sprintf("q2-%d-%d", cycle, n)
			n++
			p.msgs[p.lastID] = &crashOutbound{payload: payload}
			p.pending = append(p.pending, p.lastID)
			l.recordSent(2)
			if err := c.Write(crashPublish(level5, crashTopicQoS2, 2, false, false, p.lastID, payload)); err != nil {
				return err
			}
		}
		if n >= newMessages && len(p.pending) == 0 {
			return c.Write(wireDisconnect)
		}
		pkt, err := c.ReadPacket(crashWait)
		if err != nil {
			return err
		}
		id, _ := pkt.PacketID()
		reason, _ := pkt.ReasonCode(level5)
		m := p.msgs[id]
		switch {
		case pkt.Type() == pktPUBREC && m != nil && !m.released:
			if reason >= 0x80 {
				// The exchange ends here and the message is not the broker's.
				l.mu.Lock()
				l.refused++
				l.mu.Unlock()
				p.finish(id)
				continue
			}
			l.recordAcked(2, m.payload)
			if m.resent {
				l.mu.Lock()
				l.ackedResent[m.payload] = cycle
				l.mu.Unlock()
			}
			m.released = true
			if err := c.Write(crashAck(pktPUBREL, id)); err != nil { // [MQTT-4.3.3-4]
				return err
			}
		case pkt.Type() == pktPUBCOMP && m != nil && m.released:
			if reason == 0x92 {
				// Packet Identifier not found: no error during recovery (§3.7.2.1).
				p.pubcompNotFound++
			}
			p.finish(id)
		case pkt.Type() == pktDISCONNECT:
			return fmt.Errorf("server sent %v", pkt)
		default:
			f.add("publisher protocol", "QoS 2 publisher got %v %s, which matches none of its %d unfinished exchanges",
				pkt, v5Describe(pkt), len(p.pending))
			return fmt.Errorf("unexpected %v", pkt)
		}
	}
}

func (p *crashQoS2Publisher) finish(id uint16) {
	delete(p.msgs, id)
	p.pending = slices.DeleteFunc(p.pending, func(x uint16) bool { return x == id })
}

// ---- subscribers ----

// crashSubscriber is a persistent subscriber that is a faithful MQTT
// receiver: it counts a QoS 2 message when its PUBLISH arrives and keeps, as
// its session state across reconnections, the packet ids it has answered
// with PUBREC until PUBREL releases them, so a PUBLISH with one of those ids
// is a duplicate it acknowledges again without counting [MQTT-4.3.3-10].
// Counting on arrival is what makes a broker's duplicate visible.
type crashSubscriber struct {
	name     string
	clientID string
	level    byte
	faults   *crashFaults

	mu          sync.Mutex        // guards the fields below: consume writes them while the test polls
	hadSession  bool              // it has subscribed, so the broker holds a session for it
	awaitingRel map[uint16]string // QoS 2 packet id -> payload: PUBREC sent, PUBREL not yet received
	deliveries  map[string]int    // payload -> times counted as a new delivery
	lastID      map[string]uint16 // payload -> packet id it last came with
	firstOrder  map[string]int    // stream -> order of the newest message delivered so far
	firstOf     map[string]string // stream -> that message
	// Per connection.
	connCycle     int // the cycle of its newest connection, which it makes before that cycle publishes
	connPublishes int
	lastPacket    time.Time
	// For the summary.
	dupRedeliveries int // PUBLISHes with DUP 1
	pubrelsCarried  int // PUBRELs for ids it held across a reconnection
}

func newCrashSubscriber(name, clientID string, level byte, f *crashFaults) *crashSubscriber {
	return &crashSubscriber{
		name: name, clientID: clientID, level: level, faults: f,
		awaitingRel: map[uint16]string{},
		deliveries:  map[string]int{},
		lastID:      map[string]uint16{},
		firstOrder:  map[string]int{},
		firstOf:     map[string]string{},
	}
}

// connectPacket resumes the session: Clean Session 0 (3.1.1), or Clean Start
// 0 with a Session Expiry that never ends (5.0).
func (s *crashSubscriber) connectPacket() []byte {
	if s.level >= level5 {
		return v5Connect{ClientID: s.clientID, Props: properties{numProp(propSessionExpiry, 0xFFFFFFFF)}}.encode()
	}
	return raw3Connect{ClientID: s.clientID}.encode()
}

// dial connects and returns the connection and the CONNACK's Session Present.
func (s *crashSubscriber) dial(addr string) (*rawConn, bool, error) {
	c, err := openRaw(addr)
	if err != nil {
		return nil, false, err
	}
	if err := c.Write(s.connectPacket()); err != nil {
		c.Close()
		return nil, false, fmt.Errorf("sending CONNECT: %w", err)
	}
	p, err := c.ReadPacket(crashWait)
	if err != nil {
		c.Close()
		return nil, false, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	ca, err := decodeConnack(p, s.level)
	if err != nil || ca.Reason != 0 {
		c.Close()
		return nil, false, fmt.Errorf("CONNACK %v: %v", p, err)
	}
	return c, ca.SessionPresent, nil
}

// subscribe creates the session and its two subscriptions, waits for the
// SUBACK and goes offline.
func (s *crashSubscriber) subscribe(addr string) error {
	c, present, err := s.dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if present {
		return fmt.Errorf("Session Present 1 for a client id new to an empty data dir [MQTT-3.2.2-3]")
	}
	var sub []byte
	if s.level >= level5 {
		sub = v5EncodeSubscribe(1, nil, v5Sub{Filter: crashTopicQoS1, QoS: 1}, v5Sub{Filter: crashTopicQoS2, QoS: 2})
	} else {
		sub = wirePacket(pktSUBSCRIBE<<4|0x02, wireU16(1),
			wireString(crashTopicQoS1), []byte{1}, wireString(crashTopicQoS2), []byte{2})
	}
	if err := c.Write(sub); err != nil {
		return fmt.Errorf("sending SUBSCRIBE: %w", err)
	}
	p, err := c.ReadPacket(crashWait)
	if err != nil {
		return fmt.Errorf("waiting for SUBACK: %w", err)
	}
	codes := p.body
	if len(codes) >= 2 {
		codes = codes[2:]
	}
	if s.level >= level5 {
		a, err := v5DecodeAck(p)
		if err != nil {
			return fmt.Errorf("SUBACK %v: %w", p, err)
		}
		codes = a.Reasons
	}
	if id, _ := p.PacketID(); p.Type() != pktSUBACK || id != 1 || !slices.Equal(codes, []byte{1, 2}) {
		return fmt.Errorf("got %v, want SUBACK for packet 1 granting QoS 1 and 2", p)
	}
	if err := c.Write(wireDisconnect); err != nil {
		return err
	}
	s.mu.Lock()
	s.hadSession = true
	s.mu.Unlock()
	return nil
}

// connect resumes the session in the given cycle. The session must be
// there: Session Present 1 [MQTT-3.2.2-2] (3.1.1), [MQTT-3.2.2-3] (5.0).
func (s *crashSubscriber) connect(addr string, cycle int) (*rawConn, error) {
	c, present, err := s.dial(addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !present && s.hadSession {
		s.faults.add("session lost", "%s: Session Present 0 after a restart, its subscriptions acknowledged [MQTT-3.2.2-2]", s.name)
		// [MQTT-3.2.2-5] (5.0): the client discards its session state.
		clear(s.awaitingRel)
	}
	s.connCycle = cycle
	s.connPublishes = 0
	s.lastPacket = time.Now()
	return c, nil
}

// consume receives on c until the connection ends, or until stop is closed,
// when it disconnects and returns nil.
func (s *crashSubscriber) consume(c *rawConn, stop <-chan struct{}) error {
	feed := startPacketFeed(c)
	defer feed.stop(c)

	s.mu.Lock()
	carried := map[uint16]bool{}
	for id := range s.awaitingRel {
		carried[id] = true
	}
	s.mu.Unlock()
	seen := map[string]bool{} // payloads received on this connection

	var acks []byte
	for {
		select {
		case p, ok := <-feed.packets:
			if !ok {
				return feed.err
			}
			ack, err := s.handle(p, seen, carried)
			if err != nil {
				return err
			}
			acks = append(acks, ack...)
			// Acknowledge in batches, as a buffered client does: whatever
			// arrived together is answered by one write.
			if len(feed.packets) == 0 || len(acks) >= 4096 {
				if err := c.Write(acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
		case <-stop:
			if err := c.Write(append(acks, wireDisconnect...)); err != nil {
				return err
			}
			return nil
		}
	}
}

// handle judges one packet and returns what to answer.
func (s *crashSubscriber) handle(p rawPacket, seen map[string]bool, carried map[uint16]bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastPacket = time.Now()
	switch p.Type() {
	case pktPUBLISH:
		s.connPublishes++
		pub, err := crashDecodePublish(p, s.level)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", s.name, p, err)
		}
		s.judgePublish(pub, seen)
		if pub.QoS == 2 {
			if held, dup := s.awaitingRel[pub.PacketID]; dup {
				if held != string(pub.Payload) {
					s.faults.add("packet id reused", "%s: PUBLISH %q with packet id %d while %q with that id awaits PUBREL [MQTT-2.2.1-4]",
						s.name, pub.Payload, pub.PacketID, held)
				}
				// A duplicate: acknowledged again, not delivered again [MQTT-4.3.3-10].
				return crashAck(pktPUBREC, pub.PacketID), nil
			}
			s.deliver(string(pub.Payload))
			s.awaitingRel[pub.PacketID] = string(pub.Payload)
			return crashAck(pktPUBREC, pub.PacketID), nil
		}
		s.deliver(string(pub.Payload))
		if pub.QoS == 1 {
			return crashAck(pktPUBACK, pub.PacketID), nil
		}
		return nil, nil
	case pktPUBREL:
		id, _ := p.PacketID()
		if _, ok := s.awaitingRel[id]; ok {
			delete(s.awaitingRel, id)
			if carried[id] {
				s.pubrelsCarried++
			}
		}
		// A PUBREL for an id already completed is answered too: the broker
		// may not have seen the PUBCOMP before it was killed.
		return crashAck(pktPUBCOMP, id), nil // [MQTT-4.3.3-11]
	case pktDISCONNECT:
		return nil, fmt.Errorf("%s: server sent %v", s.name, p)
	}
	s.faults.add("subscriber protocol", "%s: unexpected %v", s.name, p)
	return nil, fmt.Errorf("%s: unexpected %v", s.name, p)
}

// judgePublish checks what a PUBLISH says about redelivery. Caller holds s.mu.
func (s *crashSubscriber) judgePublish(pub v5Publish, seen map[string]bool) {
	payload := string(pub.Payload)
	stream, pubCycle, _, ok := crashPayload(payload)
	want, known := crashStreams[stream]
	if !ok || !known || pub.Topic != want.topic {
		s.faults.add("subscriber protocol", "%s: PUBLISH %q on %q, which no publisher sent", s.name, payload, pub.Topic)
		return
	}
	// Published and subscribed at the same QoS, so delivered at it (§3.8.4).
	if pub.QoS != want.qos {
		s.faults.add("wrong QoS", "%s: %q delivered at QoS %d, want %d", s.name, payload, pub.QoS, want.qos)
	}
	if seen[payload] && s.level >= level5 {
		s.faults.add("resent in one connection", "%s: %q sent twice on one connection (DUP %v): resending happens only on reconnection [MQTT-4.4.0-1]",
			s.name, payload, pub.Dup)
	}
	// A message the broker received while this connection was open, in the
	// same run of the broker, can only have been sent on this connection, and
	// the broker knows it: its first PUBLISH here is its first attempt, which
	// has DUP 0 [MQTT-4.3.2-1] [MQTT-4.3.3-1] (3.1.1), [MQTT-4.3.2-2]
	// [MQTT-4.3.3-2] (5.0). Messages read back from the data dir may carry DUP
	// 1 even on their first attempt: after a kill the broker cannot tell
	// which of them reached the client unless it wrote down every send.
	if !seen[payload] && pubCycle == s.connCycle && pub.Dup {
		s.faults.add("DUP on a first delivery", "%s: %q, published after this connection began, first came with DUP 1",
			s.name, payload)
	}
	seen[payload] = true
	if pub.Dup {
		s.dupRedeliveries++
		if last, ok := s.lastID[payload]; ok && last != pub.PacketID {
			s.faults.add("resent with a new packet id", "%s: %q resent with DUP 1 and packet id %d, it was sent with %d [MQTT-4.4.0-1]",
				s.name, payload, pub.PacketID, last)
		}
	}
	s.lastID[payload] = pub.PacketID
}

// deliver counts one delivery and checks that first deliveries follow
// publish order [MQTT-4.6.0-6]; redeliveries may come later. Caller holds s.mu.
func (s *crashSubscriber) deliver(payload string) {
	s.deliveries[payload]++
	stream, _, order, ok := crashPayload(payload)
	if !ok || s.deliveries[payload] > 1 {
		return
	}
	if prev, seen := s.firstOrder[stream]; seen && order < prev {
		s.faults.add("out of order", "%s: %q first delivered after %q, which was published later [MQTT-4.6.0-6]",
			s.name, payload, s.firstOf[stream])
		return
	}
	s.firstOrder[stream], s.firstOf[stream] = order, payload
}

// packetFeed reads whole packets off a connection on its own goroutine, so
// that waiting for one never leaves a half-read stream and a client can
// batch its answers to whatever has arrived.
type packetFeed struct {
	packets chan rawPacket // closed, after err is set, when the connection ends
	err     error
	done    chan struct{}
	wg      sync.WaitGroup
}

func startPacketFeed(c *rawConn) *packetFeed {
	// Bounded: when it is full the reader stops reading, and TCP holds the
	// broker back until the client catches up.
	f := &packetFeed{packets: make(chan rawPacket, 256), done: make(chan struct{})}
	c.conn.SetReadDeadline(time.Time{})
	f.wg.Go(func() {
		defer close(f.packets)
		for {
			p, err := c.readPacket()
			if err != nil {
				f.err = err
				return
			}
			select {
			case f.packets <- p:
			case <-f.done:
				return
			}
		}
	})
	return f
}

// stop closes the connection and waits for the reader.
func (f *packetFeed) stop(c *rawConn) {
	close(f.done)
	c.Close()
	f.wg.Wait()
}
