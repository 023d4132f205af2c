package packet

// CONNECT, MQTT 5.0 section 3.1 (3.1.1 section 3.1):
//
//	protocol name   UTF-8 string: "MQTT" (levels 4, 5) or "MQIsdp" (level 3)
//	protocol level  byte
//	connect flags   byte: bit 7 user name, 6 password, 5 will retain,
//	                4-3 will QoS, 2 will flag, 1 clean start, 0 reserved
//	keep alive      two-byte integer, seconds
//	properties      v5 only
//	payload         client id, [will properties (v5), will topic, will payload],
//	                [user name], [password]
const (
	connectUsername   = 0x80
	connectPassword   = 0x40
	connectWillRetain = 0x20
	connectWillQoS    = 0x18
	connectWill       = 0x04
	connectClean      = 0x02
	connectReserved   = 0x01
)

const (
	protocolNameV3 = "MQIsdp"
	protocolName   = "MQTT"
)

// decodeConnect decodes a CONNECT body; the protocol level comes from the
// packet itself. Once name and level are known, errors come with the partial
// *Connect (see Decode).
func decodeConnect(body []byte) (*Connect, error) {
	c := cursor{b: body}
	name, err := c.utf8()
	if err != nil {
		return nil, err
	}
	level, err := c.u8()
	if err != nil {
		return nil, err
	}
	p := &Connect{ProtocolName: string(name), ProtocolVersion: level}
	switch {
	case level == V31 && p.ProtocolName == protocolNameV3:
	case (level == V311 || level == V5) && p.ProtocolName == protocolName:
	default:
		// [MQTT-3.1.2-1], [MQTT-3.1.2-2]
		return p, Errorf(UnsupportedProtocolVersion, "protocol %q level %d", p.ProtocolName, level)
	}

	flags, err := c.u8()
	if err != nil {
		return p, err
	}
	if flags&connectReserved != 0 {
		// MQTT 5.0 calls this a Malformed Packet.
		return p, Errorf(MalformedPacket, "CONNECT reserved flag set [MQTT-3.1.2-3]")
	}
	willQoS := flags & connectWillQoS >> 3
	if flags&connectWill == 0 {
		// 3.1.1: [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15];
		// 5.0: [MQTT-3.1.2-11], [MQTT-3.1.2-13].
		if willQoS != 0 || flags&connectWillRetain != 0 {
			return p, Errorf(ProtocolError, "will QoS or will retain set without the will flag [MQTT-3.1.2-11]")
		}
	} else if willQoS == 3 {
		// 3.1.1 [MQTT-3.1.2-14]; MQTT 5.0 [MQTT-3.1.2-12] calls it a Malformed Packet.
		return p, Errorf(MalformedPacket, "will QoS 3 [MQTT-3.1.2-12]")
	}
	p.CleanStart = flags&connectClean != 0
	p.UsernameFlag = flags&connectUsername != 0
	p.PasswordFlag = flags&connectPassword != 0
	if level < V5 && p.PasswordFlag && !p.UsernameFlag {
		return p, Errorf(ProtocolError, "password flag without user name flag [MQTT-3.1.2-22]")
	}

	if p.KeepAlive, err = c.u16(); err != nil {
		return p, err
	}
	if level == V5 {
		if err := decodeProperties(&c, &p.Properties, ctxConnect); err != nil {
			return p, err
		}
	}
	// The client identifier is always present [MQTT-3.1.3-3]; whether it
	// is acceptable (empty, too long for 3.1) is the broker's decision.
	if p.ClientID, err = c.string(); err != nil {
		return p, err
	}
	if flags&connectWill != 0 {
		w := &Will{QoS: willQoS, Retain: flags&connectWillRetain != 0}
		if level == V5 {
			if err := decodeProperties(&c, &w.Properties, ctxWill); err != nil {
				return p, err
			}
		}
		topic, err := c.utf8()
		if err != nil {
			return p, err
		}
		w.Topic = string(topic)
		if w.Payload, err = c.binary(); err != nil {
			return p, err
		}
		p.Will = w
	}
	if p.UsernameFlag {
		if p.Username, err = c.string(); err != nil {
			return p, err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = c.binary(); err != nil {
			return p, err
		}
	}
	return p, c.end(CONNECT)
}

// Encode appends the CONNECT for the protocol level version, which decides
// the protocol name and level written; ProtocolName and ProtocolVersion are
// not consulted. A user name (password) is written when UsernameFlag
// (PasswordFlag) is set or the field is non-empty.
func (p *Connect) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(CONNECT))
	if version == V31 {
		dst = appendString(dst, protocolNameV3)
	} else {
		dst = appendString(dst, protocolName)
	}
	hasUser := p.UsernameFlag || p.Username != ""
	hasPass := p.PasswordFlag || len(p.Password) > 0
	var flags byte
	if hasUser {
		flags |= connectUsername
	}
	if hasPass {
		flags |= connectPassword
	}
	if p.Will != nil {
		flags |= connectWill | p.Will.QoS<<3&connectWillQoS
		if p.Will.Retain {
			flags |= connectWillRetain
		}
	}
	if p.CleanStart {
		flags |= connectClean
	}
	dst = append(dst, version, flags)
	dst = appendU16(dst, p.KeepAlive)
	if version == V5 {
		dst = appendProperties(dst, &p.Properties)
	}
	dst = appendString(dst, p.ClientID)
	if p.Will != nil {
		if version == V5 {
			dst = appendProperties(dst, &p.Will.Properties)
		}
		dst = appendString(dst, p.Will.Topic)
		dst = appendBinary(dst, p.Will.Payload)
	}
	if hasUser {
		dst = appendString(dst, p.Username)
	}
	if hasPass {
		dst = appendBinary(dst, p.Password)
	}
	return finishPacket(dst, start)
}
