//go:build linux

package broker

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// idlePoller holds idle TCP connections in one epoll set instead of a
// parked goroutine each: a goroutine's stack (2 KiB at least) would be half
// of what an idle connection may cost. One poller goroutine waits on the
// set; when a connection's next bytes arrive, its keep alive runs out, or
// it is being closed, the connection gets a reader goroutine again.
//
// The set is level-triggered and one-shot: bytes that arrived before a
// connection was parked fire at once, and a fired connection is not
// reported again until it is parked anew. Every socket close goes through
// conn.closeSocket, which unparks first, so no connection is ever left
// parked without a reader, and a closed descriptor's number, which the
// kernel may give to a new connection, is never touched after the close.
type idlePoller struct {
	epfd   int
	wakeR  int // read end of a pipe in the set: a byte on it stops run
	wakeW  int
	mu     sync.Mutex      // guards the fields below
	parked map[int32]*conn // by descriptor
	closed bool
}

// idleSweep is how often parked connections are checked against their keep
// alive: a silent client is closed at most this much late.
const idleSweep = time.Second

func newIdlePoller(s *Server) *idlePoller {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		s.log.Warn("idle connections will hold a goroutine each", "err", err)
		return nil
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil
	}
	p := &idlePoller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], parked: make(map[int32]*conn)}
	s.wg.Add(1)
	go p.run(s)
	return p
}

// socketFD returns the descriptor of a TCP connection, or -1 for any other
// transport, which then waits with a goroutine.
func socketFD(nc net.Conn) int32 {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := int32(-1)
	rc.Control(func(v uintptr) { fd = int32(v) })
	return fd
}

// park hands c's wait for its next bytes to the poller. It reports false
// when c must wait with a goroutine instead.
func (p *idlePoller) park(c *conn) bool {
	if p == nil || c.fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if c.keepAlive > 0 {
		c.idleDeadline = time.Now().Add(c.keepAlive)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: c.fd}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(c.fd), &ev)
	if err == syscall.ENOENT {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(c.fd), &ev)
	}
	if err != nil {
		return false
	}
	p.parked[c.fd] = c
	return true
}

// unpark gives c a reader goroutine again if it is parked; it is how a
// connection being closed by someone else notices.
func (p *idlePoller) unpark(c *conn) {
	if p == nil || c.fd < 0 {
		return
	}
	p.mu.Lock()
	if p.parked[c.fd] != c {
		p.mu.Unlock()
		return
	}
	delete(p.parked, c.fd)
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
	p.mu.Unlock()
	go c.awaitPacket()
}

func (p *idlePoller) run(s *Server) {
	defer s.wg.Done()
	events := make([]syscall.EpollEvent, 256)
	var ready, late []*conn
	nextSweep := time.Now().Add(idleSweep)
	for {
		n, err := syscall.EpollWait(p.epfd, events, int(idleSweep/time.Millisecond))
		if err != nil && err != syscall.EINTR {
			s.log.Error("idle poller failed; idle connections fall back to goroutines", "err", err)
			p.stop()
			return
		}
		stopping := false
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == p.wakeR {
				stopping = true
				continue
			}
			if c := p.parked[ev.Fd]; c != nil {
				delete(p.parked, ev.Fd)
				ready = append(ready, c)
			}
		}
		if now := time.Now(); !now.Before(nextSweep) {
			nextSweep = now.Add(idleSweep)
			for fd, c := range p.parked {
				if c.keepAlive > 0 && now.After(c.idleDeadline) {
					delete(p.parked, fd)
					syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
					late = append(late, c)
				}
			}
		}
		p.mu.Unlock()
		for i, c := range ready {
			go c.awaitPacket()
			ready[i] = nil
		}
		for i, c := range late {
			go c.finish(errKeepAlive) // [MQTT-3.1.2-24]
			late[i] = nil
		}
		ready, late = ready[:0], late[:0]
		if stopping {
			p.stop()
			return
		}
	}
}

// wake makes run return; Shutdown calls it once every connection has been
// told to close (and so unparked).
func (p *idlePoller) wake() {
	if p != nil {
		syscall.Write(p.wakeW, []byte{0})
	}
}

// stop closes the set; connections parked after this wait with goroutines.
func (p *idlePoller) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for fd, c := range p.parked {
		delete(p.parked, fd)
		go c.awaitPacket()
	}
	syscall.Close(p.epfd)
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
}
