// Package sockio reads and writes TCP and Unix sockets without going
// through the scheduler's bookkeeping for calls that may block.
//
// The sockets Go opens are non-blocking, so a read(2) or write(2) on one
// returns at once: with nothing to read it fails with EAGAIN and the reader
// waits in the network poller, as net.Conn.Read does. Made as raw system
// calls, these do not wake the scheduler's monitor thread around every call,
// which at a trickle of packets costs more than the call itself. And a
// write can be tried once, without waiting for room, by a goroutine that must
// not block: whatever the socket does not take is the caller's to hand on.
package sockio

import (
	"net"
	"syscall"
)

// RawConn returns the descriptor access of a TCP or Unix socket; nil for any
// other transport (TLS, pipes), which callers then read and write through
// net.Conn.
func RawConn(nc net.Conn) syscall.RawConn {
	if !supported {
		return nil
	}
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
