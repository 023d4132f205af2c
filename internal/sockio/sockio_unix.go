//go:build unix

package sockio

import (
	"io"
	"sync"
	"syscall"
	"unsafe"
)

const supported = true

// Writer makes single non-blocking writes. Its function for RawConn.Write
// is made once, so that a write allocates nothing; a Writer is used by one
// goroutine at a time.
type Writer struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// NewWriter returns a Writer.
func NewWriter() *Writer {
	w := new(Writer)
	w.fn = w.once
	return w
}

func (w *Writer) once(fd uintptr) bool {
	for {
		n, errno := rawCall(syscall.SYS_WRITE, fd, w.p)
		if errno == syscall.EINTR {
			continue
		}
		w.n, w.err = n, nil
		if errno != 0 {
			w.n, w.err = 0, errno
		}
		return true // never wait for room
	}
}

// WriteOnce writes as much of p as the socket takes now, with one write(2):
// a full socket buffer is 0 bytes written, not an error. It honours the
// connection's write deadline and its closing.
func (w *Writer) WriteOnce(rc syscall.RawConn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.p, w.n, w.err = p, 0, nil
	err := rc.Write(w.fn)
	n, werr := w.n, w.err
	w.p = nil
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

// reader is the scratch of one Read; pooled, so that a read allocates nothing.
type reader struct {
	p   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var readers = sync.Pool{New: func() any {
	r := new(reader)
	r.fn = r.once
	return r
}}

func (r *reader) once(fd uintptr) bool {
	for {
		n, errno := rawCall(syscall.SYS_READ, fd, r.p)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the network poller, then call again
		case 0:
			r.n, r.err = n, nil
		default:
			r.n, r.err = 0, errno
		}
		return true
	}
}

// Read reads into p like net.Conn.Read: it waits in the network poller until
// bytes arrive, honouring the read deadline, and returns io.EOF at the end.
func Read(rc syscall.RawConn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r := readers.Get().(*reader)
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
	readers.Put(r)
	return n, err
}

// rawCall makes read(2) or write(2) on fd with p, as a raw system call.
func rawCall(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.RawSyscall(trap, fd, uintptr(ptr), uintptr(len(p)))
	return int(n), errno
}
