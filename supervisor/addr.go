package supervisor

import "golang.org/x/sys/unix"

// addrCopy says what accept writes back for an address, by the kernel's
// rules (move_addr_to_user, net/socket.c): the caller's *addrlen is read;
// negative is EINVAL; min(*addrlen, real) bytes of the address are copied
// and the real length is written back, so a too-small buffer gets a
// truncated address and the length it would have needed.
func addrCopy(userLen int32, addr []byte) (copyLen int, err error) {
	if userLen < 0 {
		return 0, unix.EINVAL
	}
	return min(int(userLen), len(addr)), nil
}
