package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/brokertest"
	"github.com/gridmq/gridmq/internal/client"
	"github.com/gridmq/gridmq/internal/packet"
)

// publishRetainedTo publishes topic=payload retained at qos and waits for
// its acknowledgement.
func publishRetainedTo(t *testing.T, addr, topic, payload string, qos byte, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := client.Connect(ctx, client.Options{Addr: addr, CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	if err := c.PublishWait(ctx, topic, qos, retain, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// retainedOn subscribes to filter on addr and returns the retained messages
// it is sent, as topic -> "payload/QoS".
func retainedOn(t *testing.T, addr, filter string, want int) map[string]string {
	t.Helper()
	var mu sync.Mutex
	got := map[string]string{}
	all := make(chan struct{})
	o := client.Options{Addr: addr, CleanStart: true, OnMessage: func(m *client.Message) {
		if !m.Retain {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got[m.Topic] = string(m.Payload) + "/" + string('0'+m.QoS)
		if len(got) == want {
			close(all)
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := client.Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	if _, err := c.Subscribe(ctx, packet.Subscription{Filter: filter, QoS: 2}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// importWithin runs gridmq import-retained with args and fails the test if
// it has not ended within limit: the way to see that it stopped at its own
// message, not after --quiet, which the tests set far above limit.
func importWithin(t *testing.T, limit time.Duration, args ...string) (code int, out, errOut string) {
	t.Helper()
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCapture(append([]string{"import-retained"}, args...)...)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.errOut
	case <-time.After(limit):
		t.Fatalf("import-retained %v still running after %v", args, limit)
		return 0, "", ""
	}
}

// retainedSource is a broker holding three retained messages, one per QoS,
// and a message that is not retained.
func retainedSource(t *testing.T, opts broker.Options) string {
	t.Helper()
	from := brokertest.Start(t, opts, broker.ListenerOptions{AllowAnonymous: true})
	publishRetainedTo(t, from, "site/1/state", "on", 0, true)
	publishRetainedTo(t, from, "site/1/setpoint", "42", 1, true)
	publishRetainedTo(t, from, "site/2/state", "off", 2, true)
	publishRetainedTo(t, from, "site/2/reading", "not retained", 1, false)
	return from
}

// checkImported checks that to retains the messages retainedSource made.
func checkImported(t *testing.T, to string) {
	t.Helper()
	got := retainedOn(t, to, "#", 3)
	want := map[string]string{"site/1/state": "on/0", "site/1/setpoint": "42/1", "site/2/state": "off/2"}
	if len(got) != len(want) {
		t.Fatalf("destination retains %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// gridmq import-retained copies every retained message of the source, at
// the QoS it was retained with, and nothing that was not retained. It
// stops reading once the message it publishes after subscribing comes
// back, not after --quiet.
func TestImportRetained(t *testing.T) {
	from := retainedSource(t, brokertest.QuietOptions())
	to := brokertest.Start(t, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
	code, out, errOut := importWithin(t, time.Minute, "--from", from, "--to", to, "--quiet", "1h")
	if code != 0 || !strings.Contains(out, "3 retained messages copied") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	checkImported(t, to)
}

// importAuthorizer lets everything but subscriptions matching deny.
type importAuthorizer struct{ deny string }

func (a importAuthorizer) CanPublish(string, string, bool, string) bool { return true }
func (a importAuthorizer) CanReceive(string, string, bool, string) bool { return true }
func (a importAuthorizer) CanSubscribe(_, _ string, _ bool, filter string) bool {
	return !strings.HasPrefix(filter, a.deny)
}

// A source that refuses the import's own topic still has its retained
// messages copied: the reading ends after --quiet without a new one.
func TestImportRetainedWithoutEndMarker(t *testing.T) {
	opts := brokertest.QuietOptions()
	opts.Authorizer = importAuthorizer{deny: "gridmq/import-retained/"}
	from := retainedSource(t, opts)
	to := brokertest.Start(t, brokertest.QuietOptions(), broker.ListenerOptions{AllowAnonymous: true})
	code, out, errOut := runCapture("import-retained", "--from", from, "--to", to, "--quiet", "3s")
	if code != 0 || !strings.Contains(out, "3 retained messages copied") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	checkImported(t, to)
}

// A source that refuses the subscription itself is an error, not an empty
// import.
func TestImportRetainedSubscriptionRefused(t *testing.T) {
	opts := brokertest.QuietOptions()
	opts.Authorizer = importAuthorizer{deny: "site/"}
	from := retainedSource(t, opts)
	code, _, errOut := importWithin(t, time.Minute, "--from", from, "--filter", "site/#", "--quiet", "1h")
	if code != 1 || !strings.Contains(errOut, `subscription to "site/#" refused`) {
		t.Fatalf("exit %d, stderr %q; want 1 and the refusal", code, errOut)
	}
}

func TestImportRetainedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import-retained"}, 2, "--from HOST:PORT is required"},
		{[]string{"import-retained", "--from", "x:1", "--quiet", "0s"}, 2, "must be above 0"},
		{[]string{"import-retained", "--from", "x:1", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"import-retained", "--from", "127.0.0.1:1", "--quiet", "1s"}, 1, "reading 127.0.0.1:1"},
	} {
		code, _, errOut := runCapture(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if code, out, _ := runCapture("help", "import-retained"); code != 0 || !strings.Contains(out, "mosquitto.db") {
		t.Errorf("help import-retained: exit %d, %q", code, out)
	}
}
