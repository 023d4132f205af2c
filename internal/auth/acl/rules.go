package acl

import (
	"strings"

	"github.com/gridmq/gridmq/internal/topic"
)

// Access is the kind of operation being checked. The values are bits, like
// Mosquitto's MOSQ_ACL_READ, MOSQ_ACL_WRITE and MOSQ_ACL_SUBSCRIBE, but a check
// asks for exactly one of them.
type Access uint8

const (
	// Read: the client may receive a message published on the topic.
	Read Access = 1 << iota
	// Write: the client may publish on the topic (PUBLISH, will message).
	Write
	// Subscribe: the client may SUBSCRIBE to the filter; see CanSubscribe.
	Subscribe
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Subscribe:
		return "subscribe"
	case Read | Write:
		return "readwrite"
	case 0:
		return "deny"
	}
	return "Access(?)"
}

// Rules is a parsed ACL file. It is immutable after Parse and safe for
// concurrent use.
type Rules struct {
	anonymous    ruleSet
	hasAnonymous bool // a topic line appeared before the first user line
	users        map[string]*ruleSet
	patterns     ruleSet
}

// ruleSet keeps deny rules apart so they are checked first, as Mosquitto's
// add__acl puts "deny" rules at the front of the list.
type ruleSet struct {
	deny  []rule
	allow []rule
}

func (s *ruleSet) add(r rule) {
	if r.access == 0 {
		s.deny = append(s.deny, r)
	} else {
		s.allow = append(s.allow, r)
	}
}

// rule is one topic or pattern line.
type rule struct {
	filter string // as written in the file
	access Access // 0 for deny
	// For a pattern: the filter split at each %c and %u, so a check can
	// substitute into a buffer without parsing again.
	parts   []part
	useUser bool // contains %u: skipped for anonymous clients
}

type partKind uint8

const (
	literal partKind = iota
	clientID
	username
)

type part struct {
	kind partKind
	text string // for literal
}

func newRule(filter string, access Access, pattern bool) rule {
	r := rule{filter: filter, access: access}
	if !pattern {
		return r
	}
	// Scan left to right as Mosquitto 2.0's substitution loop does: "%c" and
	// "%u" are replaced anywhere, even inside a level ("dev_%c"), though
	// mosquitto.conf(5) asks for them to be a whole level; any other '%' is
	// kept.
	start := 0
	for i := 0; i < len(filter)-1; i++ {
		if filter[i] != '%' || (filter[i+1] != 'c' && filter[i+1] != 'u') {
			continue
		}
		if i > start {
			r.parts = append(r.parts, part{kind: literal, text: filter[start:i]})
		}
		if filter[i+1] == 'c' {
			r.parts = append(r.parts, part{kind: clientID})
		} else {
			r.parts = append(r.parts, part{kind: username})
			r.useUser = true
		}
		i++
		start = i + 1
	}
	if start < len(filter) {
		r.parts = append(r.parts, part{kind: literal, text: filter[start:]})
	}
	return r
}

// substitute appends the pattern with the client's identifier and username
// in place of %c and %u.
func (r *rule) substitute(dst []byte, id, user string) []byte {
	for _, p := range r.parts {
		switch p.kind {
		case literal:
			dst = append(dst, p.text...)
		case clientID:
			dst = append(dst, id...)
		case username:
			dst = append(dst, user...)
		}
	}
	return dst
}

// Allowed reports whether the client may perform access on topic: for Read
// and Write, topic is a topic name; for Subscribe it is a topic filter and the
// answer is CanSubscribe's. anonymous means the client sent no username (an
// empty username is a username, as in Mosquitto); username is then ignored.
//
// The order is Mosquitto 2.0's mosquitto_acl_check_default: the client's own
// rules (deny first), then the patterns (deny first); first decision wins;
// no match denies.
func (r *Rules) Allowed(clientID, username string, anonymous bool, access Access, name string) bool {
	if r == nil {
		return false
	}
	switch access {
	case Read, Write:
		if name == "" {
			return false // mosquitto_topic_matches_sub refuses an empty topic
		}
	case Subscribe:
		return r.CanSubscribe(clientID, username, anonymous, name)
	default:
		return false
	}
	return r.decide(clientID, username, anonymous, access, name, false)
}

