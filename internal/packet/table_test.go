package packet

import (
	"bytes"
	"fmt"
)

// wire builds raw packet bytes from ints (each one byte) and strings, so the
// table below reads like the figures in the specification. Remaining
// lengths are written out by hand on purpose: they check the encoder.
func wire(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			if v < 0 || v > 0xFF {
				panic(fmt.Sprintf("wire: %d is not a byte", v))
			}
			b = append(b, byte(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("wire: unexpected %T", p))
		}
	}
	return b
}

// props builds a Properties with the given scalar properties marked present.
func props(p Properties, present ...PropertyID) Properties {
	for _, id := range present {
		p.Set(id)
	}
	return p
}

// tpacket is one row of the codec table: raw bytes and the packet they are.
type tpacket struct {
	name    string
	version byte
	raw     []byte
	pkt     Packet
	// decodeOnly: raw is a valid wire form that decodes to pkt, but Encode
	// writes the shorter form of another row.
	decodeOnly bool
	// encodeOnly: Encode maps pkt onto raw, which decodes to something
	// else (a v5 reason code sent to a 3.1.1 client, say).
	encodeOnly bool
}

var payload200 = bytes.Repeat([]byte{'x'}, 200)

// validPackets drives the encoder, decoder, Reader and fuzz seed tests.
var validPackets = []tpacket{
	// CONNECT
	{name: "connect v311 minimal", version: V311,
		raw: wire(0x10, 15, 0, 4, "MQTT", 4, 0x02, 0, 30, 0, 3, "zen"),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 30, ClientID: "zen"}},
	{name: "connect v31", version: V31,
		raw: wire(0x10, 18, 0, 6, "MQIsdp", 3, 0x02, 0, 60, 0, 4, "mosq"),
		pkt: &Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, CleanStart: true, KeepAlive: 60, ClientID: "mosq"}},
	{name: "connect v311 will user password", version: V311,
		// flags: user, password, will retain, will QoS 1, will, clean
		raw: wire(0x10, 44, 0, 4, "MQTT", 4, 0xEE, 0, 20,
			0, 3, "zen", 0, 3, "lwt", 0, 9, "not again", 0, 5, "mochi", 0, 4, ",.<>"),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 20, ClientID: "zen",
			Will:         &Will{Topic: "lwt", Payload: []byte("not again"), QoS: 1, Retain: true},
			UsernameFlag: true, Username: "mochi", PasswordFlag: true, Password: []byte(",.<>")}},
	{name: "connect v311 empty client id no clean", version: V311,
		raw: wire(0x10, 12, 0, 4, "MQTT", 4, 0x00, 0, 0, 0, 0),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, ClientID: ""}},
	{name: "connect v5 properties and will properties", version: V5,
		// flags: user, password, will QoS 1, will, clean
		raw: wire(0x10, 120, 0, 4, "MQTT", 5, 0xCE, 0, 60,
			47,
			0x11, 0, 0, 0, 120, // session expiry
			0x15, 0, 3, "SHA", // authentication method
			0x16, 0, 2, 1, 2, // authentication data
			0x17, 1, // request problem information
			0x19, 1, // request response information
			0x21, 0, 20, // receive maximum
			0x22, 0, 10, // topic alias maximum
			0x26, 0, 5, "hello", 0, 6, "世界", // user property
			0x27, 0, 0, 4, 0, // maximum packet size
			0, 3, "zen",
			36,
			0x01, 1, // payload format indicator
			0x02, 0, 0, 0, 60, // message expiry
			0x03, 0, 4, "text", // content type
			0x08, 0, 3, "a/b", // response topic
			0x09, 0, 1, 7, // correlation data
			0x18, 0, 0, 0, 5, // will delay
			0x26, 0, 1, "k", 0, 1, "v",
			0, 3, "lwt", 0, 2, "hi", 0, 4, "user", 0, 3, 1, 2, 3),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 60, ClientID: "zen",
			Properties: props(Properties{SessionExpiry: 120, AuthMethod: "SHA", AuthData: []byte{1, 2},
				RequestProblemInfo: 1, RequestResponseInfo: 1, ReceiveMaximum: 20, TopicAliasMaximum: 10,
				User: []UserProperty{{"hello", "世界"}}, MaximumPacketSize: 1024},
				PropSessionExpiry, PropAuthMethod, PropAuthData, PropRequestProblemInfo, PropRequestResponseInfo,
				PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumPacketSize),
			Will: &Will{Topic: "lwt", Payload: []byte("hi"), QoS: 1,
				Properties: props(Properties{PayloadFormat: 1, MessageExpiry: 60, ContentType: "text",
					ResponseTopic: "a/b", CorrelationData: []byte{7}, WillDelay: 5, User: []UserProperty{{"k", "v"}}},
					PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData, PropWillDelay)},
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte{1, 2, 3}}},
	{name: "connect v5 password without user name", version: V5,
		raw: wire(0x10, 17, 0, 4, "MQTT", 5, 0x42, 0, 0, 0, 0, 0, 0, 2, "pw"),
		pkt: &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, PasswordFlag: true, Password: []byte("pw")}},

	// CONNACK
	{name: "connack v311 session present", version: V311, raw: wire(0x20, 2, 1, 0),
		pkt: &Connack{SessionPresent: true, ReasonCode: Success}},
	{name: "connack v311 not authorized", version: V311, raw: wire(0x20, 2, 0, 5),
		pkt: &Connack{ReasonCode: NotAuthorized}},
	{name: "connack v31 unacceptable protocol version", version: V31, raw: wire(0x20, 2, 0, 1),
		pkt: &Connack{ReasonCode: UnsupportedProtocolVersion}},
	{name: "connack v31 drops session present", version: V31, raw: wire(0x20, 2, 0, 0),
		pkt: &Connack{SessionPresent: true}, encodeOnly: true},
	{name: "connack v311 banned sent as not authorized", version: V311, raw: wire(0x20, 2, 0, 5),
		pkt: &Connack{ReasonCode: Banned}, encodeOnly: true},
	{name: "connack v311 quota exceeded sent as server unavailable", version: V311, raw: wire(0x20, 2, 0, 3),
		pkt: &Connack{ReasonCode: QuotaExceeded}, encodeOnly: true},
	{name: "connack v5 minimal", version: V5, raw: wire(0x20, 3, 0, 0, 0), pkt: &Connack{}},
	{name: "connack v5 not authorized", version: V5, raw: wire(0x20, 3, 0, 0x87, 0),
		pkt: &Connack{ReasonCode: NotAuthorized}},
	{name: "connack v5 every property", version: V5,
		raw: wire(0x20, 71, 1, 0, 68,
			0x11, 0, 0, 0x0E, 0x10, // session expiry 3600
			0x12, 0, 6, "auto-1", // assigned client identifier
			0x13, 0, 30, // server keep alive
			0x15, 0, 3, "SHA", // authentication method
			0x16, 0, 1, 9, // authentication data
			0x1A, 0, 4, "resp", // response information
			0x1C, 0, 5, "other", // server reference
			0x1F, 0, 2, "ok", // reason string
			0x21, 0x01, 0x00, // receive maximum 256
			0x22, 0, 5, // topic alias maximum
			0x24, 1, // maximum QoS
			0x25, 1, // retain available
			0x27, 0, 1, 0, 0, // maximum packet size 65536
			0x28, 1, // wildcard subscription available
			0x29, 0, // subscription identifiers available
			0x2A, 1), // shared subscription available
		pkt: &Connack{SessionPresent: true, Properties: props(Properties{SessionExpiry: 3600,
			AssignedClientID: "auto-1", ServerKeepAlive: 30, AuthMethod: "SHA", AuthData: []byte{9},
			ResponseInfo: "resp", ServerReference: "other", ReasonString: "ok", ReceiveMaximum: 256,
			TopicAliasMaximum: 5, MaximumQoS: 1, RetainAvailable: 1, MaximumPacketSize: 65536,
			WildcardSubAvailable: 1, SubIDAvailable: 0, SharedSubAvailable: 1},
			PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive, PropAuthMethod, PropAuthData,
			PropResponseInfo, PropServerReference, PropReasonString, PropReceiveMaximum, PropTopicAliasMaximum,
			PropMaximumQoS, PropRetainAvailable, PropMaximumPacketSize, PropWildcardSubAvailable,
			PropSubIDAvailable, PropSharedSubAvailable)}},

	// PUBLISH
	{name: "publish v311 qos 0", version: V311, raw: wire(0x30, 12, 0, 5, "a/b/c", "hello"),
		pkt: &Publish{Topic: []byte("a/b/c"), Payload: []byte("hello")}},
	{name: "publish v311 qos 1 dup retain", version: V311, raw: wire(0x3B, 9, 0, 3, "a/b", 0, 7, "hi"),
		pkt: &Publish{Dup: true, QoS: 1, Retain: true, Topic: []byte("a/b"), PacketID: 7, Payload: []byte("hi")}},
	{name: "publish v311 qos 2 empty payload", version: V311, raw: wire(0x34, 7, 0, 3, "a/b", 0, 10),
		pkt: &Publish{QoS: 2, Topic: []byte("a/b"), PacketID: 10}},
	{name: "publish v311 two-byte remaining length", version: V311,
		raw: wire(0x30, 0xCB, 0x01, 0, 1, "t", payload200),
		pkt: &Publish{Topic: []byte("t"), Payload: payload200}},
	{name: "publish v31 qos 1", version: V31, raw: wire(0x32, 8, 0, 3, "a/b", 0xFF, 0xFF, "!"),
		pkt: &Publish{QoS: 1, Topic: []byte("a/b"), PacketID: 0xFFFF, Payload: []byte("!")}},
	{name: "publish v5 qos 0", version: V5, raw: wire(0x30, 8, 0, 3, "a/b", 0, "hi"),
		pkt: &Publish{Topic: []byte("a/b"), Payload: []byte("hi")}},
	{name: "publish v5 qos 1 properties", version: V5,
		raw: wire(0x32, 51, 0, 3, "a/b", 0, 1, 41,
			0x01, 1, // payload format indicator
			0x02, 0, 0, 0x0E, 0x10, // message expiry 3600
			0x03, 0, 4, "json", // content type
			0x08, 0, 3, "r/t", // response topic
			0x09, 0, 3, 1, 2, 3, // correlation data
			0x0B, 1, // subscription identifier 1
			0x0B, 0xAC, 0x02, // subscription identifier 300
			0x23, 0, 5, // topic alias
			0x26, 0, 1, "a", 0, 1, "b", // user property
			"{}"),
		pkt: &Publish{QoS: 1, Topic: []byte("a/b"), PacketID: 1, Payload: []byte("{}"),
			Properties: props(Properties{PayloadFormat: 1, MessageExpiry: 3600, ContentType: "json",
				ResponseTopic: "r/t", CorrelationData: []byte{1, 2, 3}, SubscriptionIDs: []uint32{1, 300},
				TopicAlias: 5, User: []UserProperty{{"a", "b"}}},
				PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData, PropTopicAlias)}},
	{name: "publish v5 empty topic with alias", version: V5,
		raw: wire(0x30, 7, 0, 0, 3, 0x23, 0, 5, "x"),
		pkt: &Publish{Topic: []byte{}, Payload: []byte("x"), Properties: props(Properties{TopicAlias: 5}, PropTopicAlias)}},
	{name: "publish v5 topic alias 0 is decoded", version: V5,
		raw: wire(0x30, 7, 0, 1, "t", 3, 0x23, 0, 0),
		pkt: &Publish{Topic: []byte("t"), Properties: props(Properties{}, PropTopicAlias)}},

	// PUBACK, PUBREC, PUBREL, PUBCOMP
	{name: "puback v311", version: V311, raw: wire(0x40, 2, 0, 7), pkt: &Ack{Kind: PUBACK, PacketID: 7}},
	{name: "pubrec v311", version: V311, raw: wire(0x50, 2, 0, 7), pkt: &Ack{Kind: PUBREC, PacketID: 7}},
	{name: "pubrel v311", version: V311, raw: wire(0x62, 2, 0, 7), pkt: &Ack{Kind: PUBREL, PacketID: 7}},
	{name: "pubcomp v311", version: V311, raw: wire(0x70, 2, 0, 7), pkt: &Ack{Kind: PUBCOMP, PacketID: 7}},
	{name: "pubrel v31", version: V31, raw: wire(0x62, 2, 1, 0), pkt: &Ack{Kind: PUBREL, PacketID: 256}},
	{name: "puback v311 drops reason code", version: V311, raw: wire(0x40, 2, 0, 7),
		pkt: &Ack{Kind: PUBACK, PacketID: 7, ReasonCode: NotAuthorized}, encodeOnly: true},
	{name: "puback v5 short form", version: V5, raw: wire(0x40, 2, 0, 7), pkt: &Ack{Kind: PUBACK, PacketID: 7}},
	{name: "puback v5 reason code", version: V5, raw: wire(0x40, 3, 0, 7, 0x10),
		pkt: &Ack{Kind: PUBACK, PacketID: 7, ReasonCode: NoMatchingSubscribers}},
	{name: "puback v5 success with property length", version: V5, raw: wire(0x40, 4, 0, 7, 0, 0),
		pkt: &Ack{Kind: PUBACK, PacketID: 7}, decodeOnly: true},
	{name: "puback v5 success without property length", version: V5, raw: wire(0x40, 3, 0, 7, 0),
		pkt: &Ack{Kind: PUBACK, PacketID: 7}, decodeOnly: true},
	{name: "pubrec v5 properties", version: V5,
		raw: wire(0x50, 16, 0, 7, 0x80, 12, 0x1F, 0, 2, "no", 0x26, 0, 1, "k", 0, 1, "v"),
		pkt: &Ack{Kind: PUBREC, PacketID: 7, ReasonCode: UnspecifiedError,
			Properties: props(Properties{ReasonString: "no", User: []UserProperty{{"k", "v"}}}, PropReasonString)}},
	{name: "pubrel v5 not found", version: V5, raw: wire(0x62, 3, 0, 7, 0x92),
		pkt: &Ack{Kind: PUBREL, PacketID: 7, ReasonCode: PacketIdentifierNotFound}},
	{name: "pubcomp v5", version: V5, raw: wire(0x70, 2, 0, 7), pkt: &Ack{Kind: PUBCOMP, PacketID: 7}},

	// SUBSCRIBE
	{name: "subscribe v311", version: V311, raw: wire(0x82, 14, 0, 15, 0, 3, "a/b", 0, 0, 3, "d/#", 2),
		pkt: &Subscribe{PacketID: 15, Subscriptions: []Subscription{{Filter: "a/b"}, {Filter: "d/#", QoS: 2}}}},
	{name: "subscribe v31", version: V31, raw: wire(0x82, 8, 0, 1, 0, 3, "a/+", 1),
		pkt: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}}}},
	{name: "subscribe v311 drops v5 options", version: V311, raw: wire(0x82, 8, 0, 1, 0, 3, "a/+", 1),
		pkt:        &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1, NoLocal: true, RetainHandling: 2}}},
		encodeOnly: true},
	{name: "subscribe v5 options and properties", version: V5,
		raw: wire(0x82, 31, 0, 15, 9, 0x0B, 5, 0x26, 0, 1, "k", 0, 1, "v",
			0, 3, "a/b", 0x2D, // QoS 1, no local, retain as published, retain handling 2
			0, 10, "$share/g/x", 0x00),
		pkt: &Subscribe{PacketID: 15,
			Properties: Properties{SubscriptionIDs: []uint32{5}, User: []UserProperty{{"k", "v"}}},
			Subscriptions: []Subscription{
				{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/x"}}}},

	// SUBACK
	{name: "suback v311", version: V311, raw: wire(0x90, 6, 0, 15, 0, 1, 2, 0x80),
		pkt: &Suback{PacketID: 15, ReasonCodes: []ReasonCode{Success, GrantedQoS1, GrantedQoS2, UnspecifiedError}}},
	{name: "suback v311 maps failures to 0x80", version: V311, raw: wire(0x90, 4, 0, 15, 0x80, 1),
		pkt: &Suback{PacketID: 15, ReasonCodes: []ReasonCode{NotAuthorized, GrantedQoS1}}, encodeOnly: true},
	{name: "suback v5", version: V5, raw: wire(0x90, 11, 0, 15, 5, 0x1F, 0, 2, "ok", 1, 0x8F, 0xA2),
		pkt: &Suback{PacketID: 15, Properties: props(Properties{ReasonString: "ok"}, PropReasonString),
			ReasonCodes: []ReasonCode{GrantedQoS1, TopicFilterInvalid, WildcardSubscriptionsNotSupported}}},

	// UNSUBSCRIBE
	{name: "unsubscribe v311", version: V311, raw: wire(0xA2, 12, 0, 16, 0, 3, "a/b", 0, 3, "c/d"),
		pkt: &Unsubscribe{PacketID: 16, Filters: []string{"a/b", "c/d"}}},
	{name: "unsubscribe v5", version: V5, raw: wire(0xA2, 15, 0, 16, 7, 0x26, 0, 1, "k", 0, 1, "v", 0, 3, "a/b"),
		pkt: &Unsubscribe{PacketID: 16, Properties: Properties{User: []UserProperty{{"k", "v"}}}, Filters: []string{"a/b"}}},

	// UNSUBACK
	{name: "unsuback v311", version: V311, raw: wire(0xB0, 2, 0, 16), pkt: &Unsuback{PacketID: 16}},
	{name: "unsuback v311 drops reason codes", version: V311, raw: wire(0xB0, 2, 0, 16),
		pkt: &Unsuback{PacketID: 16, ReasonCodes: []ReasonCode{Success}}, encodeOnly: true},
	{name: "unsuback v5", version: V5, raw: wire(0xB0, 5, 0, 16, 0, 0x00, 0x11),
		pkt: &Unsuback{PacketID: 16, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}},

	// PINGREQ, PINGRESP
	{name: "pingreq v311", version: V311, raw: wire(0xC0, 0), pkt: &Pingreq{}},
	{name: "pingresp v311", version: V311, raw: wire(0xD0, 0), pkt: &Pingresp{}},
	{name: "pingreq v5", version: V5, raw: wire(0xC0, 0), pkt: &Pingreq{}},
	{name: "pingresp v31", version: V31, raw: wire(0xD0, 0), pkt: &Pingresp{}},

	// DISCONNECT
	{name: "disconnect v311", version: V311, raw: wire(0xE0, 0), pkt: &Disconnect{}},
	{name: "disconnect v311 drops reason code", version: V311, raw: wire(0xE0, 0),
		pkt: &Disconnect{ReasonCode: ServerShuttingDown}, encodeOnly: true},
	{name: "disconnect v5 normal", version: V5, raw: wire(0xE0, 0), pkt: &Disconnect{}},
	{name: "disconnect v5 with will", version: V5, raw: wire(0xE0, 1, 0x04),
		pkt: &Disconnect{ReasonCode: DisconnectWithWill}},
	{name: "disconnect v5 properties", version: V5,
		raw: wire(0xE0, 17, 0x8B, 15, 0x11, 0, 0, 0, 0, 0x1C, 0, 1, "x", 0x1F, 0, 3, "bye"),
		pkt: &Disconnect{ReasonCode: ServerShuttingDown, Properties: props(Properties{ServerReference: "x", ReasonString: "bye"},
			PropSessionExpiry, PropServerReference, PropReasonString)}},
	{name: "disconnect v5 normal long form", version: V5, raw: wire(0xE0, 2, 0, 0), pkt: &Disconnect{}, decodeOnly: true},

	// AUTH
	{name: "auth v5 success", version: V5, raw: wire(0xF0, 0), pkt: &Auth{}},
	{name: "auth v5 continue", version: V5,
		raw: wire(0xF0, 18, 0x18, 16, 0x15, 0, 3, "SHA", 0x16, 0, 2, 1, 2, 0x1F, 0, 2, "go"),
		pkt: &Auth{ReasonCode: ContinueAuthentication, Properties: props(Properties{AuthMethod: "SHA",
			AuthData: []byte{1, 2}, ReasonString: "go"}, PropAuthMethod, PropAuthData, PropReasonString)}},
	{name: "auth v5 re-authenticate", version: V5, raw: wire(0xF0, 2, 0x19, 0),
		pkt: &Auth{ReasonCode: ReAuthenticate}},
}

// tinvalid is a packet that must be refused with code. Each names the
// normative statement it breaks where the specification numbers one.
type tinvalid struct {
	name    string
	version byte
	raw     []byte
	code    ReasonCode
}

// connectBody builds a CONNECT with the given level and flags byte, keep
// alive 60, then rest; the remaining length is computed because these rows
// are about the fields, not the length.
func connectBody(level byte, flags byte, rest ...any) []byte {
	name := "MQTT"
	if level == V31 {
		name = "MQIsdp"
	}
	body := wire(append([]any{0, len(name), name, int(level), int(flags), 0, 60}, rest...)...)
	return wire(0x10, len(body), body)
}

var invalidPackets = []tinvalid{
	// Fixed header
	{"reserved type 0", V311, wire(0x00, 0), MalformedPacket},
	{"publish QoS 3", V311, wire(0x36, 5, 0, 1, "a", 0, 1), MalformedPacket},        // [MQTT-3.3.1-4]
	{"publish DUP with QoS 0", V311, wire(0x38, 3, 0, 1, "a"), MalformedPacket},     // [MQTT-3.3.1-2]
	{"pubrel flags 0", V311, wire(0x60, 2, 0, 1), MalformedPacket},                  // [MQTT-3.6.1-1]
	{"subscribe flags 0", V311, wire(0x80, 6, 0, 1, 0, 1, "a", 0), MalformedPacket}, // [MQTT-3.8.1-1]
	{"unsubscribe flags 0", V311, wire(0xA0, 5, 0, 1, 0, 1, "a"), MalformedPacket},  // [MQTT-3.10.1-1]
	{"connack flags set", V311, wire(0x21, 2, 0, 0), MalformedPacket},               // [MQTT-2.1.3-1]
	{"pingreq flags set", V5, wire(0xC8, 0), MalformedPacket},                       // [MQTT-2.1.3-1]
	{"remaining length of five bytes", V311, wire(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 1), MalformedPacket},
	{"remaining length not minimal", V311, wire(0xC0, 0x80, 0x00), MalformedPacket},               // [MQTT-1.5.5-1]
	{"remaining length not minimal 3 bytes", V311, wire(0x30, 0x85, 0x80, 0x00), MalformedPacket}, // [MQTT-1.5.5-1]

	// Strings and lengths
	{"publish topic overruns", V311, wire(0x30, 3, 0, 5, "a"), MalformedPacket},
	{"publish topic invalid UTF-8", V311, wire(0x30, 4, 0, 2, 0xC3, 0x28), MalformedPacket},   // [MQTT-1.5.4-1]
	{"publish topic surrogate", V311, wire(0x30, 5, 0, 3, 0xED, 0xA0, 0x80), MalformedPacket}, // [MQTT-1.5.4-1]
	{"publish topic U+0000", V311, wire(0x30, 4, 0, 2, "a", 0), MalformedPacket},              // [MQTT-1.5.4-2]
	{"publish QoS 1 packet id 0", V311, wire(0x32, 5, 0, 1, "a", 0, 0), ProtocolError},        // [MQTT-2.2.1-3]
	{"publish QoS 1 without packet id", V311, wire(0x32, 3, 0, 1, "a"), MalformedPacket},
	{"publish v5 without property length", V5, wire(0x30, 3, 0, 1, "a"), MalformedPacket},

	// Properties
	{"property length overruns", V5, wire(0x30, 5, 0, 1, "a", 5, 1), MalformedPacket},
	{"unknown property", V5, wire(0x30, 6, 0, 1, "a", 2, 0x7F, 0), MalformedPacket},
	{"property identifier 0", V5, wire(0x30, 6, 0, 1, "a", 2, 0x00, 0), MalformedPacket},
	{"property identifier not minimal", V5, wire(0x30, 6, 0, 1, "a", 2, 0x81, 0x00), MalformedPacket}, // [MQTT-1.5.5-1]
	{"property value truncated", V5, wire(0x30, 7, 0, 1, "a", 3, 0x02, 0, 0), MalformedPacket},
	{"property user key invalid UTF-8", V5, wire(0x30, 11, 0, 1, "a", 7, 0x26, 0, 1, 0xFF, 0, 1, "v"), MalformedPacket}, // [MQTT-1.5.4-1]
	{"session expiry in publish", V5, wire(0x30, 9, 0, 1, "a", 5, 0x11, 0, 0, 0, 0), MalformedPacket},
	{"will delay in publish", V5, wire(0x30, 9, 0, 1, "a", 5, 0x18, 0, 0, 0, 0), MalformedPacket},
	{"payload format twice", V5, wire(0x30, 8, 0, 1, "a", 4, 0x01, 0, 0x01, 0), ProtocolError},
	{"topic alias twice", V5, wire(0x30, 10, 0, 1, "a", 6, 0x23, 0, 1, 0x23, 0, 2), ProtocolError},
	{"payload format 2", V5, wire(0x30, 6, 0, 1, "a", 2, 0x01, 2), ProtocolError},
	{"subscription identifier 0", V5, wire(0x30, 6, 0, 1, "a", 2, 0x0B, 0), ProtocolError},

	// CONNECT
	{"connect reserved flag", V311, connectBody(V311, 0x03, 0, 1, "a"), MalformedPacket},                                      // [MQTT-3.1.2-3]
	{"connect v5 reserved flag", V5, connectBody(V5, 0x03, 0, 0, 1, "a"), MalformedPacket},                                    // [MQTT-3.1.2-3]
	{"connect unknown protocol name", V311, wire(0x10, 13, 0, 4, "MQTX", 4, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion}, // [MQTT-3.1.2-1]
	{"connect unknown level", V311, wire(0x10, 13, 0, 4, "MQTT", 6, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},         // [MQTT-3.1.2-2]
	{"connect MQTT name with level 3", V311, wire(0x10, 13, 0, 4, "MQTT", 3, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect MQIsdp name with level 4", V311, wire(0x10, 15, 0, 6, "MQIsdp", 4, 2, 0, 60, 0, 1, "a"), UnsupportedProtocolVersion},
	{"connect will QoS 3", V311, connectBody(V311, 0x1E, 0, 1, "a", 0, 1, "t", 0, 0), MalformedPacket},         // [MQTT-3.1.2-14], v5 [MQTT-3.1.2-12]
	{"connect will QoS without will flag", V311, connectBody(V311, 0x0A, 0, 1, "a"), ProtocolError},            // [MQTT-3.1.2-13], v5 [MQTT-3.1.2-11]
	{"connect will retain without will flag", V5, connectBody(V5, 0x22, 0, 0, 1, "a"), ProtocolError},          // [MQTT-3.1.2-15], v5 [MQTT-3.1.2-13]
	{"connect password without user name", V311, connectBody(V311, 0x42, 0, 1, "a", 0, 1, "p"), ProtocolError}, // [MQTT-3.1.2-22]
	{"connect v31 password without user name", V31, connectBody(V31, 0x42, 0, 1, "a", 0, 1, "p"), ProtocolError},
	{"connect without client id", V311, connectBody(V311, 0x02), MalformedPacket},
	{"connect user name flag without user name", V311, connectBody(V311, 0x82, 0, 1, "a"), MalformedPacket},
	{"connect will flag without will topic", V311, connectBody(V311, 0x06, 0, 1, "a"), MalformedPacket},
	{"connect trailing byte", V311, connectBody(V311, 0x02, 0, 1, "a", 0), MalformedPacket},
	{"connect client id invalid UTF-8", V311, connectBody(V311, 0x02, 0, 1, 0xFE), MalformedPacket}, // [MQTT-1.5.4-1]
	{"connect v5 receive maximum 0", V5, connectBody(V5, 0x02, 3, 0x21, 0, 0, 0, 1, "a"), ProtocolError},
	{"connect v5 maximum packet size 0", V5, connectBody(V5, 0x02, 5, 0x27, 0, 0, 0, 0, 0, 1, "a"), ProtocolError},
	{"connect v5 request problem information 2", V5, connectBody(V5, 0x02, 2, 0x17, 2, 0, 1, "a"), ProtocolError},
	{"connect v5 request response information 2", V5, connectBody(V5, 0x02, 2, 0x19, 2, 0, 1, "a"), ProtocolError},
	{"connect v5 session expiry twice", V5, connectBody(V5, 0x02, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 1, "a"), ProtocolError},
	{"connect v5 will delay in connect properties", V5, connectBody(V5, 0x02, 5, 0x18, 0, 0, 0, 1, 0, 1, "a"), MalformedPacket},
	{"connect v5 session expiry in will properties", V5,
		connectBody(V5, 0x06, 0, 0, 1, "a", 5, 0x11, 0, 0, 0, 1, 0, 1, "t", 0, 0), MalformedPacket},
	{"connect v5 will payload format 3", V5,
		connectBody(V5, 0x06, 0, 0, 1, "a", 2, 0x01, 3, 0, 1, "t", 0, 0), ProtocolError},

	// CONNACK
	{"connack reserved flags", V311, wire(0x20, 2, 0x02, 0), MalformedPacket},
	{"connack v5 reserved flags", V5, wire(0x20, 3, 0x80, 0, 0), MalformedPacket},
	{"connack reserved return code", V311, wire(0x20, 2, 0, 6), ProtocolError},
	{"connack trailing byte", V311, wire(0x20, 3, 0, 0, 0), MalformedPacket},
	{"connack short", V311, wire(0x20, 1, 0), MalformedPacket},
	{"connack v5 without property length", V5, wire(0x20, 2, 0, 0), MalformedPacket},
	{"connack v5 maximum QoS 2", V5, wire(0x20, 5, 0, 0, 2, 0x24, 2), ProtocolError},
	{"connack v5 retain available 2", V5, wire(0x20, 5, 0, 0, 2, 0x25, 2), ProtocolError},
	{"connack v5 shared subscription available 5", V5, wire(0x20, 5, 0, 0, 2, 0x2A, 5), ProtocolError},
	{"connack v5 topic alias", V5, wire(0x20, 6, 0, 0, 3, 0x23, 0, 1), MalformedPacket},
	{"connack v5 receive maximum 0", V5, wire(0x20, 6, 0, 0, 3, 0x21, 0, 0), ProtocolError},

	// Acknowledgements
	{"puback packet id 0", V311, wire(0x40, 2, 0, 0), ProtocolError}, // [MQTT-2.2.1-3]
	{"puback v5 packet id 0", V5, wire(0x40, 3, 0, 0, 0x10), ProtocolError},
	{"puback short", V311, wire(0x40, 1, 7), MalformedPacket},
	{"puback v311 trailing byte", V311, wire(0x40, 3, 0, 7, 0), MalformedPacket},
	{"pubcomp v5 property length overruns", V5, wire(0x70, 4, 0, 7, 0, 9), MalformedPacket},
	{"puback v5 session expiry", V5, wire(0x40, 9, 0, 7, 0, 5, 0x11, 0, 0, 0, 0), MalformedPacket},
	{"pubrec v5 reason string twice", V5, wire(0x50, 12, 0, 7, 0x80, 8, 0x1F, 0, 1, "a", 0x1F, 0, 1, "b"), ProtocolError},
	{"pubrel v5 trailing byte", V5, wire(0x62, 5, 0, 7, 0, 0, 0), MalformedPacket},

	// SUBSCRIBE
	{"subscribe without filters", V311, wire(0x82, 2, 0, 1), ProtocolError},                         // [MQTT-3.8.3-3]
	{"subscribe v5 without filters", V5, wire(0x82, 3, 0, 1, 0), ProtocolError},                     // [MQTT-3.8.3-3]
	{"subscribe packet id 0", V311, wire(0x82, 6, 0, 0, 0, 1, "a", 0), ProtocolError},               // [MQTT-2.2.1-3]
	{"subscribe reserved option bits", V311, wire(0x82, 6, 0, 1, 0, 1, "a", 0x04), MalformedPacket}, // [MQTT-3-8.3-4]
	{"subscribe QoS 3", V311, wire(0x82, 6, 0, 1, 0, 1, "a", 0x03), MalformedPacket},                // [MQTT-3-8.3-4]
	{"subscribe without options byte", V311, wire(0x82, 5, 0, 1, 0, 1, "a"), MalformedPacket},
	{"subscribe filter invalid UTF-8", V311, wire(0x82, 6, 0, 1, 0, 1, 0xC0, 0), MalformedPacket},       // [MQTT-1.5.4-1]
	{"subscribe v5 reserved option bits", V5, wire(0x82, 7, 0, 1, 0, 0, 1, "a", 0x40), MalformedPacket}, // [MQTT-3.8.3-5]
	{"subscribe v5 retain handling 3", V5, wire(0x82, 7, 0, 1, 0, 0, 1, "a", 0x30), ProtocolError},
	{"subscribe v5 QoS 3", V5, wire(0x82, 7, 0, 1, 0, 0, 1, "a", 0x03), ProtocolError},
	{"subscribe v5 two subscription identifiers", V5, wire(0x82, 11, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, "a", 0), ProtocolError},
	{"subscribe v5 subscription identifier 0", V5, wire(0x82, 9, 0, 1, 2, 0x0B, 0, 0, 1, "a", 0), ProtocolError},
	{"subscribe v5 topic alias", V5, wire(0x82, 10, 0, 1, 3, 0x23, 0, 1, 0, 1, "a", 0), MalformedPacket},

	// SUBACK
	{"suback reserved return code", V311, wire(0x90, 3, 0, 1, 0x03), ProtocolError}, // [MQTT-3.9.3-2]
	{"suback v311 0x87", V311, wire(0x90, 3, 0, 1, 0x87), ProtocolError},            // [MQTT-3.9.3-2]
	{"suback without codes", V311, wire(0x90, 2, 0, 1), ProtocolError},
	{"suback v5 without codes", V5, wire(0x90, 3, 0, 1, 0), ProtocolError},
	{"suback packet id 0", V311, wire(0x90, 3, 0, 0, 0), ProtocolError}, // [MQTT-2.2.1-3]

	// UNSUBSCRIBE, UNSUBACK
	{"unsubscribe without filters", V311, wire(0xA2, 2, 0, 1), ProtocolError},          // [MQTT-3.10.3-2]
	{"unsubscribe v5 without filters", V5, wire(0xA2, 3, 0, 1, 0), ProtocolError},      // [MQTT-3.10.3-2]
	{"unsubscribe filter U+0000", V311, wire(0xA2, 5, 0, 1, 0, 1, 0), MalformedPacket}, // [MQTT-1.5.4-2]
	{"unsubscribe filter overruns", V311, wire(0xA2, 5, 0, 1, 0, 2, "a"), MalformedPacket},
	{"unsuback v311 with reason code", V311, wire(0xB0, 3, 0, 1, 0), MalformedPacket},
	{"unsuback v5 without codes", V5, wire(0xB0, 3, 0, 1, 0), ProtocolError},

	// PINGREQ, PINGRESP, DISCONNECT, AUTH
	{"pingreq with body", V311, wire(0xC0, 1, 0), MalformedPacket},
	{"pingresp with body", V5, wire(0xD0, 1, 0), MalformedPacket},
	{"disconnect v311 with body", V311, wire(0xE0, 1, 0), MalformedPacket},
	{"disconnect v5 topic alias", V5, wire(0xE0, 5, 0, 3, 0x23, 0, 1), MalformedPacket},
	{"disconnect v5 property length overruns", V5, wire(0xE0, 2, 0, 1), MalformedPacket},
	{"auth before v5", V311, wire(0xF0, 0), MalformedPacket},
	{"auth v5 session expiry", V5, wire(0xF0, 7, 0x18, 5, 0x11, 0, 0, 0, 0), MalformedPacket},
	{"auth v5 trailing byte", V5, wire(0xF0, 3, 0x18, 0, 0), MalformedPacket},
}
