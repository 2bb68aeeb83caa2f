package notify

import (
	"errors"
	"fmt"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ErrNotSupported matches every FeatureError with errors.Is.
var ErrNotSupported = errors.New("not supported")

// FeatureError names a kernel feature luawrap needs and the first Linux
// release that has it (seccomp_unotify(2), pidfd_getfd(2)).
type FeatureError struct {
	Feature string
	Linux   string
}

func (e *FeatureError) Error() string {
	return fmt.Sprintf("%s not supported by this kernel (requires Linux >= %s)", e.Feature, e.Linux)
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *FeatureError) Is(target error) bool { return target == ErrNotSupported }

// checkLibrary checks that the libseccomp luawrap runs with can build
// SCMP_ACT_NOTIFY rules and binary-tree filters: both arrived in 2.5.0.
func checkLibrary() error {
	major, minor, micro := seccomp.GetLibraryVersion()
	if major < 2 || (major == 2 && minor < 5) {
		return fmt.Errorf("libseccomp %d.%d.%d lacks SCMP_ACT_NOTIFY (requires libseccomp >= 2.5.0)", major, minor, micro)
	}
	return nil
}

// ProbeHost checks, without installing any filter, the features the
// supervisor itself needs: the seccomp user-notification API, pidfd_open and
// pidfd_getfd. ADDFD is probed on a live listener by ProbeAddFD.
func ProbeHost() error {
	// SECCOMP_GET_NOTIF_SIZES arrived with SECCOMP_RET_USER_NOTIF (5.0).
	var sizes [3]uint16
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptrOf(&sizes)); e != 0 {
		if Denied(e) {
			return &AccessError{Call: "seccomp", Err: e}
		}
		return &FeatureError{Feature: "seccomp user notification (SECCOMP_RET_USER_NOTIF)", Linux: "5.0"}
	}
	pidfd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		if Denied(err) {
			return &AccessError{Call: "pidfd_open", Err: err}
		}
		return &FeatureError{Feature: "pidfd_open", Linux: "5.3"}
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, 0, 0)
	if errors.Is(err, unix.ENOSYS) {
		return &FeatureError{Feature: "pidfd_getfd", Linux: "5.6"}
	}
	if Denied(err) {
		return &AccessError{Call: "pidfd_getfd", Err: err}
	}
	if err == nil {
		unix.Close(fd)
	}
	return nil
}

// ProbeAddFD checks SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND on
// a live listener. seccomp_notify_addfd() validates flags before it looks up
// the notification, so an id that cannot exist answers ENOENT when the
// feature is there and EINVAL (unknown flag) or ENOTTY (unknown ioctl) when not.
func ProbeAddFD(f FD) error {
	a := AddFD{ID: 0, Flags: AddFDFlagSend, SrcFD: uint32(f)}
	_, err := f.AddFD(&a)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return &FeatureError{Feature: "SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND", Linux: "5.14"}
}
