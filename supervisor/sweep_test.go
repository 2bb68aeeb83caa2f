package supervisor

import (
	"io"
	"log/slog"
	"testing"

	"golang.org/x/sys/unix"
)

// The sweeper keeps what is held, drops what was held and is gone, and
// closes connections still pending for a listener that is gone.
func TestSweepSockets(t *testing.T) {
	s := New(-1, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, c := loopbackPair(t)
	defer c.Close()
	// A connection luawrap accepted for an interrupted accept: pending.
	lnFile, _ := ln.File()
	pending, _, err := unix.Accept4(int(lnFile.Fd()), unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	lnCookie, _ := socketCookie(int(lnFile.Fd()))
	fresh, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0) // ULP set, never bound
	freshCookie, _ := socketCookie(fresh)
	defer unix.Close(fresh)
	s.socks.add(&sock{cookie: lnCookie, pending: []int{pending}})
	s.socks.add(&sock{cookie: freshCookie})

	s.sweepSockets()
	if s.socks.get(lnCookie) == nil || s.socks.get(freshCookie) == nil {
		t.Fatal("sweep dropped sockets that are still held")
	}
	lnFile.Close()
	ln.Close()
	s.sweepSockets()
	if s.socks.get(lnCookie) != nil {
		t.Fatal("closed listener kept")
	}
	if s.socks.get(freshCookie) == nil {
		t.Fatal("a socket never seen in sock_diag (not bound yet) was dropped")
	}
	if _, err := unix.FcntlInt(uintptr(pending), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("pending connection of a closed listener still open: %v", err)
	}
	// The client sees the end of the connection nobody will accept.
	buf := make([]byte, 1)
	if n, err := c.Read(buf); n != 0 || err == nil {
		t.Fatalf("client read %d, %v: want end of stream", n, err)
	}
}
