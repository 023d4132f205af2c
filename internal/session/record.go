package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// A message is kept on disk as the MQTT 5 PUBLISH that would carry it, so
// that the codec every client packet goes through also reads it back, after
// 8 bytes of the absolute expiry time (Unix nanoseconds; 0 for none): a
// remaining Message Expiry Interval would mean nothing after a restart.
const recordExpiryLen = 8

// ErrBadRecord reports a stored message that does not decode.
var ErrBadRecord = errors.New("stored message does not decode")

// AppendRecord appends m's stored form to dst.
func AppendRecord(dst []byte, m *Message) []byte {
	var exp int64
	if !m.Expiry.IsZero() {
		exp = m.Expiry.UnixNano()
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(exp))
	p := packet.Publish{QoS: m.QoS, Retain: m.Retain, Topic: []byte(m.Topic), Payload: m.Payload}
	if m.QoS > 0 {
		p.PacketID = 1 // a PUBLISH at QoS 1 or 2 needs one; it means nothing here
	}
	if m.Props != nil {
		p.Properties = *m.Props
	}
	return p.Encode(dst, packet.V5)
}

// DecodeRecord reads a message stored by AppendRecord.
func DecodeRecord(b []byte) (*Message, error) {
	if len(b) < recordExpiryLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadRecord, len(b))
	}
	exp := int64(binary.BigEndian.Uint64(b))
	b = b[recordExpiryLen:]
	h, n, err := packet.DecodeFixedHeader(b)
	if err != nil || h.Type != packet.PUBLISH || n+int(h.Remaining) != len(b) {
		return nil, fmt.Errorf("%w: bad header", ErrBadRecord)
	}
	var p packet.Publish
	if err := packet.DecodePublish(h, b[n:], packet.V5, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	m := NewMessage(&p, time.Now(), nil)
	m.Expiry = time.Time{}
	if exp != 0 {
		m.Expiry = time.Unix(0, exp)
	}
	return m, nil
}
