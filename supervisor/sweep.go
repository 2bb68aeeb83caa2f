package supervisor

import (
	"time"

	"golang.org/x/sys/unix"
)

// luawrap holds no fd of a managed socket between calls, so it is never
// told when the last one closes (close, exit, close-on-exec, a forked
// child's exit all look alike). The sweeper asks the kernel instead: every
// sweepInterval it drops the state of sockets no process holds any more,
// closes connections still pending for a listener that is gone, and
// forgets threads that exited.

const sweepInterval = 2 * time.Second

func (s *Supervisor) sweepLoop(stop <-chan struct{}) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.sweepSockets()
			s.procs.sweep()
			s.procs.reclaimAll()
		}
	}
}

// sweepSockets removes sockets that were seen held before and are no
// longer. A socket never seen (a fresh ULP socket not yet bound is in no
// sock_diag table) is kept: dropping its script would leave what it
// accepts later unfiltered.
func (s *Supervisor) sweepSockets() {
	if s.socks.len() == 0 {
		return
	}
	// The cookies are listed before the dump: a socket registered after
	// it started (an accepted connection counts as seen at once) must not
	// be taken for gone because the dump predates it.
	cookies := s.socks.cookies()
	held, err := heldTCPSockets()
	if err != nil {
		s.warnOnce("sweep", "cannot list sockets with sock_diag; socket state is kept until exit: "+err.Error())
		return
	}
	for _, c := range cookies {
		sk := s.socks.get(c)
		if sk == nil {
			continue
		}
		sk.mu.Lock()
		if held[c] {
			sk.seen = true
			sk.mu.Unlock()
			continue
		}
		gone := sk.seen
		sk.mu.Unlock()
		if !gone {
			continue
		}
		s.socks.remove(c)
		sk.mu.Lock()
		for _, fd := range sk.pending {
			unix.Close(fd) // the listener is closed: so are its unaccepted connections
		}
		sk.pending, sk.held, sk.partial = nil, nil, nil
		s.disarmMore(sk)
		s.endConn(sk) // the program closed it: on_close
		sk.mu.Unlock()
	}
}

// reclaimAll refreshes every process's fd beliefs, so numbers the program
// closed are reused lowest-first rather than after the range runs out.
func (t *procTable) reclaimAll() {
	t.mu.Lock()
	procs := make([]*proc, 0, len(t.procs))
	for _, p := range t.procs {
		procs = append(procs, p)
	}
	t.mu.Unlock()
	for _, p := range procs {
		_ = p.reclaim()
	}
}

// sweep forgets threads whose pidfd reports they exited.
func (t *procTable) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.threads) == 0 {
		return
	}
	ths := make([]*thread, 0, len(t.threads))
	fds := make([]unix.PollFd, 0, len(t.threads))
	for _, th := range t.threads {
		ths = append(ths, th)
		fds = append(fds, unix.PollFd{Fd: int32(th.pidfd), Events: unix.POLLIN})
	}
	if _, err := unix.Poll(fds, 0); err != nil {
		return
	}
	live := map[*proc]bool{}
	for i, th := range ths {
		if fds[i].Revents&unix.POLLIN != 0 {
			delete(t.threads, th.tid)
			unix.Close(th.pidfd)
			continue
		}
		live[th.proc] = true
	}
	for tgid, p := range t.procs {
		if !live[p] {
			delete(t.procs, tgid)
		}
	}
}
