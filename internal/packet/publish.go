package packet

import (
	"encoding/binary"
	"slices"
)

// PUBLISH, MQTT 5.0 section 3.3 (3.1.1 section 3.3):
//
//	fixed header flags  DUP (bit 3), QoS (bits 2-1), RETAIN (bit 0)
//	topic name          UTF-8 string
//	packet identifier   two-byte integer, only when QoS > 0
//	properties          v5 only
//	payload             the rest of the packet

// DecodePublish decodes a PUBLISH body into p without allocating: p is reset
// first, keeping the capacity of its User and SubscriptionIDs slices, and
// Topic, Payload and CorrelationData alias body. Only string properties
// (Content Type, Response Topic, User Property) are copied. Decode uses it
// for every PUBLISH.
//
// The topic is checked for UTF-8 only; whether it is a valid topic name
// (wildcards, empty without a Topic Alias) is decided by the topic rules
// above this package.
func DecodePublish(h FixedHeader, body []byte, version byte, p *Publish) error {
	if h.Type != PUBLISH {
		return Errorf(ProtocolError, "DecodePublish given a %v", h.Type)
	}
	if err := checkFlags(h.Type, h.Flags); err != nil {
		return err
	}
	if len(body) != h.Remaining {
		return Errorf(MalformedPacket, "PUBLISH body is %d bytes, remaining length says %d", len(body), h.Remaining)
	}
	p.Properties.Reset()
	p.Dup = h.Flags&publishDup != 0
	p.QoS = h.Flags & publishQoS >> 1
	p.Retain = h.Flags&publishRetain != 0
	p.PacketID = 0
	p.Topic, p.Payload = nil, nil

	c := cursor{b: body}
	topic, err := c.utf8()
	if err != nil {
		return err
	}
	p.Topic = topic
	if p.QoS > 0 {
		if p.PacketID, err = c.u16(); err != nil {
			return err
		}
		if p.PacketID == 0 {
			return Errorf(ProtocolError, "PUBLISH QoS %d with packet identifier 0 [MQTT-2.2.1-3]", p.QoS)
		}
	}
	if version == V5 {
		if err := decodeProperties(&c, &p.Properties, ctxPublish); err != nil {
			return err
		}
	}
	p.Payload = c.rest()
	return nil
}

func (p *Publish) remaining(version byte) int {
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	if version == V5 {
		n += propertiesWireLen(&p.Properties)
	}
	return n
}

// EncodedLen is the exact size of the encoded packet, fixed header included,
// so Maximum Packet Size can be checked without encoding.
func (p *Publish) EncodedLen(version byte) int {
	rem := p.remaining(version)
	return 1 + varintLen(rem) + rem
}

// Encode appends the PUBLISH. The packet identifier is written only for
// QoS > 0 and the properties only for v5. It grows dst at most once.
func (p *Publish) Encode(dst []byte, version byte) []byte {
	rem := p.remaining(version)
	dst = slices.Grow(dst, 1+varintLen(rem)+rem)
	return append(p.appendHeader(dst, version, rem), p.Payload...)
}

// EncodeHeader appends all of the PUBLISH but its payload: the fixed header,
// whose remaining length counts len(p.Payload), the topic, the packet
// identifier and the properties. The payload is to follow it. A broker
// encodes a message's header once and sends it to many subscribers by
// copying, patching the first byte's flags and the packet identifier (see
// PublishPacketIDOffset).
func (p *Publish) EncodeHeader(dst []byte, version byte) []byte {
	return p.appendHeader(dst, version, p.remaining(version))
}

func (p *Publish) appendHeader(dst []byte, version byte, rem int) []byte {
	first := byte(PUBLISH)<<4 | p.QoS<<1&publishQoS
	if p.Dup {
		first |= publishDup
	}
	if p.Retain {
		first |= publishRetain
	}
	dst = appendVarint(append(dst, first), rem)
	dst = appendBinary(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if version == V5 {
		dst = appendProperties(dst, &p.Properties)
	}
	return dst
}

// PublishPacketIDOffset returns where the two-byte packet identifier sits in
// an encoded QoS 1 or 2 PUBLISH (fixed header, then the two-byte topic
// length and the topic), so a message encoded once can be sent to each
// subscriber with its own identifier:
//
//	binary.BigEndian.PutUint16(encoded[off:], id)
//
// It returns -1 when encoded is not a complete-enough QoS > 0 PUBLISH.
func PublishPacketIDOffset(encoded []byte) int {
	if len(encoded) < 2 || Type(encoded[0]>>4) != PUBLISH || encoded[0]&publishQoS == 0 {
		return -1
	}
	_, vn, err := decodeVarint(encoded[1:])
	if err != nil {
		return -1
	}
	off := 1 + vn
	if len(encoded) < off+2 {
		return -1
	}
	off += 2 + int(binary.BigEndian.Uint16(encoded[off:]))
	if len(encoded) < off+2 {
		return -1
	}
	return off
}
