package supervisor

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket calls of the per-connection path, without x/sys/unix's address
// decoding: its Accept4, Getpeername and Getsockname turn the address into
// a unix.Sockaddr with anyToSockaddr, which for AF_INET and AF_INET6 first
// asks the socket's SO_PROTOCOL (to tell L2TP apart). That is one more
// syscall per call, and a syscall is what a connection costs most here
// (bench/nginx.sh, trap-floor vs luawrap).

// rawAddr is a socket address as the kernel wrote it.
type rawAddr struct {
	sa  unix.RawSockaddrAny
	len uint32 // what the kernel reported; may exceed sa for other families
}

// bytes is the address as accept(2) would copy it to the program.
func (a *rawAddr) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&a.sa)), min(int(a.len), unix.SizeofSockaddrAny))
}

// addrPort is the IP address and port, or the zero value for other
// families (or an address the kernel could not give).
func (a *rawAddr) addrPort() netip.AddrPort {
	b := a.bytes()
	switch {
	case a.sa.Addr.Family == unix.AF_INET && len(b) >= unix.SizeofSockaddrInet4:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), netPort(&in.Port))
	case a.sa.Addr.Family == unix.AF_INET6 && len(b) >= unix.SizeofSockaddrInet6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr), netPort(&in.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])
}

// accept4 accepts a connection on fd and stores the peer's address in peer.
func accept4(fd, flags int, peer *rawAddr) (int, error) {
	peer.len = unix.SizeofSockaddrAny
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&peer.sa)),
		uintptr(unsafe.Pointer(&peer.len)), uintptr(flags), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// sockName stores fd's local (getsockname) or peer (getpeername) address.
func sockName(fd int, peer bool, a *rawAddr) error {
	nr := uintptr(unix.SYS_GETSOCKNAME)
	if peer {
		nr = unix.SYS_GETPEERNAME
	}
	a.len = unix.SizeofSockaddrAny
	if _, _, e := unix.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&a.sa)), uintptr(unsafe.Pointer(&a.len))); e != 0 {
		a.len = 0
		return e
	}
	return nil
}
