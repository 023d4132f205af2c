package main

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a strings.Builder safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeStopsCleanly runs serve as a signal would end it: cancelling ctx
// must shut the broker down and return 0.
func TestServeStopsCleanly(t *testing.T) {
	path := writeConfig(t, "listener:\n  - {port: 0, bind_address: 127.0.0.1, allow_anonymous: true}\n  - {port: 0, bind_address: 127.0.0.1, allow_anonymous: false}\n")
	opts, specs, err := parseServe([]string{"--config", path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() { done <- serve(ctx, opts, specs, nil, time.Now(), &stdout, &stderr) }()

	announced := regexp.MustCompile(`(?m)^gridmq: listening on 127\.0\.0\.1:\d+ \(mqtt, anonymous allowed\)\n` +
		`gridmq: listening on 127\.0\.0\.1:\d+ \(mqtt, anonymous refused\)\n`)
	deadline := time.Now().Add(10 * time.Second)
	for !announced.MatchString(stdout.String()) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no listening lines; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if out := stdout.String(); !strings.HasSuffix(out, "gridmq: shutting down\ngridmq: stopped\n") {
		t.Errorf("stdout does not end with the shutdown lines:\n%s", out)
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Errorf("warning printed for loopback listeners:\n%s", stderr.String())
	}
}
