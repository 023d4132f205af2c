package broker

import "unsafe"

// unsafeBytes views a string as bytes without copying; the result must never
// be written to.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
