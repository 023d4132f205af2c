package session

import "testing"

// TestInboundAliases checks the table of aliases a client sets, 1 to the
// server's Topic Alias Maximum [MQTT-3.3.2-12]; an alias never set, or out
// of range, has no topic.
func TestInboundAliases(t *testing.T) {
	type set struct {
		alias uint16
		topic string
	}
	tests := []struct {
		name string
		max  uint16
		sets []set
		want map[uint16]string // every alias not listed must be ""
	}{
		{name: "unset table", max: 3},
		{name: "bind", max: 3, sets: []set{{1, "a"}, {3, "c"}},
			want: map[uint16]string{1: "a", 3: "c"}},
		// A PUBLISH with a topic and a known alias rebinds it (MQTT 5.0
		// section 3.3.2.3.4).
		{name: "rebind", max: 2, sets: []set{{1, "a"}, {2, "b"}, {1, "x"}},
			want: map[uint16]string{1: "x", 2: "b"}},
		{name: "largest alias", max: 65535, sets: []set{{65535, "last"}},
			want: map[uint16]string{65535: "last"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a InboundAliases
			for _, s := range tc.sets {
				a.Set(s.alias, s.topic, tc.max)
			}
			probe := []uint16{0, 1, 2, 3, 4, tc.max, tc.max + 1, 65535}
			for alias := range tc.want {
				probe = append(probe, alias)
			}
			for _, alias := range probe {
				if got := a.Get(alias); got != tc.want[alias] {
					t.Errorf("Get(%d) = %q, want %q", alias, got, tc.want[alias])
				}
			}
		})
	}
}

// TestOutboundAliases checks the aliases the server assigns: never 0
// [MQTT-3.3.2-8], never above the client's Topic Alias Maximum
// [MQTT-3.3.2-11], none at all when that is 0 [MQTT-3.1.2-27].
func TestOutboundAliases(t *testing.T) {
	type lookup struct {
		topic string
		alias uint16
		known bool
	}
	tests := []struct {
		name    string
		max     uint16
		lookups []lookup
	}{
		{name: "max 0 never assigns", max: 0, lookups: []lookup{{"a", 0, false}, {"a", 0, false}, {"b", 0, false}}},
		{name: "assigns 1..max in order", max: 3, lookups: []lookup{
			{"a", 1, false}, {"b", 2, false}, {"a", 1, true}, {"c", 3, false},
			{"d", 0, false}, {"d", 0, false}, {"c", 3, true}, {"b", 2, true}, {"e", 0, false}}},
		{name: "max 1", max: 1, lookups: []lookup{{"x", 1, false}, {"x", 1, true}, {"y", 0, false}, {"x", 1, true}}},
		{name: "empty topic is a topic", max: 2, lookups: []lookup{{"", 1, false}, {"", 1, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a OutboundAliases
			a.Reset(tc.max)
			for i, l := range tc.lookups {
				alias, known := a.Lookup(l.topic)
				if alias != l.alias || known != l.known {
					t.Fatalf("lookup %d %q = %d, %v; want %d, %v", i, l.topic, alias, known, l.alias, l.known)
				}
			}
		})
	}
}

// TestOutboundAliasesReset checks that a new connection starts a new table,
// as the client keeps no mapping from the last one [MQTT-3.3.2-7]: nothing
// is known, aliases start at 1, the new maximum holds.
func TestOutboundAliasesReset(t *testing.T) {
	var a OutboundAliases
	if alias, known := a.Lookup("a"); alias != 0 || known {
		t.Fatalf("zero value Lookup = %d, %v; want 0, false", alias, known)
	}
	a.Reset(5)
	for _, topic := range []string{"a", "b", "c"} {
		a.Lookup(topic)
	}
	a.Reset(2)
	for i, want := range []struct {
		topic string
		alias uint16
	}{{"c", 1}, {"a", 2}, {"b", 0}} {
		if alias, known := a.Lookup(want.topic); alias != want.alias || known {
			t.Errorf("after Reset, lookup %d %q = %d, %v; want %d, false", i, want.topic, alias, known, want.alias)
		}
	}
	a.Reset(0)
	if alias, known := a.Lookup("c"); alias != 0 || known {
		t.Errorf("after Reset(0), Lookup = %d, %v; want 0, false", alias, known)
	}
}
