package supervisor

import (
	"encoding/binary"
	"unsafe"

	"github.com/luawrap/luawrap/luaenv"
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// acceptCall is a decoded accept/accept4.
type acceptCall struct {
	fd      int
	addr    uint64
	addrlen uint64
	userLen int32
	flags   int // SOCK_NONBLOCK | SOCK_CLOEXEC
}

// handleAccept emulates accept on a Lua listener: luawrap accepts the
// connection on its copy of the listener, registers it with the listener's
// script, and installs it in the program's managed range with ADDFD+SEND,
// which installs the fd and completes the syscall atomically (Linux 5.14).
// accept on any other fd is the kernel's.
func (s *Supervisor) handleAccept(n *notify.Notif) reply {
	a := n.Data.Args
	c := acceptCall{fd: int(int32(a[0])), addr: a[1], addrlen: a[2]}
	if n.Data.Nr == unix.SYS_ACCEPT4 {
		c.flags = int(int32(a[3]))
	}
	dup, th, err := s.procs.getFD(int(n.Pid), c.fd)
	if unseen(err) {
		return s.blind(n, err)
	}
	if err != nil {
		return cont // EBADF, or the thread is gone: the kernel's answer is the right one
	}
	cookie, err := socketCookie(dup)
	var sk *sock
	if err == nil {
		sk = s.listenerSock(dup, cookie, "accept")
	}
	if sk == nil {
		unix.Close(dup)
		return cont
	}
	if c.flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
		unix.Close(dup)
		return fail(unix.EINVAL)
	}
	if c.addr != 0 {
		var l [4]byte
		if err := notify.ReadMem(int(n.Pid), c.addrlen, l[:]); err != nil {
			unix.Close(dup)
			return fail(unix.EFAULT)
		}
		c.userLen = int32(binary.NativeEndian.Uint32(l[:]))
		if c.userLen < 0 {
			unix.Close(dup)
			return fail(unix.EINVAL)
		}
	}
	if !s.fd.Valid(n.ID) {
		unix.Close(dup)
		return done
	}
	sk.mu.Lock()
	r, wait := s.acceptLocked(n, th, sk, dup, &c)
	sk.mu.Unlock()
	if !wait {
		unix.Close(dup)
		return r
	}
	go s.waitAccept(*n, th, sk, dup, c)
	return async
}

// waitAccept completes an accept on a blocking listener (see waitBlocked;
// inet_csk_wait_for_connect ends the same way on a signal or SO_RCVTIMEO).
func (s *Supervisor) waitAccept(n notify.Notif, th *thread, sk *sock, dup int, c acceptCall) {
	s.waitBlocked(&n, sk, dup, func(end unix.Errno) (reply, bool) {
		if end != 0 {
			return fail(end), false
		}
		return s.acceptLocked(&n, th, sk, dup, &c)
	})
}

// acceptLocked takes a pending connection or accepts a new one without
// blocking, then installs it. wait=true: nothing to accept on a blocking
// listener.
func (s *Supervisor) acceptLocked(n *notify.Notif, th *thread, sk *sock, dup int, c *acceptCall) (r reply, wait bool) {
	var conn int
	if len(sk.pending) > 0 {
		conn = sk.pending[0]
		sk.pending = sk.pending[1:]
	} else {
		for {
			// All accepts on a Lua listener go through luawrap under
			// sk.mu, so a readable listener has a connection for us:
			// accept4 won't block.
			if !readable(dup) {
				if nonBlocking(dup) {
					return fail(unix.EAGAIN), false
				}
				return reply{}, true
			}
			var err error
			conn, _, err = unix.Accept4(dup, unix.SOCK_CLOEXEC)
			if err == unix.EAGAIN && !nonBlocking(dup) {
				return reply{}, true // taken by a process outside luawrap
			}
			if err != nil {
				return failErr(err), false
			}
			cookie, err := socketCookie(conn)
			if err != nil {
				unix.Close(conn)
				return failErr(err), false
			}
			if s.admit(sk, conn, cookie) {
				break
			}
			unix.Close(conn) // refused by on_accept: the program never sees it
		}
	}
	r, keep := s.install(n, th, conn, c)
	if keep {
		sk.pending = append(sk.pending, conn) // the call was interrupted: next accept gets it
	} else {
		unix.Close(conn)
	}
	return r, false
}

