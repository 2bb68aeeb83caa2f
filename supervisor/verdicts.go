package supervisor

import (
	"time"

	"github.com/luawrap/luawrap/luaenv"
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// Applying the script's verdicts (docs/scripts.md). All of it runs under
// sock.mu, when nothing approved is waiting (held and approved are empty):
// the head of the stream is partial (bytes of an incomplete message luawrap
// took off the queue) followed by the kernel queue.

// DefaultMoreTimeout bounds how long an incomplete message (luawrap.more)
// may take to complete before it is refused.
const DefaultMoreTimeout = 10 * time.Second

// judgeHead judges the head of the stream and applies the verdicts. again
// means the state machine should run again (something changed).
func (s *Supervisor) judgeHead(n *notify.Notif, sk *sock, dup int, c *recvCall) (r reply, st step, again bool) {
	if v := sk.next; v != nil {
		sk.next = nil
		s.applyHead(sk, dup, *v, len(sk.partial))
		return reply{}, 0, true
	}
	bufp := peekBufs.Get().(*[]byte)
	defer peekBufs.Put(bufp)
	if cap(*bufp) < s.opts.MaxMessage {
		*bufp = make([]byte, s.opts.MaxMessage)
	}
	buf := (*bufp)[:s.opts.MaxMessage]
	k := copy(buf, sk.partial)
	m, _, err := unix.Recvfrom(dup, buf[k:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case err == nil && m > 0:
		s.verdicts(sk, dup, buf[:k+m], k)
		return reply{}, 0, true
	case err == nil: // end of stream
		if k > 0 {
			s.refuse(sk, dup, nil, false, "the stream ended inside an incomplete message")
			return reply{}, 0, true
		}
		s.endConn(sk)
		r, st = s.settle(n, sk, c, nil)
		return r, st, false
	case err == unix.EAGAIN:
		if c.flags&unix.MSG_DONTWAIT != 0 || nonBlocking(dup) {
			r, st = s.settle(n, sk, c, unix.EAGAIN)
			return r, st, false
		}
		return reply{}, stepWait, false
	default:
		s.endConn(sk)
		r, st = s.settle(n, sk, c, err)
		return r, st, false
	}
}

// verdicts calls the script on view (the head of the stream; its first k
// bytes are partial) as long as it passes a prefix, so pipelined messages
// are judged one by one, then applies what it decided.
func (s *Supervisor) verdicts(sk *sock, dup int, view []byte, k int) {
	conn := s.connOf(sk, dup)
	off := 0
	for off < len(view) {
		conn.Bytes = sk.consumed + int64(off)
		res := sk.lua.judge(view[off:], conn, s.log)
		if res.Verdict == luaenv.Pass {
			off += res.N
			continue
		}
		if off > 0 {
			if res.Verdict != luaenv.More {
				sk.next = &res // applies once the passed bytes are read
			}
			break // More: judged again when the passed bytes are read
		}
		if res.Verdict == luaenv.More {
			s.wantMore(sk, dup, view, k)
		} else {
			s.applyHead(sk, dup, res, k)
		}
		return
	}
	s.approve(sk, off)
}

// approve marks the first off bytes of the head approved: those in partial
// move to held, the rest are counted in approved.
func (s *Supervisor) approve(sk *sock, off int) {
	sk.consumed += int64(off)
	p := min(off, len(sk.partial))
	sk.held = append(sk.held, sk.partial[:p]...)
	sk.approved = off - p
	s.dropPartial(sk, p)
}

// dropPartial removes the first p bytes of partial; what is left is a new
// incomplete message with a fresh deadline.
func (s *Supervisor) dropPartial(sk *sock, p int) {
	if p == 0 {
		return
	}
	sk.partial = sk.partial[p:]
	if len(sk.partial) == 0 {
		sk.partial = nil
		s.disarmMore(sk)
		return
	}
	s.armMore(sk)
}

// wantMore keeps an incomplete message: its bytes still in the kernel
// queue (view[k:]) move to partial, so the socket is not readable again
// until more arrive. A message that cannot grow (--max-message) is refused.
func (s *Supervisor) wantMore(sk *sock, dup int, view []byte, k int) {
	if len(view) >= s.opts.MaxMessage {
		s.refuse(sk, dup, nil, true, "an incomplete message reached --max-message")
		return
	}
	start := len(sk.partial)
	sk.partial = append(sk.partial, view[k:]...)
	if err := discard(dup, len(view)-k); err != nil {
		// The peeked bytes were there and only luawrap reads this socket;
		// if they could not be taken, nothing is safe to assume.
		sk.partial = sk.partial[:start]
		s.refuse(sk, dup, nil, true, "cannot take an incomplete message off the queue: "+err.Error())
		return
	}
	if start == 0 {
		s.armMore(sk)
	}
}

// applyHead applies a refusal or an answer to the head of the stream (k
// bytes of it in partial).
func (s *Supervisor) applyHead(sk *sock, dup int, res luaenv.Result, k int) {
	if res.Verdict != luaenv.Answer {
		s.refuseWith(sk, dup, res.Reply, k)
		return
	}
	p := min(res.N, len(sk.partial))
	s.dropPartial(sk, p)
	if rest := res.N - p; rest > 0 {
		if err := discard(dup, rest); err != nil {
			s.refuse(sk, dup, nil, true, "cannot consume an answered message: "+err.Error())
			return
		}
	}
	sk.consumed += int64(res.N)
	if res.Close {
		// End the connection as a client closing would: what is still
		// queued is dropped (so the program's close sends no reset over
		// the reply) and the program's next receive sees end of stream.
		drain(dup)
	}
	s.sendReply(dup, res.Reply, res.Close)
}

// refuseWith refuses the connection on the script's word. With a reply, the
// judged bytes are consumed first (so the program's close does not reset
// the connection over the reply), the reply is sent and the connection
// shut; without one, as the original module did: the receive fails
// ECONNREFUSED and the program closes the connection.
func (s *Supervisor) refuseWith(sk *sock, dup int, reply []byte, k int) {
	if reply != nil {
		drain(dup) // the head of the queue: what the script saw, and maybe more
	}
	s.refuse(sk, dup, reply, reply != nil, "")
}

// refuse marks the socket refused: every later receive fails with
// ECONNREFUSED. why is logged for luawrap's own refusals (limits); shut
// shuts the connection down (after reply), which also wakes a program
// waiting for it to become readable.
func (s *Supervisor) refuse(sk *sock, dup int, reply []byte, shut bool, why string) {
	if why != "" {
		s.log.Info("message refused", "script", sk.lua.opts.Name, "reason", why, "bytes", len(sk.partial))
		sk.lua.stats.refused.Add(1)
	}
	sk.refused = true
	// held (approved bytes not yet delivered, MSG_WAITALL) still goes
	// first, as the kernel returns data before an error.
	sk.partial, sk.next = nil, nil
	s.disarmMore(sk)
	if len(reply) > 0 || shut {
		s.sendReply(dup, reply, shut)
	}
	s.endConn(sk)
}

// discard removes want bytes from the head of the queue.
func discard(fd int, want int) error {
	var scratch [4096]byte
	for want > 0 {
		m, _, err := unix.Recvfrom(fd, scratch[:min(len(scratch), want)], unix.MSG_DONTWAIT)
		if err != nil {
			return err
		}
		if m == 0 {
			return unix.EPIPE
		}
		want -= m
	}
	return nil
}

// drain removes everything queued now.
func drain(fd int) {
	var scratch [4096]byte
	for {
		if m, _, err := unix.Recvfrom(fd, scratch[:], unix.MSG_DONTWAIT); err != nil || m <= 0 {
			return
		}
	}
}

// connOf returns the script's view of the connection. Accepted ones have
// it from admit; it is built here on first use for the others (a socket
// that got the ULP after it was connected).
func (s *Supervisor) connOf(sk *sock, dup int) *luaenv.Conn {
	if sk.conn == nil {
		var peer, local rawAddr
		_ = sockName(dup, true, &peer)
		_ = sockName(dup, false, &local)
		sk.conn = luaenv.NewConn(s.connIDs.Add(1), peer.addrPort(), local.addrPort())
	}
	return sk.conn
}

// endConn runs on_close once, when luawrap sees the connection end.
func (s *Supervisor) endConn(sk *sock) {
	if sk.ended || sk.conn == nil || sk.listener {
		sk.ended = true
		return
	}
	sk.ended = true
	sk.conn.Bytes = sk.consumed
	sk.lua.closed(sk.conn, s.log)
}

// kick makes the socket signal readiness again without changing its data.
// A read that returns less than the program asked for tells an
// edge-triggered program (nginx with EPOLLRDHUP) that the queue is empty:
// it waits for the next edge and would never come back for the bytes a
// pending verdict (next) concerns, which are still queued. Setting
// SO_RCVLOWAT runs tcp_data_ready() (net/ipv4/tcp.c, tcp_set_rcvlowat:
// "Check if we need to signal EPOLLIN right now"), a wakeup that queues a
// new edge for the program's next epoll_wait. The program's own value is
// set back unchanged.
func kick(fd int) {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVLOWAT); err == nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVLOWAT, v)
	}
}
