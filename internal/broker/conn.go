package broker

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gridmq/gridmq/internal/packet"
	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/sockio"
)

const (
	// connectTimeout bounds the wait for CONNECT after the TCP accept.
	connectTimeout = 10 * time.Second
	// closeFlushTimeout bounds the final flush (DISCONNECT and pending acks) of a closing connection.
	closeFlushTimeout = 2 * time.Second
	// takeoverTimeout bounds the wait for a replaced connection to finish.
	takeoverTimeout = 5 * time.Second
	// lingerFor is how long a connection that has gone quiet keeps its
	// goroutines (reader and writer) before it parks: a client busy at a
	// thousand packets a second never parks, so it does not pay a goroutine
	// start, and a stack grown again, per packet.
	lingerFor = 100 * time.Millisecond
)

// Reasons a connection ends that are not protocol violations.
var (
	errShutdown         = &packet.Error{Code: packet.ServerShuttingDown, Reason: "server shutting down"}
	errTakenOver        = &packet.Error{Code: packet.SessionTakenOver, Reason: "session taken over by a new connection"}
	errKeepAlive        = &packet.Error{Code: packet.KeepAliveTimeout, Reason: "keep alive timeout"}
	errClientDisconnect = errors.New("client disconnected")
	errNotReading       = &packet.Error{Code: packet.QuotaExceeded, Reason: "client does not read what the server sends"}
)

// maxPendingControl bounds the acknowledgements and other control packets
// waiting for a client that does not read: about 250,000 PUBACKs.
const maxPendingControl = 1 << 20

// conn is one client network connection. Its reader owns it and owns its
// writer goroutine, which runs only while there is something to write (and
// lingers briefly after). The reader is one goroutine at a time (see
// readLoop); an idle TCP connection on Linux is parked with the idle poller
// and holds no goroutine and no buffer.
type conn struct {
	srv    *Server
	nc     net.Conn
	lo     ListenerOptions
	remote string
	fd     int32           // the socket's descriptor for the idle poller; -1 if not TCP
	raw    syscall.RawConn // for writes that must not block (flush.go); nil if not a socket
	reader *packet.Reader
	done   chan struct{} // closed when serve has finished, session detached

	// Set once by the reader during CONNECT, before the session is attached;
	// read by the writer afterwards.
	version      byte
	clientID     string
	username     string // as authenticated; "" and anonymous when none was sent
	authStamp    string // the Authenticator's stamp for the credentials admitted
	anonymous    bool
	keepAlive    time.Duration // 1.5 x the negotiated keep alive [MQTT-3.1.2-24]; 0 = none
	maxPacketOut uint32        // client's Maximum Packet Size; 0 = protocol maximum
	aliasMaxOut  uint16        // client's Topic Alias Maximum
	keepWill     bool          // publish the will when the connection ends

	// Reader goroutine only.
	inAliases session.InboundAliases
	flushSet  []*conn    // connections to write to before the next read; see flush.go
	pub       pendingAck // owed for the PUBLISH being handled, with a data dir (durable.go)

	idleDeadline time.Time // while parked: when the keep alive runs out; guarded by the idle poller
	lingering    bool      // the reader waits for bytes for at most lingerFor
	deadlineSet  bool      // a read deadline is armed on nc

	// writeMu is held by whoever takes bytes to send and writes them, the
	// writer goroutine or a reader (flush.go), so that they go out in order.
	// It comes before outMu.
	writeMu sync.Mutex

	outMu      sync.Mutex // guards the fields below
	sess       *sessionState
	ctl        []byte        // encoded control packets waiting for the writer
	writing    bool          // a writer goroutine is running
	writerIdle bool          // it is lingering for more work; wake it through wake
	wake       chan struct{} // made by a lingering writer, dropped when it exits
	closing    bool          // no more deliveries; the writer flushes ctl, then closes nc
	closeErr   error         // why closing began, for the log
	connacked  bool
	writerWG   sync.WaitGroup

	// Holder of writeMu only.
	outAliases session.OutboundAliases

	// delivering is set while the reader waits for room in a subscriber's
	// queue; see Server.deliver.
	delivering atomic.Bool
	// ackWaits counts acknowledgements waiting for the disk; while there
	// are any, control packets queue behind them (durable.go).
	ackWaits atomic.Int32
}

