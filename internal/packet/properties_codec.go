package packet

// Properties on the wire, MQTT 5.0 section 2.2.2: a variable byte integer
// length, then identifier/value pairs. Identifiers are variable byte integers
// too, though every defined one fits in a byte.

// propContext names where a property list sits: the packet type's bit, or
// ctxWill for the will properties in the CONNECT payload.
type propContext uint32

const ctxWill propContext = 1 << 16

const (
	ctxConnect     = propContext(1 << CONNECT)
	ctxConnack     = propContext(1 << CONNACK)
	ctxPublish     = propContext(1 << PUBLISH)
	ctxAcks        = propContext(1<<PUBACK | 1<<PUBREC | 1<<PUBREL | 1<<PUBCOMP)
	ctxSubscribe   = propContext(1 << SUBSCRIBE)
	ctxSuback      = propContext(1 << SUBACK)
	ctxUnsubscribe = propContext(1 << UNSUBSCRIBE)
	ctxUnsuback    = propContext(1 << UNSUBACK)
	ctxDisconnect  = propContext(1 << DISCONNECT)
	ctxAuth        = propContext(1 << AUTH)
	ctxMessage     = ctxPublish | ctxWill
)

// propAllowed is table 2-4 of MQTT 5.0: where each property may appear. A
// zero entry is an unknown identifier. Either that or a known property in
// the wrong packet makes the packet one that cannot be parsed as its type:
// a MalformedPacket, as Mosquitto answers it too.
var propAllowed = [...]propContext{
	PropPayloadFormat:        ctxMessage,
	PropMessageExpiry:        ctxMessage,
	PropContentType:          ctxMessage,
	PropResponseTopic:        ctxMessage,
	PropCorrelationData:      ctxMessage,
	PropSubscriptionID:       ctxPublish | ctxSubscribe,
	PropSessionExpiry:        ctxConnect | ctxConnack | ctxDisconnect,
	PropAssignedClientID:     ctxConnack,
	PropServerKeepAlive:      ctxConnack,
	PropAuthMethod:           ctxConnect | ctxConnack | ctxAuth,
	PropAuthData:             ctxConnect | ctxConnack | ctxAuth,
	PropRequestProblemInfo:   ctxConnect,
	PropWillDelay:            ctxWill,
	PropRequestResponseInfo:  ctxConnect,
	PropResponseInfo:         ctxConnack,
	PropServerReference:      ctxConnack | ctxDisconnect,
	PropReasonString:         ctxConnack | ctxAcks | ctxSuback | ctxUnsuback | ctxDisconnect | ctxAuth,
	PropReceiveMaximum:       ctxConnect | ctxConnack,
	PropTopicAliasMaximum:    ctxConnect | ctxConnack,
	PropTopicAlias:           ctxPublish,
	PropMaximumQoS:           ctxConnack,
	PropRetainAvailable:      ctxConnack,
	PropUser:                 ctxConnect | ctxConnack | ctxMessage | ctxAcks | ctxSubscribe | ctxSuback | ctxUnsubscribe | ctxUnsuback | ctxDisconnect | ctxAuth,
	PropMaximumPacketSize:    ctxConnect | ctxConnack,
	PropWildcardSubAvailable: ctxConnack,
	PropSubIDAvailable:       ctxConnack,
	PropSharedSubAvailable:   ctxConnack,
}

var propNames = [...]string{
	PropPayloadFormat: "Payload Format Indicator", PropMessageExpiry: "Message Expiry Interval",
	PropContentType: "Content Type", PropResponseTopic: "Response Topic", PropCorrelationData: "Correlation Data",
	PropSubscriptionID: "Subscription Identifier", PropSessionExpiry: "Session Expiry Interval",
	PropAssignedClientID: "Assigned Client Identifier", PropServerKeepAlive: "Server Keep Alive",
	PropAuthMethod: "Authentication Method", PropAuthData: "Authentication Data",
	PropRequestProblemInfo: "Request Problem Information", PropWillDelay: "Will Delay Interval",
	PropRequestResponseInfo: "Request Response Information", PropResponseInfo: "Response Information",
	PropServerReference: "Server Reference", PropReasonString: "Reason String",
	PropReceiveMaximum: "Receive Maximum", PropTopicAliasMaximum: "Topic Alias Maximum",
	PropTopicAlias: "Topic Alias", PropMaximumQoS: "Maximum QoS", PropRetainAvailable: "Retain Available",
	PropUser: "User Property", PropMaximumPacketSize: "Maximum Packet Size",
	PropWildcardSubAvailable: "Wildcard Subscription Available",
	PropSubIDAvailable:       "Subscription Identifier Available",
	PropSharedSubAvailable:   "Shared Subscription Available",
}

