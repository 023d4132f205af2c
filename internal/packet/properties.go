package packet

// PropertyID identifies an MQTT 5 property (section 2.2.2.2, table 2-4).
type PropertyID byte

const (
	PropPayloadFormat        PropertyID = 0x01 // byte; PUBLISH, Will
	PropMessageExpiry        PropertyID = 0x02 // four-byte integer; PUBLISH, Will
	PropContentType          PropertyID = 0x03 // UTF-8 string; PUBLISH, Will
	PropResponseTopic        PropertyID = 0x08 // UTF-8 string; PUBLISH, Will
	PropCorrelationData      PropertyID = 0x09 // binary data; PUBLISH, Will
	PropSubscriptionID       PropertyID = 0x0B // variable byte integer 1..268,435,455; PUBLISH (repeatable), SUBSCRIBE
	PropSessionExpiry        PropertyID = 0x11 // four-byte integer; CONNECT, CONNACK, DISCONNECT
	PropAssignedClientID     PropertyID = 0x12 // UTF-8 string; CONNACK
	PropServerKeepAlive      PropertyID = 0x13 // two-byte integer; CONNACK
	PropAuthMethod           PropertyID = 0x15 // UTF-8 string; CONNECT, CONNACK, AUTH
	PropAuthData             PropertyID = 0x16 // binary data; CONNECT, CONNACK, AUTH
	PropRequestProblemInfo   PropertyID = 0x17 // byte 0/1; CONNECT
	PropWillDelay            PropertyID = 0x18 // four-byte integer; Will
	PropRequestResponseInfo  PropertyID = 0x19 // byte 0/1; CONNECT
	PropResponseInfo         PropertyID = 0x1A // UTF-8 string; CONNACK
	PropServerReference      PropertyID = 0x1C // UTF-8 string; CONNACK, DISCONNECT
	PropReasonString         PropertyID = 0x1F // UTF-8 string; CONNACK, acks, SUBACK, UNSUBACK, DISCONNECT, AUTH
	PropReceiveMaximum       PropertyID = 0x21 // two-byte integer, not 0; CONNECT, CONNACK
	PropTopicAliasMaximum    PropertyID = 0x22 // two-byte integer; CONNECT, CONNACK
	PropTopicAlias           PropertyID = 0x23 // two-byte integer, not 0; PUBLISH
	PropMaximumQoS           PropertyID = 0x24 // byte 0/1; CONNACK
	PropRetainAvailable      PropertyID = 0x25 // byte 0/1; CONNACK
	PropUser                 PropertyID = 0x26 // UTF-8 string pair; every packet with properties (repeatable)
	PropMaximumPacketSize    PropertyID = 0x27 // four-byte integer, not 0; CONNECT, CONNACK
	PropWildcardSubAvailable PropertyID = 0x28 // byte 0/1; CONNACK
	PropSubIDAvailable       PropertyID = 0x29 // byte 0/1; CONNACK
	PropSharedSubAvailable   PropertyID = 0x2A // byte 0/1; CONNACK
)

// UserProperty is one User Property name/value pair; order and duplicates are preserved.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5 properties of any packet. A scalar property is
// on the wire only when its bit is set (Has/Set), so zero values stay
// distinguishable from absence without pointers. SubscriptionIDs and User are
// present when non-empty.
type Properties struct {
	present uint64 // bit n set when property n is present

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether the property was present (decoded) or set (to encode).
func (p *Properties) Has(id PropertyID) bool {
	switch id {
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	case PropUser:
		return len(p.User) > 0
	}
	return p.present&(1<<id) != 0
}

// Set marks a scalar property present so that it is encoded.
func (p *Properties) Set(id PropertyID) { p.present |= 1 << id }

// Clear marks a scalar property absent.
func (p *Properties) Clear(id PropertyID) { p.present &^= 1 << id }

// Empty reports whether no property is present.
func (p *Properties) Empty() bool {
	return p.present == 0 && len(p.SubscriptionIDs) == 0 && len(p.User) == 0
}
