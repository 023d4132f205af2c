package broker

import (
	"errors"

	"github.com/gridmq/gridmq/internal/packet"
)

// Authenticator checks the credentials a client sends in CONNECT. It is
// implemented outside the broker (password files live in internal/auth) and
// must be safe for concurrent use.
type Authenticator interface {
	// Authenticate admits username with password, or returns why not:
	// packet.BadUserNameOrPassword or packet.NotAuthorized (any other error
	// counts as the former). It must never put the password in the error.
	Authenticate(username string, password []byte) error
}

// Authorizer decides what a connected client may do with a topic: the
// rules of an ACL file. Safe for concurrent use. The topic and filter
// strings may view the connection's read buffer: read them, keep nothing.
type Authorizer interface {
	CanPublish(clientID, username string, anonymous bool, topic string) bool
	CanSubscribe(clientID, username string, anonymous bool, filter string) bool
	CanReceive(clientID, username string, anonymous bool, topic string) bool
}

// identity is who a session's client authenticated as; replaced, never
// modified, so that routing reads it without the session lock.
type identity struct {
	clientID  string
	username  string
	anonymous bool
}

// admit applies the listener's anonymous rule and the Authenticator to a
// CONNECT, answering a refusal with the reason code for the client's level
// (v5 0x86 / 0x87; 3.1 and 3.1.1 return codes 4 / 5).
func (c *conn) admit(cp *packet.Connect) error {
	auth := c.srv.opts.Authenticator
	switch {
	case !cp.UsernameFlag && !c.lo.AllowAnonymous:
		return c.refuse(packet.NotAuthorized, "anonymous clients are not allowed on this listener")
	case cp.UsernameFlag && auth != nil:
		if err := auth.Authenticate(cp.Username, cp.Password); err != nil {
			code := packet.BadUserNameOrPassword
			if errors.Is(err, packet.NotAuthorized) {
				code = packet.NotAuthorized
			}
			return c.refuse(code, "authentication failed for user "+cp.Username)
		}
	case cp.UsernameFlag && !c.lo.AllowAnonymous:
		return c.refuse(packet.BadUserNameOrPassword, "no password file is configured")
	}
	c.username, c.anonymous = cp.Username, !cp.UsernameFlag
	return nil
}

// mayReceive reports whether st's client may be sent a message on topic.
// Read access is checked at delivery, not only at SUBSCRIBE, so that rules
// narrower than a filter hold.
func (s *Server) mayReceive(st *sessionState, topic string) bool {
	a := s.opts.Authorizer
	if a == nil {
		return true
	}
	id := st.ident.Load()
	return id != nil && a.CanReceive(id.clientID, id.username, id.anonymous, topic)
}
