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
func Install(prog []unix.SockFilter) (FD, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("set no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		if e == unix.EINVAL {
			return -1, &FeatureError{Feature: "seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER)", Linux: "5.0"}
		}
		return -1, fmt.Errorf("install seccomp filter: %w", e)
	}
	return FD(r), nil
}
