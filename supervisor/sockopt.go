package supervisor

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// handleSetsockopt emulates setsockopt(SOL_TCP, TCP_ULP, "lua") and the
// SOL_LUA level. Everything else the filter lets through untouched; the
// rare trapped call that is not luawrap's (another ULP name such as "tls",
// a non-TCP socket) is CONTINUEd so the kernel gives its own answer.
func (s *Supervisor) handleSetsockopt(n *notify.Notif) reply {
	a := n.Data.Args
	fd, level, opt, val, optlen := int(int32(a[0])), int32(a[1]), int32(a[2]), a[3], int32(a[4])
	if level == SolTCP && opt == TCPULP {
		return s.setULP(n, fd, val, optlen)
	}
	if level != SolLua {
		return cont
	}
	dup, sk, err := s.luaSocket(n, fd)
	if err != nil {
		return s.blind(n, err)
	}
	if sk == nil {
		return s.withoutULP(n, fd)
	}
	unix.Close(dup)
	switch opt {
	case OptLoadScript:
		if optlen < 0 || optlen > ScriptMax {
			return fail(unix.EINVAL)
		}
		src, err := s.readOpt(n, val, int(optlen))
		if err != nil {
			return failErr(err)
		}
		if err := sk.lua.load(fmt.Sprintf("script(fd %d)", fd), src); err != nil {
			s.log.Error("SS_LUA_LOADSCRIPT refused", "pid", n.Pid, "fd", fd, "err", err)
			return fail(unix.EINVAL)
		}
		return ok(0)
	case OptEntryPoint:
		if optlen <= 0 || optlen > EntryMax {
			return fail(unix.EINVAL)
		}
		raw, err := s.readOpt(n, val, int(optlen))
		if err != nil {
			return failErr(err)
		}
		name, _, _ := bytes.Cut(raw, []byte{0}) // callers pass sizeof("name"), NUL included
		if len(name) == 0 {
			return fail(unix.EINVAL)
		}
		if err := sk.lua.setEntry(string(name)); err != nil {
			s.log.Error("SS_LUA_ENTRYPOINT refused", "pid", n.Pid, "fd", fd, "err", err)
			return fail(unix.EINVAL)
		}
		return ok(0)
	}
	return fail(unix.ENOPROTOOPT)
}

// readOpt reads an option value from the target and re-checks the
// notification, so what was read belongs to the thread that asked.
func (s *Supervisor) readOpt(n *notify.Notif, addr uint64, l int) ([]byte, error) {
	buf := make([]byte, l)
	if err := notify.ReadMem(int(n.Pid), addr, buf); err != nil {
		return nil, err
	}
	if !s.fd.Valid(n.ID) {
		return nil, unix.EINTR
	}
	return buf, nil
}

// luaSocket resolves fd of the notifying process to a ULP socket; sk is nil
// when it is not one (dup is then already closed). err is set when luawrap
// cannot tell (see unseen): the caller fails closed.
func (s *Supervisor) luaSocket(n *notify.Notif, fd int) (int, *sock, error) {
	dup, _, err := s.procs.getFD(int(n.Pid), fd)
	if unseen(err) {
		return -1, nil, err
	}
	if err != nil {
		return -1, nil, nil
	}
	cookie, err := socketCookie(dup)
	if err != nil {
		unix.Close(dup)
		return -1, nil, nil
	}
	sk := s.socks.get(cookie)
	if sk == nil {
		unix.Close(dup)
		return -1, nil, nil
	}
	return dup, sk, nil
}

// withoutULP answers SOL_LUA on a socket without the ULP: ENOPROTOOPT on a
// TCP socket, as the module's API documents (for getsockopt recent kernels
// would say EOPNOTSUPP); anything else (not a socket, EBADF) is the kernel's.
func (s *Supervisor) withoutULP(n *notify.Notif, fd int) reply {
	dup, _, err := s.procs.getFD(int(n.Pid), fd)
	if err != nil {
		return cont
	}
	defer unix.Close(dup)
	if proto, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL); err == nil && proto == unix.IPPROTO_TCP {
		return fail(unix.ENOPROTOOPT)
	}
	return cont
}

// TCP states from include/net/tcp_states.h.
const (
	tcpClose  = 7
	tcpListen = 10
)

