package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/config"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gridmq.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultsAgree(t *testing.T) {
	// The config package cannot import the broker, so this is where their
	// defaults are held to each other.
	if got, want := brokerOptions(config.Default()), broker.DefaultOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults differ:\nconfig gives %+v\nbroker has   %+v", got, want)
	}
}

func TestNoArguments(t *testing.T) {
	opts, specs, err := parseServe(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(opts, broker.DefaultOptions()) {
		t.Errorf("options = %+v, want the broker's defaults", opts)
	}
	want := []listenerSpec{{addr: "127.0.0.1:20200", allowAnonymous: true, loopback: true}}
	if !reflect.DeepEqual(specs, want) {
		t.Errorf("listeners = %+v, want %+v", specs, want)
	}
}

func TestEveryKeyReachesTheBroker(t *testing.T) {
	path := writeConfig(t, `
max_queued_messages: 5
max_inflight_messages: 6
message_size_limit: 1024
max_packet_size: 2048
max_keepalive: 120
sys_interval: 30
retain_available: false
max_qos: 1
max_topic_alias: 0
allow_zero_length_clientid: false
persistent_client_expiration: 2d
queue_qos0_messages: true
stall_timeout: 2s
`)
	opts, _, err := parseServe([]string{"--config", path})
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Options{
		MaxQueuedMessages:          5,
		MaxInflightMessages:        6,
		MessageSizeLimit:           1024,
		MaxPacketSize:              2048,
		MaxKeepAlive:               120,
		SysInterval:                30 * time.Second,
		RetainAvailable:            false,
		MaxQoS:                     1,
		MaxTopicAlias:              0,
		AllowZeroLengthClientID:    false,
		PersistentClientExpiration: 48 * time.Hour,
		QueueQoS0Messages:          true,
		StallTimeout:               2 * time.Second,
		Version:                    version,
	}
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("options\n got %+v\nwant %+v", opts, want)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	path := writeConfig(t, "max_qos: 1\nmax_queued_messages: 50\nsys_interval: 60\nretain_available: false\n")
	tests := []struct {
		name  string
		args  []string
		check func(broker.Options) bool
	}{
		{"file alone", []string{"--config", path},
			func(o broker.Options) bool {
				return o.MaxQoS == 1 && o.MaxQueuedMessages == 50 && o.SysInterval == time.Minute && !o.RetainAvailable
			}},
		{"flag wins", []string{"--config", path, "--max-qos", "0"},
			func(o broker.Options) bool { return o.MaxQoS == 0 && o.MaxQueuedMessages == 50 }},
		{"flag before --config still wins", []string{"--max-qos=2", "-c", path},
			func(o broker.Options) bool { return o.MaxQoS == 2 && o.MaxQueuedMessages == 50 }},
		{"flag equal to the default still wins", []string{"--config", path, "--max-queued-messages", "1000"},
			func(o broker.Options) bool { return o.MaxQueuedMessages == 1000 }},
		{"sys interval in seconds", []string{"--config", path, "--sys-interval", "0"},
			func(o broker.Options) bool { return o.SysInterval == 0 }},
		{"boolean flag", []string{"--config", path, "--retain-available"},
			func(o broker.Options) bool { return o.RetainAvailable }},
		{"boolean flag =false", []string{"--queue-qos0-messages=false", "--allow-zero-length-clientid=false"},
			func(o broker.Options) bool { return !o.QueueQoS0Messages && !o.AllowZeroLengthClientID }},
		{"durations", []string{"--stall-timeout", "750ms", "--persistent-client-expiration", "1w"},
			func(o broker.Options) bool {
				return o.StallTimeout == 750*time.Millisecond && o.PersistentClientExpiration == 7*24*time.Hour
			}},
		{"sizes", []string{"--message-size-limit", "100", "--max-packet-size", "200", "--max-inflight-messages", "0", "--max-keepalive", "30", "--max-topic-alias", "3"},
			func(o broker.Options) bool {
				return o.MessageSizeLimit == 100 && o.MaxPacketSize == 200 && o.MaxInflightMessages == 0 && o.MaxKeepAlive == 30 && o.MaxTopicAlias == 3
			}},
		{"last of a repeated flag wins", []string{"--max-qos", "0", "--max-qos", "1"},
			func(o broker.Options) bool { return o.MaxQoS == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, _, err := parseServe(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(opts) {
				t.Errorf("%v gives %+v", tt.args, opts)
			}
		})
	}
}

func TestListeners(t *testing.T) {
	twoListeners := writeConfig(t, `
listener:
  - port: 20201
    bind_address: 0.0.0.0
  - port: 20202
    bind_address: 127.0.0.1
  - port: 20203
    bind_address: 10.1.2.3
    allow_anonymous: true
`)
	globalTrue := writeConfig(t, "allow_anonymous: true\nlistener:\n  - port: 20201\n")
	globalFalse := writeConfig(t, "allow_anonymous: false\n")
	tests := []struct {
		name string
		args []string
		want []listenerSpec
	}{
		{"file listeners replace the default", []string{"--config", twoListeners}, []listenerSpec{
			{addr: "0.0.0.0:20201", allowAnonymous: false},
			{addr: "127.0.0.1:20202", allowAnonymous: false, loopback: true}, // configured: credentials asked
			{addr: "10.1.2.3:20203", allowAnonymous: true},
		}},
		{"--listen replaces the file's listeners", []string{"--config", twoListeners, "--listen", "127.0.0.1:0"}, []listenerSpec{
			{addr: "127.0.0.1:0", allowAnonymous: false, loopback: true},
		}},
		{"--listen repeats", []string{"--listen", "127.0.0.1:20200", "--listen", "[::1]:20200", "--listen", "localhost:20201", "--allow-anonymous"}, []listenerSpec{
			{addr: "127.0.0.1:20200", allowAnonymous: true, loopback: true},
			{addr: "[::1]:20200", allowAnonymous: true, loopback: true},
			{addr: "localhost:20201", allowAnonymous: true, loopback: true},
		}},
		{"a password file closes the default listener", []string{"--password-file", "/etc/gridmq/passwd"}, []listenerSpec{
			{addr: "127.0.0.1:20200", loopback: true},
		}},
		{"non-loopback refuses anonymous", []string{"--listen", "0.0.0.0:20200", "--listen", ":20201", "--listen", "192.168.1.5:20202", "--listen", "[::]:20203"}, []listenerSpec{
			{addr: "0.0.0.0:20200"},
			{addr: ":20201"},
			{addr: "192.168.1.5:20202"},
			{addr: "[::]:20203"},
		}},
		{"--allow-anonymous opens non-loopback", []string{"--listen", "0.0.0.0:20200", "--allow-anonymous"}, []listenerSpec{
			{addr: "0.0.0.0:20200", allowAnonymous: true},
		}},
		{"--allow-anonymous=false closes loopback", []string{"--allow-anonymous=false"}, []listenerSpec{
			{addr: "127.0.0.1:20200", loopback: true},
		}},
		{"--allow-anonymous=false beats per-listener true in the file", []string{"--config", twoListeners, "--allow-anonymous=false"}, []listenerSpec{
			{addr: "0.0.0.0:20201"},
			{addr: "127.0.0.1:20202", loopback: true},
			{addr: "10.1.2.3:20203"},
		}},
		{"file's allow_anonymous applies to --listen", []string{"--config", globalTrue, "--listen", "0.0.0.0:20200"}, []listenerSpec{
			{addr: "0.0.0.0:20200", allowAnonymous: true},
		}},
		{"file's allow_anonymous: false on the default listener", []string{"--config", globalFalse}, []listenerSpec{
			{addr: "127.0.0.1:20200", loopback: true},
		}},
		{"file keeps the default listener when it has none", []string{"--config", globalFalse, "--allow-anonymous"}, []listenerSpec{
			{addr: "127.0.0.1:20200", allowAnonymous: true, loopback: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, specs, err := parseServe(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(specs, tt.want) {
				t.Errorf("listeners\n got %+v\nwant %+v", specs, tt.want)
			}
		})
	}
}

func TestServeArgumentErrors(t *testing.T) {
	badFile := writeConfig(t, "# site\nmax_qos: 3\n")
	tests := []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"bad flag value", []string{"--max-qos", "3"}, "--max-qos: must be 0, 1 or 2 (got 3)", false},
		{"wrong type", []string{"--max-queued-messages", "many"}, `--max-queued-messages: must be an integer (got "many")`, false},
		{"bad boolean", []string{"--allow-anonymous=maybe"}, `--allow-anonymous: must be true or false (got "maybe")`, false},
		{"bad duration", []string{"--stall-timeout", "5"}, `--stall-timeout: must be a duration such as "5s", "500ms" or "1m30s" (got 5)`, false},
		{"two bad flags", []string{"--max-qos", "3", "--sys-interval", "-1"},
			"--max-qos: must be 0, 1 or 2 (got 3)\n--sys-interval: must be between 0 (disabled) and 2147483647 seconds (got -1)", false},
		{"bad --listen", []string{"--listen", "20200"}, `--listen: want HOST:PORT, like 127.0.0.1:20200 or :20200 for all interfaces (got "20200")`, false},
		{"bad --listen port", []string{"--listen", "0.0.0.0:99999"}, `--listen: port must be between 1 and 65535, or 0 for any free port (got "99999")`, false},
		{"config error names file and line", []string{"--config", badFile}, badFile + ":2: max_qos: must be 0, 1 or 2 (got 3)", false},
		{"missing config", []string{"--config", "/nonexistent/gridmq.yaml"}, "open /nonexistent/gridmq.yaml: no such file or directory", false},
		{"unknown flag", []string{"--max-qoss", "1"}, "flag provided but not defined: -max-qoss", true},
		{"flag without value", []string{"--max-qos"}, "flag needs an argument: -max-qos", true},
		{"stray argument", []string{"gridmq.yaml"}, `unexpected argument "gridmq.yaml"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseServe(tt.args)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if got := errors.As(err, new(usageError)); got != tt.usage {
				t.Errorf("usage error = %v, want %v", got, tt.usage)
			}
		})
	}
}

func TestHelpFlag(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, _, err := parseServe([]string{arg}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("parseServe(%s) = %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestEveryKeyHasAFlag(t *testing.T) {
	f := newServeFlags()
	for _, k := range config.Keys() {
		name := strings.ReplaceAll(k.Name, "_", "-")
		if f.fs.Lookup(name) == nil {
			t.Errorf("key %s has no --%s flag", k.Name, name)
		}
	}
}
