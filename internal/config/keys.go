package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// key is one top-level key that takes a single value. The table below is the
// one place a key is named, checked and documented; Parse, Set and Keys (and
// through it the command line's flags and help) all read it.
type key struct {
	name   string
	arg    string // placeholder for the value in help; "" for booleans
	def    string // the default as written in a file
	usage  string
	decode func(c *Config, n *yaml.Node) error // the error is the message only, without file, line or key
}

// Limits from the protocol and from Mosquitto.
const (
	rangePort          = "must be between 1 and 65535, or 0 for any free port"
	maxPayload         = 268435455      // largest Remaining Length (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3), so the largest payload
	maxPacket          = maxPayload + 5 // plus the fixed header: 1 type byte, up to 4 length bytes
	minPacket          = 20             // Mosquitto refuses a smaller max_packet_size
	maxSysIntervalSecs = math.MaxInt32
)

var keys = []key{
	{
		name: "allow_anonymous", def: "unset",
		usage: "admit clients that send no username, on every listener without its own allow_anonymous; unset: loopback listeners only",
		decode: func(c *Config, n *yaml.Node) error {
			b, err := boolValue(n)
			c.AllowAnonymous = &b
			return err
		},
	},
	{
		name: "max_queued_messages", arg: "N", def: "1000",
		usage: "QoS 1 and 2 messages kept per stalled or offline session beyond those in flight; past it they are dropped; 0 means never drop (connected clients are flow-controlled either way)",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, math.MaxInt32, "must be 0 (no limit) or more")
			c.MaxQueuedMessages = int(v)
			return err
		},
	},
	{
		name: "max_queued_bytes", arg: "BYTES", def: "0",
		usage: "the same messages bounded by their topic and payload bytes; past it they are dropped, and an MQTT 5 publisher is told 0x97; 0 means no limit",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, math.MaxInt64, "must be 0 (no limit) or more")
			c.MaxQueuedBytes = v
			return err
		},
	},
	{
		name: "max_inflight_messages", arg: "N", def: "20",
		usage: "QoS 1 and 2 messages in flight to each client; 0 means no limit (65535)",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, 65535, "must be between 0 (no limit) and 65535")
			c.MaxInflightMessages = int(v)
			return err
		},
	},
	{
		name: "message_size_limit", arg: "BYTES", def: "0",
		usage: "largest PUBLISH payload accepted; 0 means no limit",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, maxPayload, "must be between 0 (no limit) and 268435455")
			c.MessageSizeLimit = uint32(v)
			return err
		},
	},
	{
		name: "max_packet_size", arg: "BYTES", def: "0",
		usage: "largest packet accepted from a client; 0 means the protocol maximum",
		decode: func(c *Config, n *yaml.Node) error {
			const want = "must be 0 (protocol maximum) or between 20 and 268435460"
			v, err := intValue(n, 0, maxPacket, want)
			if err == nil && v > 0 && v < minPacket {
				err = fmt.Errorf("%s (got %s)", want, n.Value)
			}
			c.MaxPacketSize = uint32(v)
			return err
		},
	},
	{
		name: "max_keepalive", arg: "SECONDS", def: "65535",
		usage: "largest keep alive a client may ask for; MQTT 5 clients are told the capped value",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, 65535, "must be between 0 and 65535")
			c.MaxKeepalive = uint16(v)
			return err
		},
	},
	{
		name: "sys_interval", arg: "SECONDS", def: "10",
		usage: "seconds between $SYS updates; 0 disables them",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, maxSysIntervalSecs, "must be between 0 (disabled) and 2147483647 seconds")
			c.SysInterval = time.Duration(v) * time.Second
			return err
		},
	},
	{
		name: "retain_available", def: "true",
		usage: "accept retained messages",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.RetainAvailable, err = boolValue(n)
			return err
		},
	},
	{
		name: "max_qos", arg: "QOS", def: "2",
		usage: "highest QoS granted to publishers and subscribers",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, 2, "must be 0, 1 or 2")
			c.MaxQoS = byte(v)
			return err
		},
	},
	{
		name: "max_topic_alias", arg: "N", def: "10",
		usage: "topic aliases an MQTT 5 client may use; 0 disables them",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := intValue(n, 0, 65535, "must be between 0 and 65535")
			c.MaxTopicAlias = uint16(v)
			return err
		},
	},
	{
		name: "allow_zero_length_clientid", def: "true",
		usage: "let clients connect with an empty client id and be given one",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.AllowZeroLengthClientID, err = boolValue(n)
			return err
		},
	},
	{
		name: "persistent_client_expiration", arg: "AGE", def: "0",
		usage: `end persistent sessions not seen for AGE, a whole number and h, d, w, m (30 days) or y (365 days), e.g. "2d"; 0 means never`,
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.PersistentClientExpiration, err = expirationValue(n)
			return err
		},
	},
	{
		name: "queue_qos0_messages", def: "false",
		usage: "queue QoS 0 messages for offline persistent sessions",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.QueueQoS0Messages, err = boolValue(n)
			return err
		},
	},
	{
		name: "password_file", arg: "PATH", def: "",
		usage: "Mosquitto password file (mosquitto_passwd or gridmq user) that clients sending a username are checked against; reloaded when it changes",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.PasswordFile, err = nonEmptyString(n)
			return err
		},
	},
	{
		name: "acl_file", arg: "PATH", def: "",
		usage: "Mosquitto ACL file deciding who may publish, subscribe to and receive which topics; reloaded when it changes; unset allows all",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.ACLFile, err = nonEmptyString(n)
			return err
		},
	},
	{
		name: "mqtt_username", arg: "NAME", def: "",
		usage: "standard user added to password_file at start if absent (never changed if present); needs mqtt_password",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.StandardUser, err = scalarText(n)
			return err
		},
	},
	{
		name: "mqtt_password", arg: "PASSWORD", def: "",
		usage: "the standard user's password; GRIDMQ_MQTT_PASSWORD, when set, is used instead",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.StandardPassword, err = scalarText(n)
			return err
		},
	},
	{
		name: "auth_fail_delay", arg: "DURATION", def: "0s",
		usage: `wait this long before refusing bad credentials, e.g. "1s"; repeated failures are slowed down anyway`,
		decode: func(c *Config, n *yaml.Node) error {
			d, err := durationValue(n)
			if err == nil && (d < 0 || d > time.Minute) {
				err = fmt.Errorf("must be between 0s and 1m (got %q)", n.Value)
			}
			c.AuthFailDelay = d
			return err
		},
	},
	{
		name: "persistence", def: "true",
		usage: "keep retained messages, persistent sessions and their queued messages in a data dir; false keeps everything in memory, as Mosquitto's persistence false",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.Persistence, err = boolValue(n)
			return err
		},
	},
	{
		name: "data_dir", arg: "PATH", def: "",
		usage: "directory for durable state; unset: a directory per listener port under /var/lib/gridmq (root), $STATE_DIRECTORY (systemd) or $XDG_STATE_HOME/gridmq, and in memory for a listener on port 0; one broker per directory",
		decode: func(c *Config, n *yaml.Node) (err error) {
			c.DataDir, err = nonEmptyString(n)
			return err
		},
	},
	{
		name: "durability", arg: "MODE", def: "sync",
		usage: "sync: on disk (fsync) before the acknowledgement; interval: fsync every durability_interval, which a power loss can lose; none: left to the system",
		decode: func(c *Config, n *yaml.Node) error {
			v, err := stringValue(n)
			if err == nil && v != "sync" && v != "interval" && v != "none" {
				err = fmt.Errorf("must be sync, interval or none (got %q)", v)
			}
			c.Durability = v
			return err
		},
	},
	{
		name: "durability_interval", arg: "DURATION", def: "100ms",
		usage: `how often durability "interval" syncs, e.g. "10ms": what a power loss can lose`,
		decode: func(c *Config, n *yaml.Node) error {
			d, err := durationValue(n)
			if err == nil && (d < time.Millisecond || d > time.Minute) {
				err = fmt.Errorf("must be between 1ms and 1m (got %q)", n.Value)
			}
			c.DurabilityInterval = d
			return err
		},
	},
	{
		name: "stall_timeout", arg: "DURATION", def: "5s",
		usage: `how long a subscriber whose queue is full may hold back its publishers before it is treated as stalled; a Go duration such as "5s"`,
		decode: func(c *Config, n *yaml.Node) error {
			d, err := durationValue(n)
			if err == nil && d <= 0 {
				err = fmt.Errorf("must be more than 0 (got %q)", n.Value)
			}
			c.StallTimeout = d
			return err
		},
	},
}

