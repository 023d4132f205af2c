package session

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// A message survives its stored form: topic, payload, QoS, retain flag,
// forwarded properties and the absolute expiry; a record cut short or
// damaged is an error, never a panic or a wrong message.
func TestRecordRoundTrip(t *testing.T) {
	props := &packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	props.Set(packet.PropContentType)
	exp := time.Unix(1900000000, 123)
	for _, m := range []*Message{
		{Topic: "site/1/power", Payload: []byte("42"), QoS: 1, Retain: true},
		{Topic: "a", Payload: nil, QoS: 0},
		{Topic: "b/c", Payload: bytes.Repeat([]byte{0, 1, 2}, 1000), QoS: 2, Props: props, Expiry: exp},
	} {
		rec := AppendRecord(nil, m)
		got, err := DecodeRecord(rec)
		if err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		if got.Topic != m.Topic || !bytes.Equal(got.Payload, m.Payload) || got.QoS != m.QoS || got.Retain != m.Retain || !got.Expiry.Equal(m.Expiry) {
			t.Errorf("%s: got %+v, want %+v", m.Topic, got, m)
		}
		if (m.Props == nil) != (got.Props == nil) || (m.Props != nil && (got.Props.ContentType != "text/plain" || len(got.Props.User) != 1)) {
			t.Errorf("%s: properties %+v, want %+v", m.Topic, got.Props, m.Props)
		}
		for i := range len(rec) {
			if _, err := DecodeRecord(rec[:i]); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("%s cut to %d bytes: %v, want ErrBadRecord", m.Topic, i, err)
			}
		}
	}
}
