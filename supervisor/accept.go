package supervisor

import (
	"encoding/binary"

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
	if len(sk.pending) > 0 {
		conn := sk.pending[0]
		sk.pending = sk.pending[1:]
		return s.installOrKeep(n, th, sk, conn, nil, c), false
	}
	if sk.listenProto == 0 {
		sk.listenProto, _ = unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}
	var peer rawAddr
	for {
		// All accepts on a Lua listener go through luawrap under sk.mu, so
		// a readable listener has a connection for us: accept4 won't block.
		if !readable(dup) {
			if nonBlocking(dup) {
				return fail(unix.EAGAIN), false
			}
			return reply{}, true
		}
		// The program's SOCK_NONBLOCK is set by accept4 itself on the open
		// file description the program receives (KERNEL-NOTES pitfall 9).
		conn, err := accept4(dup, unix.SOCK_CLOEXEC|c.flags&unix.SOCK_NONBLOCK, &peer)
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
		if s.admit(sk, conn, cookie, &peer) {
			return s.installOrKeep(n, th, sk, conn, &peer, c), false
		}
		unix.Close(conn) // refused by on_accept: the program never sees it
	}
}

// installOrKeep installs conn, or keeps it for the listener's next accept
// when the call was interrupted. peer is the address accept4 gave (nil for
// a kept connection: it is asked again, and its flags set again).
func (s *Supervisor) installOrKeep(n *notify.Notif, th *thread, sk *sock, conn int, peer *rawAddr, c *acceptCall) reply {
	r, keep := s.install(n, th, conn, peer, c)
	if keep {
		sk.pending = append(sk.pending, conn) // the next accept gets it
	} else {
		unix.Close(conn)
	}
	return r
}

// admit registers a new connection of listener sk, unless the script's
// on_accept hook refuses it: then its reply (if any) is sent, the
// connection shut, and on_close runs. The script's view of the connection
// is built here, where the peer's address comes with accept4.
func (s *Supervisor) admit(sk *sock, conn int, cookie uint64, peer *rawAddr) bool {
	nsk := &sock{cookie: cookie, lua: sk.lua}
	// An accepted TCP connection is in sock_diag's TCP table from the
	// start, so the sweeper may drop its state (and run on_close) as soon
	// as it is missing, even if it never saw it. Other protocols (an MPTCP
	// client's connection) are kept until seen, i.e. until luawrap exits.
	// A TCP listener only accepts TCP; an MPTCP one gives MPTCP sockets or,
	// for plain TCP clients, TCP ones (mptcp_stream_accept's fallback).
	nsk.seen = sk.listenProto == unix.IPPROTO_TCP
	if !nsk.seen {
		proto, err := unix.GetsockoptInt(conn, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		nsk.seen = err == nil && proto == unix.IPPROTO_TCP
	}
	var local rawAddr
	_ = sockName(conn, false, &local)
	nsk.conn = luaenv.NewConn(s.connIDs.Add(1), peer.addrPort(), local.addrPort())
	if p := sk.lua.pool.Load(); p != nil && p.HasAcceptHook() {
		res := sk.lua.accept(nsk.conn, s.log)
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
func (s *Supervisor) install(n *notify.Notif, th *thread, conn int, peer *rawAddr, c *acceptCall) (r reply, keep bool) {
	if peer == nil {
		// A kept connection: its flags are set for this call, and its
		// peer asked again (the kernel gives the address even after a
		// reset: an empty one is what getpeername lacks then).
		if err := unix.SetNonblock(conn, c.flags&unix.SOCK_NONBLOCK != 0); err != nil {
			return failErr(err), true
		}
		peer = new(rawAddr)
		_ = sockName(conn, true, peer)
	}
	if c.addr != 0 {
		raw := peer.bytes()
		k, _ := addrCopy(c.userLen, raw)
		var lb [4]byte
		binary.NativeEndian.PutUint32(lb[:], peer.len)
		// The address and its length in one process_vm_writev.
		segs := []notify.Segment{{Addr: c.addr, Len: k}, {Addr: c.addrlen, Len: len(lb)}}
		if notify.WriteMemv(int(n.Pid), segs, append(raw[:k:k], lb[:]...)) != nil {
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
