package notify

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install sets no_new_privs and loads prog on the calling thread with
// SECCOMP_FILTER_FLAG_NEW_LISTENER, returning the notification fd.
//
// Both are per-thread: the caller must hold runtime.LockOSThread and exec
// from the same thread, which is what luawrap's start-up stub does (TSYNC
// cannot be combined with NEW_LISTENER before Linux 5.7's TSYNC_ESRCH, and
// is not needed since execve keeps only the calling thread).
// no_new_privs lets an unprivileged user install a filter
// (seccomp(2), "SECCOMP_SET_MODE_FILTER").
//
// The filter is installed with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV where
// the kernel has it (Linux 5.19); killable reports whether it did. Without
// it a signal can interrupt the target after the supervisor's answer was
// accepted but before the target took it (seccomp_do_user_notification()
// then returns -ERESTARTSYS and drops the answer), so bytes a receive
// delivered could be lost. With it, once luawrap has received a
// notification only a fatal signal interrupts the call.
func Install(prog []unix.SockFilter) (fd FD, killable bool, err error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, false, fmt.Errorf("set no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	load := func(flags uintptr) (uintptr, unix.Errno) {
		r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
		return r, e
	}
	r, e := load(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	killable = e == 0
	if e == unix.EINVAL {
		r, e = load(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	}
	if e != 0 {
		if e == unix.EINVAL {
			return -1, false, &FeatureError{Feature: "seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER)", Linux: "5.0"}
		}
		return -1, false, fmt.Errorf("install seccomp filter: %w", e)
	}
	return FD(r), killable, nil
}
