package packet

// PUBACK, PUBREC, PUBREL, PUBCOMP, MQTT 5.0 sections 3.4-3.7:
//
//	packet identifier  two-byte integer, not 0 [MQTT-2.2.1-3]
//	reason code        v5 only; absent means Success
//	properties         v5 only; absent when the remaining length is under 4
//
// Before v5 the body is exactly the packet identifier.

// decodeAck decodes into a, reset first and keeping its User capacity, so a
// Reader can reuse one Ack for every acknowledgement.
func decodeAck(h FixedHeader, body []byte, version byte, a *Ack) error {
	a.Properties.Reset()
	a.Kind = h.Type
	a.ReasonCode = Success
	c := cursor{b: body}
	var err error
	if a.PacketID, err = c.u16(); err != nil {
		return err
	}
	if a.PacketID == 0 {
		return Errorf(ProtocolError, "%v with packet identifier 0 [MQTT-2.2.1-3]", h.Type)
	}
	if version == V5 && c.remaining() > 0 {
		code, _ := c.u8()
		a.ReasonCode = ReasonCode(code)
		if c.remaining() > 0 {
			if err := decodeProperties(&c, &a.Properties, ctxAcks); err != nil {
				return err
			}
		}
	}
	return c.end(h.Type)
}

// Encode appends the acknowledgement. In v5 Success without properties uses
// the two-byte short form, and another code without properties omits the
// property length.
func (a *Ack) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(a.Kind))
	dst = appendU16(dst, a.PacketID)
	if version == V5 {
		empty := a.Properties.Empty()
		if a.ReasonCode != Success || !empty {
			dst = append(dst, byte(a.ReasonCode))
		}
		if !empty {
			dst = appendProperties(dst, &a.Properties)
		}
	}
	return finishPacket(dst, start)
}
