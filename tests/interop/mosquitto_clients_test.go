package interop

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The operators' runbook validates a broker with Debian's mosquitto-clients:
//
//	shell 1: mosquitto_sub -v -h HOST -p PORT -t hello
//	shell 2: mosquitto_pub -h HOST -p PORT -t hello -m world
//
// and expects shell 1 to print "hello world". These tests run exactly that
// against the real binary, then vary the QoS, the protocol version, retain,
// $SYS and the Will. mosquitto_sub gets -C 1 (exit after one message) and
// -W (a timeout) so that a run always ends.

// mosqNoMessageExit is mosquitto_sub's exit status when -W expires before
// -C messages arrived (libmosquitto's MOSQ_ERR_TIMEOUT).
const mosqNoMessageExit = 27

// mosqProc is one running mosquitto_sub or mosquitto_pub.
type mosqProc struct {
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from Wait; read only after done is closed
}

// mosqNeed skips the test unless mosquitto_sub and mosquitto_pub are on PATH.
func mosqNeed(t *testing.T) {
	t.Helper()
	for _, name := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not on PATH (Debian: apt-get install mosquitto-clients)", name)
		}
	}
}

// mosqStart runs name with args; the process is killed at cleanup if it is
// still running, and after a minute in any case.
func mosqStart(t *testing.T, name string, args ...string) *mosqProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	p := &mosqProc{
		cmd:    exec.CommandContext(ctx, name, args...),
		stdout: &lockedBuffer{},
		stderr: &lockedBuffer{},
		done:   make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exitCode waits at most timeout for the process and returns its exit
// status, or fails the test.
func (p *mosqProc) exitCode(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v\nstdout:\n%s\nstderr:\n%s", p.cmd, timeout, p.stdout, p.stderr)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.cmd, p.err)
	}
	return 0
}

// waitOutput waits at most timeout for stdout to contain s.
func (p *mosqProc) waitOutput(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stdout.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before printing %q\nstdout:\n%s\nstderr:\n%s", p.cmd, s, p.stdout, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v\nstdout:\n%s\nstderr:\n%s", p.cmd, s, timeout, p.stdout, p.stderr)
		}
	}
}

// mosqPub runs mosquitto_pub to completion and fails the test unless it
// exits 0.
func mosqPub(t *testing.T, b *Broker, args ...string) {
	t.Helper()
	p := mosqStart(t, "mosquitto_pub", append([]string{"-h", b.Host, "-p", b.Port}, args...)...)
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("%s exited %d\nstdout:\n%s\nstderr:\n%s\nbroker:\n%s", p.cmd, code, p.stdout, p.stderr, b.Output())
	}
}

// mosqPubUntilReceived publishes with mosquitto_pub again and again until
// sub exits: the subscriber prints nothing until its first message, so the
// only way to learn it has subscribed is to see that message. A publish that
// reaches the broker before the subscription does is dropped; a later one
// gets through, and -C 1 makes the subscriber exit on it.
func mosqPubUntilReceived(t *testing.T, b *Broker, sub *mosqProc, args ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-sub.done:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s received nothing within 20s of publishing\nstdout:\n%s\nstderr:\n%s\nbroker:\n%s", sub.cmd, sub.stdout, sub.stderr, b.Output())
		}
		mosqPub(t, b, args...)
		select {
		case <-sub.done:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// mosqVersions are mosquitto's -V values; "" is the runbook's command line,
// which leaves the version at mosquitto's default (3.1.1).
var mosqVersions = []string{"", "mqttv5", "mqttv311", "mqttv31"}

func mosqVersionArgs(v string) []string {
	if v == "" {
		return nil
	}
	return []string{"-V", v}
}

func mosqVersionName(v string) string {
	if v == "" {
		return "default"
	}
	return v
}

// The runbook's validation, verbatim, then at each QoS on both sides with
// each protocol version.
func TestMosquittoClientsHelloWorld(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	for _, version := range mosqVersions {
		for _, qos := range []string{"", "0", "1", "2"} {
			name := mosqVersionName(version) + "/qos-" + qos
			if qos == "" {
				if version != "" {
					continue
				}
				name = "runbook verbatim"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := StartBroker(t)
				var extra []string
				extra = append(extra, mosqVersionArgs(version)...)
				if qos != "" {
					extra = append(extra, "-q", qos)
				}
				subArgs := append([]string{"-v", "-h", b.Host, "-p", b.Port, "-t", "hello"}, extra...)
				sub := mosqStart(t, "mosquitto_sub", append(subArgs, "-C", "1", "-W", "30")...)
				mosqPubUntilReceived(t, b, sub, append([]string{"-t", "hello", "-m", "world"}, extra...)...)
				if code := sub.exitCode(t, 10*time.Second); code != 0 {
					t.Fatalf("mosquitto_sub exited %d\nstdout:\n%s\nstderr:\n%s", code, sub.stdout, sub.stderr)
				}
				if got := sub.stdout.String(); got != "hello world\n" {
					t.Errorf("mosquitto_sub printed %q, want %q\nstderr:\n%s", got, "hello world\n", sub.stderr)
				}
			})
		}
	}
}