func (id PropertyID) String() string {
	if int(id) < len(propNames) && propNames[id] != "" {
		return propNames[id]
	}
	return "property 0x" + hexByte(byte(id))
}

func hexByte(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&0x0F]})
}

// Reset clears every property but keeps the capacity of User and
// SubscriptionIDs, so a decoder can reuse them without allocating.
func (p *Properties) Reset() {
	user, ids := p.User[:0], p.SubscriptionIDs[:0]
	*p = Properties{User: user, SubscriptionIDs: ids}
}

// decodeProperties reads a property list at c into p, which the caller has
// reset. Strings are copied; CorrelationData and AuthData alias the body.
func decodeProperties(c *cursor, p *Properties, ctx propContext) error {
	n, err := c.varint()
	if err != nil {
		return err
	}
	if n > c.remaining() {
		return Errorf(MalformedPacket, "property length %d overruns the packet", n)
	}
	pc := cursor{b: c.b[:c.off+n], off: c.off}
	c.off += n
	for pc.remaining() > 0 {
		v, err := pc.varint()
		if err != nil {
			return err
		}
		if v >= len(propAllowed) || propAllowed[v] == 0 {
			return Errorf(MalformedPacket, "unknown property identifier 0x%X", v)
		}
		id := PropertyID(v)
		if propAllowed[id]&ctx == 0 {
			return Errorf(MalformedPacket, "%v not allowed in this packet", id)
		}
		if err := decodeProperty(&pc, p, id, ctx); err != nil {
			return err
		}
	}
	return nil
}

func decodeProperty(c *cursor, p *Properties, id PropertyID, ctx propContext) error {
	switch id {
	case PropUser:
		// The only property every packet may repeat; order is kept.
		k, err := c.string()
		if err != nil {
			return err
		}
		v, err := c.string()
		if err != nil {
			return err
		}
		p.User = append(p.User, UserProperty{Key: k, Value: v})
		return nil
	case PropSubscriptionID:
		v, err := c.varint()
		if err != nil {
			return err
		}
		if v == 0 {
			return Errorf(ProtocolError, "Subscription Identifier 0")
		}
		// PUBLISH carries one per matching subscription; SUBSCRIBE at most one.
		if ctx != ctxPublish && len(p.SubscriptionIDs) > 0 {
			return Errorf(ProtocolError, "Subscription Identifier given twice")
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		return nil
	}

	// Every other property may appear at most once (MQTT 5.0 section 3.x
	// "It is a Protocol Error to include ... more than once").
	if p.present&(1<<id) != 0 {
		return Errorf(ProtocolError, "%v given twice", id)
	}
	p.Set(id)

	var err error
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat, err = c.u8()
	case PropMessageExpiry:
		p.MessageExpiry, err = c.u32()
	case PropContentType:
		p.ContentType, err = c.string()
	case PropResponseTopic:
		p.ResponseTopic, err = c.string()
	case PropCorrelationData:
		p.CorrelationData, err = c.binary()
	case PropSessionExpiry:
		p.SessionExpiry, err = c.u32()
	case PropAssignedClientID:
		p.AssignedClientID, err = c.string()
	case PropServerKeepAlive:
		p.ServerKeepAlive, err = c.u16()
	case PropAuthMethod:
		p.AuthMethod, err = c.string()
	case PropAuthData:
		p.AuthData, err = c.binary()
	case PropRequestProblemInfo:
		p.RequestProblemInfo, err = c.u8()
	case PropWillDelay:
		p.WillDelay, err = c.u32()
	case PropRequestResponseInfo:
		p.RequestResponseInfo, err = c.u8()
	case PropResponseInfo:
		p.ResponseInfo, err = c.string()
	case PropServerReference:
		p.ServerReference, err = c.string()
	case PropReasonString:
		p.ReasonString, err = c.string()
	case PropReceiveMaximum:
		p.ReceiveMaximum, err = c.u16()
		if err == nil && p.ReceiveMaximum == 0 {
			return Errorf(ProtocolError, "Receive Maximum 0")
		}
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum, err = c.u16()
	case PropTopicAlias:
		// 0 is decoded: refusing it is the broker's Topic Alias Invalid.
		p.TopicAlias, err = c.u16()
	case PropMaximumQoS:
		p.MaximumQoS, err = c.u8()
	case PropRetainAvailable:
		p.RetainAvailable, err = c.u8()
	case PropMaximumPacketSize:
		p.MaximumPacketSize, err = c.u32()
		if err == nil && p.MaximumPacketSize == 0 {
			return Errorf(ProtocolError, "Maximum Packet Size 0")
		}
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable, err = c.u8()
	case PropSubIDAvailable:
		p.SubIDAvailable, err = c.u8()
	case PropSharedSubAvailable:
		p.SharedSubAvailable, err = c.u8()
	}
	if err != nil {
		return err
	}
	return checkFlagProperty(p, id)
}

