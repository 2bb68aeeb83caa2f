package notify

// Structs mirroring <linux/seccomp.h> (uapi). x/sys/unix has the constants but
// not these types; sizes are checked by uapi_test.go against the kernel's.

// Data mirrors struct seccomp_data: the syscall as the filter saw it.
type Data struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Notif mirrors struct seccomp_notif (Linux 5.0).
type Notif struct {
	ID    uint64
	Pid   uint32 // a thread id, not a process id (seccomp_unotify(2))
	Flags uint32
	Data  Data
}

// Resp mirrors struct seccomp_notif_resp (Linux 5.0).
type Resp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// AddFD mirrors struct seccomp_notif_addfd (Linux 5.9).
type AddFD struct {
	ID         uint64
	Flags      uint32
	SrcFD      uint32
	NewFD      uint32
	NewFDFlags uint32
}

// Ioctl numbers not (all) in x/sys/unix, from <linux/seccomp.h>:
// SECCOMP_IOCTL_NOTIF_ID_VALID = SECCOMP_IOW(2, __u64),
// SECCOMP_IOCTL_NOTIF_ADDFD    = SECCOMP_IOW(3, struct seccomp_notif_addfd),
// SECCOMP_IOCTL_NOTIF_SET_FLAGS = SECCOMP_IOW(4, __u64).
const (
	ioctlNotifRecv     = 0xc0502100
	ioctlNotifSend     = 0xc0182101
	ioctlNotifIDValid  = 0x40082102
	ioctlNotifAddFD    = 0x40182103
	ioctlNotifSetFlags = 0x40082104
)

// Response and ADDFD flags, named as in <linux/seccomp.h>.
const (
	UserNotifFlagContinue = 1 // SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux 5.5
	AddFDFlagSetFD        = 1 // SECCOMP_ADDFD_FLAG_SETFD, Linux 5.9
	AddFDFlagSend         = 2 // SECCOMP_ADDFD_FLAG_SEND, Linux 5.14
	UserNotifFDSyncWakeUp = 1 // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6
)
