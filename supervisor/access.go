package supervisor

import (
	"errors"
	"fmt"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// unseen reports whether a failure to copy one of the program's fds leaves
// luawrap blind to what a trapped call is about. EBADF (no such fd) and
// ESRCH (the thread is gone) are the kernel's own answers, which the call
// gets when continued. Anything else — EPERM because a worker changed user
// and luawrap lacks CAP_SYS_PTRACE, EMFILE in luawrap — means luawrap
// cannot tell whether the fd is a Lua socket: the call must not go through
// (fail closed), since continuing it could deliver unjudged bytes or put a
// Lua socket out of reach.
func unseen(err error) bool {
	return err != nil && !errors.Is(err, unix.EBADF) && !errors.Is(err, unix.ESRCH)
}

// blind fails a call luawrap cannot inspect with EPERM (accept(2): "Firewall
// rules forbid connection") and says why once.
func (s *Supervisor) blind(n *notify.Notif, err error) reply {
	msg := fmt.Sprintf("cannot inspect process %d (%v): its calls on sockets luawrap must judge fail with EPERM", n.Pid, err)
	if notify.Denied(err) {
		msg += "; the program probably changed user and luawrap lacks CAP_SYS_PTRACE (run everything as one user, or grant it; see docs/container.md)"
	}
	if s.first("blind") {
		s.log.Error(msg)
	}
	return fail(unix.EPERM)
}