func newConn(s *Server, nc net.Conn, lo ListenerOptions) *conn {
	c := &conn{srv: s, nc: nc, lo: lo, remote: nc.RemoteAddr().String(), fd: socketFD(nc), raw: sockio.RawConn(nc), done: make(chan struct{}), keepWill: true}
	c.reader = packet.NewReader(countingReader{c})
	if s.opts.MaxPacketSize > 0 {
		c.reader.SetMaxPacketSize(s.opts.MaxPacketSize)
	}
	return c
}

// countingReader counts bytes received per Read call, not per packet, and
// arms the keep alive deadline before each: the client is late only when
// no byte arrives for 1.5 times its keep alive while the broker waits for
// one [MQTT-3.1.2-24], not while the broker is busy with what it sent.
type countingReader struct{ c *conn }

func (r countingReader) Read(p []byte) (int, error) {
	c := r.c
	if len(c.flushSet) > 0 {
		c.flushPending() // before this read may wait
	}
	switch {
	case c.lingering:
		c.nc.SetReadDeadline(time.Now().Add(lingerFor))
		c.deadlineSet = true
	case c.keepAlive > 0:
		c.nc.SetReadDeadline(time.Now().Add(c.keepAlive))
		c.deadlineSet = true
	case c.deadlineSet:
		c.nc.SetReadDeadline(time.Time{})
		c.deadlineSet = false
	}
	var n int
	var err error
	if c.raw != nil {
		n, err = sockio.Read(c.raw, p)
	} else {
		n, err = c.nc.Read(p)
	}
	r.c.srv.stats.bytesReceived.Add(uint64(n))
	return n, err
}

// serve runs the connection: CONNECT, then the read loop. Whichever
// goroutine sees the connection end calls finish, exactly once.
func (c *conn) serve() {
	if err := c.start(); err != nil {
		c.finish(err)
		return
	}
	c.readLoop()
}

// start reads and handles CONNECT.
func (c *conn) start() error {
	c.nc.SetReadDeadline(time.Now().Add(connectTimeout))
	// The level is unknown until CONNECT is decoded; CONNECT ignores it.
	pk, err := c.reader.ReadPacket(packet.V311)
	if err != nil {
		return c.connectFailed(pk, err)
	}
	c.srv.stats.packetsReceived.Add(1)
	cp, ok := pk.(*packet.Connect)
	if !ok {
		return packet.Errorf(packet.ProtocolError, "first packet is %s, not CONNECT [MQTT-3.1.0-1]", pk.Type())
	}
	if err := c.handleConnect(cp); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Time{})
	return nil
}

// readLoop handles packets for as long as they are buffered. When none is,
// it returns, handing the wait for the next one to the idle poller, which
// holds no goroutine for it, or else to a fresh goroutine: the stack a
// goroutine grew while handling packets is not given back while it waits,
// and a fresh one's is small.
func (c *conn) readLoop() {
	for {
		if c.reader.Buffered() == 0 && c.fd >= 0 && (c.keepAlive == 0 || c.keepAlive > lingerFor) {
			c.lingering = true
			err := c.reader.Await()
			c.lingering = false
			switch {
			case err == nil:
				continue // busy: keep this goroutine
			case !errors.Is(err, os.ErrDeadlineExceeded):
				c.finish(readError(err))
				return
			}
		}
		if c.reader.Buffered() == 0 {
			c.flushPending() // parked, c may not read again for a long time
			c.reader.Release()
			if c.fd < 0 || !c.srv.idlePoller().park(c) {
				go c.awaitPacket()
			}
			return // c may already be another goroutine's
		}
		pk, err := c.reader.ReadPacket(c.version)
		if err != nil {
			c.finish(readError(err))
			return
		}
		c.srv.stats.packetsReceived.Add(1)
		if err := c.handle(pk); err != nil {
			c.finish(err)
			return
		}
	}
}

