package interop

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// kill ends the broker with SIGKILL, as a crash or power cut would, and
// waits for the process to be gone.
func (b *Broker) kill() {
	b.cmd.Process.Kill()
	<-b.done
}

// Once the broker has acknowledged a retained QoS 1 message, a kill -9 does
// not lose it: a publisher sends retained messages, each on its own topic,
// while the broker is killed at a random moment; after each restart on the
// same data dir every topic whose PUBLISH was acknowledged has its message.
// Messages not yet acknowledged may or may not be there.
func TestRetainedSurviveKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	acked := map[string]string{}
	const cycles = 5
	for cycle := range cycles {
		b := StartBroker(t, "--data-dir", dir)
		c, _ := paho3Connect(t, paho3Options(b, 4, paho3ID("crashpub")))
		killAfter := 1 + rand.IntN(300)
		var mu sync.Mutex
		done := make(chan struct{})
		enough := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				topic := fmt.Sprintf("crash/%d/%d", cycle, i)
				payload := fmt.Sprintf("v%d.%d", cycle, i)
				tok := c.Publish(topic, 1, true, payload)
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					return // the broker is gone
				}
				mu.Lock()
				acked[topic] = payload
				if i+1 == killAfter {
					close(enough)
				}
				mu.Unlock()
			}
		}()
		select {
		case <-enough:
		case <-time.After(60 * time.Second):
			t.Fatalf("cycle %d: %d acknowledgements never came", cycle, killAfter)
		}
		b.kill() // while the publisher is still sending
		<-done
		c.Disconnect(0)
	}

	b := StartBroker(t, "--data-dir", dir)
	if !strings.Contains(b.Output(), "retained messages") {
		t.Errorf("start-up did not report recovery:\n%s", b.Output())
	}
	got := map[string]string{}
	var mu sync.Mutex
	all := make(chan struct{})
	var once sync.Once
	o := paho3Options(b, 4, paho3ID("crashsub")).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got[m.Topic()] = string(m.Payload())
		n := 0
		for topic := range acked {
			if _, ok := got[topic]; ok {
				n++
			}
		}
		mu.Unlock()
		if n == len(acked) {
			once.Do(func() { close(all) })
		}
	})
	sub, _ := paho3Connect(t, o)
	paho3Subscribe(t, sub, "crash/#", 1)
	select {
	case <-all:
	case <-time.After(30 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	missing := 0
	for topic, payload := range acked {
		if got[topic] != payload {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged retained %s = %q lost after kill -9 (got %q)", topic, payload, got[topic])
			}
		}
	}
	t.Logf("%d cycles, %d acknowledged retained messages, %d received after the last restart, %d lost", cycles, len(acked), len(got), missing)
}

// One broker owns a data dir: a second gridmq serve on it stops at once and
// says which process holds it.
func TestDataDirHasOneOwner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	StartBroker(t, "--data-dir", dir)
	out, err := exec.Command(binPath, "serve", "--listen", "127.0.0.1:0", "--data-dir", dir).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "is in use by another gridmq (pid") {
		t.Errorf("second serve on %s: exit %d, output:\n%s", dir, code, out)
	}
}

// exitCode is a command's exit status from the error Run returned.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// A persistent session and its subscriptions survive kill -9: after the
// restart the client resumes with Session Present [MQTT-3.2.2-2] and gets a
// message published for it while it was away.
func TestPersistentSessionSurvivesKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := StartBroker(t, "--data-dir", dir)
	keeper, _ := paho3Connect(t, paho3Options(b, 4, "keeper").SetCleanSession(false))
	paho3Subscribe(t, keeper, "keep/#", 1)
	keeper.Disconnect(100)
	b.kill()

	b = StartBroker(t, "--data-dir", dir)
	if !strings.Contains(b.Output(), "1 persistent sessions") {
		t.Errorf("start-up did not report the session:\n%s", b.Output())
	}
	pub, _ := paho3Connect(t, paho3Options(b, 4, paho3ID("keeppub")))
	paho3Publish(t, pub, "keep/x", 1, false, []byte("while away"))

	in := newV3Inbox()
	c, present := paho3Connect(t, paho3Options(b, 4, "keeper").SetCleanSession(false).SetDefaultPublishHandler(in.handle))
	if !present {
		t.Error("Session Present 0 after the restart")
	}
	msgs := in.waitN(t, 1, "the message published while the client was away")
	if msgs[0].Topic != "keep/x" || string(msgs[0].Payload) != "while away" {
		t.Errorf("got %+v", msgs[0])
	}
	c.Disconnect(100)
}

