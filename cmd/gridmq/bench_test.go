package main

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/bench"
	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/brokertest"
	"github.com/gridmq/gridmq/internal/packet"
)

// startBenchBroker runs the broker on a loopback port until the test ends.
func startBenchBroker(t *testing.T, lo broker.ListenerOptions) string {
	return brokertest.Start(t, brokertest.QuietOptions(), lo)
}

func TestBenchHelp(t *testing.T) {
	for _, args := range [][]string{{"bench", "--help"}, {"bench", "-h"}, {"bench", "fanin", "--help"}} {
		code, out, errOut := runCapture(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"Usage: gridmq bench SCENARIO", "fanout", "--connect-rate", "--persistent", "GRIDMQ_PASSWORD", "Exit status"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if len(line) > 80 {
				t.Errorf("help line longer than 80 columns: %q", line)
			}
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "no scenario"},
		{[]string{"bench", "--qos", "1"}, "no scenario"},
		{[]string{"bench", "fan-in"}, `unknown scenario "fan-in"`},
		{[]string{"bench", "fanin", "--qos", "3"}, "QoS is 0, 1 or 2"},
		{[]string{"bench", "fanin", "--payload", "10"}, "payload of 10 bytes"},
		{[]string{"bench", "fanin", "--version", "6"}, `unknown MQTT version "6"`},
		{[]string{"bench", "fanin", "--subscribers", "2"}, "fanin has one subscriber"},
		{[]string{"bench", "fanout", "--publishers", "2"}, "fanout has one publisher"},
		{[]string{"bench", "p2p", "--publishers", "3", "--subscribers", "4"}, "3 publishers, 4 subscribers"},
		{[]string{"bench", "conn", "--rate", "5"}, "--rate does not apply to conn"},
		{[]string{"bench", "pub", "--connections", "5"}, "--connections does not apply to pub"},
		{[]string{"bench", "pub", "--persistent"}, "--persistent does not apply to pub"},
		{[]string{"bench", "conn", "--persistent"}, "--persistent does not apply to conn"},
		{[]string{"bench", "pub", "--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{[]string{"bench", "pub", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "pub", "--duration", "0"}, "never stop"},
		{[]string{"bench", "pub", "--inflight", "0"}, "in-flight window 0"},
	} {
		code, out, errOut := runCapture(c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "gridmq bench --help") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

func TestBenchParse(t *testing.T) {
	env := map[string]string{"GRIDMQ_PASSWORD": "from-env"}
	getenv := func(k string) string { return env[k] }

	cfg, jsonOut, err := parseBench([]string{"fanin", "--count", "5", "--version", "5.0", "--username", "u", "--json"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonOut || cfg.Count != 5 || cfg.Duration != 0 || cfg.Version != packet.V5 || cfg.Publishers != 8 ||
		cfg.Subscribers != 1 || string(cfg.Password) != "from-env" || cfg.Username != "u" {
		t.Errorf("parsed %+v, json %v", cfg, jsonOut)
	}
	if cfg.Persistent {
		t.Error("persistent sessions without --persistent")
	}
	cfg, _, err = parseBench([]string{"p2p", "--publishers", "3", "--password", "flag", "--version", "3", "--persistent"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Subscribers != 3 || string(cfg.Password) != "flag" || cfg.Version != packet.V31 || cfg.Duration != 10*time.Second ||
		!cfg.Persistent {
		t.Errorf("parsed %+v", cfg)
	}
	// The comparison script names fanin's one subscriber and fanout's one publisher.
	for _, args := range [][]string{
		{"fanin", "--publishers", "8", "--subscribers", "1"},
		{"fanout", "--publishers", "1", "--subscribers", "8"},
		{"p2p", "--publishers", "8", "--subscribers", "8"},
	} {
		if _, _, err := parseBench(args, getenv); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	cfg, _, _ = parseBench([]string{"pub"}, func(string) string { return "" })
	if cfg.Password != nil {
		t.Errorf("password %q with none given", cfg.Password)
	}
}

// jsonKeys are the keys of `gridmq bench --json`, which comparison scripts parse.
var jsonKeys = []string{"scenario", "addr", "version", "qos", "payload", "publishers", "subscribers",
	"rate", "inflight", "persistent", "sent", "expected", "delivered", "lost", "duplicated",
	"elapsed_s", "sent_per_sec", "delivered_per_sec", "latency_us",
	"connections", "connect_errors", "connect_per_sec"}

func TestBenchJSON(t *testing.T) {
	addr := startBenchBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	code, out, errOut := runCapture("bench", "fanin", "--addr", addr, "--publishers", "2", "--count", "300",
		"--qos", "1", "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout: %q", out)
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := slices.Clone(jsonKeys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	lat, _ := obj["latency_us"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "max"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_us lacks %s: %v", k, obj["latency_us"])
		}
	}
	var res bench.Result
	json.Unmarshal([]byte(out), &res)
	if res.Scenario != bench.Fanin || res.Version != 4 || res.QoS != 1 || res.Sent != 600 || res.Expected != 600 ||
		res.Delivered != 600 || res.Lost != 0 || res.Duplicated != 0 || res.Connections != 3 || res.Addr != addr {
		t.Errorf("result %+v", res)
	}
}

// TestBenchPersistent runs the durable comparison's fanin: the run must
// report persistent sessions and no error, which it would if the broker had
// not kept the subscriber's session past its connection or the session
// could not be ended.
func TestBenchPersistent(t *testing.T) {
	addr := startBenchBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	for _, version := range []string{"3.1.1", "5"} {
		code, out, errOut := runCapture("bench", "fanin", "--addr", addr, "--publishers", "2", "--count", "300",
			"--qos", "1", "--persistent", "--version", version, "--json")
		if code != 0 || errOut != "" {
			t.Fatalf("%s: exit %d, stderr %q", version, code, errOut)
		}
		var res bench.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: %q: %v", version, out, err)
		}
		if !res.Persistent || res.Delivered != 600 || res.Lost != 0 || res.Duplicated != 0 {
			t.Errorf("%s: result %+v", version, res)
		}
	}
}

func TestBenchText(t *testing.T) {
	addr := startBenchBroker(t, broker.ListenerOptions{AllowAnonymous: true})
	code, out, errOut := runCapture("bench", "p2p", "--addr", addr, "--publishers", "2", "--count", "100")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"p2p  " + addr, "2 pairs", "sent       200", "delivered  200 of 200", "lost 0  duplicated 0", "latency    p50"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "\x1b") {
		t.Errorf("progress drawn on a non-terminal:\n%q", out)
	}
}

func TestBenchSetupError(t *testing.T) {
	addr := startBenchBroker(t, broker.ListenerOptions{AllowAnonymous: false})
	code, out, errOut := runCapture("bench", "fanin", "--addr", addr, "--count", "10", "--json")
	if code != 1 || out != "" || !strings.Contains(errOut, "not authorized") {
		t.Errorf("refused: exit %d, stdout %q, stderr %q; want 1 and the reason", code, out, errOut)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	code, _, errOut = runCapture("bench", "conn", "--addr", closed, "--connections", "3")
	if code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Errorf("nothing listening: exit %d, stderr %q", code, errOut)
	}
}
