// Package client is a small MQTT 3.1, 3.1.1 and 5.0 client built on
// internal/packet: the client behind gridmq's bench, pub, sub and check
// commands.
//
// A Client is one network connection, one session: it does not reconnect,
// and it keeps no message for resending (a new connection starts afresh).
// It runs one reader goroutine for the life of the connection and a writer
// goroutine only while there are bytes to write; Close and Disconnect wait
// for both. Keep alive uses a timer, not a goroutine.
//
// It imports only the standard library and internal/packet; it must never
// import the broker.
package client

import (
	"syscall"

	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gridmq/gridmq/internal/sockio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridmq/gridmq/internal/packet"
)

// Options configure a connection. With only Addr and CleanStart set it
// connects with MQTT 3.1.1, a server-assigned client identifier and no
// keep alive.
type Options struct {
	Addr string // host:port
	// ClientID empty is assigned by the server, which 3.1.1 allows only
	// with CleanStart; for 3.1, which has no assignment, one is generated.
	ClientID string
	Version  byte   // packet.V31, packet.V311 (the default when 0) or packet.V5
	Username string // sent when non-empty
	Password []byte // sent when non-nil

	// CleanStart is Clean Session before v5.
	CleanStart bool
	// Will, when set, is published by the server if the connection ends
	// without DISCONNECT (see Close).
	Will *packet.Will
	// KeepAlive is sent in CONNECT; the client sends PINGREQ after that long
	// without sending anything and closes the connection when no PINGRESP
	// arrives within another KeepAlive. A v5 server's Server Keep Alive
	// replaces it. Whole seconds; 0 means none.
	KeepAlive time.Duration
	// SessionExpiry is the v5 Session Expiry Interval in seconds.
	SessionExpiry uint32

	// Inflight bounds the outgoing QoS 1 and 2 PUBLISHes not yet
	// acknowledged; Publish waits for a free slot. Default 100, at most
	// 65,000. A v5 server's Receive Maximum lowers it.
	Inflight int
	// ReceiveMaximum is the v5 Receive Maximum advertised in CONNECT: how
	// many QoS 1/2 PUBLISHes the server may have in flight to this client.
	// 0 sends none (the protocol default, 65,535).
	ReceiveMaximum uint16
	// MaxPacketSize is the largest packet accepted from the server, fixed
	// header included, advertised as the v5 Maximum Packet Size and enforced
	// for every version. 0 means the protocol maximum.
	MaxPacketSize uint32

	// DialTimeout bounds the dial, the TLS handshake and the wait for
	// CONNACK together. Default 10 seconds.
	DialTimeout time.Duration
	// TLSConfig, when non-nil, makes the connection TLS. An empty ServerName
	// is taken from Addr.
	TLSConfig *tls.Config
	// Dial, when non-nil, opens the connection instead of net.Dialer (and
	// instead of the TLS dialer: it returns the finished connection). It
	// lets a caller use another transport, such as a Unix socket or an
	// in-memory pipe in tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnMessage receives every PUBLISH from the server. It runs on the
	// client's reader goroutine, so the client reads nothing while it runs:
	// it should be quick, and must not call Close or Disconnect (which wait
	// for the reader) other than from a new goroutine. m and everything it
	// refers to are valid only during the call; copy what you keep. A QoS 1
	// or 2 message is acknowledged after OnMessage returns, and a QoS 2
	// message is delivered once even if the server sends it again.
	OnMessage func(m *Message)
}

// Message is a PUBLISH received from the server.
type Message struct {
	Topic   string
	Payload []byte // aliases the read buffer: valid only during OnMessage
	QoS     byte
	Retain  bool
	Dup     bool
	// Properties are the v5 PUBLISH properties (nil before v5); valid only
	// during OnMessage.
	Properties *packet.Properties
}

const (
	defaultInflight    = 100
	maxInflight        = 65000 // leaves packet identifiers for SUBSCRIBE and UNSUBSCRIBE
	defaultDialTimeout = 10 * time.Second
	// disconnectTimeout bounds Disconnect's wait for the pending bytes to be written.
	disconnectTimeout = 5 * time.Second
)

// Errors a Client returns. Failures the server reports carry its reason
// code: a refused CONNECT is a *ConnectError, a refused PUBLISH, SUBSCRIBE
// or UNSUBSCRIBE and a DISCONNECT from the server are *packet.Error values,
// so errors.Is(err, packet.NotAuthorized) works on all of them.
var (
	// ErrClosed is returned by calls made after Close or Disconnect.
	ErrClosed = errors.New("client: connection closed")
	// ErrPingTimeout ends a connection whose server did not answer PINGREQ
	// within the keep alive.
	ErrPingTimeout = errors.New("client: no PINGRESP from the server within the keep alive")
)