// The will of a persistent session's connection that a crash ended is
// published when the broker starts again: the connection was closed without
// DISCONNECT [MQTT-3.1.2-8]. (That DISCONNECT deletes it is a test of the
// broker package: here the kill could come before the broker has read it.)
func TestWillOfCrashedConnectionPublishedAtRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := StartBroker(t, "--data-dir", dir)
	o := paho3Options(b, 4, "dev-crashed").SetCleanSession(false).SetWill("status/dev-crashed", "offline", 1, false)
	paho3Connect(t, o)
	// The watcher's SUBACK waits for its subscription to be on disk, and
	// the data dir keeps the order of changes: the device's session, will
	// included, is there too.
	watcher, _ := paho3Connect(t, paho3Options(b, 4, "watcher").SetCleanSession(false))
	paho3Subscribe(t, watcher, "status/#", 1)
	watcher.Disconnect(0)
	b.kill()

	b = StartBroker(t, "--data-dir", dir)
	if !strings.Contains(b.Output(), "1 wills due") {
		t.Errorf("start-up did not report the crashed connection's will:\n%s", b.Output())
	}
	got := make(chan string, 10)
	o = paho3Options(b, 4, "watcher").SetCleanSession(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		got <- m.Topic() + "=" + string(m.Payload())
	})
	paho3Connect(t, o)
	select {
	case m := <-got:
		if m != "status/dev-crashed=offline" {
			t.Fatalf("got %s, want the crashed device's will", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the will of the connection the crash ended was not published")
	}
}

// A data dir that cannot grow (here a file size limit, as a full disk or a
// quota would do) refuses new persistent work instead of crashing or
// corrupting: a v5 publisher gets 0x97 for a message that cannot be kept,
// a 3.1.1 one is disconnected unacknowledged, the reason is logged, and
// the broker goes on serving. Everything it acknowledged comes back at the
// next start.
func TestFullDataDir(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	dir := filepath.Join(t.TempDir(), "data")
	const limit = 256 << 10
	cmd := exec.Command(prlimit, fmt.Sprintf("--fsize=%d:%d", limit, limit), "--", binPath,
		"serve", "--listen", "127.0.0.1:0", "--allow-anonymous", "--data-dir", dir)
	b := startBrokerCmd(t, cmd)

	pub := dialRaw(t, b.Addr)
	defer pub.Close()
	if _, err := pub.Connect(level5, "filler"); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1000)
	acked := map[string]bool{}
	refused := 0
	for i := 1; i < 1000 && refused == 0; i++ {
		topic := fmt.Sprintf("fill/%d", i)
		// PUBLISH QoS 1, retained: topic, packet id, no properties, payload.
		if err := pub.Write(wirePacket(0x33, wireString(topic), wireU16(uint16(i)), wireProps(), payload)); err != nil {
			t.Fatal(err)
		}
		p, err := pub.ReadPacket(10 * time.Second)
		if err != nil {
			t.Fatalf("PUBLISH %d: %v", i, err)
		}
		code, _ := p.ReasonCode(level5)
		switch code {
		case 0x00:
			acked[topic] = true
		case 0x97: // quota exceeded [MQTT-3.4.2-1]
			refused++
		default:
			t.Fatalf("PUBLISH %d: %v, want PUBACK 0x00 or 0x97", i, p)
		}
	}
	if refused == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged, %d refused: the limit was never reached", len(acked), refused)
	}
	// The log line comes before the PUBACK, through a pipe.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(b.Output(), "data dir is full"); {
		if time.Now().After(deadline) {
			t.Fatalf("the refusal was not logged:\n%s", b.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}

	old := dialRaw(t, b.Addr)
	defer old.Close()
	if _, err := old.Connect(level311, "filler311"); err != nil {
		t.Fatal(err)
	}
	old.Write(wirePacket(0x33, wireString("fill/old"), wireU16(1), payload))
	if err := old.ExpectClosed(10 * time.Second); err != nil {
		t.Errorf("3.1.1 publisher of a message that cannot be kept: %v, want the connection closed", err)
	}
	if err := pub.Ping(); err != nil {
		t.Errorf("the broker stopped serving: %v", err)
	}
	b.kill()

	b = StartBroker(t, "--data-dir", dir)
	sub := dialRaw(t, b.Addr)
	defer sub.Close()
	if _, err := sub.Connect(level311, "reader"); err != nil {
		t.Fatal(err)
	}
	sub.Write(wirePacket(0x82, wireU16(1), wireString("fill/#"), []byte{0}))
	retained := map[string]bool{}
	for {
		p, err := sub.ReadPacket(2 * time.Second)
		if err != nil {
			break // nothing more is retained
		}
		if p.Type() == pktPUBLISH {
			r := wireReader{b: p.body}
			retained[r.string()] = true
		}
	}
	for topic := range acked {
		if !retained[topic] {
			t.Errorf("acknowledged retained %s lost", topic)
		}
	}
	t.Logf("%d retained messages acknowledged before the data dir was full, all back after a restart; %d retained in all", len(acked), len(retained))
}

