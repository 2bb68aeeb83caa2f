package supervisor

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func rawInet4(ip [4]byte, port uint16) rawAddr {
	var a rawAddr
	in := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.sa))
	in.Family, in.Addr = unix.AF_INET, ip
	p := (*[2]byte)(unsafe.Pointer(&in.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	a.len = unix.SizeofSockaddrInet4
	return a
}

func rawInet6(ip [16]byte, port uint16) rawAddr {
	var a rawAddr
	in := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.sa))
	in.Family, in.Addr = unix.AF_INET6, ip
	p := (*[2]byte)(unsafe.Pointer(&in.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	a.len = unix.SizeofSockaddrInet6
	return a
}

func TestRawAddrPort(t *testing.T) {
	short := rawInet4([4]byte{127, 0, 0, 1}, 80)
	short.len = 4 // the kernel gave less than a sockaddr_in
	unixAddr := rawAddr{len: 2}
	unixAddr.sa.Addr.Family = unix.AF_UNIX
	cases := []struct {
		name string
		a    rawAddr
		want netip.AddrPort
	}{
		{"ipv4", rawInet4([4]byte{127, 0, 0, 2}, 8080), netip.MustParseAddrPort("127.0.0.2:8080")},
		{"ipv6", rawInet6(netip.MustParseAddr("::1").As16(), 443), netip.MustParseAddrPort("[::1]:443")},
		{"v4-mapped", rawInet6(netip.MustParseAddr("::ffff:127.0.0.1").As16(), 1), netip.MustParseAddrPort("[::ffff:127.0.0.1]:1")},
		{"short", short, netip.AddrPort{}},
		{"unix", unixAddr, netip.AddrPort{}},
		{"empty", rawAddr{}, netip.AddrPort{}},
	}
	for _, c := range cases {
		if got := c.a.addrPort(); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if got := len(short.bytes()); got != 4 {
		t.Errorf("bytes of a 4-byte address: %d", got)
	}
	big := rawAddr{len: 1 << 20}
	if got := len(big.bytes()); got != unix.SizeofSockaddrAny {
		t.Errorf("bytes are bounded by the buffer: %d", got)
	}
}
