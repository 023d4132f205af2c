// Package packet is the MQTT 3.1, 3.1.1 and 5.0 wire codec: fixed header,
// variable byte integers, properties, reason codes and every control packet.
//
// It imports only the standard library and knows nothing of the broker.
// Decoded packets may alias the buffer they were decoded from (see Reader);
// a caller that keeps one past the next read must copy what it keeps.
package packet

// Protocol levels carried in CONNECT (MQTT 3.1.1 section 3.1.2.2, MQTT 5.0 section 3.1.2.2).
const (
	V31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   byte = 5 // MQTT 5.0, protocol name "MQTT"
)

// Type is the control packet type, the high nibble of the first byte.
type Type byte

// Control packet types, MQTT 5.0 section 2.1.2.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15 // MQTT 5.0 only
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "INVALID"
}

// MaxRemainingLength is the largest value a four-byte variable byte integer holds
// (MQTT 5.0 section 1.5.5): 268,435,455.
const MaxRemainingLength = 268435455

// Packet is any decoded or to-be-encoded control packet.
type Packet interface {
	Type() Type
	// Encode appends the packet's wire form for the protocol level to dst.
	// It does not validate: the caller builds valid packets.
	Encode(dst []byte, version byte) []byte
}

// FixedHeader is the first 2-5 bytes of every packet (MQTT 5.0 section 2.1.1).
type FixedHeader struct {
	Type      Type
	Flags     byte // low nibble of byte 1
	Remaining int  // remaining length: the bytes after the fixed header
}

// Connect is the CONNECT packet (section 3.1).
type Connect struct {
	ProtocolName    string // "MQTT", or "MQIsdp" for 3.1
	ProtocolVersion byte   // V31, V311 or V5
	CleanStart      bool   // Clean Session in 3.1/3.1.1
	KeepAlive       uint16 // seconds
	ClientID        string
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
	Will            *Will // nil when the Will Flag is 0
	Properties      Properties
}

// Will is the will message carried in CONNECT.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties Properties // v5 will properties: Will Delay Interval, Message Expiry, ...
}

// Connack is the CONNACK packet (section 3.2). For protocol levels 3 and 4
// ReasonCode is sent through ReasonCode.V3ConnackCode.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet (section 3.3). When decoded by a Reader,
// Topic, Payload and the byte-slice properties alias the reader's buffer.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      []byte
	PacketID   uint16 // present only when QoS > 0
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP (sections 3.4-3.7); Kind says which.
// In v5 a ReasonCode of Success with no properties is encoded in the short form.
type Ack struct {
	Kind       Type
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Subscription is one topic filter and its options in SUBSCRIBE (section 3.8.3.1).
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0 send retained, 1 only if new subscription, 2 never
}

// Subscribe is the SUBSCRIBE packet (section 3.8).
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // v5: Subscription Identifier, User Property
	Subscriptions []Subscription
}

// Suback is the SUBACK packet (section 3.9). For 3.1.1 the codes are
// 0x00-0x02 or 0x80 (Failure).
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet (section 3.10).
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet (section 3.11). ReasonCodes are sent in v5 only.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet (section 3.12).
type Pingreq struct{}

// Pingresp is the PINGRESP packet (section 3.13).
type Pingresp struct{}

// Disconnect is the DISCONNECT packet (section 3.14). Before v5 it has no body.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the AUTH packet (section 3.15), v5 only.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

func (*Connect) Type() Type     { return CONNECT }
func (*Connack) Type() Type     { return CONNACK }
func (*Publish) Type() Type     { return PUBLISH }
func (a *Ack) Type() Type       { return a.Kind }
func (*Subscribe) Type() Type   { return SUBSCRIBE }
func (*Suback) Type() Type      { return SUBACK }
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }
func (*Unsuback) Type() Type    { return UNSUBACK }
func (*Pingreq) Type() Type     { return PINGREQ }
func (*Pingresp) Type() Type    { return PINGRESP }
func (*Disconnect) Type() Type  { return DISCONNECT }
func (*Auth) Type() Type        { return AUTH }