// setULP emulates tcp_set_ulp() for the name "lua".
func (s *Supervisor) setULP(n *notify.Notif, fd int, val uint64, optlen int32) reply {
	if optlen <= 0 {
		return cont
	}
	// do_tcp_setsockopt copies at most TCP_ULP_NAME_MAX-1 bytes of the name.
	raw := make([]byte, min(int(optlen), ulpNameMax-1))
	if notify.ReadMem(int(n.Pid), val, raw) != nil {
		return cont // the kernel answers EFAULT
	}
	name, _, _ := bytes.Cut(raw, []byte{0})
	if string(name) != ULPName {
		return cont // "tls" and the rest are the kernel's
	}
	dup, th, err := s.procs.getFD(int(n.Pid), fd)
	if err != nil {
		return cont
	}
	defer unix.Close(dup)
	if !s.fd.Valid(n.ID) {
		return done
	}
	proto, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || proto != unix.IPPROTO_TCP {
		return cont // not TCP: the kernel's own error (ENOPROTOOPT, ENOTSOCK…)
	}
	cookie, err := socketCookie(dup)
	if err != nil {
		return failErr(err)
	}
	if s.socks.get(cookie) != nil {
		return fail(unix.EEXIST) // tcp_set_ulp: a socket has at most one ULP
	}
	if !s.opts.TrapAll && fd < s.opts.Range.Base {
		// Receives on fds below the range are never trapped: a connected
		// (or connecting) socket there could not be judged. Listeners and
		// fresh sockets are fine: what they accept is installed in the
		// range, and connect on a Lua socket is refused (handleConnect).
		if info, err := unix.GetsockoptTCPInfo(dup, unix.IPPROTO_TCP, unix.TCP_INFO); err != nil ||
			(info.State != tcpClose && info.State != tcpListen) {
			s.log.Warn("TCP_ULP \"lua\" on a connected socket needs --trap-all", "pid", th.proc.tgid, "fd", fd)
			return fail(unix.EOPNOTSUPP)
		}
	}
	s.socks.add(&sock{cookie: cookie, lua: s.newLuaConfig(fmt.Sprintf("pid %d fd %d", th.proc.tgid, fd))})
	return ok(0)
}

// handleGetsockopt answers getsockopt(SOL_LUA, …) on a ULP socket, and
// getsockopt(SOL_TCP, TCP_ULP) there with "lua", as the kernel names a
// socket's ULP.
func (s *Supervisor) handleGetsockopt(n *notify.Notif) reply {
	a := n.Data.Args
	fd, level, opt, val, lenPtr := int(int32(a[0])), int32(a[1]), int32(a[2]), a[3], a[4]
	dup, sk, err := s.luaSocket(n, fd)
	if err != nil {
		return s.blind(n, err)
	}
	if sk == nil {
		if level == SolTCP {
			return cont // no ULP: the kernel answers an empty name
		}
		return s.withoutULP(n, fd)
	}
	unix.Close(dup)
	var lb [4]byte
	if notify.ReadMem(int(n.Pid), lenPtr, lb[:]) != nil {
		return fail(unix.EFAULT)
	}
	l := int32(binary.NativeEndian.Uint32(lb[:]))
	if l < 0 && level != SolTCP {
		return fail(unix.EINVAL)
	}
	var value []byte
	switch {
	case level == SolTCP:
		// do_tcp_getsockopt(TCP_ULP) copies min(len, TCP_ULP_NAME_MAX)
		// bytes of the NUL-padded name; len is compared unsigned.
		value = make([]byte, ulpNameMax)
		copy(value, ULPName)
		l = int32(min(uint32(l), ulpNameMax))
	case opt == OptEntryPoint:
		value = append([]byte(sk.lua.entryName()), 0)
	case opt == OptStats:
		value = sk.lua.stats.encode()
	default:
		return fail(unix.ENOPROTOOPT)
	}
	value = value[:min(int(l), len(value))]
	binary.NativeEndian.PutUint32(lb[:], uint32(len(value)))
	if !s.fd.Valid(n.ID) {
		return done
	}
	if notify.WriteMem(int(n.Pid), val, value) != nil || notify.WriteMem(int(n.Pid), lenPtr, lb[:]) != nil {
		return fail(unix.EFAULT)
	}
	return ok(0)
}

// encode lays the counters out as struct sol_lua_stats (four __u64).
func (st *stats) encode() []byte {
	b := make([]byte, statsStructSize)
	for i, v := range []uint64{st.inspected.Load(), st.passed.Load(), st.refused.Load(), st.errors.Load()} {
		binary.NativeEndian.PutUint64(b[8*i:], v)
	}
	return b
}
