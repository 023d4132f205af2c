package packet

// SUBSCRIBE, MQTT 5.0 section 3.8 (3.1.1 section 3.8):
//
//	packet identifier  two-byte integer, not 0
//	properties         v5 only
//	payload            one or more (topic filter UTF-8 string, options byte)
//
// Subscription options: bits 1-0 maximum QoS; v5 adds bit 2 No Local, bit 3
// Retain As Published, bits 5-4 Retain Handling; the other bits are reserved.
const (
	subQoS               = 0x03
	subNoLocal           = 0x04
	subRetainAsPublished = 0x08
	subRetainHandling    = 0x30
	subReservedV5        = 0xC0
	subReservedV3        = 0xFC // 3.1 and 3.1.1 define only the QoS bits
)

func decodeSubscribe(body []byte, version byte) (*Subscribe, error) {
	c := cursor{b: body}
	p := &Subscribe{}
	var err error
	if p.PacketID, err = decodePacketID(&c, SUBSCRIBE); err != nil {
		return nil, err
	}
	if version == V5 {
		if err := decodeProperties(&c, &p.Properties, ctxSubscribe); err != nil {
			return nil, err
		}
	}
	for c.remaining() > 0 {
		filter, err := c.string()
		if err != nil {
			return nil, err
		}
		opts, err := c.u8()
		if err != nil {
			return nil, err
		}
		s := Subscription{Filter: filter, QoS: opts & subQoS}
		if version == V5 {
			if opts&subReservedV5 != 0 {
				return nil, Errorf(MalformedPacket, "subscription options reserved bits set [MQTT-3.8.3-5]")
			}
			if s.QoS == 3 {
				return nil, Errorf(ProtocolError, "subscription maximum QoS 3")
			}
			s.NoLocal = opts&subNoLocal != 0
			s.RetainAsPublished = opts&subRetainAsPublished != 0
			s.RetainHandling = opts & subRetainHandling >> 4
			if s.RetainHandling == 3 {
				return nil, Errorf(ProtocolError, "Retain Handling 3")
			}
		} else if opts&subReservedV3 != 0 || s.QoS == 3 {
			return nil, Errorf(MalformedPacket, "subscription reserved bits set or QoS 3 [MQTT-3-8.3-4]")
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return nil, Errorf(ProtocolError, "SUBSCRIBE without topic filters [MQTT-3.8.3-3] (3.1.1)")
	}
	return p, nil
}

// Encode appends the SUBSCRIBE; the v5 options are dropped before v5.
func (p *Subscribe) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(SUBSCRIBE))
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = appendProperties(dst, &p.Properties)
	}
	for _, s := range p.Subscriptions {
		opts := s.QoS & subQoS
		if version == V5 {
			if s.NoLocal {
				opts |= subNoLocal
			}
			if s.RetainAsPublished {
				opts |= subRetainAsPublished
			}
			opts |= s.RetainHandling << 4 & subRetainHandling
		}
		dst = append(appendString(dst, s.Filter), opts)
	}
	return finishPacket(dst, start)
}

// SUBACK, MQTT 5.0 section 3.9: packet identifier, v5 properties, then one
// reason code per subscription. 3.1 and 3.1.1 allow only 0x00-0x02 and 0x80
// [MQTT-3.9.3-2].

func decodeSuback(body []byte, version byte) (*Suback, error) {
	c := cursor{b: body}
	p := &Suback{}
	var err error
	if p.PacketID, err = decodePacketID(&c, SUBACK); err != nil {
		return nil, err
	}
	if version == V5 {
		if err := decodeProperties(&c, &p.Properties, ctxSuback); err != nil {
			return nil, err
		}
	}
	codes := c.rest()
	if len(codes) == 0 {
		return nil, Errorf(ProtocolError, "SUBACK without reason codes")
	}
	p.ReasonCodes = make([]ReasonCode, len(codes))
	for i, b := range codes {
		rc := ReasonCode(b)
		if version != V5 && rc > GrantedQoS2 && rc != UnspecifiedError {
			return nil, Errorf(ProtocolError, "SUBACK return code 0x%02X is reserved [MQTT-3.9.3-2]", b)
		}
		p.ReasonCodes[i] = rc
	}
	return p, nil
}

// Encode appends the SUBACK. Before v5 every failure code becomes 0x80.
func (p *Suback) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(SUBACK))
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = appendProperties(dst, &p.Properties)
	}
	for _, rc := range p.ReasonCodes {
		if version != V5 && rc.IsError() {
			rc = UnspecifiedError
		}
		dst = append(dst, byte(rc))
	}
	return finishPacket(dst, start)
}

// UNSUBSCRIBE, MQTT 5.0 section 3.10: packet identifier, v5 properties, then
// one or more topic filters.

func decodeUnsubscribe(body []byte, version byte) (*Unsubscribe, error) {
	c := cursor{b: body}
	p := &Unsubscribe{}
	var err error
	if p.PacketID, err = decodePacketID(&c, UNSUBSCRIBE); err != nil {
		return nil, err
	}
	if version == V5 {
		if err := decodeProperties(&c, &p.Properties, ctxUnsubscribe); err != nil {
			return nil, err
		}
	}
	for c.remaining() > 0 {
		f, err := c.string()
		if err != nil {
			return nil, err
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return nil, Errorf(ProtocolError, "UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]")
	}
	return p, nil
}

// Encode appends the UNSUBSCRIBE.
func (p *Unsubscribe) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(UNSUBSCRIBE))
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = appendProperties(dst, &p.Properties)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return finishPacket(dst, start)
}

// UNSUBACK, MQTT 5.0 section 3.11: packet identifier, then in v5 properties
// and one reason code per filter. Before v5 the body is the identifier only.

func decodeUnsuback(body []byte, version byte) (*Unsuback, error) {
	c := cursor{b: body}
	p := &Unsuback{}
	var err error
	if p.PacketID, err = decodePacketID(&c, UNSUBACK); err != nil {
		return nil, err
	}
	if version == V5 {
		if err := decodeProperties(&c, &p.Properties, ctxUnsuback); err != nil {
			return nil, err
		}
		codes := c.rest()
		if len(codes) == 0 {
			return nil, Errorf(ProtocolError, "UNSUBACK without reason codes")
		}
		p.ReasonCodes = make([]ReasonCode, len(codes))
		for i, b := range codes {
			p.ReasonCodes[i] = ReasonCode(b)
		}
	}
	return p, c.end(UNSUBACK)
}

// Encode appends the UNSUBACK; reason codes and properties are v5 only.
func (p *Unsuback) Encode(dst []byte, version byte) []byte {
	dst, start := beginPacket(dst, headerByte(UNSUBACK))
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = appendProperties(dst, &p.Properties)
		for _, rc := range p.ReasonCodes {
			dst = append(dst, byte(rc))
		}
	}
	return finishPacket(dst, start)
}

// decodePacketID reads a packet identifier that must not be 0: MQTT 5.0
// [MQTT-2.2.1-3], 3.1.1 [MQTT-2.3.1-1].
func decodePacketID(c *cursor, t Type) (uint16, error) {
	id, err := c.u16()
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, Errorf(ProtocolError, "%v with packet identifier 0 [MQTT-2.2.1-3]", t)
	}
	return id, nil
}
