package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// keyTests has one row per key of Keys: its default, a good value, a value of
// the right type but out of range, and a value of the wrong type. Values are
// written on line 2 of a file named gridmq.yaml.
var keyTests = []struct {
	key       string
	get       func(*Config) any
	def       any
	good      string
	want      any
	bad       string
	badErr    string
	wrongType string
	typeErr   string
}{
	{
		key: "allow_anonymous", get: func(c *Config) any { return c.AllowAnonymous },
		def: (*bool)(nil), good: "true", want: ptr(true),
		bad: "yes", badErr: `must be true or false (got "yes")`,
		wrongType: "1", typeErr: "must be true or false (got 1)",
	},
	{
		key: "password_file", get: func(c *Config) any { return c.PasswordFile },
		def: "", good: "/etc/gridmq/passwd", want: "/etc/gridmq/passwd",
		bad: "", badErr: "needs a value",
		wrongType: "[a, b]", typeErr: "must be a string (got a list)",
	},
	{
		key: "acl_file", get: func(c *Config) any { return c.ACLFile },
		def: "", good: "/etc/gridmq/acl", want: "/etc/gridmq/acl",
		bad: "", badErr: "needs a value",
		wrongType: "{a: b}", typeErr: "must be a string (got a mapping)",
	},
	{
		key: "mqtt_username", get: func(c *Config) any { return c.StandardUser },
		def: "", good: "smc", want: "smc",
		bad: "", badErr: "needs a value",
		wrongType: "[smc]", typeErr: "must be a string (got a list)",
	},
	{
		key: "mqtt_password", get: func(c *Config) any { return c.StandardPassword },
		def: "", good: "0123456", want: "0123456", // digits stay text
		bad: "", badErr: "needs a value",
		wrongType: "[x]", typeErr: "must be a string (got a list)",
	},
	{
		key: "auth_fail_delay", get: func(c *Config) any { return c.AuthFailDelay },
		def: time.Duration(0), good: "2s", want: 2 * time.Second,
		bad: "2m", badErr: `must be between 0s and 1m (got "2m")`,
		wrongType: "[1]", typeErr: `must be a duration such as "5s", "500ms" or "1m30s" (got a list)`,
	},
	{
		key: "data_dir", get: func(c *Config) any { return c.DataDir },
		def: "", good: "/var/lib/gridmq", want: "/var/lib/gridmq",
		bad: "", badErr: "needs a value",
		wrongType: "[a]", typeErr: "must be a string (got a list)",
	},
	{
		key: "durability", get: func(c *Config) any { return c.Durability },
		def: "sync", good: "interval", want: "interval",
		bad: "always", badErr: `must be sync, interval or none (got "always")`,
		wrongType: "1", typeErr: "must be a string (got 1)",
	},
	{
		key: "durability_interval", get: func(c *Config) any { return c.DurabilityInterval },
		def: 100 * time.Millisecond, good: "10ms", want: 10 * time.Millisecond,
		bad: "0s", badErr: `must be between 1ms and 1m (got "0s")`,
		wrongType: "[1]", typeErr: `must be a duration such as "5s", "500ms" or "1m30s" (got a list)`,
	},
	{
		key: "max_queued_messages", get: func(c *Config) any { return c.MaxQueuedMessages },
		def: 1000, good: "0", want: 0,
		bad: "-1", badErr: "must be 0 (no limit) or more (got -1)",
		wrongType: "lots", typeErr: `must be an integer (got "lots")`,
	},
	{
		key: "max_queued_bytes", get: func(c *Config) any { return c.MaxQueuedBytes },
		def: int64(0), good: "1048576", want: int64(1048576),
		bad: "-1", badErr: "must be 0 (no limit) or more (got -1)",
		wrongType: "lots", typeErr: `must be an integer (got "lots")`,
	},
	{
		key: "max_inflight_messages", get: func(c *Config) any { return c.MaxInflightMessages },
		def: 20, good: "65535", want: 65535,
		bad: "65536", badErr: "must be between 0 (no limit) and 65535 (got 65536)",
		wrongType: "2.5", typeErr: "must be an integer (got 2.5)",
	},
	{
		key: "message_size_limit", get: func(c *Config) any { return c.MessageSizeLimit },
		def: uint32(0), good: "268435455", want: uint32(268435455),
		bad: "268435456", badErr: "must be between 0 (no limit) and 268435455 (got 268435456)",
		wrongType: "1MB", typeErr: `must be an integer (got "1MB")`,
	},
	{
		key: "max_packet_size", get: func(c *Config) any { return c.MaxPacketSize },
		def: uint32(0), good: "20", want: uint32(20),
		bad: "19", badErr: "must be 0 (protocol maximum) or between 20 and 268435460 (got 19)",
		wrongType: "[1]", typeErr: "must be an integer (got a list)",
	},
	{
		key: "max_keepalive", get: func(c *Config) any { return c.MaxKeepalive },
		def: uint16(65535), good: "60", want: uint16(60),
		bad: "65536", badErr: "must be between 0 and 65535 (got 65536)",
		wrongType: "60s", typeErr: `must be an integer (got "60s")`,
	},
	{
		key: "sys_interval", get: func(c *Config) any { return c.SysInterval },
		def: 10 * time.Second, good: "0", want: time.Duration(0),
		bad: "-10", badErr: "must be between 0 (disabled) and 2147483647 seconds (got -10)",
		wrongType: "10s", typeErr: `must be an integer (got "10s")`,
	},
	{
		key: "retain_available", get: func(c *Config) any { return c.RetainAvailable },
		def: true, good: "false", want: false,
		bad: "off", badErr: `must be true or false (got "off")`,
		wrongType: "0", typeErr: "must be true or false (got 0)",
	},
	{
		key: "persistence", get: func(c *Config) any { return c.Persistence },
		def: true, good: "false", want: false,
		bad: "no way", badErr: `must be true or false (got "no way")`,
		wrongType: "0", typeErr: "must be true or false (got 0)",
	},
	{
		key: "max_qos", get: func(c *Config) any { return c.MaxQoS },
		def: byte(2), good: "1", want: byte(1),
		bad: "3", badErr: "must be 0, 1 or 2 (got 3)",
		wrongType: "two", typeErr: `must be an integer (got "two")`,
	},
	{
		key: "max_topic_alias", get: func(c *Config) any { return c.MaxTopicAlias },
		def: uint16(10), good: "0", want: uint16(0),
		bad: "100000", badErr: "must be between 0 and 65535 (got 100000)",
		wrongType: "true", typeErr: "must be an integer (got true)",
	},
	{
		key: "allow_zero_length_clientid", get: func(c *Config) any { return c.AllowZeroLengthClientID },
		def: true, good: "false", want: false,
		bad: "no", badErr: `must be true or false (got "no")`,
		wrongType: "{a: 1}", typeErr: "must be true or false (got a mapping)",
	},
	{
		key: "persistent_client_expiration", get: func(c *Config) any { return c.PersistentClientExpiration },
		def: time.Duration(0), good: "2d", want: 48 * time.Hour,
		bad: "0d", badErr: `must be a whole number followed by h, d, w, m or y, such as "2d", or 0 for never (got "0d")`,
		wrongType: "172800", typeErr: `must be a whole number followed by h, d, w, m or y, such as "2d", or 0 for never (got 172800)`,
	},
	{
		key: "queue_qos0_messages", get: func(c *Config) any { return c.QueueQoS0Messages },
		def: false, good: "true", want: true,
		bad: "enabled", badErr: `must be true or false (got "enabled")`,
		wrongType: "[true]", typeErr: "must be true or false (got a list)",
	},
	{
		key: "stall_timeout", get: func(c *Config) any { return c.StallTimeout },
		def: 5 * time.Second, good: "250ms", want: 250 * time.Millisecond,
		bad: "0s", badErr: `must be more than 0 (got "0s")`,
		wrongType: "5", typeErr: `must be a duration such as "5s", "500ms" or "1m30s" (got 5)`,
	},
}

