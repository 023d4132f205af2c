//go:build !unix

package sockio

import "syscall"

// supported is false: elsewhere RawConn returns nil and callers use net.Conn.
const supported = false

// Writer is not used where RawConn returns nil.
type Writer struct{}

func NewWriter() *Writer { return new(Writer) }

func (w *Writer) WriteOnce(syscall.RawConn, []byte) (int, error) { return 0, syscall.EINVAL }

func Read(syscall.RawConn, []byte) (int, error) { return 0, syscall.EINVAL }
