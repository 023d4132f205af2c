package broker

import "unsafe"

// unsafeString views bytes as a string without copying, for a call that
// reads it and keeps nothing (the bytes are the read buffer's).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// unsafeBytes views a string as bytes without copying; the result must never
// be written to.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
