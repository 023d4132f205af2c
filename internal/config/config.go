// Package config loads gridmq's YAML configuration file: defaults, strict
// decoding and validation, with every error naming the file, the line and the
// key.
//
// Keys follow mosquitto.conf(5) so that an operator can move a Mosquitto
// configuration across line by line; docs/configuration.md has the mapping.
//
// config imports only the standard library and gopkg.in/yaml.v3. It must never
// import the broker: cmd/gridmq turns a Config into broker options.
package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the port of the default listener, the first of the
// 20200-20300 range sites open for MQTT.
const DefaultPort = 20200

// Config is the whole configuration of one broker. Field comments name the
// key in the file; the defaults are those of Default.
type Config struct {
	// Listeners (key "listener") are the TCP addresses to serve. A file that
	// has the key replaces the default listener, 127.0.0.1:20200.
	Listeners []Listener
	// DefaultListener is true while Listeners is still the default one.
	DefaultListener bool
	// AllowAnonymous (allow_anonymous) applies to every listener that has no
	// allow_anonymous of its own; nil leaves the choice to the listener's
	// address (see AnonymousAllowed).
	AllowAnonymous *bool
	// MaxQueuedMessages (max_queued_messages) bounds the QoS 1 and 2 messages
	// queued per session beyond those in flight; 0 means no limit.
	MaxQueuedMessages int
	// MaxQueuedBytes (max_queued_bytes) bounds the same messages by their
	// topic and payload bytes; 0 means no limit.
	MaxQueuedBytes int64
	// MaxInflightMessages (max_inflight_messages) bounds the QoS 1 and 2
	// messages in flight to each client; 0 means no limit (65535).
	MaxInflightMessages int
	// MessageSizeLimit (message_size_limit) is the largest PUBLISH payload
	// accepted, in bytes; 0 means no limit beyond the protocol's.
	MessageSizeLimit uint32
	// MaxPacketSize (max_packet_size) is the largest packet accepted from a
	// client, in bytes; 0 means the protocol maximum.
	MaxPacketSize uint32
	// MaxKeepalive (max_keepalive) caps the keep alive, in seconds, a client
	// may ask for.
	MaxKeepalive uint16
	// SysInterval (sys_interval, whole seconds) is how often $SYS topics are
	// published; 0 disables them.
	SysInterval time.Duration
	// RetainAvailable (retain_available) accepts retained messages.
	RetainAvailable bool
	// MaxQoS (max_qos) is the highest QoS the broker grants.
	MaxQoS byte
	// MaxTopicAlias (max_topic_alias) is the Topic Alias Maximum advertised to
	// MQTT 5 clients; 0 disables topic aliases.
	MaxTopicAlias uint16
	// AllowZeroLengthClientID (allow_zero_length_clientid) lets clients
	// connect with an empty client id and be given one.
	AllowZeroLengthClientID bool
	// PersistentClientExpiration (persistent_client_expiration, Mosquitto's
	// "<n>h|d|w|m|y") ends persistent sessions that set no expiry of their
	// own; 0 means never.
	PersistentClientExpiration time.Duration
	// QueueQoS0Messages (queue_qos0_messages) queues QoS 0 messages for
	// offline persistent sessions.
	QueueQoS0Messages bool
	// PasswordFile (password_file) is a Mosquitto password file; clients that
	// send a username are checked against it. "" means none.
	PasswordFile string
	// ACLFile (acl_file) is a Mosquitto ACL file; "" allows every topic.
	ACLFile string
	// StandardUser (mqtt_username) and StandardPassword (mqtt_password) name
	// a user added to the password file at start when it is absent, never
	// changed when present: the account every site's tooling uses.
	StandardUser     string
	StandardPassword string
	// AuthFailDelay (auth_fail_delay, a Go duration) holds back the CONNACK
	// that refuses bad credentials; 0 answers at once.
	AuthFailDelay time.Duration
	// Persistence (persistence) keeps durable state in a data dir: DataDir,
	// or the default one (cmd/gridmq). False keeps everything in memory.
	Persistence bool
	// DataDir (data_dir) is the directory the broker keeps durable state
	// in; "" means the default one.
	DataDir string
	// Durability (durability) is when a change is on disk before it is
	// acknowledged: "sync" (fsync first), "interval" (fsync every
	// DurabilityInterval) or "none" (left to the system).
	Durability string
	// DurabilityInterval (durability_interval) is the fsync period of
	// durability "interval", and the most it can lose.
	DurabilityInterval time.Duration
	// StallTimeout (stall_timeout, a Go duration such as "5s") is how long a
	// publisher waits on a subscriber whose queue is full before that
	// subscriber is treated as stalled. gridmq's own key; always > 0.
	StallTimeout time.Duration
}

