//go:build !linux

package broker

import "net"

// idlePoller is Linux's; elsewhere every idle connection waits with a goroutine.
type idlePoller struct{}

func newIdlePoller(*Server) *idlePoller { return nil }
func socketFD(net.Conn) int32           { return -1 }
func (p *idlePoller) park(*conn) bool   { return false }
func (p *idlePoller) unpark(*conn)      {}
func (p *idlePoller) wake()             {}
