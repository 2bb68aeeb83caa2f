package supervisor

import (
	"encoding/binary"
	"testing"

	"github.com/luawrap/luawrap/notify"
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// runFilter evaluates the compiled program on one syscall with the
// userspace BPF interpreter. x/net/bpf loads words big-endian, so each 32-bit
// word of struct seccomp_data is laid out big-endian at its offset; seccomp
// filters only ever load whole words.
func runFilter(t *testing.T, vm *bpf.VM, name string, args ...uint64) uint32 {
	t.Helper()
	nr, err := seccomp.GetSyscallFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := seccomp.GetNativeArch()
	archToken := map[seccomp.ScmpArch]uint32{seccomp.ArchAMD64: unix.AUDIT_ARCH_X86_64, seccomp.ArchARM64: unix.AUDIT_ARCH_AARCH64}[arch]
	data := make([]byte, 64)
	put64 := func(off int, v uint64) {
		binary.BigEndian.PutUint32(data[off:], uint32(v))
		binary.BigEndian.PutUint32(data[off+4:], uint32(v>>32))
	}
	binary.BigEndian.PutUint32(data[0:], uint32(nr))
	binary.BigEndian.PutUint32(data[4:], archToken)
	for i, a := range args {
		put64(16+8*i, a)
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}

func compile(t *testing.T, c FilterConfig) *bpf.VM {
	t.Helper()
	prog, err := notify.Build(Rules(c))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Log("some instructions did not disassemble; evaluating raw")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

const (
	retNotify = unix.SECCOMP_RET_USER_NOTIF
	retAllow  = unix.SECCOMP_RET_ALLOW
)

func TestFilterRangeMode(t *testing.T) {
	base := 1024
	vm := compile(t, FilterConfig{Range: FDRange{Base: base, Limit: 2048}})
	hi := uint64(0xdeadbeef00000000) // garbage in the upper half of an int argument
	for _, c := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"read", []uint64{3, 0, 100}, retAllow},
		{"read", []uint64{1023}, retAllow},
		{"read", []uint64{1024}, retNotify},
		{"read", []uint64{5000}, retNotify},
		{"read", []uint64{hi | 1024}, retNotify},
		{"recvfrom", []uint64{7}, retAllow},
		{"recvfrom", []uint64{1500}, retNotify},
		{"recvmsg", []uint64{1500}, retNotify},
		{"readv", []uint64{1500}, retNotify},
		{"preadv2", []uint64{1500}, retNotify},
		{"splice", []uint64{1500}, retNotify},
		{"splice", []uint64{3, 0, 1500}, retAllow},
		{"write", []uint64{1500}, retAllow},
		{"sendto", []uint64{1500}, retAllow},
		{"epoll_wait", []uint64{1500}, retAllow},
		{"close", []uint64{4}, retAllow},
		{"close", []uint64{1030}, retAllow},
		{"close_range", []uint64{3, ^uint64(0)}, retAllow},
		{"dup", []uint64{5}, retAllow},
		{"dup", []uint64{1025}, retNotify},
		{"dup2", []uint64{5, 6}, retAllow},
		{"dup2", []uint64{1025, 1}, retNotify},
		{"dup2", []uint64{5, 1500}, retNotify},
		{"dup3", []uint64{1025, 1, 0}, retNotify},
		{"fcntl", []uint64{1025, unix.F_GETFL}, retAllow},
		{"fcntl", []uint64{1025, unix.F_DUPFD, 0}, retNotify},
		{"fcntl", []uint64{1025, unix.F_DUPFD_CLOEXEC, 0}, retNotify},
		{"fcntl", []uint64{5, unix.F_DUPFD, 0}, retAllow},
		{"setsockopt", []uint64{3, SolTCP, TCPULP}, retNotify},
		{"setsockopt", []uint64{3, hi | SolTCP, hi | TCPULP}, retNotify},
		{"setsockopt", []uint64{3, SolTCP, unix.TCP_NODELAY}, retAllow},
		{"setsockopt", []uint64{3, unix.SOL_SOCKET, unix.SO_REUSEADDR}, retAllow},
		{"setsockopt", []uint64{3, SolLua, 1}, retNotify},
		{"getsockopt", []uint64{3, SolLua, 2}, retNotify},
		{"getsockopt", []uint64{3, SolTCP, TCPULP}, retNotify},
		{"getsockopt", []uint64{3, SolTCP, unix.TCP_INFO}, retAllow},
		{"getsockopt", []uint64{3, unix.SOL_SOCKET, unix.SO_ERROR}, retAllow},
		{"accept", []uint64{3}, retNotify},
		{"accept4", []uint64{3}, retNotify},
		{"io_uring_setup", []uint64{8, 0}, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{"openat", []uint64{0}, retAllow},
	} {
		if got := runFilter(t, vm, c.name, c.args...); got != c.want {
			t.Errorf("%s%v: action %#x, want %#x", c.name, c.args, got, c.want)
		}
	}
}

func TestFilterTrapAll(t *testing.T) {
	vm := compile(t, FilterConfig{TrapAll: true, AllowIOUring: true})
	for _, c := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"read", []uint64{3}, retNotify},
		{"recvfrom", []uint64{0}, retNotify},
		{"close", []uint64{3}, retAllow},
		{"write", []uint64{3}, retAllow},
		{"io_uring_setup", []uint64{8, 0}, retAllow},
	} {
		if got := runFilter(t, vm, c.name, c.args...); got != c.want {
			t.Errorf("%s%v: action %#x, want %#x", c.name, c.args, got, c.want)
		}
	}
}
