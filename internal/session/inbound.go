package session

// Inbound holds the packet identifiers of QoS 2 messages received from the
// client and acknowledged with PUBREC but not yet released with PUBREL. A
// PUBLISH with one of these ids is a duplicate and must not be routed again
// [MQTT-4.3.3-10]. Bounded by the server's Receive Maximum.
type Inbound struct {
	ids []uint16
}

// Has reports whether id awaits its PUBREL.
func (in *Inbound) Has(id uint16) bool {
	for _, v := range in.ids {
		if v == id {
			return true
		}
	}
	return false
}

// Add records id.
func (in *Inbound) Add(id uint16) { in.ids = append(in.ids, id) }

// Remove forgets id; false if it was not there.
func (in *Inbound) Remove(id uint16) bool {
	for i, v := range in.ids {
		if v == id {
			in.ids = append(in.ids[:i], in.ids[i+1:]...)
			if len(in.ids) == 0 {
				in.ids = nil
			}
			return true
		}
	}
	return false
}

// Len is how many QoS 2 messages await PUBREL.
func (in *Inbound) Len() int { return len(in.ids) }

// IDs returns the pending ids (for persistence); do not modify.
func (in *Inbound) IDs() []uint16 { return in.ids }