func TestEveryKeyHasATest(t *testing.T) {
	tested := map[string]bool{}
	for _, tt := range keyTests {
		tested[tt.key] = true
	}
	for _, k := range Keys() {
		if !tested[k.Name] {
			t.Errorf("key %s has no row in keyTests", k.Name)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, tt := range keyTests {
		t.Run(tt.key, func(t *testing.T) {
			if got := tt.get(Default()); !reflect.DeepEqual(got, tt.def) {
				t.Errorf("default = %v, want %v", got, tt.def)
			}
			c, err := Parse("gridmq.yaml", []byte("# site config\n"+tt.key+": "+tt.good+"\n"))
			if err != nil {
				t.Fatalf("good value %q: %v", tt.good, err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: %s gives %v, want %v", tt.key, tt.good, got, tt.want)
			}
			for _, bad := range []struct{ value, msg string }{{tt.bad, tt.badErr}, {tt.wrongType, tt.typeErr}} {
				_, err := Parse("gridmq.yaml", []byte("# site config\n"+tt.key+": "+bad.value+"\n"))
				want := "gridmq.yaml:2: " + tt.key + ": " + bad.msg
				if err == nil || err.Error() != want {
					t.Errorf("%s: %s\n got error %v\nwant error %s", tt.key, bad.value, err, want)
				}
				var e *Error
				if !errors.As(err, &e) || e.Line != 2 || e.Key != tt.key || e.File != "gridmq.yaml" {
					t.Errorf("%s: %s: error %#v does not carry file, line and key", tt.key, bad.value, e)
				}
			}
			// A key with no value is an error, not the default.
			_, err = Parse("gridmq.yaml", []byte(tt.key+":\n"))
			if want := "gridmq.yaml:1: " + tt.key + ": needs a value"; err == nil || err.Error() != want {
				t.Errorf("empty value: got %v, want %s", err, want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	for _, tt := range keyTests {
		t.Run(tt.key, func(t *testing.T) {
			c := Default()
			if err := c.Set(tt.key, tt.good); err != nil {
				t.Fatalf("Set(%q, %q): %v", tt.key, tt.good, err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Set(%q, %q) gives %v, want %v", tt.key, tt.good, got, tt.want)
			}
			before := *c
			err := c.Set(tt.key, tt.bad)
			if want := tt.key + ": " + tt.badErr; err == nil || err.Error() != want {
				t.Errorf("Set(%q, %q) = %v, want %s", tt.key, tt.bad, err, want)
			}
			if !reflect.DeepEqual(*c, before) {
				t.Errorf("Set(%q, %q) changed the config although it failed", tt.key, tt.bad)
			}
		})
	}
	c := Default()
	if err := c.Set("listener", "1883"); err == nil || err.Error() != `unknown key "listener"` {
		t.Errorf("Set(listener) = %v, want unknown key", err)
	}
	if err := c.Set("max_queud_messages", "1"); err == nil || err.Error() != `unknown key "max_queud_messages"` {
		t.Errorf("Set(typo) = %v, want unknown key", err)
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, data := range []string{"", "\n\n", "# nothing set yet\n", "---\n", "--- # explicit\n...\n", "~\n"} {
		c, err := Parse("gridmq.yaml", []byte(data))
		if err != nil {
			t.Errorf("Parse(%q): %v", data, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want the defaults", data, c)
		}
	}
}

func TestDefaultListener(t *testing.T) {
	c := Default()
	if len(c.Listeners) != 1 || c.Listeners[0].Addr() != "127.0.0.1:20200" || c.Listeners[0].AllowAnonymous != nil {
		t.Errorf("default listeners = %+v, want one on 127.0.0.1:20200", c.Listeners)
	}
	// Each call returns a fresh value.
	c.Listeners[0].Port = 1
	if Default().Listeners[0].Port != DefaultPort {
		t.Error("Default shares its listener slice between calls")
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"unknown key", "max_qos: 1\nretain_available: true\nmax_queud_messages: 10\n",
			`gridmq.yaml:3: unknown key "max_queud_messages"`},
		{"unsupported mosquitto key", "max_qos: 1\npsk_file: /etc/mosquitto/psk\n",
			`gridmq.yaml:2: "psk_file" is not supported yet (TLS)`},
		{"unsupported without a hint", "include_dir: /etc/gridmq/conf.d\n",
			`gridmq.yaml:1: "include_dir" is not supported yet`},
		{"log_dest", "log_dest: stdout\n",
			`gridmq.yaml:1: "log_dest" is not supported yet (gridmq logs to standard error)`},
		{"mosquitto's port", "port: 1883\n",
			`gridmq.yaml:1: unknown key "port" (use listener: [{port: 20200}])`},
		{"mosquitto's maximum_qos", "maximum_qos: 1\n",
			`gridmq.yaml:1: unknown key "maximum_qos" (gridmq spells it max_qos)`},
		{"duplicate key", "max_qos: 1\nsys_interval: 5\nmax_qos: 2\n",
			`gridmq.yaml:3: duplicate key "max_qos" (first at line 1)`},
		{"duplicate listener", "listener:\n  - port: 1883\nlistener:\n  - port: 1884\n",
			`gridmq.yaml:3: duplicate key "listener" (first at line 1)`},
		{"syntax error", "max_qos: 1\n retain_available: true\n",
			`gridmq.yaml:2: mapping values are not allowed in this context`},
		{"unclosed list", "listener: [{port: 1883}\n",
			`gridmq.yaml:1: did not find expected ',' or ']'`},
		{"tab indentation", "listener:\n\t- port: 1883\n",
			`gridmq.yaml:2: found character that cannot start any token`},
		{"two documents", "max_qos: 1\n---\nmax_qos: 2\n",
			`gridmq.yaml:2: a second YAML document; a configuration file holds one`},
		{"a mosquitto.conf", "# mosquitto.conf\nlistener 1883 0.0.0.0\nallow_anonymous true\n",
			`gridmq.yaml:2: want keys and values such as "max_qos: 1"; mosquitto.conf lines need a colon after the key (see docs/configuration.md)`},
		{"top level list", "- max_qos: 1\n",
			`gridmq.yaml:1: want keys and values such as "max_qos: 1" at the top level (got a list)`},
		{"merge key", "base: &b {max_qos: 1}\n<<: *b\n",
			"gridmq.yaml:1: unknown key \"base\"\ngridmq.yaml:2: merge keys (<<) are not supported; write the keys out"},
		{"unknown anchor", "max_qos: *n\n",
			"gridmq.yaml: unknown anchor 'n' referenced"},
		{"key not a name", "? [max_qos]\n: 1\n",
			"gridmq.yaml:1: keys must be plain names (got a list)"},
		{"integer too long", "max_queued_messages: 99999999999999999999999\n",
			"gridmq.yaml:1: max_queued_messages: must be 0 (no limit) or more (got 99999999999999999999999)"},
		{"quoted integer", "max_qos: \"1\"\n",
			`gridmq.yaml:1: max_qos: must be an integer (got "1")`},
		{"expiration overflow", "persistent_client_expiration: 1000y\n",
			`gridmq.yaml:1: persistent_client_expiration: must be at most 292y (got "1000y")`},
		{"expiration unit", "persistent_client_expiration: 2s\n",
			`gridmq.yaml:1: persistent_client_expiration: must be a whole number followed by h, d, w, m or y, such as "2d", or 0 for never (got "2s")`},
		{"negative stall", "stall_timeout: -1s\n",
			`gridmq.yaml:1: stall_timeout: must be more than 0 (got "-1s")`},
		{"every error at once", "max_qos: 3\nmax_queud_messages: 1\nmax_keepalive: -1\n",
			"gridmq.yaml:1: max_qos: must be 0, 1 or 2 (got 3)\n" +
				"gridmq.yaml:2: unknown key \"max_queud_messages\"\n" +
				"gridmq.yaml:3: max_keepalive: must be between 0 and 65535 (got -1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("gridmq.yaml", []byte(tt.data))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("a config came back with the error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	c, err := Parse("gridmq.yaml", []byte("max_inflight_messages: &n 100\nmax_queued_messages: *n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInflightMessages != 100 || c.MaxQueuedMessages != 100 {
		t.Errorf("got inflight %d, queued %d, want 100 and 100", c.MaxInflightMessages, c.MaxQueuedMessages)
	}
}

func TestIntegerForms(t *testing.T) {
	for text, want := range map[string]int{"0x10": 16, "0o17": 15, "1_000": 1000, "+5": 5} {
		c, err := Parse("gridmq.yaml", []byte("max_queued_messages: "+text+"\n"))
		if err != nil || c.MaxQueuedMessages != want {
			t.Errorf("max_queued_messages: %s gives %v, %v; want %d", text, c, err, want)
		}
	}
}

func TestPersistentClientExpiration(t *testing.T) {
	day := 24 * time.Hour
	for text, want := range map[string]time.Duration{
		"0": 0, "1h": time.Hour, "14d": 14 * day, "2w": 14 * day, "2m": 60 * day, "1y": 365 * day, "292y": 292 * 365 * day,
	} {
		c, err := Parse("gridmq.yaml", []byte("persistent_client_expiration: "+text+"\n"))
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		if c.PersistentClientExpiration != want {
			t.Errorf("%s = %v, want %v", text, c.PersistentClientExpiration, want)
		}
	}
	for _, text := range []string{"d", "1.5d", "-1d", "+1d", "1 d", "1D", "1", "0h", "1dd", "\"0\""} {
		if _, err := Parse("gridmq.yaml", []byte("persistent_client_expiration: "+text+"\n")); err == nil {
			t.Errorf("%s: no error", text)
		}
	}
}

func TestListeners(t *testing.T) {
	tests := []struct {
		name, data string
		want       []Listener
	}{
		{"replaces the default", "listener:\n  - port: 20201\n",
			[]Listener{{Port: 20201}}},
		{"mosquitto's listener 20200 0.0.0.0", "listener:\n  - port: 20200\n    bind_address: 0.0.0.0\n",
			[]Listener{{Port: 20200, BindAddress: "0.0.0.0"}}},
		{"several, in order", "listener:\n  - {port: 20200, bind_address: 127.0.0.1}\n  - {port: 20201, bind_address: \"::\", allow_anonymous: true}\n  - {port: 0, bind_address: localhost, allow_anonymous: false}\n",
			[]Listener{{Port: 20200, BindAddress: "127.0.0.1"}, {Port: 20201, BindAddress: "::", AllowAnonymous: ptr(true)}, {Port: 0, BindAddress: "localhost", AllowAnonymous: ptr(false)}}},
		{"host name and IPv6", "listener: [{port: 1883, bind_address: mqtt.example.net}, {port: 1883, bind_address: \"::1\"}]\n",
			[]Listener{{Port: 1883, BindAddress: "mqtt.example.net"}, {Port: 1883, BindAddress: "::1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("gridmq.yaml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Listeners, tt.want) {
				t.Errorf("listeners = %+v, want %+v", c.Listeners, tt.want)
			}
		})
	}
}

func TestListenerErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"no value", "listener:\n",
			"gridmq.yaml:1: listener: needs a value: a list such as [{port: 20200, bind_address: 0.0.0.0}]"},
		{"a number", "listener: 1883\n",
			"gridmq.yaml:1: listener: must be a list such as [{port: 20200, bind_address: 0.0.0.0}] (got 1883)"},
		{"a single mapping", "listener:\n  port: 1883\n",
			"gridmq.yaml:2: listener: must be a list such as [{port: 20200, bind_address: 0.0.0.0}] (got a mapping)"},
		{"empty list", "listener: []\n",
			"gridmq.yaml:1: listener: needs at least one listener: a list such as [{port: 20200, bind_address: 0.0.0.0}]"},
		{"item not a mapping", "listener:\n  - 1883\n",
			"gridmq.yaml:2: listener: each listener must be a mapping such as {port: 20200, bind_address: 0.0.0.0} (got 1883)"},
		{"no port", "listener:\n  - bind_address: 0.0.0.0\n",
			"gridmq.yaml:2: listener: port is required"},
		{"port too big", "listener:\n  - port: 70000\n",
			"gridmq.yaml:2: listener.port: must be between 1 and 65535, or 0 for any free port (got 70000)"},
		{"negative port", "listener:\n  - port: -1\n",
			"gridmq.yaml:2: listener.port: must be between 1 and 65535, or 0 for any free port (got -1)"},
		{"port as text", "listener:\n  - port: mqtt\n",
			`gridmq.yaml:2: listener.port: must be an integer (got "mqtt")`},
		{"bind address with a port", "listener:\n  - port: 1883\n    bind_address: 0.0.0.0:1883\n",
			`gridmq.yaml:3: listener.bind_address: must be a host name or an IP address, without a port (got "0.0.0.0:1883")`},
		{"bracketed IPv6", "listener:\n  - port: 1883\n    bind_address: \"[::1]\"\n",
			`gridmq.yaml:3: listener.bind_address: must be a host name or an IP address (got "[::1]")`},
		{"bind address a number", "listener:\n  - port: 1883\n    bind_address: 10\n",
			"gridmq.yaml:3: listener.bind_address: must be a string (got 10)"},
		{"allow_anonymous not a bool", "listener:\n  - port: 1883\n    allow_anonymous: yes\n",
			`gridmq.yaml:3: listener.allow_anonymous: must be true or false (got "yes")`},
		{"unknown listener key", "listener:\n  - port: 1883\n    bind_adress: 0.0.0.0\n",
			`gridmq.yaml:3: unknown key "listener.bind_adress"`},
		{"unsupported listener key", "listener:\n  - port: 8883\n    certfile: /etc/ssl/mqtt.pem\n",
			`gridmq.yaml:3: "listener.certfile" is not supported yet (TLS)`},
		{"max_qos under a listener", "listener:\n  - port: 1883\n    max_qos: 1\n",
			`gridmq.yaml:3: unknown key "listener.max_qos" (max_qos is a top-level key in gridmq)`},
		{"duplicate listener key", "listener:\n  - port: 1883\n    port: 1884\n",
			`gridmq.yaml:3: duplicate key "listener.port" (first at line 2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gridmq.yaml", []byte(tt.data))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gridmq.yaml")
	if err := os.WriteFile(path, []byte("max_qos: 1\nlistener:\n  - port: 20250\n    bind_address: 0.0.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.MaxQoS = 1
	want.Listeners = []Listener{{Port: 20250, BindAddress: "0.0.0.0"}}
	want.DefaultListener = false
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load = %+v, want %+v", c, want)
	}

	if err := os.WriteFile(path, []byte("max_qos: 1\nmax_qos: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if want := path + `:2: duplicate key "max_qos" (first at line 1)`; err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

// As Mosquitto 2.0: the listener used when none is configured admits
// anonymous clients unless there is a password file; a configured listener,
// loopback or not, admits them only when allow_anonymous says so.
func TestAnonymousAllowed(t *testing.T) {
	tests := []struct {
		name       string
		configured bool // a listener was configured (file or --listen)
		password   string
		global     *bool
		listener   Listener
		want       bool
	}{
		{"default listener", false, "", nil, Listener{Port: 20200, BindAddress: "127.0.0.1"}, true},
		{"default listener with a password file", false, "/etc/gridmq/passwd", nil, Listener{Port: 20200, BindAddress: "127.0.0.1"}, false},
		{"default listener with a password file, allowed", false, "/etc/gridmq/passwd", ptr(true), Listener{Port: 20200, BindAddress: "127.0.0.1"}, true},
		{"configured loopback", true, "", nil, Listener{BindAddress: "127.0.0.1"}, false},
		{"configured ::1", true, "", nil, Listener{BindAddress: "::1"}, false},
		{"all interfaces", true, "", nil, Listener{BindAddress: ""}, false},
		{"LAN address", true, "", nil, Listener{BindAddress: "192.168.1.10"}, false},
		{"global true opens non-loopback", true, "", ptr(true), Listener{BindAddress: "0.0.0.0"}, true},
		{"global false closes the default", false, "", ptr(false), Listener{BindAddress: "127.0.0.1"}, false},
		{"listener true beats global false", true, "", ptr(false), Listener{BindAddress: "0.0.0.0", AllowAnonymous: ptr(true)}, true},
		{"listener false beats global true", true, "", ptr(true), Listener{BindAddress: "127.0.0.1", AllowAnonymous: ptr(false)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.DefaultListener = !tt.configured
			c.PasswordFile = tt.password
			c.AllowAnonymous = tt.global
			if got := c.AnonymousAllowed(tt.listener); got != tt.want {
				t.Errorf("AnonymousAllowed(%+v) = %v, want %v", tt.listener, got, tt.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.255.255.254": true, "::1": true, "localhost": true, "::ffff:127.0.0.1": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "128.0.0.1": false, "localhost.example.com": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseListener(t *testing.T) {
	for addr, want := range map[string]Listener{
		"127.0.0.1:20200": {Port: 20200, BindAddress: "127.0.0.1"},
		":20200":          {Port: 20200},
		"[::1]:1883":      {Port: 1883, BindAddress: "::1"},
		"[::]:0":          {Port: 0, BindAddress: "::"},
		"localhost:0":     {Port: 0, BindAddress: "localhost"},
	} {
		got, err := ParseListener(addr)
		if err != nil || got != want {
			t.Errorf("ParseListener(%q) = %+v, %v; want %+v", addr, got, err, want)
		}
		if err == nil && got.Addr() != addr {
			t.Errorf("ParseListener(%q).Addr() = %q", addr, got.Addr())
		}
	}
	for addr, want := range map[string]string{
		"20200":           `want HOST:PORT, like 127.0.0.1:20200 or :20200 for all interfaces (got "20200")`,
		"::1:1883":        `want HOST:PORT, like 127.0.0.1:20200 or :20200 for all interfaces (got "::1:1883")`,
		"127.0.0.1:mqtt":  `port must be between 1 and 65535, or 0 for any free port (got "mqtt")`,
		"127.0.0.1:65536": `port must be between 1 and 65535, or 0 for any free port (got "65536")`,
		"127.0.0.1:":      `port must be between 1 and 65535, or 0 for any free port (got "")`,
		"a b:1883":        `must be a host name or an IP address (got "a b")`,
	} {
		_, err := ParseListener(addr)
		if err == nil || err.Error() != want {
			t.Errorf("ParseListener(%q) error = %v, want %s", addr, err, want)
		}
	}
}