// Without data_dir, gridmq serve keeps its state in a data dir of its own
// named after its port, under $STATE_DIRECTORY when systemd sets it: a
// persistent session survives a restart with no flag saying where.
func TestDefaultDataDir(t *testing.T) {
	state := t.TempDir()
	port := strconv.Itoa(freePort(t))
	start := func() *Broker {
		cmd := exec.Command(binPath, "serve", "--listen", "127.0.0.1:"+port, "--allow-anonymous")
		cmd.Env = append(os.Environ(), "STATE_DIRECTORY="+state)
		return startBrokerCmd(t, cmd)
	}
	b := start()
	want := "data dir " + filepath.Join(state, port) + " (durability sync)"
	if !strings.Contains(b.Output(), want) {
		t.Fatalf("start-up output does not say %q:\n%s", want, b.Output())
	}
	c, _ := paho3Connect(t, paho3Options(b, 4, "keeper").SetCleanSession(false))
	paho3Subscribe(t, c, "keep/#", 1)
	c.Disconnect(0)
	b.Stop(t)

	b = start()
	_, present := paho3Connect(t, paho3Options(b, 4, "keeper").SetCleanSession(false))
	if !present {
		t.Error("the session was not resumed from the default data dir")
	}
}

// Moving a site from Mosquitto: gridmq import-retained copies the retained
// messages of a running Mosquitto into gridmq over MQTT, each at the QoS it
// was retained with, and once it has said so they are in gridmq's data dir:
// a kill -9 right after keeps them. There are more QoS 1 and 2 ones than
// Mosquitto queues for one subscriber (max_inflight_messages 20 and
// max_queued_messages 1000 by default, beyond which it drops them).
func TestImportRetainedFromMosquitto(t *testing.T) {
	mosqNeed(t)
	mosq := startMosquittoConf(t, "allow_anonymous true\n")
	const n = 1800              // 1200 of them QoS 1 or 2
	want := map[string]string{} // topic -> "payload/QoS"
	pub, _ := paho3Connect(t, paho3Options(mosq, 4, "seed"))
	for i := range n {
		topic, qos := fmt.Sprintf("site/7/point/%d", i), byte(i%3)
		payload := fmt.Sprintf("value %d", i)
		want[topic] = fmt.Sprintf("%s/%d", payload, qos)
		paho3Wait(t, pub.Publish(topic, qos, true, payload), "publish "+topic)
	}
	pub.Disconnect(0)
	dir := filepath.Join(t.TempDir(), "data")
	b := StartBroker(t, "--data-dir", dir)
	out := runGridmq(t, "", "import-retained", "--from", mosq.Addr, "--to", b.Addr)
	if !strings.Contains(out, fmt.Sprintf("%d retained messages copied", n)) {
		t.Fatalf("import-retained said:\n%s", out)
	}
	b.kill()

	b = StartBroker(t, "--data-dir", dir)
	var mu sync.Mutex
	got := map[string]string{}
	all := make(chan struct{})
	sub, _ := paho3Connect(t, paho3Options(b, 4, "check"))
	defer sub.Disconnect(0)
	paho3Wait(t, sub.Subscribe("site/#", 2, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		got[m.Topic()] = fmt.Sprintf("%s/%d", m.Payload(), m.Qos())
		if len(got) == n {
			close(all)
		}
	}), "subscribe site/#")
	select {
	case <-all:
	case <-time.After(30 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("after the import and a kill -9, gridmq retains %d messages, want %d", len(got), n)
	}
	for topic, w := range want {
		if got[topic] != w {
			t.Errorf("%s = %q, want %q", topic, got[topic], w)
		}
	}
}
