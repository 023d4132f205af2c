package topic

import "strings"

// Match reports whether the topic filter matches the topic name. filter is an
// ordinary filter (for a shared subscription, pass the inner filter from
// ParseShared). Invalid filters give unspecified results.
//
// '+' matches exactly one level, possibly empty [MQTT-4.7.1-3]; '#' matches
// the parent level and any number of child levels, so "sport/#" matches
// "sport" [MQTT-4.7.1-2]. A name starting with '$' is never matched by a filter
// starting with '+' or '#' [MQTT-4.7.2-1].
func Match(filter, name string) bool {
	if len(name) > 0 && name[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	fi, ni := 0, 0
	for {
		if fi > len(filter) {
			return ni > len(name)
		}
		fl, fnext := level(filter, fi)
		if fl == "#" {
			return true
		}
		if ni > len(name) {
			return false
		}
		nl, nnext := level(name, ni)
		if fl != "+" && fl != nl {
			return false
		}
		fi, ni = fnext, nnext
	}
}

// level returns the topic level of s starting at byte i and the offset of the
// level after it. The offset is len(s)+1 once the last level is consumed, so
// "a/" has two levels, "a" and "", and "" has one empty level.
func level(s string, i int) (string, int) {
	j := strings.IndexByte(s[i:], '/')
	if j < 0 {
		return s[i:], len(s) + 1
	}
	return s[i : i+j], i + j + 1
}
