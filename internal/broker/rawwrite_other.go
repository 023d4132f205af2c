//go:build !unix

package broker

import (
	"net"
	"sync"
	"syscall"

	"github.com/gridmq/gridmq/internal/session"
)

// rawConnOf returns nil: elsewhere every write goes through a writer goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

type rawWriter struct {
	buf   []byte
	batch []session.Delivery
}

var rawWriters = sync.Pool{New: func() any { return new(rawWriter) }}

func (w *rawWriter) write(syscall.RawConn) (int, error) { return 0, nil }
func (w *rawWriter) release()                           {}