// A retained message reaches a subscriber started after it was published,
// flagged as retained (--retained-only prints only messages with RETAIN 1
// and exits on the first without); publishing an empty retained message
// (-r -n) removes it, so a later subscriber gets nothing before its -W 2
// timeout. [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] [MQTT-3.3.1-10]
// [MQTT-3.3.1-11]
func TestMosquittoClientsRetained(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	for _, version := range mosqVersions[1:] {
		for _, qos := range []string{"0", "1", "2"} {
			t.Run(mosqVersionName(version)+"/qos-"+qos, func(t *testing.T) {
				t.Parallel()
				b := StartBroker(t)
				v := mosqVersionArgs(version)
				mosqPub(t, b, append([]string{"-t", "hello", "-m", "world", "-r", "-q", qos}, v...)...)

				sub := mosqStart(t, "mosquitto_sub", append([]string{"-v", "-h", b.Host, "-p", b.Port, "-t", "hello",
					"-q", "2", "--retained-only", "-C", "1", "-W", "10"}, v...)...)
				if code := sub.exitCode(t, 20*time.Second); code != 0 {
					t.Fatalf("subscriber started after the retained publish exited %d (%d: nothing retained arrived)\nstdout:\n%s\nstderr:\n%s",
						code, mosqNoMessageExit, sub.stdout, sub.stderr)
				}
				if got := sub.stdout.String(); got != "hello world\n" {
					t.Fatalf("subscriber started after the retained publish printed %q, want %q", got, "hello world\n")
				}

				mosqPub(t, b, append([]string{"-t", "hello", "-r", "-n", "-q", qos}, v...)...)
				empty := mosqStart(t, "mosquitto_sub", append([]string{"-v", "-h", b.Host, "-p", b.Port, "-t", "hello",
					"-C", "1", "-W", "2"}, v...)...)
				if code := empty.exitCode(t, 20*time.Second); code != mosqNoMessageExit {
					t.Errorf("subscriber after clearing the retained message exited %d, want %d (timed out with nothing received)", code, mosqNoMessageExit)
				}
				if got := empty.stdout.String(); got != "" {
					t.Errorf("subscriber after clearing the retained message printed %q, want nothing", got)
				}
			})
		}
	}
}

// $SYS/broker/version, as an operator would read it from Mosquitto.
func TestMosquittoClientsSysVersion(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	b := StartBroker(t, "--sys-interval", "1")
	sub := mosqStart(t, "mosquitto_sub", "-v", "-h", b.Host, "-p", b.Port, "-t", "$SYS/broker/version", "-C", "1", "-W", "15")
	if code := sub.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("mosquitto_sub -t '$SYS/broker/version' exited %d\nstdout:\n%s\nstderr:\n%s", code, sub.stdout, sub.stderr)
	}
	got := sub.stdout.String()
	if !regexp.MustCompile(`^\$SYS/broker/version \S.*\n$`).MatchString(got) {
		t.Errorf("mosquitto_sub printed %q, want \"$SYS/broker/version <version>\\n\"", got)
	}
	t.Logf("%s", strings.TrimSpace(got))
}

// A mosquitto_sub with --will-topic/--will-payload killed with SIGKILL (no
// DISCONNECT) makes the broker publish its Will to another subscriber
// [MQTT-3.1.2-8]. Stopped with SIGINT it sends DISCONNECT: over 3.1 and
// 3.1.1 the broker then discards the Will [MQTT-3.14.4-3]; over 5.0
// mosquitto_sub sends reason code 0x04 (Disconnect with Will Message), which
// asks the broker to publish it all the same (MQTT 5.0, 3.14.2.1).
func TestMosquittoClientsWill(t *testing.T) {
	mosqNeed(t)
	if _, err := exec.LookPath("stdbuf"); err != nil {
		t.Skip("stdbuf (coreutils) not on PATH")
	}
	t.Parallel()
	for _, version := range mosqVersions[1:] {
		for _, signal := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
			wantWill := signal == syscall.SIGKILL || version == "mqttv5"
			t.Run(mosqVersionName(version)+"/"+signal.String(), func(t *testing.T) {
				t.Parallel()
				b := StartBroker(t)
				v := mosqVersionArgs(version)
				timeout := "15"
				if !wantWill {
					timeout = "3"
				}
				// -d prints the protocol exchange, so "received SUBACK" on
				// stdout says the client is subscribed; stdbuf -oL makes
				// stdio flush it at once instead of when the pipe buffer
				// fills. The watcher's message line is looked for among its
				// debug lines.
				watcher := mosqStart(t, "stdbuf", append([]string{"-oL", "mosquitto_sub", "-d", "-v", "-h", b.Host, "-p", b.Port,
					"-t", "will/hello", "-q", "1", "-C", "1", "-W", timeout}, v...)...)
				watcher.waitOutput(t, "received SUBACK", 15*time.Second)

				dying := mosqStart(t, "stdbuf", append([]string{"-oL", "mosquitto_sub", "-d", "-h", b.Host, "-p", b.Port,
					"-t", "unrelated", "--will-topic", "will/hello", "--will-payload", "gone", "--will-qos", "1"}, v...)...)
				dying.waitOutput(t, "received SUBACK", 15*time.Second)
				dying.cmd.Process.Signal(signal)
				dying.exitCode(t, 10*time.Second)

				code := watcher.exitCode(t, 30*time.Second)
				got := slices.Contains(strings.Split(watcher.stdout.String(), "\n"), "will/hello gone")
				switch {
				case wantWill && (!got || code != 0):
					t.Errorf("after %v: watcher exited %d, Will printed: %v; want exit 0 after printing \"will/hello gone\" [MQTT-3.1.2-8]\nwatcher:\n%s\nbroker:\n%s",
						signal, code, got, watcher.stdout, b.Output())
				case !wantWill && (got || code != mosqNoMessageExit):
					t.Errorf("after %v (DISCONNECT): watcher exited %d, Will printed: %v; want no Will and exit %d [MQTT-3.14.4-3]\nwatcher:\n%s",
						signal, code, got, mosqNoMessageExit, watcher.stdout)
				}
			})
		}
	}
}
