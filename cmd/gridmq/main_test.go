package main

import (
	"net"
	"strings"
	"testing"

	"github.com/gridmq/gridmq/internal/config"
)

func runCapture(args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestServeHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"help", "serve"}} {
		code, out, errOut := runCapture(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", args, code, errOut)
		}
		for _, want := range []string{"--config FILE", "--listen HOST:PORT", "--help", "listener:", "bind_address:", "Anonymous clients"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
		for _, k := range config.Keys() {
			if !strings.Contains(out, "  --"+flagName(k.Name)) {
				t.Errorf("%v: help lacks the flag --%s", args, flagName(k.Name))
			}
			if !strings.Contains(out, "  "+k.Name+": ") && !strings.Contains(out, "  # "+k.Name+": ") {
				t.Errorf("%v: help lacks the key %s in the sample file", args, k.Name)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if len(line) > 80 {
				t.Errorf("help line longer than 80 columns: %q", line)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, out, _ := runCapture(arg)
		if code != 0 || out != "gridmq "+version+"\n" {
			t.Errorf("%s: exit %d, output %q", arg, code, out)
		}
	}
	if code, _, _ := runCapture("version", "extra"); code != 2 {
		t.Errorf("version extra: exit %d, want 2", code)
	}
}

func TestCommands(t *testing.T) {
	if code, _, errOut := runCapture(); code != 2 || !strings.Contains(errOut, "gridmq serve") {
		t.Errorf("no command: exit %d, stderr %q; want 2 and the usage", code, errOut)
	}
	if code, out, _ := runCapture("help"); code != 0 || !strings.Contains(out, "gridmq serve") {
		t.Errorf("help: exit %d, stdout %q; want 0 and the usage", code, out)
	}
	if code, _, errOut := runCapture("srve"); code != 2 || !strings.HasPrefix(errOut, `gridmq: unknown command "srve"`) {
		t.Errorf("srve: exit %d, stderr %q", code, errOut)
	}
}

func TestServeExitCodes(t *testing.T) {
	bad := writeConfig(t, "# site\nmax_qos: 3\n")
	code, _, errOut := runCapture("serve", "--config", bad)
	if want := "gridmq: " + bad + ":2: max_qos: must be 0, 1 or 2 (got 3)\n"; code != 2 || errOut != want {
		t.Errorf("bad config: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}

	code, _, errOut = runCapture("serve", "--no-such-flag")
	if code != 2 || !strings.Contains(errOut, "gridmq serve --help") {
		t.Errorf("bad flag: exit %d, stderr %q; want 2 and a pointer to --help", code, errOut)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	code, out, errOut := runCapture("serve", "--listen", "127.0.0.1:0", "--listen", addr)
	if want := "gridmq: listen " + addr + ": address already in use\n"; code != 1 || errOut != want {
		t.Errorf("busy port: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	if strings.Contains(out, "listening on") {
		t.Errorf("busy port: announced a listener although serve failed: %q", out)
	}
}

func TestNetwork(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:20200":        "tcp4",
		"0.0.0.0:20200":          "tcp4",
		"[::ffff:10.0.0.1]:1883": "tcp4",
		"[::1]:20200":            "tcp6",
		"[::]:20200":             "tcp6",
		":20200":                 "tcp",
		"localhost:20200":        "tcp",
		"mqtt.example.net:1883":  "tcp",
	} {
		if got := network(addr); got != want {
			t.Errorf("network(%q) = %s, want %s", addr, got, want)
		}
	}
}
