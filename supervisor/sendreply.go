package supervisor

import (
	"time"

	"golang.org/x/sys/unix"
)

// replyFlushTime bounds how long luawrap keeps trying to send a script's
// reply to a client that does not read (it holds a copy of the socket
// meanwhile, so this also bounds how long a connection the program closed
// can stay open because of a reply).
const replyFlushTime = 5 * time.Second

// sendReply sends a script's reply on the connection and, with shut, shuts
// it down afterwards. The send never blocks the notification loop: what
// does not fit in the socket's send buffer now is sent by a goroutine.
func (s *Supervisor) sendReply(fd int, reply []byte, shut bool) {
	sent := 0
	for sent < len(reply) {
		m, err := unix.SendmsgN(fd, reply[sent:], nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			break
		}
		sent += m
	}
	if sent == len(reply) {
		if shut {
			_ = unix.Shutdown(fd, unix.SHUT_RDWR)
		}
		return
	}
	own, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	rest := append([]byte(nil), reply[sent:]...)
	go func() {
		defer unix.Close(own)
		deadline := time.Now().Add(replyFlushTime)
		for len(rest) > 0 && time.Now().Before(deadline) {
			fds := []unix.PollFd{{Fd: int32(own), Events: unix.POLLOUT}}
			if _, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond)+1); err != nil && err != unix.EINTR {
				break
			}
			m, err := unix.SendmsgN(own, rest, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
			if err != nil && err != unix.EAGAIN && err != unix.EINTR {
				break
			}
			rest = rest[max(m, 0):]
		}
		if shut {
			_ = unix.Shutdown(own, unix.SHUT_RDWR)
		}
	}()
}
