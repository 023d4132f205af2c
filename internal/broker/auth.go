package broker

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// Authenticator checks the credentials a client sends in CONNECT. It is
// implemented outside the broker (password files live in internal/auth) and
// must be safe for concurrent use.
type Authenticator interface {
	// Authenticate admits username with password, connecting from remote
	// (the zero Addr when the transport has no IP address), or returns why
	// not: packet.BadUserNameOrPassword, packet.NotAuthorized, or a
	// *packet.Error with another CONNACK reason code (any other error counts
	// as the first). It must never put the password in the error. stamp
	// identifies the credentials admitted, for StillValid.
	Authenticate(remote netip.Addr, username string, password []byte) (stamp string, err error)
	// StillValid reports whether a client admitted with stamp may stay
	// connected now; see Server.RecheckCredentials.
	StillValid(username, stamp string) bool
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
// (v5 0x86 / 0x87 / 0x9F; 3.1 and 3.1.1 return codes 4 / 5 / 3). A refusal
// of credentials waits AuthFailDelay first.
func (c *conn) admit(cp *packet.Connect) error {
	auth := c.srv.opts.Authenticator
	switch {
	case !cp.UsernameFlag && !c.lo.AllowAnonymous:
		return c.refuse(packet.NotAuthorized, "anonymous clients are not allowed on this listener")
	case cp.UsernameFlag && auth != nil:
		stamp, err := auth.Authenticate(c.remoteIP(), cp.Username, cp.Password)
		if err != nil {
			code := packet.BadUserNameOrPassword
			var pe *packet.Error
			switch {
			case errors.Is(err, packet.NotAuthorized):
				code = packet.NotAuthorized
			case errors.As(err, &pe):
				code = pe.Code
			}
			c.srv.stats.authFailures.Add(1)
			if d := c.srv.opts.AuthFailDelay; d > 0 {
				time.Sleep(d)
			}
			return c.refuse(code, "authentication failed for user "+cp.Username)
		}
		c.authStamp = stamp
	case cp.UsernameFlag && !c.lo.AllowAnonymous:
		return c.refuse(packet.BadUserNameOrPassword, "no password file is configured")
	}
	c.username, c.anonymous = cp.Username, !cp.UsernameFlag
	return nil
}

// remoteIP is the client's address without its port; the zero Addr for a
// transport that has none.
func (c *conn) remoteIP() netip.Addr {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// errCredentialsGone closes a client whose user was deleted, or whose
// password changed, after it connected.
var errCredentialsGone = &packet.Error{Code: packet.NotAuthorized, Reason: "user removed or password changed"}

// RecheckCredentials closes every connection that authenticated with
// credentials the Authenticator no longer accepts (v5 clients are sent
// DISCONNECT 0x87) and keeps all others, anonymous ones included. Call it
// after the password file has been reloaded.
func (s *Server) RecheckCredentials() (closed int) {
	auth := s.opts.Authenticator
	if auth == nil {
		return 0
	}
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.outMu.Lock()
		admitted := c.connacked && !c.closing
		c.outMu.Unlock()
		// username and authStamp are written before CONNACK, and read here
		// only after it, under outMu.
		if !admitted || c.anonymous || c.authStamp == "" || auth.StillValid(c.username, c.authStamp) {
			continue
		}
		s.log.Info("closing connection: credentials no longer valid", "client", c.clientID, "user", c.username, "remote", c.remote)
		c.closeWith(errCredentialsGone)
		closed++
	}
	return closed
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
