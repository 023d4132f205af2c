package main

import (
	"testing"

	"github.com/gridmq/gridmq/internal/config"
)

// The data dir a broker uses when data_dir is not set: one per port of its
// first listener, under the service's, root's or the user's state
// directory; in memory with persistence off or on a random port.
func TestDataDirFor(t *testing.T) {
	withPort := func(port int, edit func(*config.Config)) *config.Config {
		c := config.Default()
		c.Listeners[0].Port = port
		if edit != nil {
			edit(c)
		}
		return c
	}
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name     string
		cfg      *config.Config
		getenv   func(string) string
		euid     int
		want     string
		inMemory bool
	}{
		{"data_dir wins", withPort(20200, func(c *config.Config) { c.DataDir = "/srv/mqtt" }), env("STATE_DIRECTORY", "/x"), 0, "/srv/mqtt", false},
		{"systemd StateDirectory", withPort(20201, nil), env("STATE_DIRECTORY", "/var/lib/gridmq:/var/lib/other", "HOME", "/root"), 0, "/var/lib/gridmq/20201", false},
		{"root", withPort(20200, nil), env("HOME", "/root"), 0, "/var/lib/gridmq/20200", false},
		{"user with XDG_STATE_HOME", withPort(20200, nil), env("XDG_STATE_HOME", "/home/u/.state", "HOME", "/home/u"), 1000, "/home/u/.state/gridmq/20200", false},
		{"user", withPort(20250, nil), env("HOME", "/home/u"), 1000, "/home/u/.local/state/gridmq/20250", false},
		{"relative XDG_STATE_HOME is ignored", withPort(20200, nil), env("XDG_STATE_HOME", "state", "HOME", "/home/u"), 1000, "/home/u/.local/state/gridmq/20200", false},
		{"no home", withPort(20200, nil), env(), 1000, "", true},
		{"random port", withPort(0, nil), env("HOME", "/home/u"), 1000, "", true},
		{"random port with data_dir", withPort(0, func(c *config.Config) { c.DataDir = "/d" }), env(), 1000, "/d", false},
		{"persistence false", withPort(20200, func(c *config.Config) { c.Persistence = false; c.DataDir = "/d" }), env("HOME", "/root"), 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := dataDirFor(tc.cfg, tc.getenv, tc.euid)
			if got != tc.want || (why != "") != tc.inMemory {
				t.Errorf("dataDirFor = %q (in memory: %q), want %q (in memory: %v)", got, why, tc.want, tc.inMemory)
			}
		})
	}
}