// awaitPacket waits for the client's next bytes, then goes on reading.
func (c *conn) awaitPacket() {
	if err := c.reader.Await(); err != nil {
		c.finish(readError(err))
		return
	}
	c.readLoop()
}

func readError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errKeepAlive
	}
	return err
}

// handle dispatches one packet received after CONNECT.
func (c *conn) handle(pk packet.Packet) error {
	switch p := pk.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Ack:
		return c.handleAck(p)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		c.sendControl(&packet.Pingresp{})
		return nil
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Connect:
		return packet.Errorf(packet.ProtocolError, "second CONNECT [MQTT-3.1.0-2]")
	case *packet.Auth:
		return packet.Errorf(packet.ProtocolError, "AUTH without an authentication method [MQTT-4.12.0-1]")
	default:
		return packet.Errorf(packet.ProtocolError, "%s is not sent by clients", pk.Type())
	}
}

func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if c.version == packet.V5 {
		st := c.sess
		if p.Properties.Has(packet.PropSessionExpiry) {
			st.mu.Lock()
			wasZero := st.expiry == 0
			if !wasZero {
				st.expiry = expiryInterval(p.Properties.SessionExpiry)
			}
			st.mu.Unlock()
			if wasZero && p.Properties.SessionExpiry != 0 {
				return packet.Errorf(packet.ProtocolError, "session expiry set on DISCONNECT after 0 on CONNECT (5.0 section 3.14.2.2.2)")
			}
		}
		// Only a normal disconnection (0x00) deletes the will [MQTT-3.1.2-10];
		// 0x04 and any error code leave it to be published [MQTT-3.14.4-3].
		c.keepWill = p.ReasonCode != packet.Success
	} else {
		c.keepWill = false // [MQTT-3.1.2-10]
	}
	return errClientDisconnect
}

// expiryInterval converts a Session Expiry Interval in seconds.
func expiryInterval(secs uint32) time.Duration {
	if secs == 0xFFFFFFFF {
		return neverExpires
	}
	return time.Duration(secs) * time.Second
}

// sendControl queues a control packet (an ack, SUBACK, PINGRESP...) for the
// writer; it goes out before any message queued after it.
func (c *conn) sendControl(p packet.Packet) {
	if c.ackWaits.Load() > 0 {
		c.commitInOrder(nil, p.Encode(nil, c.version), nil)
		return
	}
	c.outMu.Lock()
	if c.closing {
		c.outMu.Unlock()
		return
	}
	c.ctl = p.Encode(c.ctl, c.version)
	c.controlQueued()
}

// controlQueued finishes queueing a control packet: caller holds c.outMu,
// which this releases. It closes a client that lets them pile up unread.
func (c *conn) controlQueued() {
	overflow := len(c.ctl) > maxPendingControl
	c.outMu.Unlock()
	c.srv.stats.packetsSent.Add(1)
	if overflow {
		c.closeWith(errNotReading)
		c.nc.SetReadDeadline(time.Now()) // stop reading from it now
		return
	}
	c.flushLater(c)
}

// closeWith starts closing the connection for err: a v5 client that has
// been sent CONNACK gets a DISCONNECT with err's reason code; pending control
// packets are flushed (bounded by closeFlushTimeout), then the socket closes,
// which ends the read loop. Safe from any goroutine, any number of times.
func (c *conn) closeWith(err error) {
	c.outMu.Lock()
	if c.closing {
		c.outMu.Unlock()
		return
	}
	c.closing = true
	c.closeErr = err
	var pe *packet.Error
	if c.version == packet.V5 && c.connacked && errors.As(err, &pe) && pe.Code.IsError() {
		d := packet.Disconnect{ReasonCode: pe.Code}
		c.ctl = appendWithReason(c.ctl, &d, &d.Properties, pe.Reason, c.maxPacketOut)
		c.srv.stats.packetsSent.Add(1)
	}
	start := !c.writing
	if start {
		c.writing = true
		c.writerWG.Add(1)
	} else {
		c.wakeWriterLocked() // a lingering writer flushes and closes
	}
	c.outMu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	if start {
		go c.writeLoop()
	}
	if errors.Is(err, errShutdown) || errors.Is(err, errTakenOver) {
		// The client may be blocked sending to us; unblock our reader too.
		c.nc.SetReadDeadline(time.Now().Add(closeFlushTimeout))
	}
	c.unpark() // a parked connection needs its reader to finish
}

