//go:build unix

package broker

import (
	"io"
	"net"
	"sync"
	"syscall"
	"unsafe"

	"github.com/gridmq/gridmq/internal/session"
)

// rawConnOf returns the descriptor access of a TCP or Unix socket, which a
// reader uses to write to it without blocking; nil for any other transport.
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawWriter is the scratch of one non-blocking write: the bytes, the
// deliveries they were encoded from, and the function RawConn.Write calls,
// made once so that a write allocates nothing.
type rawWriter struct {
	buf   []byte
	batch []session.Delivery
	n     int
	err   error
	fn    func(fd uintptr) bool
}

var rawWriters = sync.Pool{New: func() any {
	w := &rawWriter{
		buf:   make([]byte, 0, writeBatchBytes+4096),
		batch: make([]session.Delivery, 0, writeBatchDeliveries),
	}
	w.fn = w.once
	return w
}}

// once makes one write(2) attempt and tells RawConn.Write not to wait for
// the socket to become writable.
//
// It is a raw system call, which does not tell the scheduler: the socket
// is non-blocking, so the call cannot block, and the scheduler's
// bookkeeping for a call that might (waking its monitor thread) costs more
// than the write at a trickle of messages.
func (w *rawWriter) once(fd uintptr) bool {
	for {
		var p unsafe.Pointer
		if len(w.buf) > 0 {
			p = unsafe.Pointer(&w.buf[0])
		}
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(p), uintptr(len(w.buf)))
		if errno == syscall.EINTR {
			continue
		}
		w.n, w.err = int(n), nil
		if errno != 0 {
			w.n, w.err = 0, errno
		}
		return true
	}
}

// write writes as much of w.buf as the socket takes now: a full socket
// buffer is 0 bytes written, not an error.
func (w *rawWriter) write(rc syscall.RawConn) (int, error) {
	w.n, w.err = 0, nil
	if err := rc.Write(w.fn); err != nil {
		return 0, err
	}
	if w.err == syscall.EAGAIN {
		return 0, nil
	}
	if w.err != nil {
		return 0, w.err
	}
	return w.n, nil
}

func (w *rawWriter) release() {
	if cap(w.buf) > 4*writeBatchBytes {
		return // let an outsized buffer go
	}
	w.buf = w.buf[:0] // appendDeliveries has already cleared the batch
	rawWriters.Put(w)
}

// rawReader reads from a socket like net.Conn.Read, waiting in the network
// poller when nothing is there, but makes the read(2) itself a raw system
// call for the reason given at rawWriter.once.
type rawReader struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var rawReaders = sync.Pool{New: func() any {
	r := new(rawReader)
	r.fn = r.once
	return r
}}

func (r *rawReader) once(fd uintptr) bool {
	for {
		var p unsafe.Pointer
		if len(r.p) > 0 {
			p = unsafe.Pointer(&r.p[0])
		}
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(p), uintptr(len(r.p)))
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the poller, then call again
		case 0:
			r.n, r.err = int(n), nil
		default:
			r.n, r.err = 0, errno
		}
		return true
	}
}

// rawRead reads into p from rc, honouring its read deadline.
func rawRead(rc syscall.RawConn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r := rawReaders.Get().(*rawReader)
	r.p, r.n, r.err = p, 0, nil
	err := rc.Read(r.fn)
	n := r.n
	if err == nil {
		err = r.err
		if err == nil && n == 0 {
			err = io.EOF
		}
	}
	r.p = nil
	rawReaders.Put(r)
	return n, err
}