// ConnectError is a CONNACK that refused the connection. It unwraps to its
// reason code (for 3.1 and 3.1.1, the v5 code nearest the return code).
type ConnectError struct {
	Addr         string
	Code         packet.ReasonCode
	ReturnCode   byte   // the 3.1/3.1.1 CONNACK return code; 0 for v5
	ReasonString string // v5 Reason String, if the server sent one
}

func (e *ConnectError) Error() string {
	s := fmt.Sprintf("client: %s refused the connection: %v", e.Addr, e.Code)
	if e.Code.IsError() && e.ReturnCode == 0 {
		s += fmt.Sprintf(" (reason code 0x%02X)", byte(e.Code))
	} else if e.ReturnCode != 0 {
		s += fmt.Sprintf(" (return code %d)", e.ReturnCode)
	}
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	return s
}

func (e *ConnectError) Unwrap() error { return e.Code }

// Client is one MQTT connection. Its methods are safe for concurrent use.
//
// Lock order: kaMu -> outMu -> errMu. mu is taken alone.
type Client struct {
	opts    Options
	addr    string
	conn    net.Conn
	raw     syscall.RawConn // for the reader's non-blocking writes; nil if not a socket
	acks    *sockio.Writer
	version byte
	start   time.Time // monotonic origin of lastSent

	// Set once from CONNACK, read-only afterwards.
	keepAlive     time.Duration
	serverMaxQoS  byte
	retainOK      bool
	serverMaxSize uint32        // 0 = protocol maximum
	window        chan struct{} // one token per unacknowledged QoS 1/2 PUBLISH

	mu      sync.Mutex         // guards the fields below
	pending map[uint16]request // packet identifiers in use
	nextID  uint16
	pubs    int           // PUBLISHes in pending
	idle    chan struct{} // closed when pubs drops to 0; nil when nobody waits

	outMu      sync.Mutex // guards the fields below
	out        []byte     // encoded packets waiting for the writer
	spare      []byte     // the writer's previous buffer, reused
	writing    bool       // a writer goroutine is running
	outClosed  bool       // nothing more is accepted: Disconnect queued, or the connection ended
	outDone    bool       // the connection ended: out is dropped and no writer starts
	queued     uint64     // bytes ever appended to out
	written    uint64     // bytes ever written to conn
	writeErr   error      // the write that failed, if one did
	outWaiters int        // goroutines waiting on outCond
	outCond    sync.Cond  // L is &outMu; broadcast when a batch is written or out closes
	writerWG   sync.WaitGroup

	lastSent        atomic.Int64 // time.Since(start) at the last write, in nanoseconds
	pingOutstanding atomic.Bool

	kaMu      sync.Mutex // guards the fields below
	kaTimer   *time.Timer
	kaStopped bool
	pingSent  time.Duration  // time.Since(start) when the outstanding PINGREQ was queued
	kaWG      sync.WaitGroup // one count while the timer is armed or its function runs

	errMu         sync.Mutex // guards the fields below
	ended         bool
	local         bool  // ended by Close or Disconnect
	cause         error // why it ended otherwise
	disconnecting bool  // DISCONNECT is queued: the server may close first

	quit     chan struct{} // closed when the connection begins to end
	quitOnce sync.Once
	done     chan struct{} // closed when every goroutine of the client has ended

	// Reader goroutine only.
	reader  *packet.Reader
	msg     Message
	inbound map[uint16]struct{} // QoS 2 packet ids received, PUBREL not yet
	// acksQueued: acknowledgements were queued without starting the writer.
	acksQueued bool
	topics     map[string]string // interned topic strings, so OnMessage allocates nothing
}

// request is a packet identifier in use.
type request struct {
	kind packet.Type // PUBLISH, SUBSCRIBE or UNSUBSCRIBE
	// next is, for a PUBLISH, the acknowledgement awaited: PUBACK, PUBREC
	// or PUBCOMP.
	next packet.Type
	done chan result // nil when nobody waits; buffered, never blocks the reader
}

type result struct {
	err   error
	codes []packet.ReasonCode
}