// admit registers a new connection of listener sk, unless the script's
// on_accept hook refuses it: then its reply (if any) is sent, the
// connection shut, and on_close runs.
func (s *Supervisor) admit(sk *sock, conn int, cookie uint64) bool {
	nsk := &sock{cookie: cookie, lua: sk.lua}
	// An accepted TCP connection is in sock_diag's TCP table from the
	// start, so the sweeper may drop its state (and run on_close) as soon
	// as it is missing, even if it never saw it. Other protocols (an MPTCP
	// client's connection) are kept until seen, i.e. until luawrap exits.
	if proto, err := unix.GetsockoptInt(conn, unix.SOL_SOCKET, unix.SO_PROTOCOL); err == nil && proto == unix.IPPROTO_TCP {
		nsk.seen = true
	}
	if p := sk.lua.pool.Load(); p != nil && p.HasAcceptHook() {
		res := sk.lua.accept(s.connOf(nsk, conn), s.log)
		if res.Verdict != luaenv.Pass {
			s.sendReply(conn, res.Reply, true)
			sk.lua.stats.refused.Add(1)
			nsk.lua.closed(nsk.conn, s.log)
			return false
		}
	}
	s.socks.add(nsk)
	return true
}

// install puts luawrap's conn into the program as the accept's result.
// keep=true means the call is gone and conn must be kept for the next one.
func (s *Supervisor) install(n *notify.Notif, th *thread, conn int, c *acceptCall) (r reply, keep bool) {
	// SOCK_NONBLOCK is a file status flag: set it on luawrap's copy, the
	// open file description the program receives (KERNEL-NOTES pitfall 9).
	if err := unix.SetNonblock(conn, c.flags&unix.SOCK_NONBLOCK != 0); err != nil {
		return failErr(err), true
	}
	pid := int(n.Pid)
	if c.addr != 0 {
		var sa unix.RawSockaddrAny
		l := uint32(unix.SizeofSockaddrAny)
		if _, _, e := unix.Syscall(unix.SYS_GETPEERNAME, uintptr(conn), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&l))); e != 0 {
			// The peer is already gone (reset): the kernel still returns
			// the connection; an empty address is what getpeername lacks.
			l = 0
		}
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&sa)), int(l))
		k, _ := addrCopy(c.userLen, raw)
		var lb [4]byte
		binary.NativeEndian.PutUint32(lb[:], l)
		if notify.WriteMem(pid, c.addr, raw[:k]) != nil || notify.WriteMem(pid, c.addrlen, lb[:]) != nil {
			return fail(unix.EFAULT), true
		}
	}
	add := notify.AddFD{ID: n.ID, Flags: notify.AddFDFlagSend, SrcFD: uint32(conn)}
	if c.flags&unix.SOCK_CLOEXEC != 0 {
		add.NewFDFlags = unix.O_CLOEXEC
	}
	num := -1
	if !s.opts.TrapAll {
		var err error
		num, err = s.procs.freeFD(th, 0)
		if err != nil {
			return failErr(err), true
		}
		add.Flags |= notify.AddFDFlagSetFD
		add.NewFD = uint32(num)
	}
	if _, err := s.fd.AddFD(&add); err != nil {
		if num >= 0 {
			th.proc.alloc.release(num)
		}
		if err == unix.ENOENT || err == unix.ESRCH {
			return done, true // the call was interrupted: nothing was installed
		}
		return failErr(err), true
	}
	if num >= 0 {
		th.proc.alloc.installed(num)
	}
	return done, false
}

// readable reports whether fd has something to read (or accept) right now.
func readable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}
