package supervisor

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals reach the program when sent to luawrap. Not SIGCHLD
// (luawrap's own), not SIGURG (the Go runtime preempts goroutines with it),
// not SIGPIPE; SIGKILL and SIGSTOP cannot be caught.
var forwardedSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
	unix.SIGPWR, unix.SIGVTALRM, unix.SIGPROF, unix.SIGXCPU, unix.SIGXFSZ,
}

func forward(sigs <-chan os.Signal, pid int) {
	for s := range sigs {
		_ = unix.Kill(pid, s.(syscall.Signal))
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