// Connect dials o.Addr, sends CONNECT and waits for CONNACK. A refusal is
// a *ConnectError. The returned CONNACK carries what the server decided:
// Session Present, and in v5 its limits and any Assigned Client Identifier.
func Connect(ctx context.Context, o Options) (*Client, *packet.Connack, error) {
	if o.Version == 0 {
		o.Version = packet.V311
	}
	if o.Version != packet.V31 && o.Version != packet.V311 && o.Version != packet.V5 {
		return nil, nil, fmt.Errorf("client: unknown protocol version %d (want 3, 4 or 5)", o.Version)
	}
	if o.Inflight <= 0 {
		o.Inflight = defaultInflight
	}
	o.Inflight = min(o.Inflight, maxInflight)
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.KeepAlive < 0 || o.KeepAlive > 65535*time.Second {
		return nil, nil, fmt.Errorf("client: keep alive %v out of range (0 to 65535s)", o.KeepAlive)
	}
	if o.ClientID == "" {
		switch {
		case o.Version == packet.V31:
			o.ClientID = randomClientID()
		case o.Version == packet.V311 && !o.CleanStart:
			return nil, nil, errors.New("client: an empty client identifier needs CleanStart in MQTT 3.1.1 [MQTT-3.1.3-7]")
		}
	}

	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	conn, err := dial(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{
		opts:    o,
		addr:    o.Addr,
		conn:    conn,
		raw:     sockio.RawConn(conn),
		acks:    sockio.NewWriter(),
		version: o.Version,
		start:   time.Now(),
		pending: make(map[uint16]request),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		reader:  packet.NewReader(conn),
	}
	c.outCond.L = &c.outMu
	c.reader.SetMaxPacketSize(o.MaxPacketSize)
	ack, err := c.handshake(ctx)
	if err != nil {
		conn.Close()
		c.reader.Release()
		return nil, nil, err
	}
	go c.readLoop()
	c.startKeepAlive()
	return c, ack, nil
}

func dial(ctx context.Context, o Options) (net.Conn, error) {
	if o.Dial != nil {
		return o.Dial(ctx, "tcp", o.Addr)
	}
	d := &net.Dialer{}
	if o.TLSConfig != nil {
		td := &tls.Dialer{NetDialer: d, Config: o.TLSConfig}
		return td.DialContext(ctx, "tcp", o.Addr)
	}
	return d.DialContext(ctx, "tcp", o.Addr)
}

// handshake sends CONNECT and reads CONNACK, within ctx.
func (c *Client) handshake(ctx context.Context) (*packet.Connack, error) {
	o := c.opts
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	p := &packet.Connect{
		CleanStart: o.CleanStart,
		KeepAlive:  uint16(o.KeepAlive / time.Second),
		ClientID:   o.ClientID,
		Username:   o.Username,
		Password:   o.Password,
		Will:       o.Will,
	}
	p.UsernameFlag = o.Username != ""
	p.PasswordFlag = o.Password != nil
	if c.version == packet.V5 {
		pr := &p.Properties
		if o.SessionExpiry > 0 {
			pr.SessionExpiry = o.SessionExpiry
			pr.Set(packet.PropSessionExpiry)
		}
		if o.ReceiveMaximum > 0 {
			pr.ReceiveMaximum = o.ReceiveMaximum
			pr.Set(packet.PropReceiveMaximum)
		}
		if o.MaxPacketSize > 0 {
			pr.MaximumPacketSize = o.MaxPacketSize
			pr.Set(packet.PropMaximumPacketSize)
		}
	}
	if _, err := c.conn.Write(p.Encode(nil, c.version)); err != nil {
		return nil, c.handshakeErr(ctx, "sending CONNECT", err)
	}
	pk, err := c.reader.ReadPacket(c.version)
	if err != nil {
		return nil, c.handshakeErr(ctx, "waiting for CONNACK", err)
	}
	ack, ok := pk.(*packet.Connack)
	if !ok {
		return nil, fmt.Errorf("client: %s sent %v instead of CONNACK: %w", c.addr, pk.Type(),
			packet.Errorf(packet.ProtocolError, "expected CONNACK"))
	}
	if ack.ReasonCode != packet.Success {
		e := &ConnectError{Addr: c.addr, Code: ack.ReasonCode, ReasonString: ack.Properties.ReasonString}
		if c.version != packet.V5 {
			e.ReturnCode = ack.ReasonCode.V3ConnackCode()
		}
		return nil, e
	}
	if err := c.applyConnack(ack); err != nil {
		return nil, err
	}
	if !stop() {
		// ctx ended as CONNACK arrived and may have set a past deadline.
		return nil, c.handshakeErr(ctx, "waiting for CONNACK", ctx.Err())
	}
	c.conn.SetDeadline(time.Time{})
	return ack, nil
}

func (c *Client) handshakeErr(ctx context.Context, doing string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("the server closed the connection: %w", err)
	}
	return fmt.Errorf("client: %s: %s: %w", c.addr, doing, err)
}

