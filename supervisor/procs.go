package supervisor

import (
	"errors"
	"os"
	"strconv"
	"sync"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// pidfdThread is PIDFD_THREAD (= O_EXCL, Linux 6.9): a pidfd on one thread.
const pidfdThread = unix.O_EXCL

// proc is one target process (thread group) as far as luawrap needs it.
type proc struct {
	tgid  int
	alloc *fdAlloc
}

// reclaim refreshes the allocator from /proc/<tgid>/fd, which lists the
// fds open now (proc_pid_fd(5)): numbers the program closed become free.
func (p *proc) reclaim() error {
	return p.alloc.reclaim(func() (map[int]bool, error) {
		ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.tgid) + "/fd")
		if err != nil {
			return nil, err
		}
		open := make(map[int]bool, len(ents))
		for _, e := range ents {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				open[n] = true
			}
		}
		return open, nil
	})
}

// thread caches a pidfd for a tid that sent notifications.
// A notification names a thread (seccomp_unotify(2)); with PIDFD_THREAD the
// pidfd refers to exactly that task, so a tid reused by another process can
// never be confused with it: the stale pidfd answers ESRCH.
type thread struct {
	tid   int
	pidfd int
	proc  *proc
}

type procTable struct {
	mu          sync.Mutex
	threads     map[int]*thread
	procs       map[int]*proc
	r           FDRange
	threadPidfd bool
}

func newProcTable(r FDRange) *procTable {
	t := &procTable{threads: map[int]*thread{}, procs: map[int]*proc{}, r: r}
	if fd, err := unix.PidfdOpen(unix.Gettid(), pidfdThread); err == nil {
		t.threadPidfd = true
		unix.Close(fd)
	}
	return t
}

// thread returns the cached entry for tid, opening one if needed.
func (t *procTable) thread(tid int) (*thread, error) {
	t.mu.Lock()
	th := t.threads[tid]
	t.mu.Unlock()
	if th != nil {
		return th, nil
	}
	return t.open(tid)
}

func (t *procTable) open(tid int) (*thread, error) {
	tgid, err := notify.Tgid(tid)
	if err != nil {
		return nil, unix.ESRCH
	}
	var pidfd int
	if t.threadPidfd {
		pidfd, err = unix.PidfdOpen(tid, pidfdThread)
	} else {
		// Before Linux 6.9 only a thread-group leader has a pidfd; the
		// tid→tgid lookup is then re-checked by the caller's NOTIF_ID_VALID.
		pidfd, err = notify.OpenPidfd(tgid)
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.threads[tid]; old != nil {
		unix.Close(old.pidfd)
	}
	p := t.procs[tgid]
	if p == nil {
		p = &proc{tgid: tgid, alloc: newFDAlloc(t.r)}
		t.procs[tgid] = p
	}
	th := &thread{tid: tid, pidfd: pidfd, proc: p}
	t.threads[tid] = th
	return th, nil
}

// forget drops a dead thread's entry.
func (t *procTable) forget(th *thread) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.threads[th.tid] == th {
		delete(t.threads, th.tid)
		unix.Close(th.pidfd)
	}
}

// getFD duplicates fd of the notifying thread's process into luawrap.
// A cached pidfd whose task died (ESRCH) is reopened once: the tid now
// belongs to the thread that sent this notification.
func (t *procTable) getFD(tid, fd int) (int, *thread, error) {
	for attempt := 0; ; attempt++ {
		th, err := t.thread(tid)
		if err != nil {
			return -1, nil, err
		}
		dup, err := notify.GetFD(th.pidfd, fd)
		if errors.Is(err, unix.ESRCH) && attempt == 0 {
			t.forget(th)
			continue
		}
		return dup, th, err
	}
}

// freeFD finds a number in the range that is free in the target, proven by
// pidfd_getfd answering EBADF: ADDFD with SETFD silently replaces whatever
// is at that number, so a belief is not enough. from is the lowest allowed.
func (t *procTable) freeFD(th *thread, from int) (int, error) {
	reclaimed := false
	for {
		n := th.proc.alloc.reserve(from)
		if n < 0 && !reclaimed {
			// The beliefs say full; closes are not trapped, so ask /proc.
			reclaimed = true
			if th.proc.reclaim() == nil {
				continue
			}
		}
		if n < 0 {
			return -1, unix.EMFILE
		}
		dup, err := notify.GetFD(th.pidfd, n)
		if errors.Is(err, unix.EBADF) {
			return n, nil // reserved; the caller releases it if the install fails
		}
		if err != nil {
			th.proc.alloc.release(n)
			return -1, err
		}
		unix.Close(dup)
		th.proc.alloc.installed(n) // open behind our back (fork, the program's dup2): stays marked used
	}
}
