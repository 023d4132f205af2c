package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Validation errors. The broker answers a bad topic name with reason code
// 0x90 (Topic Name invalid) and a bad filter with 0x8F (Topic Filter invalid).
var (
	ErrEmpty           = errors.New("topic: empty topic name or filter")             // [MQTT-4.7.3-1]
	ErrTooLong         = errors.New("topic: longer than 65535 bytes")                // [MQTT-4.7.3-3]
	ErrNullChar        = errors.New("topic: contains U+0000")                        // [MQTT-4.7.3-2]
	ErrInvalidUTF8     = errors.New("topic: not well-formed UTF-8")                  // [MQTT-1.5.4-1]
	ErrWildcardInName  = errors.New("topic: wildcard in topic name")                 // [MQTT-3.3.2-2]
	ErrInvalidWildcard = errors.New("topic: wildcard does not occupy a whole level") // [MQTT-4.7.1-2] [MQTT-4.7.1-3]
	ErrInvalidShare    = errors.New("topic: malformed shared subscription filter")   // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
)

// MaxLen is the longest topic name or filter: a UTF-8 Encoded String has a
// two-byte length prefix (MQTT 5.0 section 1.5.4).
const MaxLen = 65535

// SharePrefix starts every shared subscription filter [MQTT-4.8.2-1].
const SharePrefix = "$share/"

// ValidateName checks the topic name of a PUBLISH: at least one byte
// [MQTT-4.7.3-1], at most MaxLen bytes, no '+' or '#' [MQTT-3.3.2-2]
// [MQTT-4.7.1-1], no U+0000 [MQTT-4.7.3-2], well-formed UTF-8 [MQTT-1.5.4-1].
// The name is only read, so it may alias the connection's read buffer.
func ValidateName(name []byte) error {
	if len(name) == 0 {
		return ErrEmpty
	}
	if len(name) > MaxLen {
		return ErrTooLong
	}
	ascii := true
	for _, c := range name {
		switch {
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '+' || c == '#':
			return ErrWildcardInName
		case c == 0:
			return ErrNullChar
		}
	}
	// The codec has usually checked this already; the ASCII fast path makes
	// the second check free for most names.
	if !ascii && !utf8.Valid(name) {
		return ErrInvalidUTF8
	}
	return nil
}

// ValidateFilter checks a topic filter from SUBSCRIBE or UNSUBSCRIBE. A filter
// starting with "$share/" must be a well-formed shared subscription (see
// ParseShared); "$share" alone or "$sharex/..." are ordinary filters.
func ValidateFilter(filter string) error {
	if strings.HasPrefix(filter, SharePrefix) {
		_, _, _, err := ParseShared(filter)
		return err
	}
	return validateFilter(filter)
}

// validateFilter checks a filter that is not a shared subscription.
func validateFilter(filter string) error {
	if len(filter) == 0 {
		return ErrEmpty
	}
	if len(filter) > MaxLen {
		return ErrTooLong
	}
	ascii := true
	for i := 0; i < len(filter); i++ {
		switch c := filter[i]; c {
		case '#':
			// '#' is a whole level and the last character [MQTT-4.7.1-2].
			if i != len(filter)-1 || (i > 0 && filter[i-1] != '/') {
				return ErrInvalidWildcard
			}
		case '+':
			// '+' occupies a whole level [MQTT-4.7.1-3].
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return ErrInvalidWildcard
			}
		case 0:
			return ErrNullChar
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
		}
	}
	if !ascii && !utf8.ValidString(filter) {
		return ErrInvalidUTF8
	}
	return nil
}

// ParseShared splits a shared subscription filter "$share/{group}/{filter}"
// into its ShareName and inner filter. The filter must start with "$share/"
// and the ShareName must be at least one character [MQTT-4.8.2-1], contain no
// '/', '+' or '#', and be followed by '/' and a topic filter [MQTT-4.8.2-2].
// A malformed shared filter gives an error that is ErrInvalidShare (and, when
// the inner filter is at fault, also the inner filter's error).
//
// A filter not starting with "$share/" is not shared: ParseShared returns
// ("", filter, false, nil) without validating it; use ValidateFilter.
func ParseShared(filter string) (group, inner string, shared bool, err error) {
	rest, ok := strings.CutPrefix(filter, SharePrefix)
	if !ok {
		return "", filter, false, nil
	}
	if len(filter) > MaxLen {
		return "", "", true, ErrTooLong
	}
	group, inner, ok = strings.Cut(rest, "/")
	if !ok || group == "" || strings.ContainsAny(group, "+#\x00") || !utf8.ValidString(group) {
		return "", "", true, ErrInvalidShare
	}
	if err := validateFilter(inner); err != nil {
		return "", "", true, fmt.Errorf("%w: %w", ErrInvalidShare, err)
	}
	return group, inner, true, nil
}
