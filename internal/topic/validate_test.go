package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		want error
	}{
		{"a", nil},
		{"/", nil},
		{"sport/tennis/player1", nil},
		{"$SYS/broker", nil},
		{"a b/ü/日本", nil},
		{"a//b/", nil},
		{strings.Repeat("a", MaxLen), nil},
		{"", ErrEmpty},                              // [MQTT-4.7.3-1]
		{strings.Repeat("a", MaxLen+1), ErrTooLong}, // [MQTT-4.7.3-3]
		{"a/+", ErrWildcardInName},                  // [MQTT-3.3.2-2]
		{"a/#", ErrWildcardInName},
		{"a+b", ErrWildcardInName},
		{"#", ErrWildcardInName},
		{"a\x00b", ErrNullChar},          // [MQTT-4.7.3-2]
		{"a\xffb", ErrInvalidUTF8},       // [MQTT-1.5.4-1]
		{"\xed\xa0\x80", ErrInvalidUTF8}, // U+D800, a surrogate
	}
	for _, tt := range tests {
		if err := ValidateName([]byte(tt.name)); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidateName(%.40q) = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   error
	}{
		{"#", nil},
		{"+", nil},
		{"/", nil},
		{"sport/tennis/player1/#", nil},
		{"sport/tennis/#", nil},
		{"sport/+/player1", nil},
		{"+/+", nil},
		{"/+", nil},
		{"+/tennis/#", nil},
		{"$SYS/#", nil},
		{"$share", nil},         // not the shared form
		{"$sharex/g/a", nil},    // not the shared form
		{"$share/g/a/+/#", nil}, // shared
		{"a//b", nil},
		{"", ErrEmpty},
		{strings.Repeat("a", MaxLen+1), ErrTooLong},
		{"sport/tennis#", ErrInvalidWildcard},          // [MQTT-4.7.1-2]
		{"sport/tennis/#/ranking", ErrInvalidWildcard}, // [MQTT-4.7.1-2]
		{"#/a", ErrInvalidWildcard},
		{"##", ErrInvalidWildcard},
		{"sport+", ErrInvalidWildcard}, // [MQTT-4.7.1-3]
		{"+sport", ErrInvalidWildcard},
		{"a/+b/c", ErrInvalidWildcard},
		{"++", ErrInvalidWildcard},
		{"+#", ErrInvalidWildcard},
		{"a\x00", ErrNullChar}, // [MQTT-4.7.3-2]
		{"a/\xc3", ErrInvalidUTF8},
		{"$share/g", ErrInvalidShare},
		{"$share/g+/a", ErrInvalidShare},
		{"$share/g/a#", ErrInvalidWildcard},
	}
	for _, tt := range tests {
		if err := ValidateFilter(tt.filter); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ValidateFilter(%.40q) = %v, want %v", tt.filter, err, tt.want)
		}
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		filter        string
		group, inner  string
		shared        bool
		err, innerErr error
	}{
		{"$share/g/a/b", "g", "a/b", true, nil, nil}, // [MQTT-4.8.2-1]
		{"$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+", true, nil, nil},
		{"$share/g/#", "g", "#", true, nil, nil},
		{"$share/g//", "g", "/", true, nil, nil},
		{"$share/g/$SYS/#", "g", "$SYS/#", true, nil, nil},
		{"$share/ü/a", "ü", "a", true, nil, nil},
		{"a/b", "", "a/b", false, nil, nil},
		{"$share", "", "$share", false, nil, nil},
		{"$sharex/g/a", "", "$sharex/g/a", false, nil, nil},
		{"$SHARE/g/a", "", "$SHARE/g/a", false, nil, nil},
		{"$share/", "", "", true, ErrInvalidShare, nil},        // no ShareName [MQTT-4.8.2-1]
		{"$share//a", "", "", true, ErrInvalidShare, nil},      // empty ShareName [MQTT-4.8.2-1]
		{"$share/g", "", "", true, ErrInvalidShare, nil},       // no '/' after ShareName [MQTT-4.8.2-2]
		{"$share/g/", "", "", true, ErrInvalidShare, ErrEmpty}, // no filter after '/' [MQTT-4.8.2-2]
		{"$share/g+/a", "", "", true, ErrInvalidShare, nil},    // [MQTT-4.8.2-2]
		{"$share/+/a", "", "", true, ErrInvalidShare, nil},
		{"$share/#/a", "", "", true, ErrInvalidShare, nil},
		{"$share/g#/a", "", "", true, ErrInvalidShare, nil},
		{"$share/g\x00/a", "", "", true, ErrInvalidShare, nil},
		{"$share/g/a/#/b", "", "", true, ErrInvalidShare, ErrInvalidWildcard},
		{"$share/g/a+", "", "", true, ErrInvalidShare, ErrInvalidWildcard},
		{"$share/g/a\x00", "", "", true, ErrInvalidShare, ErrNullChar},
		{"$share/" + strings.Repeat("a", MaxLen), "", "", true, ErrTooLong, nil},
	}
	for _, tt := range tests {
		group, inner, shared, err := ParseShared(tt.filter)
		if group != tt.group || inner != tt.inner || shared != tt.shared {
			t.Errorf("ParseShared(%.40q) = (%q, %q, %v), want (%q, %q, %v)", tt.filter, group, inner, shared, tt.group, tt.inner, tt.shared)
		}
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseShared(%.40q) error = %v, want %v", tt.filter, err, tt.err)
		}
		if tt.innerErr != nil && !errors.Is(err, tt.innerErr) {
			t.Errorf("ParseShared(%.40q) error = %v, want it to wrap %v", tt.filter, err, tt.innerErr)
		}
	}
}

func TestValidateNameAllocs(t *testing.T) {
	name := []byte("site/42/meter/7/power")
	if n := testing.AllocsPerRun(100, func() { _ = ValidateName(name) }); n != 0 {
		t.Errorf("ValidateName allocates %v times", n)
	}
}
