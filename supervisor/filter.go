package supervisor

import (
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// FilterConfig says what the filter must trap.
type FilterConfig struct {
	// Range is where managed sockets live; ignored when TrapAll.
	Range FDRange
	// TrapAll traps the receive family on every fd, so managed sockets can
	// take any number (select() and FD_SETSIZE), and copies made by dup
	// anywhere stay judged.
	TrapAll bool
	// AllowIOUring lets the program create io_uring instances; their
	// operations bypass seccomp, so by default io_uring_setup fails with
	// ENOSYS and programs fall back to ordinary syscalls.
	AllowIOUring bool
	// Listen traps listen(2), to attach --script to listeners as they are
	// created (and warn about a --listen that matches none).
	Listen bool
}

// receiveFamily are the calls that can move bytes from a socket into the
// program: each must be judged. recv(2) is recvfrom on x86_64 and arm64;
// preadv2 with offset -1 reads a socket like readv; splice can move socket
// bytes into a pipe.
var receiveFamily = []string{"read", "readv", "recvfrom", "recvmsg", "recvmmsg", "preadv2", "splice"}

// Rules returns the filter's rules. Everything not listed never reaches
// luawrap: in the default mode that includes every syscall on an fd below
// Range.Base, i.e. all of the program's own files, pipes and sockets.
func Rules(c FilterConfig) []notify.Rule {
	eq := func(arg uint, v uint64) notify.Cond { return notify.Cond{Arg: arg, Op: notify.Eq32, Value: v} }
	ge := func(arg uint, v int) notify.Cond { return notify.Cond{Arg: arg, Op: notify.GE, Value: uint64(v)} }
	trap := func(name string, conds ...notify.Cond) notify.Rule {
		return notify.Rule{Syscall: name, Action: notify.Notify, Conds: conds}
	}
	rules := []notify.Rule{
		trap("setsockopt", eq(1, SolTCP), eq(2, TCPULP)),
		trap("setsockopt", eq(1, SolLua)),
		trap("getsockopt", eq(1, SolLua)),
		trap("getsockopt", eq(1, SolTCP), eq(2, TCPULP)),
		// Listeners are the program's own fds, so accept is trapped on
		// every fd; those of non-Lua listeners are answered CONTINUE.
		trap("accept"),
		trap("accept4"),
	}
	if c.Listen {
		rules = append(rules, trap("listen"))
	}
	if !c.AllowIOUring {
		rules = append(rules, notify.Rule{Syscall: "io_uring_setup", Action: notify.Errno(unix.ENOSYS)})
	}
	if c.TrapAll {
		for _, name := range receiveFamily {
			rules = append(rules, trap(name))
		}
		return rules
	}
	base := c.Range.Base
	for _, name := range receiveFamily {
		rules = append(rules, trap(name, ge(0, base)))
	}
	// close and close_range are not trapped: a signal that arrives before
	// luawrap picks up a notification makes the call fail with EINTR, and
	// programs never retry close (close(2): the fd must be assumed gone),
	// so a trapped close could leave a connection open. luawrap holds no
	// copy of a socket and learns about closes from /proc and sock_diag.
	rules = append(rules,
		// A copy of a managed socket must land in the range too.
		trap("dup", ge(0, base)),
		trap("dup2", ge(0, base)), trap("dup2", ge(1, base)),
		trap("dup3", ge(0, base)), trap("dup3", ge(1, base)),
		trap("fcntl", ge(0, base), eq(1, unix.F_DUPFD)),
		trap("fcntl", ge(0, base), eq(1, unix.F_DUPFD_CLOEXEC)),
		// A Lua socket below the range cannot have its receives trapped:
		// connecting one is refused rather than left unfiltered.
		trap("connect"),
	)
	return rules
}
