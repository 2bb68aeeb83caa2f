package supervisor

import "fmt"

// FDRange is where managed (Lua) sockets live in the program's fd table:
// [Base, Limit). The filter traps the receive and dup families only for
// fds >= Base, so syscalls on the program's own fds never reach luawrap.
type FDRange struct {
	Base  int
	Limit int // exclusive; also the program's new soft RLIMIT_NOFILE
}

// defaultRangeSize is how many managed sockets fit when the hard limit allows.
const defaultRangeSize = 65536

// minRange is the smallest range worth running with.
const minRange = 64

// ChooseRange picks the managed range from the program's RLIMIT_NOFILE.
//
// The kernel hands out the lowest free fd, so a program's own fds grow from 0
// and stay below its soft limit. Placing the range at the soft limit and
// raising the soft limit to cover it keeps every fd the program could have
// had without luawrap out of the range. SECCOMP_IOCTL_NOTIF_ADDFD checks the
// *target's* RLIMIT_NOFILE (receive_fd_replace() runs in the target), which
// is why the soft limit must be raised rather than the range put above it.
// When soft == hard there is no room above, so the upper half of the
// allowed numbers is used (at most defaultRangeSize of them).
// base > 0 overrides the automatic choice (--fd-base).
func ChooseRange(soft, hard uint64, base int) (FDRange, error) {
	const ceiling = 1 << 30 // fs.nr_open can't exceed this (INT_MAX & -BITS_PER_LONG)
	hard = min(hard, ceiling)
	soft = min(soft, hard)
	if base > 0 {
		if uint64(base)+minRange > hard {
			return FDRange{}, fmt.Errorf("--fd-base %d: the hard RLIMIT_NOFILE (%d) leaves fewer than %d fds above it", base, hard, minRange)
		}
		return FDRange{Base: base, Limit: int(min(hard, uint64(base)+defaultRangeSize))}, nil
	}
	b := max(soft, 1024)
	if b+minRange <= hard {
		return FDRange{Base: int(b), Limit: int(min(hard, b+defaultRangeSize))}, nil
	}
	size := min(hard/2, defaultRangeSize)
	if size < minRange {
		return FDRange{}, fmt.Errorf("RLIMIT_NOFILE hard limit %d is too small for a managed fd range; raise it (ulimit -Hn) or use --trap-all", hard)
	}
	return FDRange{Base: int(hard - size), Limit: int(hard)}, nil
}
