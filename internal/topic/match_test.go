package topic

import "testing"

// matchTests holds (filter, name, match?) cases. The spec examples come from
// MQTT 3.1.1 / 5.0 sections 4.7.1.2, 4.7.1.3 and 4.7.2.
var matchTests = []struct {
	filter, name string
	want         bool
}{
	// 4.7.1.2 multi-level wildcard [MQTT-4.7.1-2].
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/tennis/player1/#", "sport/tennis", false},
	{"sport/#", "sport", true},
	{"sport/#", "sport/", true},
	{"sport/#", "sports", false},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"#", "a", true},

	// 4.7.1.3 single-level wildcard [MQTT-4.7.1-3].
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+", "finance", true},
	{"+", "/finance", false},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+/tennis/#", "sport/tennis/player1", true},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/golf", false},
	{"+", "", true},
	{"+/+", "a", false},
	{"a/+/c", "a//c", true},
	{"a/+/c", "a/b/c/d", false},
	{"+/#", "a", true},

	// 4.7.2 topics beginning with '$' [MQTT-4.7.2-1].
	{"#", "$SYS/broker/clients", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"+", "$SYS", false},
	{"a/+", "a/$b", true}, // the rule is about the first character only
	{"a/#", "a/$b/c", true},

	// Exact matching is byte for byte and case sensitive (4.7.3).
	{"sport/tennis", "sport/tennis", true},
	{"sport/tennis", "Sport/tennis", false},
	{"sport/tennis", "sport/tennis/", false},
	{"sport/tennis/", "sport/tennis", false},
	{"/", "/", true},
	{"//", "/", false},
	{"a", "ab", false},
	{"ab", "a", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

// The trie must agree with the table too.
func TestIndexMatchTable(t *testing.T) {
	for _, tt := range matchTests {
		x := NewIndex[int, int]()
		x.Subscribe(1, tt.filter, 0)
		got := len(x.Match(tt.name).Plain) == 1
		if got != tt.want {
			t.Errorf("Index with %q, Match(%q) matched = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
		x.Subscribe(2, "$share/g/"+tt.filter, 0)
		if got := len(x.Match(tt.name).Groups) == 1; got != tt.want {
			t.Errorf("Index with $share/g/%q, Match(%q) matched = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestRetainedMatchTable(t *testing.T) {
	for _, tt := range matchTests {
		r := NewRetained[int]()
		r.Set(tt.name, 1)
		got := false
		r.Match(tt.filter, func(name string, v int) bool {
			if name != tt.name || v != 1 {
				t.Errorf("Retained.Match(%q) gave (%q, %d)", tt.filter, name, v)
			}
			got = true
			return true
		})
		if got != tt.want {
			t.Errorf("Retained with %q, Match(%q) matched = %v, want %v", tt.name, tt.filter, got, tt.want)
		}
	}
}
