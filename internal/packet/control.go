package packet

// PINGREQ and PINGRESP (MQTT 5.0 sections 3.12, 3.13) have no body.
// DISCONNECT and AUTH (sections 3.14, 3.15) have, in v5, an optional reason
// code and properties: a zero-length body means Success with no properties.

// Encode appends the PINGREQ.
func (*Pingreq) Encode(dst []byte, _ byte) []byte { return append(dst, headerByte(PINGREQ), 0) }

// Encode appends the PINGRESP.
func (*Pingresp) Encode(dst []byte, _ byte) []byte { return append(dst, headerByte(PINGRESP), 0) }

// decodeReasonBody decodes the optional reason code and properties shared by
// the v5 DISCONNECT and AUTH. A one-byte body is a reason code with the
// property length omitted (section 3.14.2.2.1).
func decodeReasonBody(body []byte, t Type, ctx propContext, rc *ReasonCode, props *Properties) error {
	c := cursor{b: body}
	if c.remaining() == 0 {
		*rc = Success
		return nil
	}
	code, _ := c.u8()
	*rc = ReasonCode(code)
	if c.remaining() > 0 {
		if err := decodeProperties(&c, props, ctx); err != nil {
			return err
		}
	}
	return c.end(t)
}

func decodeDisconnect(body []byte, version byte) (*Disconnect, error) {
	p := &Disconnect{}
	if version != V5 {
		if len(body) != 0 {
			return nil, Errorf(MalformedPacket, "DISCONNECT with a %d-byte body before v5", len(body))
		}
		return p, nil
	}
	if err := decodeReasonBody(body, DISCONNECT, ctxDisconnect, &p.ReasonCode, &p.Properties); err != nil {
		return nil, err
	}
	return p, nil
}

// Encode appends the DISCONNECT: an empty body before v5, and in v5 for
// Success without properties.
func (p *Disconnect) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(DISCONNECT))
	if version == V5 && (p.ReasonCode != Success || !p.Properties.Empty()) {
		dst = append(dst, byte(p.ReasonCode))
		if !p.Properties.Empty() {
			dst = appendProperties(dst, &p.Properties)
		}
	}
	return finishPacket(dst, start)
}

func decodeAuth(body []byte, version byte) (*Auth, error) {
	if version != V5 {
		// Type 15 is reserved before v5.
		return nil, Errorf(MalformedPacket, "AUTH before MQTT 5")
	}
	p := &Auth{}
	if err := decodeReasonBody(body, AUTH, ctxAuth, &p.ReasonCode, &p.Properties); err != nil {
		return nil, err
	}
	return p, nil
}

// Encode appends the AUTH, which exists in v5 only; the version is not
// consulted. Success without properties has an empty body; otherwise the
// reason code and the property list (possibly empty) follow.
func (p *Auth) Encode(dst []byte, _ byte) []byte {
	dst, start := beginPacket(dst, headerByte(AUTH))
	if p.ReasonCode != Success || !p.Properties.Empty() {
		dst = append(dst, byte(p.ReasonCode))
		dst = appendProperties(dst, &p.Properties)
	}
	return finishPacket(dst, start)
}
