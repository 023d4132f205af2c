package acl

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gridmq/gridmq/internal/topic"
)

// Parse errors. A *ParseError wraps exactly one of them, so callers can use
// errors.Is.
var (
	ErrUnknownKeyword = errors.New("unknown keyword")
	ErrMissingUser    = errors.New("missing username")
	ErrMissingTopic   = errors.New("missing topic")
	ErrBadAccess      = errors.New("invalid access type")
	ErrInvalidTopic   = errors.New("invalid topic filter")
)

// ParseError names the file and line of a problem in an ACL file.
type ParseError struct {
	File   string
	Line   int    // 1-based
	Detail string // the offending token or line
	Err    error  // one of the Err* values above
}

func (e *ParseError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v %q", e.File, e.Line, e.Err, e.Detail)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Load reads and parses the ACL file at path.
func Load(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses the contents of an ACL file; name is used in error messages.
//
// Line syntax, as Mosquitto 2.0's aclfile__parse reads it:
//
//	# comment
//	user <username>                                  (rest of line, trimmed; may hold spaces)
//	topic   [read|write|readwrite|deny] <topic>      (no access word: readwrite)
//	pattern [read|write|readwrite|deny] <topic>
//
// When a topic line has a single word after the keyword, that word is the
// topic, even if it is "read": "topic read" grants readwrite on "read".
// When it has more, the first is the access word and the rest of the line,
// trimmed, is the topic, which may therefore contain spaces.
//
// Two deliberate leniencies: a comment may be indented (Mosquitto treats only
// a '#' in column one as a comment and rejects "  # x" as an invalid line),
// and tabs separate words as spaces do (Mosquitto splits on ' ' only).
func Parse(name string, data []byte) (*Rules, error) {
	r := &Rules{users: make(map[string]*ruleSet)}
	var user *ruleSet // nil: anonymous block
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		line := strings.TrimRight(string(raw), " \t\r\n\v\f")
		line = strings.TrimLeft(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		keyword, rest := cutWord(line)
		perr := func(err error, detail string) error {
			return &ParseError{File: name, Line: lineNo, Detail: detail, Err: err}
		}
		switch keyword {
		case "user":
			username := trimBlanks(rest)
			if username == "" {
				return nil, perr(ErrMissingUser, "")
			}
			user = r.users[username]
			if user == nil {
				user = &ruleSet{}
				r.users[username] = user
			}
		case "topic", "pattern":
			word, after := cutWord(rest)
			if word == "" {
				return nil, perr(ErrMissingTopic, "")
			}
			access := Read | Write
			filter := trimBlanks(after)
			if filter == "" {
				filter = word
			} else {
				switch word {
				case "read":
					access = Read
				case "write":
					access = Write
				case "readwrite":
				case "deny":
					access = 0
				default:
					return nil, perr(ErrBadAccess, word)
				}
			}
			if err := topic.ValidateFilter(filter); err != nil {
				return nil, &ParseError{File: name, Line: lineNo, Detail: filter,
					Err: fmt.Errorf("%w: %w", ErrInvalidTopic, err)}
			}
			ru := newRule(filter, access, keyword == "pattern")
			switch {
			case keyword == "pattern":
				r.patterns.add(ru)
			case user == nil:
				r.anonymous.add(ru)
				r.hasAnonymous = true
			default:
				user.add(ru)
			}
		default:
			return nil, perr(ErrUnknownKeyword, keyword)
		}
	}
	return r, nil
}

// cutWord splits s at the first run of spaces or tabs.
func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// trimBlanks trims what C's isspace accepts, as Mosquitto's misc__trimblanks.
func trimBlanks(s string) string {
	return strings.Trim(s, " \t\r\n\v\f")
}
