package broker

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/gridmq/gridmq/internal/session"
)

// A persistent session's record carries its will (sessionRecord.will):
// while its client is connected, so that a crash, which ends the
// connection without DISCONNECT, still has it published when the broker
// starts again [MQTT-3.1.2-8]; while the will waits out its Will Delay
// Interval, so that it is published when the delay ends whether or not the
// broker was running [MQTT-3.1.3-9]. A shutdown is not a crash: the broker
// closes its connections itself and their wills are dropped, as they are
// while it runs.
//
// Layout after the rest of the record: a byte 0 (no will) or 1, then the
// Will Delay Interval and Message Expiry Interval in seconds (uint32 each),
// then the message as session.AppendRecord stores it.

var errBadWill = errors.New("will in session record does not decode")

func appendWill(dst []byte, w *will) []byte {
	if w == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.BigEndian.AppendUint32(dst, uint32(w.delay/time.Second))
	dst = binary.BigEndian.AppendUint32(dst, uint32(w.expiry/time.Second))
	return session.AppendRecord(dst, w.msg)
}

func decodeWill(b []byte) (*will, error) {
	switch {
	case len(b) == 1 && b[0] == 0:
		return nil, nil
	case len(b) < 9 || b[0] != 1:
		return nil, errBadWill
	}
	m, err := session.DecodeRecord(b[9:])
	if err != nil {
		return nil, err
	}
	return &will{
		msg:    m,
		delay:  time.Duration(binary.BigEndian.Uint32(b[1:])) * time.Second,
		expiry: time.Duration(binary.BigEndian.Uint32(b[5:])) * time.Second,
	}, nil
}
