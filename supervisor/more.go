package supervisor

import (
	"time"

	"golang.org/x/sys/unix"
)

// An incomplete message (luawrap.more) waits in sock.partial at most
// MoreTimeout. The program is not in a receive meanwhile (a non-blocking
// one is back in epoll_wait; a blocking one is parked in waitBlocked), so
// the deadline is a timer: it refuses the message and shuts the connection
// down, which makes the socket readable, so the program's next receive
// fails ECONNREFUSED and the client sees the connection end.

// armMore (re)starts the deadline of the message in partial.
func (s *Supervisor) armMore(sk *sock) {
	sk.moreGen++
	gen := sk.moreGen
	time.AfterFunc(s.opts.MoreTimeout, func() { s.moreExpired(sk, gen) })
}

// disarmMore cancels the deadline (the message completed or was refused):
// a timer armed before finds another generation and does nothing.
func (s *Supervisor) disarmMore(sk *sock) { sk.moreGen++ }

func (s *Supervisor) moreExpired(sk *sock, gen uint64) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.moreGen != gen || len(sk.partial) == 0 || sk.refused {
		return
	}
	// luawrap holds no copy of the socket between calls: fetch it from the
	// process that last received on it, and make sure the number still
	// names this socket.
	dup, _, err := s.procs.getFD(sk.lastPid, sk.lastFD)
	if err != nil {
		return // that process is gone; so is the connection, for it
	}
	defer unix.Close(dup)
	if c, err := socketCookie(dup); err != nil || c != sk.cookie {
		return
	}
	s.refuse(sk, dup, nil, true, "an incomplete message did not complete within --more-timeout")
}
