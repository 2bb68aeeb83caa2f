package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
)

// oneConnection is a Python program for the SOL_LUA API that accepts one
// Lua connection (Python's sockets are close-on-exec) and receives one
// approved message; a tail then lets the connection go.
const oneConnection = `
import os, socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_TCP, 31, b"lua")
l.setsockopt(999, 1, open(sys.argv[1], "rb").read())
l.setsockopt(999, 2, b"process\0")
l.bind(("127.0.0.1", 0)); l.listen(4)
print("listening", l.getsockname()[1], flush=True)
c, _ = l.accept()
print("recv", len(c.recv(100)), flush=True)
`

// The connection must end with the exec (close-on-exec), or with the
// program's close while it keeps running, exactly as without luawrap.
const (
	execServer  = oneConnection + "os.execv('/bin/sleep', ['sleep', '30'])\n"
	closeServer = oneConnection + "c.close()\ntime.sleep(30)\n"
)

// TestConnectionEndsWithTheProgram: luawrap holds no copy of a socket the
// program let go of — by close or by close-on-exec — so the client sees
// end of stream as it would without luawrap.
func TestConnectionEndsWithTheProgram(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{"exec": execServer, "close": closeServer} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			py := filepath.Join(t.TempDir(), "server.py")
			if err := os.WriteFile(py, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			srv := startWrapped(t, nil, nil, "python3", py, testapps.Script("pass_all.lua"))
			c, err := net.DialTimeout("tcp", srv.Addr(), e2eWait)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if l := mustLine(t, srv, "recv"); l != "recv 5" {
				t.Fatalf("server: %q", l)
			}
			c.SetReadDeadline(time.Now().Add(e2eWait))
			n, err := c.Read(make([]byte, 16))
			if n != 0 || err == nil || !strings.Contains(err.Error(), "EOF") {
				t.Fatalf("client read %d, %v: want end of stream when the program lets the socket go", n, err)
			}
		})
	}
}
