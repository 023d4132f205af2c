package broker

import (
	"log/slog"
	"time"
)

// Options are the broker-wide limits and features. The zero value is not
// useful: start from DefaultOptions and change what the configuration says.
type Options struct {
	// MaxQueuedMessages bounds the QoS 1/2 messages queued per session beyond
	// those in flight (Mosquitto's max_queued_messages). 0 means no limit.
	MaxQueuedMessages int
	// MaxQueuedBytes bounds the same messages by topic and payload bytes;
	// 0 means no limit.
	MaxQueuedBytes int64
	// MaxInflightMessages bounds the QoS 1/2 messages in flight to each client,
	// further lowered by the client's Receive Maximum. It is also the Receive
	// Maximum the server advertises. 0 means 65535.
	MaxInflightMessages int
	// MessageSizeLimit is the largest PUBLISH payload accepted; 0 means no limit
	// beyond the protocol's.
	MessageSizeLimit uint32
	// MaxPacketSize is the largest packet accepted from a client, advertised
	// as Maximum Packet Size in v5 CONNACK; 0 means the protocol maximum.
	MaxPacketSize uint32
	// MaxKeepAlive caps the keep alive a client may ask for; v5 clients are
	// told the capped value in Server Keep Alive. 0 means 65535.
	MaxKeepAlive uint16
	// SysInterval is how often $SYS topics are published; 0 disables them.
	SysInterval time.Duration
	// RetainAvailable, MaxQoS and MaxTopicAlias are advertised in CONNACK and enforced.
	RetainAvailable bool
	MaxQoS          byte
	MaxTopicAlias   uint16
	// AllowZeroLengthClientID lets clients connect with an empty client id
	// (a server-assigned id is used).
	AllowZeroLengthClientID bool
	// PersistentClientExpiration ends persistent sessions of clients that set
	// no expiry of their own (3.1/3.1.1 Clean Session 0); 0 means never.
	PersistentClientExpiration time.Duration
	// StallTimeout is how long a publisher waits for a subscriber whose queue is
	// full before that subscriber is treated as stalled.
	StallTimeout time.Duration
	// QueueQoS0Messages queues QoS 0 messages for offline persistent sessions.
	QueueQoS0Messages bool
	// Logger receives one line per notable event; nil means slog.Default().
	Logger *slog.Logger
	// Version is reported in $SYS/broker/version.
	Version string
	// Authenticator checks the user name and password of a CONNECT; nil
	// admits only anonymous clients, where a listener allows them.
	Authenticator Authenticator
	// Authorizer decides publish, subscribe and delivery; nil allows all.
	Authorizer Authorizer
	// AuthFailDelay holds back a CONNACK that refuses credentials.
	AuthFailDelay time.Duration
	// Durable, when not nil, keeps retained messages across restarts; a
	// QoS 1 or 2 publisher's acknowledgement waits until its retained
	// message is durable. Call Server.Recover before Serve.
	Durable Durable
}

// DefaultOptions are Mosquitto 2.0's defaults where it has one.
func DefaultOptions() Options {
	return Options{
		MaxQueuedMessages:       1000,
		MaxInflightMessages:     20,
		MaxKeepAlive:            65535,
		SysInterval:             10 * time.Second,
		RetainAvailable:         true,
		MaxQoS:                  2,
		MaxTopicAlias:           10,
		AllowZeroLengthClientID: true,
		StallTimeout:            5 * time.Second,
		Version:                 "dev",
	}
}

// ListenerOptions are the settings of one listener passed to Serve.
type ListenerOptions struct {
	// AllowAnonymous admits clients that send no username.
	AllowAnonymous bool
}