// unpark gives c its reader back if it is parked with the idle poller.
func (c *conn) unpark() {
	if c.fd < 0 {
		return
	}
	c.srv.mu.Lock()
	idle := c.srv.idle
	c.srv.mu.Unlock()
	idle.unpark(c)
}

// closeSocket closes the network connection; every close goes through it,
// so that the idle poller never holds a descriptor that has been closed.
func (c *conn) closeSocket() {
	c.unpark()
	c.nc.Close()
}

// maxReasonString bounds the Reason String the server adds to a refusal.
const maxReasonString = 200

// appendWithReason encodes a v5 DISCONNECT or CONNACK with a Reason String
// saying why, unless that would exceed the client's Maximum Packet Size
// [MQTT-3.2.2-19] [MQTT-3.14.2-3] (0 means no limit) or the text is not a
// valid MQTT string.
func appendWithReason(dst []byte, p packet.Packet, props *packet.Properties, reason string, maxPacket uint32) []byte {
	start := len(dst)
	plain := p.Encode(dst, packet.V5)
	if reason == "" || len(reason) > maxReasonString || !utf8.ValidString(reason) || strings.IndexByte(reason, 0) >= 0 {
		return plain
	}
	props.ReasonString = reason
	props.Set(packet.PropReasonString)
	withReason := p.Encode(plain[:start], packet.V5)
	if maxPacket > 0 && uint32(len(withReason)-start) > maxPacket {
		props.Clear(packet.PropReasonString)
		return p.Encode(withReason[:start], packet.V5)
	}
	return withReason
}

// finish runs once the read loop has ended: it flushes and closes the
// socket, waits for the writer, detaches the session, and logs why.
func (c *conn) finish(err error) {
	s := c.srv
	c.flushPending()
	c.closeWith(err)
	c.writerWG.Wait()
	c.closeSocket()
	c.reader.Release()

	c.outMu.Lock()
	st, connacked := c.sess, c.connacked
	if c.closeErr != nil {
		err = c.closeErr // the cause, not the read error it led to
	}
	c.outMu.Unlock()
	if st != nil {
		s.connectionLost(c, st, c.keepWill)
	}
	if connacked {
		s.stats.clientsConnected.Add(-1)
	}
	s.logEnd(c, err)
	s.removeConn(c)
	close(c.done)
	s.wg.Done()
}

func (s *Server) logEnd(c *conn, err error) {
	var pe *packet.Error
	switch {
	case err == nil, errors.Is(err, errClientDisconnect):
		s.log.Debug("client disconnected", "client", c.clientID, "remote", c.remote)
	case errors.Is(err, errShutdown):
	case errors.Is(err, errTakenOver), errors.Is(err, errKeepAlive):
		s.log.Info("connection closed", "client", c.clientID, "remote", c.remote, "reason", err.Error())
	case errors.Is(err, packet.BadUserNameOrPassword), errors.Is(err, packet.NotAuthorized), errors.Is(err, packet.ConnectionRateExceeded):
		s.log.Info("connection refused", "client", c.clientID, "remote", c.remote, "reason", err.Error())
	case errors.As(err, &pe):
		s.stats.protocolErrors.Add(1)
		s.log.Warn("connection closed for bad input", "client", c.clientID, "remote", c.remote, "reason", err.Error())
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.log.Debug("connection lost", "client", c.clientID, "remote", c.remote)
	default:
		s.log.Info("connection lost", "client", c.clientID, "remote", c.remote, "err", err.Error())
	}
}
