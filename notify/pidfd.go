package notify

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Tgid returns the thread-group id of thread tid, read from
// /proc/<tid>/status: notifications carry a tid, and pidfd_open(2) before
// Linux 6.9 accepts only thread-group leaders.
func Tgid(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("Tgid:")); ok {
			return strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return 0, fmt.Errorf("read tgid of %d: no Tgid line", tid)
}

// OpenPidfd opens a pidfd on the process tgid (pidfd_open(2), Linux 5.3).
func OpenPidfd(tgid int) (int, error) {
	return unix.PidfdOpen(tgid, 0) // a pidfd is always close-on-exec
}

// GetFD duplicates the target's fd into luawrap (pidfd_getfd(2), Linux 5.6;
// needs ptrace access to the target). The copy shares the open file
// description: file status flags such as O_NONBLOCK are shared too.
// EBADF means the target has no such fd.
func GetFD(pidfd, fd int) (int, error) {
	for {
		n, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
