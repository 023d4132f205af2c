package session

// InboundAliases maps topic aliases a client set to topic names, for one
// network connection [MQTT-3.3.2-12]. Aliases run from 1 to the maximum the
// server advertised.
type InboundAliases struct {
	topics []string
}

// Set binds alias to topic; alias must be within 1..max (checked by the caller).
func (a *InboundAliases) Set(alias uint16, topic string, max uint16) {
	if a.topics == nil {
		a.topics = make([]string, int(max)+1)
	}
	a.topics[alias] = topic
}

// Get returns the topic bound to alias, or "" if none is.
func (a *InboundAliases) Get(alias uint16) string {
	if int(alias) >= len(a.topics) {
		return ""
	}
	return a.topics[alias]
}

// OutboundAliases assigns topic aliases for PUBLISHes the server sends, up to
// the client's Topic Alias Maximum [MQTT-3.3.2-11]. The first message on a
// topic carries the topic and its new alias; later ones carry only the alias.
// When every alias is taken, other topics are sent in full.
type OutboundAliases struct {
	max    uint16
	byName map[string]uint16
}

// Reset starts a new connection's table with the client's maximum.
func (a *OutboundAliases) Reset(max uint16) { *a = OutboundAliases{max: max} }

// Lookup returns the alias for topic and whether it is already known to the
// client. alias 0 means send the topic without an alias.
func (a *OutboundAliases) Lookup(topic string) (alias uint16, known bool) {
	if a.max == 0 {
		return 0, false
	}
	if v, ok := a.byName[topic]; ok {
		return v, true
	}
	if len(a.byName) >= int(a.max) {
		return 0, false
	}
	if a.byName == nil {
		a.byName = make(map[string]uint16)
	}
	v := uint16(len(a.byName) + 1)
	a.byName[topic] = v
	return v, false
}