// checkFlagProperty refuses the byte properties whose only values are 0 and
// 1; any other value "is a Protocol Error" (MQTT 5.0 sections 3.1.2.11,
// 3.2.2.3, 3.3.2.3.2).
func checkFlagProperty(p *Properties, id PropertyID) error {
	var v byte
	switch id {
	case PropPayloadFormat:
		v = p.PayloadFormat
	case PropRequestProblemInfo:
		v = p.RequestProblemInfo
	case PropRequestResponseInfo:
		v = p.RequestResponseInfo
	case PropMaximumQoS:
		v = p.MaximumQoS
	case PropRetainAvailable:
		v = p.RetainAvailable
	case PropWildcardSubAvailable:
		v = p.WildcardSubAvailable
	case PropSubIDAvailable:
		v = p.SubIDAvailable
	case PropSharedSubAvailable:
		v = p.SharedSubAvailable
	default:
		return nil
	}
	if v > 1 {
		return Errorf(ProtocolError, "%v is %d, want 0 or 1", id, v)
	}
	return nil
}

// Encoding writes properties in ascending identifier order, so equal
// Properties always give equal bytes. propertiesLen and appendProperties
// must list the same properties in the same order.

func stringPropLen(s string) int { return 1 + 2 + len(s) }
func binaryPropLen(b []byte) int { return 1 + 2 + len(b) }

