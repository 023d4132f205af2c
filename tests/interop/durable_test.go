package interop

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
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
