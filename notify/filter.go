package notify

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Op is how a Cond compares a syscall argument.
type Op int

const (
	// Eq32 compares the low 32 bits only: int arguments (levels, option
	// names, fds) arrive in 64-bit registers whose upper half the ABI leaves
	// undefined.
	Eq32 Op = iota
	// GE is an unsigned 64-bit >=. For an fd argument it can only over-trap:
	// a 32-bit value >= v stays >= v whatever the upper half holds.
	GE
)

// Cond is one comparison on argument Arg (0-based).
type Cond struct {
	Arg   uint
	Op    Op
	Value uint64
}

// Rule makes Syscall take Action when all Conds hold. Several rules for one
// syscall are alternatives (libseccomp ORs them).
type Rule struct {
	Syscall string
	Action  Action
	Conds   []Cond
}

// Action is what a matching syscall gets.
type Action struct {
	errno unix.Errno // 0: user notification
}

// Notify sends the syscall to the supervisor (SECCOMP_RET_USER_NOTIF).
var Notify = Action{}

// Errno fails the syscall with e in the kernel, without a round trip.
func Errno(e unix.Errno) Action { return Action{errno: e} }

func (a Action) scmp() seccomp.ScmpAction {
	if a.errno != 0 {
		return seccomp.ActErrno.SetReturnCode(int16(a.errno))
	}
	return seccomp.ActNotify
}

// Build compiles rules into a classic BPF program for the native
// architecture; everything not matched is allowed. Syscalls made through a
// foreign ABI (i386 int 0x80, x32) fail with ENOSYS: they would bypass the
// rules, so they are refused rather than allowed.
func Build(rules []Rule) ([]unix.SockFilter, error) {
	if err := checkLibrary(); err != nil {
		return nil, err
	}
	f, err := seccomp.NewFilter(seccomp.ActAllow)
	if err != nil {
		return nil, fmt.Errorf("create seccomp filter: %w", err)
	}
	defer f.Release()
	// no_new_privs is set by Install, on the thread that will exec.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("configure seccomp filter: %w", err)
	}
	if err := f.SetBadArchAction(seccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
		return nil, fmt.Errorf("configure seccomp filter: %w", err)
	}
	// Every syscall of the program runs the filter; a binary tree on the
	// syscall number (libseccomp >= 2.5, SCMP_FLTATR_CTL_OPTIMIZE 2) keeps
	// that to a few comparisons instead of a walk past every rule.
	if err := f.SetOptimize(2); err != nil {
		return nil, fmt.Errorf("configure seccomp filter: %w", err)
	}
	for _, r := range rules {
		nr, err := seccomp.GetSyscallFromName(r.Syscall)
		if err != nil || nr < 0 {
			// Not a syscall on this architecture (arm64 has no dup2):
			// nothing to trap.
			continue
		}
		conds := make([]seccomp.ScmpCondition, 0, len(r.Conds))
		for _, c := range r.Conds {
			var sc seccomp.ScmpCondition
			switch c.Op {
			case Eq32:
				sc, err = seccomp.MakeCondition(c.Arg, seccomp.CompareMaskedEqual, 0xffffffff, c.Value)
			case GE:
				sc, err = seccomp.MakeCondition(c.Arg, seccomp.CompareGreaterEqual, c.Value)
			}
			if err != nil {
				return nil, fmt.Errorf("filter rule %s: %w", r.Syscall, err)
			}
			conds = append(conds, sc)
		}
		if len(conds) == 0 {
			err = f.AddRule(nr, r.Action.scmp())
		} else {
			err = f.AddRuleConditional(nr, r.Action.scmp(), conds)
		}
		if err != nil {
			return nil, fmt.Errorf("filter rule %s: %w", r.Syscall, err)
		}
	}
	return export(f)
}

// export goes through a memfd: ExportBPFMem needs libseccomp >= 2.6.
func export(f *seccomp.ScmpFilter) ([]unix.SockFilter, error) {
	fd, err := unix.MemfdCreate("luawrap-filter", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	file := os.NewFile(uintptr(fd), "luawrap-filter")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	raw, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	return Decode(raw)
}

// Decode turns struct sock_filter records (8 bytes, native order) into instructions.
func Decode(raw []byte) ([]unix.SockFilter, error) {
	if len(raw)%8 != 0 || len(raw) == 0 {
		return nil, fmt.Errorf("decode seccomp filter: %d bytes is not a whole program", len(raw))
	}
	prog := make([]unix.SockFilter, len(raw)/8)
	for i := range prog {
		b := raw[i*8:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return prog, nil
}
