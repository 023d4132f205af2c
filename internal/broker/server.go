// Package broker is the MQTT server: listener lifecycle, connection read and
// write loops, CONNECT handling, sessions and routing.
//
// It never imports config or cmd; the interfaces it consumes (authentication,
// storage) are declared here and implemented elsewhere.
//
// Lock order: Server.mu, then conn.writeMu, then conn.outMu, then
// sessionState.mu. The index and the retained tree lock on their own and
// call nothing while locked. writeMu is the only lock held during socket
// I/O, and a publisher never waits while holding a lock.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gridmq/gridmq/internal/session"
	"github.com/gridmq/gridmq/internal/topic"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Server is one broker; serve any number of listeners with it.
type Server struct {
	opts     Options
	log      *slog.Logger
	index    *topic.Index[*sessionState, subOptions]
	retained *topic.Retained[*session.Message]
	retainMu sync.Mutex // orders retained changes between memory and disk; see keepRetained
	stats    stats
	started  time.Time
	done     chan struct{} // closed when Shutdown starts
	wg       sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	sessions  map[string]*sessionState
	idle      *idlePoller // started by the first TCP connection to go idle; nil before
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
}

// New returns a server with the given options.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxKeepAlive == 0 {
		opts.MaxKeepAlive = 65535
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 5 * time.Second
	}
	if opts.MaxQoS > 2 {
		opts.MaxQoS = 2
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		index:     topic.NewIndex[*sessionState, subOptions](),
		retained:  topic.NewRetained[*session.Message](),
		started:   time.Now(),
		done:      make(chan struct{}),
		sessions:  make(map[string]*sessionState),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	if opts.SysInterval > 0 {
		s.wg.Add(1)
		go s.publishSysLoop()
	}
	return s
}

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed. Like net/http, it backs off on accept errors (such as
// running out of file descriptors) instead of returning.
func (s *Server) Serve(ln net.Listener, lo ListenerOptions) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "listener", ln.Addr().String(), "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.done:
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		c := newConn(s, nc, lo)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) isClosing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Shutdown closes every listener, tells v5 clients the server is shutting
// down (DISCONNECT 0x8B), flushes and closes every connection, and waits for
// every goroutine the server started to end, or for ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.closeWith(errShutdown)
	}
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	idle.wake()
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		for _, c := range conns {
			c.closeSocket()
		}
		<-finished
		err = ctx.Err()
	}
	s.mu.Lock()
	for _, st := range s.sessions {
		st.stopTimers()
	}
	s.mu.Unlock()
	return err
}

// idlePoller returns the poller that holds idle TCP connections, starting
// it on first use, or nil once the server is closing. Starting it lazily
// keeps servers that never see a TCP connection (tests over pipes) free of
// its goroutine.
func (s *Server) idlePoller() *idlePoller {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle == nil && !s.closing {
		s.idle = newIdlePoller(s)
	}
	return s.idle
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
