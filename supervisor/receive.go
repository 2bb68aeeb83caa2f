package supervisor

import (
	"sync"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// The receive state machine. Invariants, per socket, under sock.mu:
//   - bytes leave the kernel queue only after the script approved them
//     (peek, judge, then take exactly the approved count), so a byte that
//     arrives between inspection and delivery is never delivered unjudged;
//   - approved counts bytes at the head of the queue already judged, so a
//     program reading in small pieces is not re-judged on a message's tail;
//   - held keeps approved bytes taken off the queue whose delivery failed
//     (the call was interrupted by a signal), or that were judged in
//     partial: the next receive gets them first, so nothing is lost,
//     duplicated or reordered;
//   - partial (an incomplete message) and next (a verdict on bytes behind
//     approved ones) only matter when held and approved are empty: then
//     the head of the stream is judged (verdicts.go).

// peekBufs recycles the buffers messages are peeked into.
var peekBufs = sync.Pool{New: func() any { return new([]byte) }}

// step is the outcome of one pass of the state machine.
type step int

const (
	stepReply step = iota // r is the answer (already sent when done)
	stepWait              // nothing to deliver yet on a blocking socket
)

// receive handles a judged receive on a Lua socket. dup is luawrap's copy
// of the socket; receive owns it.
func (s *Supervisor) receive(n notify.Notif, sk *sock, dup int, c recvCall) reply {
	sk.mu.Lock()
	sk.lastPid, sk.lastFD = int(n.Pid), int(int32(n.Data.Args[0]))
	r, st := s.receiveLocked(&n, sk, dup, &c)
	sk.mu.Unlock()
	if st == stepReply {
		unix.Close(dup)
		return r
	}
	go s.waitReceive(n, sk, dup, c)
	return async
}

// waitReceive completes a receive that has to wait for data on a blocking
// socket (see waitBlocked). tcp_recvmsg returns what it copied before a
// signal or a timeout, else the error: settle does the same.
func (s *Supervisor) waitReceive(n notify.Notif, sk *sock, dup int, c recvCall) {
	s.waitBlocked(&n, sk, dup, func(end unix.Errno) (reply, bool) {
		if end != 0 {
			r, _ := s.settle(&n, sk, &c, end)
			return r, false
		}
		r, st := s.receiveLocked(&n, sk, dup, &c)
		return r, st == stepWait
	})
}

// receiveLocked runs the state machine once. It returns stepWait only when
// the call must block: a blocking socket, no MSG_DONTWAIT, nothing to give.
func (s *Supervisor) receiveLocked(n *notify.Notif, sk *sock, dup int, c *recvCall) (reply, step) {
	if c.length == 0 {
		return s.receiveNothing(sk, dup, c)
	}
	peek := c.flags&unix.MSG_PEEK != 0
	waitAll := c.flags&unix.MSG_WAITALL != 0 && !peek
	for {
		if !peek && sk.approved > 0 && len(sk.held) < c.length {
			if err := s.take(sk, dup, c.length-len(sk.held)); err != nil {
				return s.settle(n, sk, c, err)
			}
			continue
		}
		avail := len(sk.held)
		if peek {
			avail += sk.approved
		}
		if avail > 0 && (avail >= c.length || !waitAll) {
			if !peek && sk.next != nil && sk.approved == 0 && len(sk.held) <= c.length {
				kick(dup) // this read ends short of a pending verdict
			}
			return s.deliver(n, sk, dup, c), stepReply
		}
		if sk.refused {
			return s.settle(n, sk, c, unix.ECONNREFUSED)
		}
		if sk.approved > 0 {
			continue // peek with approved bytes is handled above
		}
		// Nothing approved is queued: judge what arrived.
		r, st, again := s.judgeHead(n, sk, dup, c)
		if !again {
			return r, st
		}
	}
}

// receiveNothing is a receive of length 0: tcp_recvmsg waits for data
// (sock_rcvlowat is at least 1) and then copies none, so it returns 0 once
// anything is queued, at end of stream, or fails like any receive. No byte
// moves, so nothing is judged.
func (s *Supervisor) receiveNothing(sk *sock, dup int, c *recvCall) (reply, step) {
	if len(sk.held) > 0 || sk.approved > 0 {
		return ok(0), stepReply
	}
	if sk.refused {
		return fail(unix.ECONNREFUSED), stepReply
	}
	var b [1]byte
	_, _, err := unix.Recvfrom(dup, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case err == nil:
		return ok(0), stepReply
	case err == unix.EAGAIN && c.flags&unix.MSG_DONTWAIT == 0 && !nonBlocking(dup):
		return reply{}, stepWait
	}
	return failErr(err), stepReply
}

// settle ends a call that cannot get more bytes: held bytes are delivered
// first (a short read, as the kernel gives before an error or EOF);
// otherwise err (nil: end of stream, 0).
func (s *Supervisor) settle(n *notify.Notif, sk *sock, c *recvCall, err error) (reply, step) {
	if len(sk.held) > 0 {
		return s.deliver(n, sk, -1, c), stepReply
	}
	if err == nil {
		return ok(0), stepReply
	}
	return failErr(err), stepReply
}

// take moves up to want approved bytes from the kernel queue into held.
func (s *Supervisor) take(sk *sock, dup int, want int) error {
	k := min(want, sk.approved)
	start := len(sk.held)
	sk.held = append(sk.held, make([]byte, k)...)
	m, _, err := unix.Recvfrom(dup, sk.held[start:], unix.MSG_DONTWAIT)
	if err != nil || m <= 0 {
		sk.held = sk.held[:start]
		sk.approved = 0 // the queue no longer holds what was judged
		if err == nil {
			return nil
		}
		return err
	}
	sk.held = sk.held[:start+m]
	sk.approved -= m
	if m < k {
		sk.approved = 0
	}
	return nil
}

// deliver copies approved bytes into the program's buffers and answers.
// With MSG_PEEK they stay where they are; otherwise held bytes are dropped
// only once the answer reached the program.
func (s *Supervisor) deliver(n *notify.Notif, sk *sock, dup int, c *recvCall) reply {
	data := sk.held[:min(len(sk.held), c.length)]
	if c.flags&unix.MSG_PEEK != 0 && len(data) < c.length && sk.approved > 0 && dup >= 0 {
		extra := make([]byte, min(c.length-len(data), sk.approved))
		m, _, err := unix.Recvfrom(dup, extra, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err == nil && m > 0 {
			data = append(append([]byte(nil), data...), extra[:m]...)
		}
	}
	pid := int(n.Pid)
	// The tid must still be the notifying thread before its memory is
	// written (seccomp_unotify(2): check NOTIF_ID_VALID before acting).
	if !s.fd.Valid(n.ID) {
		return done
	}
	if c.flags&unix.MSG_TRUNC == 0 {
		if err := notify.WriteMemv(pid, c.segs, data); err != nil {
			return fail(unix.EFAULT) // the kernel leaves the data queued on EFAULT
		}
	}
	if err := c.writeBack(pid); err != nil {
		return fail(unix.EFAULT)
	}
	val := int64(len(data))
	if c.msgLenPtr != 0 {
		if err := c.writeMsgLen(pid, len(data)); err != nil {
			return fail(unix.EFAULT)
		}
		val = 1
	}
	if err := s.fd.Return(n.ID, val); err != nil {
		return done // interrupted: the bytes stay held for the restarted call
	}
	if c.flags&unix.MSG_PEEK == 0 {
		sk.held = sk.held[len(data):]
		if len(sk.held) == 0 {
			sk.held = nil
		}
	}
	return done
}

// nonBlocking reports O_NONBLOCK on the open file description luawrap's
// copy shares with the program.
func nonBlocking(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}
