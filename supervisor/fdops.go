package supervisor

import (
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// handleReceive routes a trapped receive: judged when the fd is a Lua
// socket, the kernel's otherwise (a program fd that happens to sit in the
// range, or any fd under --trap-all).
func (s *Supervisor) handleReceive(n *notify.Notif) reply {
	fd := int(int32(n.Data.Args[0]))
	dup, sk, err := s.luaSocket(n, fd)
	if err != nil {
		return s.blind(n, err)
	}
	if sk == nil {
		return cont
	}
	if n.Data.Nr == unix.SYS_SPLICE {
		// splice would move socket bytes to a pipe inside the kernel, past
		// the script; luawrap does not emulate it (docs/sol_lua.md).
		unix.Close(dup)
		s.warnOnce("splice", "splice(2) from a Lua socket is refused with EINVAL")
		return fail(unix.EINVAL)
	}
	c, judge, err := decodeRecv(n.Data.Nr, int(n.Pid), n.Data.Args)
	if !judge {
		unix.Close(dup)
		return cont
	}
	if err != nil {
		unix.Close(dup)
		return failErr(err)
	}
	if c.flags&unix.MSG_ERRQUEUE != 0 {
		unix.Close(dup)
		return cont // the error queue holds the socket's own notices, no peer bytes
	}
	if c.flags&unix.MSG_OOB != 0 {
		// Urgent data would bypass the script; answer as the kernel does
		// when none is pending.
		unix.Close(dup)
		return fail(unix.EINVAL)
	}
	if c.readTarget && !s.fd.Valid(n.ID) {
		unix.Close(dup)
		return done
	}
	return s.receive(*n, sk, dup, c)
}

// handleDup keeps copies of managed sockets inside the range: dup, dup2,
// dup3 and fcntl(F_DUPFD[_CLOEXEC]) of an fd in the range are emulated by
// installing luawrap's copy at a range number with ADDFD (which is what
// dup does: another fd on the same open file description).
func (s *Supervisor) handleDup(n *notify.Notif) reply {
	a := n.Data.Args
	oldfd := int(int32(a[0]))
	base := s.opts.Range.Base
	var newfd, minfd int = -1, base
	var cloexec bool
	switch n.Data.Nr {
	case unix.SYS_DUP:
	case sysDup2, unix.SYS_DUP3:
		newfd = int(int32(a[1]))
		if n.Data.Nr == unix.SYS_DUP3 {
			if a[2]&^unix.O_CLOEXEC != 0 || oldfd == newfd {
				return fail(unix.EINVAL)
			}
			cloexec = a[2]&unix.O_CLOEXEC != 0
		}
	case unix.SYS_FCNTL:
		minfd = max(int(int32(a[2])), base)
		if int32(a[2]) < 0 {
			return fail(unix.EINVAL)
		}
		cloexec = int32(a[1]) == unix.F_DUPFD_CLOEXEC
	}
	if oldfd < base {
		// dup2(own fd, range number): the kernel's, noted for the allocator.
		if th, err := s.procs.thread(int(n.Pid)); err == nil && newfd >= base {
			th.proc.alloc.take(newfd)
		}
		return cont
	}
	dup, th, err := s.procs.getFD(int(n.Pid), oldfd)
	if unseen(err) {
		return s.blind(n, err) // a Lua socket must not be copied out of reach
	}
	if err != nil {
		return cont // EBADF: the kernel's answer
	}
	defer unix.Close(dup)
	if newfd == oldfd {
		return ok(int64(newfd)) // dup2(fd, fd) returns fd when it is valid
	}
	if newfd >= 0 && newfd < base {
		cookie, cerr := socketCookie(dup)
		if cerr == nil && s.socks.get(cookie) != nil {
			// Its receives could not be trapped there: refuse rather than
			// hand out an unfiltered copy. EBADF is dup2's "newfd out of
			// the allowed range".
			s.warnOnce("dup2-low", "dup2 of a Lua socket below the managed range refused (EBADF); run with --trap-all")
			return fail(unix.EBADF)
		}
		return cont
	}
	if !s.fd.Valid(n.ID) {
		return done
	}
	add := notify.AddFD{ID: n.ID, Flags: notify.AddFDFlagSend | notify.AddFDFlagSetFD, SrcFD: uint32(dup)}
	if cloexec {
		add.NewFDFlags = unix.O_CLOEXEC
	}
	if newfd >= 0 {
		th.proc.alloc.take(newfd) // dup2 replaces whatever is there, as asked
	} else {
		newfd, err = s.procs.freeFD(th, minfd)
		if err != nil {
			return failErr(err)
		}
	}
	add.NewFD = uint32(newfd)
	_, err = s.fd.AddFD(&add)
	if err != nil {
		th.proc.alloc.release(newfd)
		if err == unix.ENOENT || err == unix.ESRCH {
			return done
		}
		return failErr(err)
	}
	th.proc.alloc.installed(newfd)
	return done
}

// handleConnect refuses to connect a Lua socket that sits below the range:
// its receives could not be judged.
func (s *Supervisor) handleConnect(n *notify.Notif) reply {
	fd := int(int32(n.Data.Args[0]))
	if fd >= s.opts.Range.Base {
		return cont
	}
	dup, sk, err := s.luaSocket(n, fd)
	if err != nil {
		return s.blind(n, err)
	}
	if sk == nil {
		return cont
	}
	unix.Close(dup)
	s.warnOnce("connect-low", "connect on a Lua socket needs --trap-all (EOPNOTSUPP)")
	return fail(unix.EOPNOTSUPP)
}