// CanSubscribe reports whether the client may subscribe to filter. Mosquitto
// 2.0's default ACL check allows every subscription and only filters delivery;
// gridmq instead refuses a subscription unless some read rule covers it, so a
// client learns at SUBACK time (0x80 / 0x87 Not authorized) rather than by
// silence. The rules are walked in the same order as Allowed, with "the rule's
// topic matches the topic" replaced by "the rule's filter covers the
// subscription filter": every topic the subscription can match, the rule
// matches too. So:
//
//   - "topic read a/#" allows "a/#", "a/+/c", "a" and "a/b"; not "#" or "+/b".
//   - "topic deny a/secret/#" refuses "a/secret/x" but not "a/#": a deny rule
//     refuses only filters it covers whole. Messages from the overlap are
//     still withheld by the Read check at delivery, which callers must do.
//   - A filter starting with '$' needs a rule starting with '$'.
//   - "$share/{group}/{filter}" is checked as {filter}.
//
// filter must already be valid (topic.ValidateFilter); a malformed shared
// filter is refused, other malformed filters give unspecified answers.
func (r *Rules) CanSubscribe(clientID, username string, anonymous bool, filter string) bool {
	if r == nil {
		return false
	}
	if _, inner, shared, err := topic.ParseShared(filter); err != nil {
		return false
	} else if shared {
		filter = inner
	}
	return r.decide(clientID, username, anonymous, Read, filter, true)
}

// decide walks the rules in Mosquitto 2.0's order (mosquitto_acl_check_default):
// the client's own rules, deny first, then the patterns, deny first; the first
// rule that matches decides; nothing matching denies. A rule matches when its
// filter matches the topic name, or, for a subscription, covers the
// subscription filter. Patterns are substituted into a stack buffer, so a
// topic check allocates nothing.
func (r *Rules) decide(clientID, username string, anonymous bool, access Access, name string, subscribe bool) bool {
	matches := func(filter string) bool {
		if subscribe {
			return covers(filter, name)
		}
		return matchTopic(filter, name)
	}
	patternMatches := func(filter []byte) bool {
		if subscribe {
			return covers(string(filter), name)
		}
		return matchTopicBytes(filter, name)
	}
	if own := r.own(username, anonymous); own != nil {
		for i := range own.deny {
			if matches(own.deny[i].filter) {
				return false
			}
		}
		for i := range own.allow {
			if own.allow[i].access&access != 0 && matches(own.allow[i].filter) {
				return true
			}
		}
	}
	if !r.patternsApply(clientID, username, anonymous) {
		return false
	}
	var buf [256]byte
	for i := range r.patterns.deny {
		p := &r.patterns.deny[i]
		if p.useUser && anonymous {
			continue
		}
		if patternMatches(p.substitute(buf[:0], clientID, username)) {
			return false
		}
	}
	for i := range r.patterns.allow {
		p := &r.patterns.allow[i]
		if p.access&access == 0 || (p.useUser && anonymous) {
			continue
		}
		if patternMatches(p.substitute(buf[:0], clientID, username)) {
			return true
		}
	}
	return false
}

// own returns the client's own rules: the anonymous block, or its user block.
func (r *Rules) own(username string, anonymous bool) *ruleSet {
	if anonymous {
		if r.hasAnonymous {
			return &r.anonymous
		}
		return nil
	}
	return r.users[username]
}

// patternsApply reports whether pattern rules may be consulted. Mosquitto
// refuses a client whose identifier or username contains '+' or '#' once
// patterns exist, so it cannot widen a pattern into a wildcard.
func (r *Rules) patternsApply(clientID, username string, anonymous bool) bool {
	if len(r.patterns.deny)+len(r.patterns.allow) == 0 {
		return false
	}
	if strings.ContainsAny(clientID, "+#") {
		return false
	}
	if !anonymous && strings.ContainsAny(username, "+#") {
		return false
	}
	return true
}
