package supervisor

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Layouts from <linux/inet_diag.h>: struct inet_diag_req_v2 (56 bytes) and
// struct inet_diag_msg (72 bytes), whose id.idiag_cookie is at offset 44 and
// idiag_inode at 68.
const (
	inetDiagReqSize   = 56
	inetDiagMsgSize   = 72
	inetDiagCookieOff = 44
	inetDiagInodeOff  = 68
	// include/net/tcp_states.h
	tcpTimeWait   = 6
	tcpNewSynRecv = 12
)

// heldTCPSockets returns the cookies of every TCP socket (IPv4 and IPv6) in
// luawrap's network namespace that some process still holds. A socket
// whose last file was closed is orphaned: sock_diag reports it with inode 0
// while it lingers in FIN_WAIT or TIME_WAIT (sock_i_ino() of a socket with
// no struct socket), and not at all once it is freed. The cookie is the
// same one SO_COOKIE returns (sock_gen_cookie()).
func heldTCPSockets() (map[uint64]bool, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open sock_diag: %w", err)
	}
	defer unix.Close(fd)
	held := map[uint64]bool{}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := dumpTCP(fd, family, held); err != nil {
			return nil, err
		}
	}
	return held, nil
}

func dumpTCP(fd int, family uint8, held map[uint64]bool) error {
	req := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqSize)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	body := req[unix.NLMSG_HDRLEN:]
	body[0] = family
	body[1] = unix.IPPROTO_TCP
	// Every TCP state but those of sockets no process can hold (TIME_WAIT
	// and NEW_SYN_RECV mini-sockets, inode 0 anyway): after a burst of
	// short connections there are tens of thousands of TIME_WAIT ones.
	binary.NativeEndian.PutUint32(body[4:], 0xffffffff&^(1<<tcpTimeWait|1<<tcpNewSynRecv))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag dump: %w", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag dump: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag dump: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				return fmt.Errorf("sock_diag dump: netlink error")
			}
			if len(m.Data) < inetDiagMsgSize {
				continue
			}
			if binary.NativeEndian.Uint32(m.Data[inetDiagInodeOff:]) == 0 {
				continue // orphaned: no process holds it
			}
			lo := uint64(binary.NativeEndian.Uint32(m.Data[inetDiagCookieOff:]))
			hi := uint64(binary.NativeEndian.Uint32(m.Data[inetDiagCookieOff+4:]))
			held[hi<<32|lo] = true
		}
	}
}