func lookup(name string) *key {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

// KeyInfo documents one top-level key that takes a single value.
type KeyInfo struct {
	Name    string // as written in the file, e.g. "max_qos"
	Arg     string // a placeholder for the value, e.g. "N"; "" for a boolean
	Default string // as written in the file
	Usage   string
}

// Keys lists every top-level key except listener, in documentation order.
// Each can be given to Set.
func Keys() []KeyInfo {
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{Name: k.name, Arg: k.arg, Default: k.def, Usage: k.usage}
	}
	return out
}

// Set sets one top-level key (not listener) from text, as given on a command
// line, with the same types and checks as in a file: "3" is an integer,
// "true" a boolean, "5s" a string. An error is an *Error naming the key.
func (c *Config) Set(name, value string) error {
	k := lookup(name)
	if k == nil {
		return &Error{Msg: fmt.Sprintf("unknown key %q", name)}
	}
	next := *c // c stays as it was if value is bad
	if err := k.decode(&next, scalar(value)); err != nil {
		return &Error{Key: name, Msg: err.Error()}
	}
	*c = next
	return nil
}

// scalar types text as YAML would as a plain value in a file.
func scalar(text string) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(text), &doc) == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.ScalarNode {
		return doc.Content[0]
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

var errNoValue = errors.New("needs a value")

// describe shows a value in an error: strings quoted, as they were written.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	if n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// nonEmptyString decodes a string that must not be empty: an empty path or
// name is a mistake, not a way to say "none" (leave the key out for that).
func nonEmptyString(n *yaml.Node) (string, error) {
	v, err := stringValue(n)
	if err == nil && v == "" {
		err = errNoValue
	}
	return v, err
}

// scalarText is a value's text as written, whatever YAML would type it as:
// a password or a user name of digits is still text. Its errors never quote
// the value, which may be a secret.
func scalarText(n *yaml.Node) (string, error) {
	switch {
	case isNull(n):
		return "", errNoValue
	case n.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("must be a string (got %s)", describe(n))
	case n.Value == "":
		return "", errNoValue
	}
	return n.Value, nil
}

// intValue decodes an integer within [lo, hi]; want says the range in words
// ("must be 0, 1 or 2").
func intValue(n *yaml.Node, lo, hi int64, want string) (int64, error) {
	if isNull(n) {
		return 0, errNoValue
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!float" && strings.Trim(n.Value, "+-0123456789") == "" {
			return 0, fmt.Errorf("%s (got %s)", want, n.Value) // too long for an int64
		}
		return 0, fmt.Errorf("must be an integer (got %s)", describe(n))
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s (got %s)", want, n.Value)
	}
	return v, nil
}

