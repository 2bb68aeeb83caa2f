package supervisor

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reaper is the one owner of wait: it collects the program's status and
// every other child luawrap gets, which are orphaned descendants of the
// program. As PID 1 of a PID namespace the kernel reparents every orphan of
// the namespace to luawrap; otherwise luawrap is a child subreaper
// (PR_SET_CHILD_SUBREAPER, Linux 3.4), so the program's orphans come to
// luawrap rather than to the system's init, as they would under tini -s.
// Nothing else in luawrap may wait (os/exec's Cmd.Wait is never called):
// a second waiter could take the program's status.
type reaper struct {
	main   int
	log    *slog.Logger
	sigs   chan os.Signal
	done   chan struct{}
	status int // valid once done is closed
}

// becomeSubreaper makes luawrap the reaper of the program's orphans unless
// it is PID 1, which is that already.
func becomeSubreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// newReaper starts listening for SIGCHLD; call it before starting the
// program so no SIGCHLD is missed, then start with the program's pid.
func newReaper(log *slog.Logger) *reaper {
	r := &reaper{log: log, sigs: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(r.sigs, unix.SIGCHLD)
	return r
}

// start reaps until the program exited, then keeps reaping orphans until
// luawrap exits.
func (r *reaper) start(main int) {
	r.main = main
	go func() {
		// SIGCHLD coalesces, and one may have come before Notify: reap
		// everything that is ready at each signal, and now and then anyway.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			r.reapReady()
			select {
			case <-r.sigs:
			case <-t.C:
			}
		}
	}()
}

// reapReady collects every child that has exited.
func (r *reaper) reapReady() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if pid == r.main {
			r.status = exitCodeOf(syscall.WaitStatus(ws))
			close(r.done)
			continue
		}
		r.log.Debug("reaped an orphan", "pid", pid, "status", exitCodeOf(syscall.WaitStatus(ws)))
	}
}

// wait returns the program's exit code once it exited.
func (r *reaper) wait() int {
	<-r.done
	return r.status
}

// exitCodeOf maps a wait status the way shells and tini do: the exit code,
// or 128+signal.
func exitCodeOf(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
