package supervisor

import (
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwardedSignals reach the program when sent to luawrap, as tini does:
// every signal but SIGCHLD (luawrap reaps), SIGURG (the Go runtime preempts
// goroutines with it), SIGPIPE (luawrap's own writes raise it), the
// synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
// SIGABRT: about luawrap itself) and SIGKILL and SIGSTOP (uncatchable).
// Real-time signals from SIGRTMIN (34; 32 and 33 are glibc's) are
// forwarded too.
var forwardedSignals = append([]os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
	unix.SIGPWR, unix.SIGVTALRM, unix.SIGPROF, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGIO,
	unix.SIGSTKFLT,
}, realtimeSignals()...)

func realtimeSignals() []os.Signal {
	var out []os.Signal
	for s := 34; s <= 64; s++ {
		out = append(out, syscall.Signal(s))
	}
	return out
}

// forward sends the signals luawrap gets to the program. With killAfter,
// the first SIGTERM or SIGINT also starts a countdown: a program still
// running at its end is killed with its process group (its workers), so a
// program that ignores SIGTERM cannot keep luawrap (and a container) up
// forever. The reaper then reports 128+SIGKILL.
func forward(sigs <-chan os.Signal, pid int, killAfter time.Duration, log *slog.Logger) {
	var armed bool
	for s := range sigs {
		sig := s.(syscall.Signal)
		_ = unix.Kill(pid, sig)
		if killAfter > 0 && !armed && (sig == unix.SIGTERM || sig == unix.SIGINT) {
			armed = true
			time.AfterFunc(killAfter, func() {
				if unix.Kill(pid, 0) != nil {
					return // gone (or a zombie the reaper is collecting)
				}
				log.Warn("the program is still running after --kill-after: killing it and its process group", "signal", sig.String(), "kill_after", killAfter)
				_ = unix.Kill(-pid, unix.SIGKILL)
				_ = unix.Kill(pid, unix.SIGKILL)
			})
		}
	}
}

// processGroupAttr puts the program in its own process group, as tini
// does, so a signal sent to luawrap's group is forwarded once rather than
// received twice; when luawrap owns the terminal, the program's group is
// made the foreground one so Ctrl-C and job control reach it directly.
func processGroupAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && pgrp == unix.Getpgrp() {
		attr.Foreground = true
		attr.Ctty = 0
	}
	return attr
}
