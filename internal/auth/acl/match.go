package acl

import (
	"bytes"
	"strings"

	"github.com/gridmq/gridmq/internal/topic"
)

// matchTopic reports whether an ACL filter matches a topic name. Beyond
// topic.Match's [MQTT-4.7.2-1] rule, Mosquitto skips every rule not starting
// with '$' for a '$' topic (security_default.c: "If subscription starts with
// $, acl_root->topic must also start with $"), and mosquitto_topic_matches_sub
// refuses the converse.
func matchTopic(filter, name string) bool {
	if dollar(filter) != dollar(name) {
		return false
	}
	return topic.Match(filter, name)
}

func dollar(s string) bool { return len(s) > 0 && s[0] == '$' }

// matchTopicBytes is matchTopic for a pattern substituted into a buffer, so
// the check needs no string allocation. Its level rules are topic.Match's:
// '+' matches one level, possibly empty; "a/#" matches "a".
func matchTopicBytes(filter []byte, name string) bool {
	if (len(filter) > 0 && filter[0] == '$') != dollar(name) {
		return false
	}
	fi, ni := 0, 0
	for {
		if fi > len(filter) {
			return ni > len(name)
		}
		fl, fnext := levelBytes(filter, fi)
		if len(fl) == 1 && fl[0] == '#' {
			return true
		}
		if ni > len(name) {
			return false
		}
		nl, nnext := level(name, ni)
		if !(len(fl) == 1 && fl[0] == '+') && string(fl) != nl {
			return false
		}
		fi, ni = fnext, nnext
	}
}

// covers reports whether every topic that filter matches is also matched by
// rule (both are valid topic filters).
func covers(rule, filter string) bool {
	if dollar(rule) != dollar(filter) {
		return false
	}
	ri, fi := 0, 0
	for {
		if ri > len(rule) {
			return fi > len(filter)
		}
		rl, rnext := level(rule, ri)
		if rl == "#" {
			return true
		}
		if fi > len(filter) {
			// The rule wants another level the filter lacks. ("a" is covered
			// by "a/#" through the '#' case above on the next round.)
			return false
		}
		fl, fnext := level(filter, fi)
		switch {
		case fl == "#":
			return false // rule is narrower than a multi-level wildcard
		case rl == "+":
			// covers any single level, including a '+' level
		case fl == "+" || rl != fl:
			return false
		}
		ri, fi = rnext, fnext
	}
}

// level returns the topic level of s starting at byte i and the offset of the
// level after it, len(s)+1 once the last level is consumed; as in topic.Match.
func level(s string, i int) (string, int) {
	j := strings.IndexByte(s[i:], '/')
	if j < 0 {
		return s[i:], len(s) + 1
	}
	return s[i : i+j], i + j + 1
}

func levelBytes(s []byte, i int) ([]byte, int) {
	j := bytes.IndexByte(s[i:], '/')
	if j < 0 {
		return s[i:], len(s) + 1
	}
	return s[i : i+j], i + j + 1
}
