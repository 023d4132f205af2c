package packet

// CONNACK, MQTT 5.0 section 3.2 (3.1.1 section 3.2):
//
//	acknowledge flags  byte: bit 0 session present, bits 7-1 reserved
//	                   (3.1: unused, written as 0)
//	reason code        byte; for 3.1 and 3.1.1 the return code 0-5
//	properties         v5 only

const connackSessionPresent = 0x01

// v3ConnackReasons maps a 3.1/3.1.1 return code onto the reason code whose
// V3ConnackCode gives it back, so a decoded CONNACK re-encodes unchanged.
var v3ConnackReasons = [...]ReasonCode{
	V3Accepted:                    Success,
	V3UnacceptableProtocolVersion: UnsupportedProtocolVersion,
	V3IdentifierRejected:          ClientIdentifierNotValid,
	V3ServerUnavailable:           ServerUnavailable,
	V3BadUsernameOrPassword:       BadUserNameOrPassword,
	V3NotAuthorized:               NotAuthorized,
}

func decodeConnack(body []byte, version byte) (*Connack, error) {
	c := cursor{b: body}
	flags, err := c.u8()
	if err != nil {
		return nil, err
	}
	code, err := c.u8()
	if err != nil {
		return nil, err
	}
	p := &Connack{}
	if version != V31 {
		// Bits 7-1 are reserved and must be 0 (3.1.1 and 5.0 section 3.2.2.1).
		if flags&^connackSessionPresent != 0 {
			return nil, Errorf(MalformedPacket, "CONNACK reserved flags 0x%02X", flags)
		}
		p.SessionPresent = flags&connackSessionPresent != 0
	}
	if version == V5 {
		p.ReasonCode = ReasonCode(code)
		if err := decodeProperties(&c, &p.Properties, ctxConnack); err != nil {
			return nil, err
		}
	} else {
		if int(code) >= len(v3ConnackReasons) {
			return nil, Errorf(ProtocolError, "CONNACK return code %d is reserved", code)
		}
		p.ReasonCode = v3ConnackReasons[code]
	}
	return p, c.end(CONNACK)
}

// Encode appends the CONNACK. Before v5 the reason code is sent as
// ReasonCode.V3ConnackCode, and 3.1 has no session present flag.
func (p *Connack) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(CONNACK))
	var flags byte
	if p.SessionPresent && version != V31 {
		flags = connackSessionPresent
	}
	if version == V5 {
		dst = append(dst, flags, byte(p.ReasonCode))
		dst = appendProperties(dst, &p.Properties)
	} else {
		dst = append(dst, flags, p.ReasonCode.V3ConnackCode())
	}
	return finishPacket(dst, start)
}