// propertiesLen is the size of the property list without its length prefix.
func propertiesLen(p *Properties) int {
	if p.Empty() {
		return 0
	}
	n := 0
	if p.Has(PropPayloadFormat) {
		n += 2
	}
	if p.Has(PropMessageExpiry) {
		n += 5
	}
	if p.Has(PropContentType) {
		n += stringPropLen(p.ContentType)
	}
	if p.Has(PropResponseTopic) {
		n += stringPropLen(p.ResponseTopic)
	}
	if p.Has(PropCorrelationData) {
		n += binaryPropLen(p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		n += 1 + varintLen(int(id))
	}
	if p.Has(PropSessionExpiry) {
		n += 5
	}
	if p.Has(PropAssignedClientID) {
		n += stringPropLen(p.AssignedClientID)
	}
	if p.Has(PropServerKeepAlive) {
		n += 3
	}
	if p.Has(PropAuthMethod) {
		n += stringPropLen(p.AuthMethod)
	}
	if p.Has(PropAuthData) {
		n += binaryPropLen(p.AuthData)
	}
	if p.Has(PropRequestProblemInfo) {
		n += 2
	}
	if p.Has(PropWillDelay) {
		n += 5
	}
	if p.Has(PropRequestResponseInfo) {
		n += 2
	}
	if p.Has(PropResponseInfo) {
		n += stringPropLen(p.ResponseInfo)
	}
	if p.Has(PropServerReference) {
		n += stringPropLen(p.ServerReference)
	}
	if p.Has(PropReasonString) {
		n += stringPropLen(p.ReasonString)
	}
	if p.Has(PropReceiveMaximum) {
		n += 3
	}
	if p.Has(PropTopicAliasMaximum) {
		n += 3
	}
	if p.Has(PropTopicAlias) {
		n += 3
	}
	if p.Has(PropMaximumQoS) {
		n += 2
	}
	if p.Has(PropRetainAvailable) {
		n += 2
	}
	for _, u := range p.User {
		n += 1 + 2 + len(u.Key) + 2 + len(u.Value)
	}
	if p.Has(PropMaximumPacketSize) {
		n += 5
	}
	if p.Has(PropWildcardSubAvailable) {
		n += 2
	}
	if p.Has(PropSubIDAvailable) {
		n += 2
	}
	if p.Has(PropSharedSubAvailable) {
		n += 2
	}
	return n
}

// propertiesWireLen is the size of the property list with its length prefix.
func propertiesWireLen(p *Properties) int {
	n := propertiesLen(p)
	return varintLen(n) + n
}

// appendProperties appends the length prefix and the properties.
func appendProperties(dst []byte, p *Properties) []byte {
	dst = appendVarint(dst, propertiesLen(p))
	if p.Empty() {
		return dst
	}
	if p.Has(PropPayloadFormat) {
		dst = append(dst, byte(PropPayloadFormat), p.PayloadFormat)
	}
	if p.Has(PropMessageExpiry) {
		dst = appendU32(append(dst, byte(PropMessageExpiry)), p.MessageExpiry)
	}
	if p.Has(PropContentType) {
		dst = appendString(append(dst, byte(PropContentType)), p.ContentType)
	}
	if p.Has(PropResponseTopic) {
		dst = appendString(append(dst, byte(PropResponseTopic)), p.ResponseTopic)
	}
	if p.Has(PropCorrelationData) {
		dst = appendBinary(append(dst, byte(PropCorrelationData)), p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		dst = appendVarint(append(dst, byte(PropSubscriptionID)), int(id))
	}
	if p.Has(PropSessionExpiry) {
		dst = appendU32(append(dst, byte(PropSessionExpiry)), p.SessionExpiry)
	}
	if p.Has(PropAssignedClientID) {
		dst = appendString(append(dst, byte(PropAssignedClientID)), p.AssignedClientID)
	}
	if p.Has(PropServerKeepAlive) {
		dst = appendU16(append(dst, byte(PropServerKeepAlive)), p.ServerKeepAlive)
	}
	if p.Has(PropAuthMethod) {
		dst = appendString(append(dst, byte(PropAuthMethod)), p.AuthMethod)
	}
	if p.Has(PropAuthData) {
		dst = appendBinary(append(dst, byte(PropAuthData)), p.AuthData)
	}
	if p.Has(PropRequestProblemInfo) {
		dst = append(dst, byte(PropRequestProblemInfo), p.RequestProblemInfo)
	}
	if p.Has(PropWillDelay) {
		dst = appendU32(append(dst, byte(PropWillDelay)), p.WillDelay)
	}
	if p.Has(PropRequestResponseInfo) {
		dst = append(dst, byte(PropRequestResponseInfo), p.RequestResponseInfo)
	}
	if p.Has(PropResponseInfo) {
		dst = appendString(append(dst, byte(PropResponseInfo)), p.ResponseInfo)
	}
	if p.Has(PropServerReference) {
		dst = appendString(append(dst, byte(PropServerReference)), p.ServerReference)
	}
	if p.Has(PropReasonString) {
		dst = appendString(append(dst, byte(PropReasonString)), p.ReasonString)
	}
	if p.Has(PropReceiveMaximum) {
		dst = appendU16(append(dst, byte(PropReceiveMaximum)), p.ReceiveMaximum)
	}
	if p.Has(PropTopicAliasMaximum) {
		dst = appendU16(append(dst, byte(PropTopicAliasMaximum)), p.TopicAliasMaximum)
	}
	if p.Has(PropTopicAlias) {
		dst = appendU16(append(dst, byte(PropTopicAlias)), p.TopicAlias)
	}
	if p.Has(PropMaximumQoS) {
		dst = append(dst, byte(PropMaximumQoS), p.MaximumQoS)
	}
	if p.Has(PropRetainAvailable) {
		dst = append(dst, byte(PropRetainAvailable), p.RetainAvailable)
	}
	for _, u := range p.User {
		dst = appendString(appendString(append(dst, byte(PropUser)), u.Key), u.Value)
	}
	if p.Has(PropMaximumPacketSize) {
		dst = appendU32(append(dst, byte(PropMaximumPacketSize)), p.MaximumPacketSize)
	}
	if p.Has(PropWildcardSubAvailable) {
		dst = append(dst, byte(PropWildcardSubAvailable), p.WildcardSubAvailable)
	}
	if p.Has(PropSubIDAvailable) {
		dst = append(dst, byte(PropSubIDAvailable), p.SubIDAvailable)
	}
	if p.Has(PropSharedSubAvailable) {
		dst = append(dst, byte(PropSharedSubAvailable), p.SharedSubAvailable)
	}
	return dst
}
