package supervisor

import (
	"net"
	"testing"
)

// loopbackPair is a plain TCP listener on loopback (not MPTCP, Go's
// default since 1.24) and a client connected to it.
func loopbackPair(t *testing.T) (*net.TCPListener, net.Conn) {
	t.Helper()
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ln.(*net.TCPListener), c
}

// heldTCPSockets must see a listener and a connection while they are open,
// by the same cookie SO_COOKIE gives, and stop seeing them once closed.
func TestHeldTCPSockets(t *testing.T) {
	ln, c := loopbackPair(t)
	var lnCookie, cCookie uint64
	rc, _ := ln.SyscallConn()
	rc.Control(func(fd uintptr) { lnCookie, _ = socketCookie(int(fd)) })
	rc2, _ := c.(*net.TCPConn).SyscallConn()
	rc2.Control(func(fd uintptr) { cCookie, _ = socketCookie(int(fd)) })
	held, err := heldTCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	if !held[lnCookie] || !held[cCookie] {
		t.Fatalf("open sockets not reported: listener %v, conn %v (%d held)", held[lnCookie], held[cCookie], len(held))
	}
	c.Close()
	ln.Close()
	held, err = heldTCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	if held[lnCookie] || held[cCookie] {
		t.Fatalf("closed sockets still reported held: listener %v, conn %v", held[lnCookie], held[cCookie])
	}
}
