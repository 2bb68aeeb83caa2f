package notify

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FD is a seccomp user-notification listener fd (SECCOMP_FILTER_FLAG_NEW_LISTENER).
type FD int

func (f FD) ioctl(req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(f), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// Recv blocks until a notification arrives and stores it in n.
// seccomp_unotify(2): the struct must be zeroed, and the call ignores O_NONBLOCK.
// EINTR (a signal to luawrap) and ENOENT (the target died between the wake-up
// and the copy) are retried here: neither is an event the caller can act on.
func (f FD) Recv(n *Notif) error {
	for {
		*n = Notif{}
		err := f.ioctl(ioctlNotifRecv, unsafe.Pointer(n))
		if err == unix.EINTR || err == unix.ENOENT {
			continue
		}
		return err
	}
}

// Send answers a notification. ENOENT means the notification is gone: the
// target was interrupted by a signal (and may restart the call) or died.
func (f FD) Send(r *Resp) error {
	for {
		err := f.ioctl(ioctlNotifSend, unsafe.Pointer(r))
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

// Continue lets the kernel run the syscall as the target issued it (Linux 5.5).
// seccomp_unotify(2) warns this is no security decision: luawrap uses it only
// for syscalls that carry no unapproved data.
func (f FD) Continue(id uint64) error {
	return f.Send(&Resp{ID: id, Flags: UserNotifFlagContinue})
}

// Return answers the syscall with val (>= 0).
func (f FD) Return(id uint64, val int64) error {
	return f.Send(&Resp{ID: id, Val: val})
}

// Fail answers the syscall with -1 and errno.
func (f FD) Fail(id uint64, errno unix.Errno) error {
	return f.Send(&Resp{ID: id, Error: -int32(errno)})
}

// Valid reports whether notification id is still pending: the target thread
// is still blocked in that very syscall, so its tid, memory and fd table are
// the ones the notification speaks of (seccomp_unotify(2), NOTIF_ID_VALID).
func (f FD) Valid(id uint64) bool {
	for {
		err := f.ioctl(ioctlNotifIDValid, unsafe.Pointer(&id))
		if err == unix.EINTR {
			continue
		}
		return err == nil
	}
}

// AddFD installs srcfd (a descriptor of luawrap's) into the target.
// With AddFDFlagSend the installed number is the syscall's return value and
// both happen atomically (Linux 5.14): if the target was interrupted nothing
// is installed and ENOENT is returned. With AddFDFlagSetFD the number is
// a.NewFD, and a file already there is silently replaced (replace_fd()).
//
// With AddFDFlagSend the ioctl must not be interrupted by a signal to
// luawrap (the Go runtime's SIGURG, SIGCHLD, a forwarded signal):
// seccomp_notify_addfd() marks the notification replied before it waits
// for the target, and on a signal it withdraws the fd but leaves the
// notification replied with value 0, so the program's accept would return
// fd 0. The calling thread blocks every signal for the duration.
func (f FD) AddFD(a *AddFD) (int, error) {
	if a.Flags&AddFDFlagSend != 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		all := unix.Sigset_t{Val: [len(unix.Sigset_t{}.Val)]uint64{^uint64(0)}}
		var old unix.Sigset_t
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, &old); err != nil {
			return -1, err
		}
		defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	}
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(f), ioctlNotifAddFD, uintptr(unsafe.Pointer(a)))
		if e == unix.EINTR {
			continue // without SEND a withdrawn request can simply be made again
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// SetSyncWakeUp asks the kernel to wake the supervisor and target on the
// same CPU (Linux 6.6); it shortens each round trip when the supervisor
// answers synchronously. ErrNotSupported on older kernels.
func (f FD) SetSyncWakeUp() error {
	flags := uint64(UserNotifFDSyncWakeUp)
	err := f.ioctl(ioctlNotifSetFlags, unsafe.Pointer(&flags))
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
		return &FeatureError{Feature: "SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP", Linux: "6.6"}
	}
	return err
}

// Pending reports whether another notification is waiting to be received
// (the listener polls readable, seccomp_notify_poll()), without blocking.
func (f FD) Pending() bool {
	fds := []unix.PollFd{{Fd: int32(f), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
}

// Close closes the listener; pending and future notifications then fail the
// target's syscalls with ENOSYS.
func (f FD) Close() error { return unix.Close(int(f)) }
