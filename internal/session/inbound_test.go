package session

import (
	"slices"
	"testing"
)

// TestInbound walks the QoS 2 receive side: an id is added on PUBREC, a
// PUBLISH with it meanwhile is a duplicate [MQTT-4.3.3-10], and PUBREL
// removes it.
func TestInbound(t *testing.T) {
	type op struct {
		add    bool // Add, else Remove
		id     uint16
		wantOK bool // for Remove
	}
	tests := []struct {
		name    string
		ops     []op
		wantIDs []uint16
		notHas  []uint16
	}{
		{name: "empty", notHas: []uint16{0, 1, 65535}},
		{name: "add", ops: []op{{add: true, id: 1}, {add: true, id: 65535}, {add: true, id: 7}},
			wantIDs: []uint16{1, 65535, 7}, notHas: []uint16{0, 2, 65534}},
		{name: "remove unknown", ops: []op{{add: true, id: 5}, {id: 6}},
			wantIDs: []uint16{5}, notHas: []uint16{6}},
		{name: "remove keeps the order of the rest", ops: []op{
			{add: true, id: 1}, {add: true, id: 2}, {add: true, id: 3}, {add: true, id: 4}, {id: 2, wantOK: true}},
			wantIDs: []uint16{1, 3, 4}, notHas: []uint16{2}},
		{name: "remove first and last", ops: []op{
			{add: true, id: 1}, {add: true, id: 2}, {add: true, id: 3}, {id: 3, wantOK: true}, {id: 1, wantOK: true}},
			wantIDs: []uint16{2}, notHas: []uint16{1, 3}},
		{name: "remove all", ops: []op{{add: true, id: 9}, {add: true, id: 8}, {id: 9, wantOK: true}, {id: 8, wantOK: true}, {id: 8}},
			notHas: []uint16{8, 9}},
		{name: "id reused after PUBREL", ops: []op{{add: true, id: 4}, {id: 4, wantOK: true}, {add: true, id: 4}},
			wantIDs: []uint16{4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in Inbound
			for _, o := range tc.ops {
				if o.add {
					in.Add(o.id)
				} else if got := in.Remove(o.id); got != o.wantOK {
					t.Fatalf("Remove(%d) = %v, want %v", o.id, got, o.wantOK)
				}
			}
			if in.Len() != len(tc.wantIDs) {
				t.Errorf("Len %d, want %d", in.Len(), len(tc.wantIDs))
			}
			if !slices.Equal(in.IDs(), tc.wantIDs) {
				t.Errorf("IDs %v, want %v", in.IDs(), tc.wantIDs)
			}
			for _, id := range tc.wantIDs {
				if !in.Has(id) {
					t.Errorf("Has(%d) = false", id)
				}
			}
			for _, id := range tc.notHas {
				if in.Has(id) {
					t.Errorf("Has(%d) = true", id)
				}
			}
			if len(tc.wantIDs) == 0 && in.IDs() != nil {
				t.Errorf("empty Inbound holds a slice of cap %d", cap(in.IDs()))
			}
		})
	}
}
