package notify

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// AccessError: the kernel has the feature but luawrap may not use it on
// the program. The usual causes are a container's seccomp profile (Docker's
// and containerd's defaults allow pidfd_getfd only with CAP_SYS_PTRACE), a
// program running as another user without CAP_SYS_PTRACE for luawrap, Yama
// ptrace_scope >= 2, or an LSM (AppArmor's ptrace rules).
type AccessError struct {
	Call string
	Err  error
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("%s: %v: luawrap is not allowed to inspect the program (a seccomp profile refusing %s, a missing CAP_SYS_PTRACE, Yama ptrace_scope >= 2, or an LSM; see docs/container.md)",
		e.Call, e.Err, e.Call)
}

func (e *AccessError) Unwrap() error { return e.Err }

// Denied reports whether err is a refusal (EPERM, EACCES) rather than a
// missing feature or a bad argument.
func Denied(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

// ProbeAccess checks that luawrap may copy fds out of process pid and
// read and write its memory (pidfd_getfd and process_vm_readv both require
// PTRACE_MODE_ATTACH_REALCREDS and may be refused by a seccomp profile on
// their own). Run on the start-up stub, a child with luawrap's
// credentials, it tells a refusing environment apart before the program
// runs: otherwise every trapped call would have to fail.
func ProbeAccess(pid int) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil // gone: the caller learns it from wait
		}
		return &AccessError{Call: "pidfd_open", Err: err}
	}
	defer unix.Close(pidfd)
	// ptrace_may_access() is checked before the fd is looked up
	// (kernel/pid.c, __pidfd_fget), so EBADF also means "allowed".
	fd, err := GetFD(pidfd, 0)
	switch {
	case err == nil:
		unix.Close(fd)
	case errors.Is(err, unix.EBADF), errors.Is(err, unix.ESRCH):
	default:
		return &AccessError{Call: "pidfd_getfd", Err: err}
	}
	// Reading address 0 fails EFAULT once access is granted (mm/process_vm_access.c
	// checks it first, in mm_access).
	var b [1]byte
	local := []unix.Iovec{{Base: &b[0], Len: 1}}
	remote := []unix.RemoteIovec{{Base: 0, Len: 1}}
	if _, err := unix.ProcessVMReadv(pid, local, remote, 0); err != nil && !errors.Is(err, unix.EFAULT) && !errors.Is(err, unix.ESRCH) {
		return &AccessError{Call: "process_vm_readv", Err: err}
	}
	// Profiles refuse the pair together, but not necessarily: writing to
	// address 0 fails EFAULT too, and changes nothing.
	if _, err := unix.ProcessVMWritev(pid, local, remote, 0); err != nil && !errors.Is(err, unix.EFAULT) && !errors.Is(err, unix.ESRCH) {
		return &AccessError{Call: "process_vm_writev", Err: err}
	}
	return nil
}
