package supervisor

import (
	"encoding/binary"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// recvCall is one trapped receive, decoded: where the bytes go and what
// else the kernel would write back.
type recvCall struct {
	fd     int
	flags  int              // MSG_* flags
	segs   []notify.Segment // destination buffers, in order
	length int              // total capacity of segs
	// recvfrom with a source address: the kernel writes length 0 there for
	// a connected TCP socket (move_addr_to_user with klen 0).
	addrlenPtr uint64
	// recvmsg: the kernel writes msg_namelen (if msg_name), msg_flags and
	// msg_controllen back (____sys_recvmsg).
	msghdr     uint64
	hasMsgName bool
	// recvmmsg: where to store msg_len of the first message.
	msgLenPtr uint64
	// readTarget: decoding read target memory (iovecs, msghdr, addrlen),
	// which must be re-validated with NOTIF_ID_VALID before acting on it.
	readTarget bool
}

// struct msghdr and struct iovec on 64-bit Linux (<linux/socket.h>).
const (
	msghdrSize          = 56
	msghdrNamelenOff    = 8
	msghdrControllenOff = 40
	msghdrFlagsOff      = 48
	iovecSize           = 16
	uioMaxIOV           = 1024 // UIO_MAXIOV
	mmsghdrSize         = 64   // struct mmsghdr: msghdr + unsigned int msg_len, padded
	rwfNoWait           = 0x8  // RWF_NOWAIT
)

// decodeIovecs parses an iovec array read from the target.
func decodeIovecs(raw []byte) ([]notify.Segment, int, error) {
	segs := make([]notify.Segment, 0, len(raw)/iovecSize)
	total := 0
	for i := 0; i+iovecSize <= len(raw); i += iovecSize {
		base := binary.NativeEndian.Uint64(raw[i:])
		l := binary.NativeEndian.Uint64(raw[i+8:])
		if int64(l) < 0 || total+int(l) < total {
			return nil, 0, unix.EINVAL // rw_copy_check_uvector: MAX_RW_COUNT and overflow
		}
		total += int(l)
		segs = append(segs, notify.Segment{Addr: base, Len: int(l)})
	}
	return segs, total, nil
}

// readIovecs reads iovcnt iovecs at addr in the target.
func readIovecs(pid int, addr uint64, iovcnt uint64) ([]notify.Segment, int, error) {
	if iovcnt > uioMaxIOV {
		return nil, 0, unix.EINVAL
	}
	if iovcnt == 0 {
		return nil, 0, nil
	}
	raw := make([]byte, iovcnt*iovecSize)
	if err := notify.ReadMem(pid, addr, raw); err != nil {
		return nil, 0, err
	}
	return decodeIovecs(raw)
}

// decodeRecv builds the recvCall for a trapped receive from its arguments,
// reading iovecs and msghdrs from target memory. ok=false means the call is
// not a receive luawrap judges (the kernel may answer it as is).
func decodeRecv(nr int32, pid int, a [6]uint64) (c recvCall, judge bool, err error) {
	c.fd = int(int32(a[0]))
	c.readTarget = nr != unix.SYS_READ && !(nr == unix.SYS_RECVFROM && (a[4] == 0 || a[5] == 0))
	switch nr {
	case unix.SYS_READ:
		c.segs = []notify.Segment{{Addr: a[1], Len: clampLen(a[2])}}
		c.length = c.segs[0].Len
	case unix.SYS_RECVFROM:
		c.segs = []notify.Segment{{Addr: a[1], Len: clampLen(a[2])}}
		c.length = c.segs[0].Len
		c.flags = int(int32(a[3]))
		if a[4] != 0 && a[5] != 0 {
			var l [4]byte
			if err := notify.ReadMem(pid, a[5], l[:]); err != nil {
				return c, true, err
			}
			if int32(binary.NativeEndian.Uint32(l[:])) < 0 {
				return c, true, unix.EINVAL
			}
			c.addrlenPtr = a[5]
		}
	case unix.SYS_READV:
		c.segs, c.length, err = readIovecs(pid, a[1], a[2])
	case unix.SYS_PREADV2:
		if int64(a[3]) != -1 {
			return c, false, nil // a positioned read: the kernel answers ESPIPE
		}
		if a[5]&rwfNoWait != 0 {
			c.flags = unix.MSG_DONTWAIT
		}
		c.segs, c.length, err = readIovecs(pid, a[1], a[2])
	case unix.SYS_RECVMSG:
		c.flags = int(int32(a[2]))
		err = c.decodeMsghdr(pid, a[1])
	case unix.SYS_RECVMMSG:
		c.flags = int(int32(a[3]))
		if a[2] == 0 {
			return c, false, nil
		}
		// Only the first message is filled: a stream has no message
		// boundaries, and returning fewer messages than asked is allowed.
		c.msgLenPtr = a[1] + msghdrSize
		err = c.decodeMsghdr(pid, a[1])
	default:
		return c, false, nil
	}
	return c, true, err
}

func (c *recvCall) decodeMsghdr(pid int, addr uint64) error {
	var raw [msghdrSize]byte
	if err := notify.ReadMem(pid, addr, raw[:]); err != nil {
		return err
	}
	c.msghdr = addr
	c.hasMsgName = binary.NativeEndian.Uint64(raw[0:]) != 0
	var err error
	c.segs, c.length, err = readIovecs(pid, binary.NativeEndian.Uint64(raw[16:]), binary.NativeEndian.Uint64(raw[24:]))
	return err
}

// clampLen bounds a size_t length as the kernel does (MAX_RW_COUNT).
func clampLen(l uint64) int {
	const maxRW = 0x7ffff000 // INT_MAX & PAGE_MASK
	return int(min(l, maxRW))
}

// writeBack stores what the kernel would write besides the data.
func (c *recvCall) writeBack(pid int) error {
	var zero [4]byte
	if c.addrlenPtr != 0 {
		if err := notify.WriteMem(pid, c.addrlenPtr, zero[:]); err != nil {
			return err
		}
	}
	if c.msghdr != 0 {
		if c.hasMsgName {
			if err := notify.WriteMem(pid, c.msghdr+msghdrNamelenOff, zero[:]); err != nil {
				return err
			}
		}
		var z8 [8]byte
		if err := notify.WriteMem(pid, c.msghdr+msghdrControllenOff, z8[:]); err != nil {
			return err
		}
		if err := notify.WriteMem(pid, c.msghdr+msghdrFlagsOff, zero[:]); err != nil {
			return err
		}
	}
	return nil
}

// writeMsgLen stores msg_len for recvmmsg.
func (c *recvCall) writeMsgLen(pid int, n int) error {
	if c.msgLenPtr == 0 {
		return nil
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(n))
	return notify.WriteMem(pid, c.msgLenPtr, b[:])
}
