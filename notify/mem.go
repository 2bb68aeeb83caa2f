package notify

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func uintptrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// ReadMem copies len(buf) bytes at addr in process pid into buf.
// A short or failed copy is EFAULT, the errno the kernel itself gives for a
// bad user pointer. Callers must check the notification is still valid after
// reading (seccomp_unotify(2): the tid may have been reused).
func ReadMem(pid int, addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil || n != len(buf) {
		return unix.EFAULT
	}
	return nil
}

// WriteMem copies data to addr in process pid; short or failed → EFAULT.
func WriteMem(pid int, addr uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &data[0], Len: uint64(len(data))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(data)}}
	n, err := unix.ProcessVMWritev(pid, local, remote, 0)
	if err != nil || n != len(data) {
		return unix.EFAULT
	}
	return nil
}

// Segment is one contiguous range of target memory.
type Segment struct {
	Addr uint64
	Len  int
}

// WriteMemv scatters data over segs in order (a readv/recvmsg iovec array),
// stopping when data runs out. One process_vm_writev call for all of them.
func WriteMemv(pid int, segs []Segment, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	remote := make([]unix.RemoteIovec, 0, len(segs))
	left := len(data)
	for _, s := range segs {
		if left == 0 {
			break
		}
		n := min(s.Len, left)
		if n == 0 {
			continue
		}
		remote = append(remote, unix.RemoteIovec{Base: uintptr(s.Addr), Len: n})
		left -= n
	}
	local := []unix.Iovec{{Base: &data[0], Len: uint64(len(data) - left)}}
	// process_vm_writev accepts at most IOV_MAX (1024) iovecs per side.
	for len(remote) > 0 {
		chunk := remote[:min(len(remote), 1024)]
		total := 0
		for _, r := range chunk {
			total += r.Len
		}
		local[0].Len = uint64(total)
		n, err := unix.ProcessVMWritev(pid, local, chunk, 0)
		if err != nil || n != total {
			return unix.EFAULT
		}
		local[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(local[0].Base), total))
		remote = remote[len(chunk):]
	}
	return nil
}