// applyConnack takes the server's limits: v5 CONNACK properties, and the
// defaults for every version.
func (c *Client) applyConnack(ack *packet.Connack) error {
	c.keepAlive = c.opts.KeepAlive.Truncate(time.Second)
	c.serverMaxQoS = 2
	c.retainOK = true
	window := c.opts.Inflight
	if c.version == packet.V5 {
		p := &ack.Properties
		if p.Has(packet.PropServerKeepAlive) {
			c.keepAlive = time.Duration(p.ServerKeepAlive) * time.Second
		}
		if p.Has(packet.PropReceiveMaximum) {
			if p.ReceiveMaximum == 0 {
				return fmt.Errorf("client: %s: %w", c.addr, packet.Errorf(packet.ProtocolError, "CONNACK Receive Maximum 0"))
			}
			window = min(window, int(p.ReceiveMaximum))
		}
		if p.Has(packet.PropMaximumQoS) {
			c.serverMaxQoS = p.MaximumQoS
		}
		if p.Has(packet.PropRetainAvailable) {
			c.retainOK = p.RetainAvailable != 0
		}
		if p.Has(packet.PropMaximumPacketSize) {
			c.serverMaxSize = p.MaximumPacketSize
		}
	}
	c.window = make(chan struct{}, window)
	return nil
}

func randomClientID() string {
	var b [8]byte
	rand.Read(b[:])
	return "gridmq-" + hex.EncodeToString(b[:]) // 23 characters, the 3.1 limit
}

// Window is the number of QoS 1/2 PUBLISHes that may be unacknowledged at
// once: Options.Inflight, lowered by a v5 server's Receive Maximum.
func (c *Client) Window() int { return cap(c.window) }

// Version is the protocol level in use.
func (c *Client) Version() byte { return c.version }

// Done is closed when the connection has ended and every goroutine of the
// client has stopped.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err reports why the connection ended: nil while it is up and after
// Close or Disconnect, otherwise the cause (a *packet.Error for a server's
// DISCONNECT, ErrPingTimeout, or the network error).
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.local {
		return nil
	}
	return c.cause
}

// closedErr is what an operation returns once the connection has ended.
func (c *Client) closedErr() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.local || c.cause == nil {
		return ErrClosed
	}
	return c.cause
}

// fail ends the connection because of err, unless it is already ending.
// Once DISCONNECT is queued the end is the client's own, whoever closes.
func (c *Client) fail(err error) {
	c.errMu.Lock()
	if !c.ended {
		c.ended = true
		c.cause = err
		c.local = c.disconnecting
	}
	c.errMu.Unlock()
	c.quitOnce.Do(func() { close(c.quit) })
	c.conn.Close()
}

// Close closes the connection abruptly, without DISCONNECT (so the server
// publishes the will, if any), and waits for the client's goroutines to
// end. It must not be called from OnMessage.
func (c *Client) Close() error {
	c.errMu.Lock()
	if !c.ended {
		c.ended, c.local = true, true
	}
	c.errMu.Unlock()
	c.quitOnce.Do(func() { close(c.quit) })
	c.conn.Close()
	<-c.done
	return nil
}

// Disconnect sends DISCONNECT after everything already queued, waits (at
// most 5 seconds) for it to be written, closes the connection and waits for
// the client's goroutines to end. QoS 1 and 2 PUBLISHes not yet
// acknowledged are abandoned: call Drain first to wait for them. It must
// not be called from OnMessage.
func (c *Client) Disconnect() error {
	d := &packet.Disconnect{}
	c.errMu.Lock()
	c.disconnecting = true
	c.errMu.Unlock()
	err := c.sendLast(func(b []byte) []byte { return d.Encode(b, c.version) })
	if err == nil {
		c.conn.SetWriteDeadline(time.Now().Add(disconnectTimeout))
		c.outMu.Lock()
		c.awaitWriter()
		if c.written < c.queued {
			cause := c.writeErr
			if cause == nil {
				cause = ErrClosed // the connection ended before the writer got to it
			}
			err = fmt.Errorf("client: %s: DISCONNECT not written: %w", c.addr, cause)
		}
		c.outMu.Unlock()
	}
	c.Close()
	return err
}