// Listener is one TCP address to serve MQTT on.
type Listener struct {
	// Port is 1..65535, or 0 for any free port (the port chosen is printed at
	// start-up). Mosquitto's port 0 means a Unix socket; gridmq's does not.
	Port int
	// BindAddress (bind_address) is a host name or IP address; "" listens on
	// all interfaces, as Mosquitto does.
	BindAddress string
	// AllowAnonymous (allow_anonymous under the listener) overrides the
	// top-level allow_anonymous for this listener; nil means no override.
	AllowAnonymous *bool
}

// Default returns the configuration used for every key a file does not give:
// Mosquitto 2.0's defaults, and one listener on 127.0.0.1:20200.
func Default() *Config {
	return &Config{
		Listeners:               []Listener{{Port: DefaultPort, BindAddress: "127.0.0.1"}},
		DefaultListener:         true,
		MaxQueuedMessages:       1000,
		MaxInflightMessages:     20,
		MaxKeepalive:            65535,
		SysInterval:             10 * time.Second,
		RetainAvailable:         true,
		MaxQoS:                  2,
		MaxTopicAlias:           10,
		AllowZeroLengthClientID: true,
		StallTimeout:            5 * time.Second,
		Persistence:             true,
		Durability:              "sync",
		DurabilityInterval:      100 * time.Millisecond,
	}
}

// Addr is the listener's address as "host:port" for net.Listen.
func (l Listener) Addr() string {
	return net.JoinHostPort(l.BindAddress, strconv.Itoa(l.Port))
}

// AnonymousAllowed reports whether clients that send no username may connect
// on l. The listener's own allow_anonymous wins, then the top-level one; with
// neither, only the default listener (127.0.0.1:20200, when no listener is
// configured) admits them, and only when there is no password file: as
// Mosquitto 2.0 does, a listener someone configured asks for credentials.
func (c *Config) AnonymousAllowed(l Listener) bool {
	if l.AllowAnonymous != nil {
		return *l.AllowAnonymous
	}
	if c.AllowAnonymous != nil {
		return *c.AllowAnonymous
	}
	return c.DefaultListener && c.PasswordFile == ""
}

// IsLoopback reports whether host names only the local machine: an address in
// 127.0.0.0/8, ::1, or "localhost". The empty host (all interfaces) is not.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// ParseListener parses a listen address as "HOST:PORT", e.g. "0.0.0.0:20200",
// "[::1]:20200", ":20200" (all interfaces) or "127.0.0.1:0" (any free port).
func ParseListener(addr string) (Listener, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return Listener{}, &Error{Msg: "want HOST:PORT, like 127.0.0.1:20200 or :20200 for all interfaces (got " + strconv.Quote(addr) + ")"}
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return Listener{}, &Error{Msg: "port " + rangePort + " (got " + strconv.Quote(portText) + ")"}
	}
	if msg := checkBindAddress(host); msg != "" {
		return Listener{}, &Error{Msg: msg}
	}
	return Listener{Port: port, BindAddress: host}, nil
}
