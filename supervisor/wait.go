package supervisor

import (
	"time"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// waitBlocked completes a blocking accept or receive without blocking the
// notification loop; it owns dup. The kernel does not tell the supervisor
// when the waiting thread gets a signal (seccomp_unotify(2), NOTES), so the
// wait is a poll with a growing timeout that re-checks NOTIF_ID_VALID and
// the thread's pending signals: a Ctrl-C'd program is let go of within
// maxWaitInterval, and nothing is consumed for a call that no longer exists.
//
// try runs under sk.mu. With end == 0 it attempts the call and reports
// wait=true when there is still nothing to return; with end != 0 the call
// must end now with that errno: the signal's sock_intr_errno() or EAGAIN
// when SO_RCVTIMEO expired.
func (s *Supervisor) waitBlocked(n *notify.Notif, sk *sock, dup int, try func(end unix.Errno) (reply, bool)) {
	defer unix.Close(dup)
	deadline := rcvDeadline(dup)
	interval := 5 * time.Millisecond
	for {
		waitReadable(dup, interval, deadline)
		interval = min(interval*2, maxWaitInterval)
		if !s.fd.Valid(n.ID) {
			return
		}
		sk.mu.Lock()
		r, wait := try(0)
		if wait {
			switch {
			case s.interrupted(n):
				r, wait = try(intrErrno(deadline))
			case expired(deadline):
				r, wait = try(unix.EAGAIN)
			}
		}
		sk.mu.Unlock()
		if !wait {
			s.send(n, r)
			return
		}
	}
}

// maxWaitInterval bounds how long a blocked call goes without luawrap
// checking whether it was interrupted: the latency of Ctrl-C on a program
// blocked in a Lua accept or receive.
const maxWaitInterval = 50 * time.Millisecond

// interrupted reports whether a call luawrap holds must give way to a
// signal. Without WAIT_KILLABLE_RECV the kernel interrupts the call itself
// and NOTIF_ID_VALID tells; with it, luawrap looks at the thread's
// pending signals (see signalPending).
func (s *Supervisor) interrupted(n *notify.Notif) bool {
	return s.opts.killable && signalPending(int(n.Pid))
}

// intrErrno is sock_intr_errno() (include/net/sock.h): a blocking call
// without a timeout is restarted after the handler (SA_RESTART), one with
// SO_RCVTIMEO fails with EINTR (signal(7), "Interruption of system calls").
func intrErrno(deadline time.Time) unix.Errno {
	if deadline.IsZero() {
		return errRestartSys
	}
	return unix.EINTR
}

// rcvDeadline is when a blocking call on fd times out by its SO_RCVTIMEO
// (accept honours it too: inet_csk_accept uses sock_rcvtimeo()); zero: never.
func rcvDeadline(fd int) time.Time {
	tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO)
	if err != nil || (tv.Sec == 0 && tv.Usec == 0) {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(tv.Nano()))
}

// expired reports whether a deadline from rcvDeadline has passed.
func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

// waitReadable waits up to d, and not past deadline, for fd to become
// readable (or hung up, or in error).
func waitReadable(fd int, d time.Duration, deadline time.Time) {
	if !deadline.IsZero() {
		d = min(d, max(time.Until(deadline), 0))
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	_, _ = unix.Poll(fds, int(d/time.Millisecond))
}
