// Package interop runs the real gridmq binary on a random loopback port and
// talks to it with real clients: Debian's mosquitto-clients, Eclipse Paho
// (paho.mqtt.golang for 3.1.1, paho.golang for 5.0) and raw TCP.
package interop

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the gridmq binary built once for the whole package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gridmq-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gridmq")
	build := exec.Command("go", "build", "-o", binPath, "../../cmd/gridmq")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gridmq:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Broker is one running gridmq process.
type Broker struct {
	Addr string // host:port it listens on
	Host string
	Port string

	cmd    *exec.Cmd
	output *lockedBuffer
	done   chan struct{} // closed when the process has exited
}

var listeningRE = regexp.MustCompile(`listening on (\S+):(\d+)`)

// StartBroker runs `gridmq serve --listen 127.0.0.1:0 --allow-anonymous
// args...`, waits until it says where it listens, and stops it (SIGTERM,
// then a bounded wait) when the test ends. The test fails if the broker does
// not exit 0.
func StartBroker(t testing.TB, args ...string) *Broker {
	t.Helper()
	full := append([]string{"serve", "--listen", "127.0.0.1:0", "--allow-anonymous"}, args...)
	return startBrokerArgs(t, full...)
}

// StartBrokerArgs runs gridmq with exactly these arguments (no --listen added).
func startBrokerArgs(t testing.TB, args ...string) *Broker {
	t.Helper()
	return startBrokerCmd(t, exec.Command(binPath, args...))
}

// startBrokerCmd runs cmd, which starts gridmq serve (under a wrapper, or
// with an environment of its own), as StartBroker does.
func startBrokerCmd(t testing.TB, cmd *exec.Cmd) *Broker {
	t.Helper()
	b := &Broker{cmd: cmd, output: &lockedBuffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	b.cmd.Stdout = io.MultiWriter(pw, b.output)
	b.cmd.Stderr = io.MultiWriter(pw, b.output)
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting gridmq: %v", err)
	}
	go func() {
		b.cmd.Wait()
		pw.Close()
		close(b.done)
	}()
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case m := <-found:
		b.Host, b.Port = m[1], m[2]
		b.Addr = b.Host + ":" + b.Port
	case <-b.done:
		t.Fatalf("gridmq exited before listening:\n%s", b.output.String())
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		t.Fatalf("gridmq did not say where it listens within 15s:\n%s", b.output.String())
	}
	t.Cleanup(func() { b.Stop(t) })
	return b
}

// Stop sends SIGTERM and waits for a clean exit; it is safe to call twice.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-b.done:
		return
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
		t.Errorf("gridmq did not exit within 10s of SIGTERM:\n%s", b.output.String())
		return
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("gridmq exited with %d after SIGTERM:\n%s", code, b.output.String())
	}
}

// Output is everything the broker printed so far.
func (b *Broker) Output() string { return b.output.String() }

// Exited is closed when the broker process has ended.
func (b *Broker) Exited() <-chan struct{} { return b.done }

type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}
