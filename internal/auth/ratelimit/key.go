package ratelimit

import "net/netip"

// ipv6HostBits is the prefix length that identifies one IPv6 source. A host is normally given a
// whole /64 (RFC 7421) and can pick any address in it, so counting single IPv6 addresses would
// let it try 2^64 times as often as an IPv4 host.
const ipv6HostBits = 64

// sourceOf returns the key that failures from addr are counted under: the address itself for
// IPv4, including IPv4-mapped IPv6 addresses (a dual-stack listener reports ::ffff:a.b.c.d),
// and the /64 around it for IPv6, without its zone. It reports false for the zero Addr, which
// callers pass when there is no address to limit by.
func sourceOf(addr netip.Addr) (netip.Prefix, bool) {
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		return netip.PrefixFrom(addr, 32), true
	case addr.Is6():
		p, _ := addr.Prefix(ipv6HostBits) // cannot fail for an IPv6 address; drops the zone
		return p, true
	}
	return netip.Prefix{}, false
}
