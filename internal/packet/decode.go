package packet

// Decode decodes a packet from its body, exactly h.Remaining bytes following
// the fixed header h. version is the connection's protocol level (V31, V311
// or V5) and decides whether v5 properties and reason codes are read; for
// CONNECT it is ignored, the level being read from the packet.
//
// Errors are *Error values carrying the reason code to answer with:
// MalformedPacket for bytes that cannot be parsed, ProtocolError where the
// specification says "Protocol Error", UnsupportedProtocolVersion for a
// CONNECT with an unknown protocol name or level.
//
// A CONNECT error found after the protocol name and level have been read is
// returned together with the partly decoded *Connect, whose ProtocolName and
// ProtocolVersion are set, so the broker can answer in the client's dialect
// (a v5 CONNACK with the reason code, or a 3.1.1 return code). An
// UnsupportedProtocolVersion error always comes with it, carrying the level
// the client asked for. Every other error comes with a nil Packet.
//
// Decoded packets alias body (topic, payload, binary properties, password);
// strings are copied.
func Decode(h FixedHeader, body []byte, version byte) (Packet, error) {
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return nil, err
	}
	if len(body) != h.Remaining {
		return nil, Errorf(MalformedPacket, "%v body is %d bytes, remaining length says %d", h.Type, len(body), h.Remaining)
	}
	if h.Type == CONNECT {
		p, err := decodeConnect(body)
		if p == nil {
			return nil, err // not a typed nil in the interface
		}
		return p, err
	}
	if version != V31 && version != V311 && version != V5 {
		return nil, Errorf(UnsupportedProtocolVersion, "protocol level %d", version)
	}
	switch h.Type {
	case CONNACK:
		return nilOnError(decodeConnack(body, version))
	case PUBLISH:
		p := &Publish{}
		if err := DecodePublish(h, body, version, p); err != nil {
			return nil, err
		}
		return p, nil
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := &Ack{}
		if err := decodeAck(h, body, version, a); err != nil {
			return nil, err
		}
		return a, nil
	case SUBSCRIBE:
		return nilOnError(decodeSubscribe(body, version))
	case SUBACK:
		return nilOnError(decodeSuback(body, version))
	case UNSUBSCRIBE:
		return nilOnError(decodeUnsubscribe(body, version))
	case UNSUBACK:
		return nilOnError(decodeUnsuback(body, version))
	case PINGREQ:
		if len(body) != 0 {
			return nil, Errorf(MalformedPacket, "PINGREQ with a body")
		}
		return &Pingreq{}, nil
	case PINGRESP:
		if len(body) != 0 {
			return nil, Errorf(MalformedPacket, "PINGRESP with a body")
		}
		return &Pingresp{}, nil
	case DISCONNECT:
		return nilOnError(decodeDisconnect(body, version))
	case AUTH:
		return nilOnError(decodeAuth(body, version))
	}
	return nil, Errorf(MalformedPacket, "reserved packet type %d", h.Type)
}

// nilOnError turns (p, err) into a Packet that is a true nil on error, never
// a typed nil pointer inside the interface.
func nilOnError[P Packet](p P, err error) (Packet, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}