func boolValue(n *yaml.Node) (bool, error) {
	if isNull(n) {
		return false, errNoValue
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, fmt.Errorf("must be true or false (got %s)", describe(n))
	}
	return b, nil
}

func stringValue(n *yaml.Node) (string, error) {
	if isNull(n) {
		return "", errNoValue
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", fmt.Errorf("must be a string (got %s)", describe(n))
	}
	return n.Value, nil
}

func durationValue(n *yaml.Node) (time.Duration, error) {
	if isNull(n) {
		return 0, errNoValue
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if d, err := time.ParseDuration(n.Value); err == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf(`must be a duration such as "5s", "500ms" or "1m30s" (got %s)`, describe(n))
}

// expirationUnits are the suffixes of Mosquitto's persistent_client_expiration,
// with its month of 30 days and year of 365.
var expirationUnits = map[byte]time.Duration{
	'h': time.Hour,
	'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
	'm': 30 * 24 * time.Hour,
	'y': 365 * 24 * time.Hour,
}

// expirationValue decodes Mosquitto's "<n>h|d|w|m|y"; a bare 0 means never.
// Like Mosquitto, n must be more than 0.
func expirationValue(n *yaml.Node) (time.Duration, error) {
	if isNull(n) {
		return 0, errNoValue
	}
	bad := fmt.Errorf(`must be a whole number followed by h, d, w, m or y, such as "2d", or 0 for never (got %s)`, describe(n))
	if n.Kind != yaml.ScalarNode {
		return 0, bad
	}
	if n.Tag == "!!int" {
		if n.Value == "0" {
			return 0, nil
		}
		return 0, bad
	}
	s := n.Value
	if n.Tag != "!!str" || len(s) < 2 {
		return 0, bad
	}
	unit, ok := expirationUnits[s[len(s)-1]]
	if !ok {
		return 0, bad
	}
	count, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || count <= 0 || s[0] == '+' {
		return 0, bad
	}
	if count > int64(math.MaxInt64/unit) {
		return 0, fmt.Errorf("must be at most 292y (got %q)", s)
	}
	return time.Duration(count) * unit, nil
}

// checkBindAddress returns why host cannot be a bind address, or "".
func checkBindAddress(host string) string {
	switch {
	case host == "":
		return ""
	case strings.ContainsAny(host, " \t\r\n/[]"):
		return fmt.Sprintf("must be a host name or an IP address (got %q)", host)
	case strings.Contains(host, ":"):
		if _, err := netip.ParseAddr(host); err == nil {
			return ""
		}
		return fmt.Sprintf("must be a host name or an IP address, without a port (got %q)", host)
	}
	return ""
}
