// Package notify is luawrap's binding to the kernel's seccomp user-notification
// ABI and nothing else: the uapi structs and ioctls of <linux/seccomp.h> that
// libseccomp-golang lacks, building a BPF filter from rules with libseccomp,
// installing it with seccomp(2), pidfd helpers, access to a target's memory,
// and feature probes. Policy — which syscalls to trap and what to answer —
// lives in package supervisor.
//
// Raw syscalls and unsafe pointer use are kept in ioctl.go and mem.go.
package notify
