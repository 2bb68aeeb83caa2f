package testapps

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the apps bare (-n, no ULP) on a stock kernel: they prove
// the programs themselves work, so a luawrap test failure is luawrap's.

const wait = 10 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	CleanupCache()
	os.Exit(code)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(wait))
	t.Cleanup(func() { c.Close() })
	return c
}

func mustLine(t *testing.T, s *Server, prefix string) string {
	t.Helper()
	l, err := s.WaitLine(prefix, wait)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestHeader(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	// Both include orders must compile warning-free, and the ABI values
	// must be the module's.
	prog := `#include <stdio.h>
%s
int main(void) {
	struct sol_lua_stats st;
	printf("%%d %%d %%d %%d %%d %%d %%d %%d %%d %%zu\n", TCP_ULP, SOL_LUA,
	       SS_LUA_LOADSCRIPT, SS_LUA_ENTRYPOINT, ULP_LOADSCRIPT,
	       ULP_ENTRYPOINT, SS_LUA_STATS, SOL_LUA_SCRIPT_MAX,
	       SOL_LUA_ENTRY_MAX, sizeof(st));
	return 0;
}
`
	for i, inc := range []string{
		"#include <netinet/tcp.h>\n#include <luawrap/sol_lua.h>",
		"#include <luawrap/sol_lua.h>\n#include <netinet/tcp.h>",
		"#include <luawrap/sol_lua.h>\n#include <luawrap/sol_lua.h>",
	} {
		dir := t.TempDir()
		src := filepath.Join(dir, "h.c")
		if err := os.WriteFile(src, []byte(fmt.Sprintf(prog, inc)), 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "h")
		out, err := exec.Command("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror",
			"-I"+filepath.Join(Root(), "include"), "-o", bin, src).CombinedOutput()
		if err != nil {
			t.Fatalf("order %d: %v\n%s", i, err, out)
		}
		out, err = exec.Command(bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(string(out)), "31 999 1 2 1 2 3 1048576 64 32"; got != want {
			t.Fatalf("order %d: values %q, want %q", i, got, want)
		}
	}
}

func TestScripts(t *testing.T) {
	lua, err := exec.LookPath("lua5.4")
	if err != nil {
		t.Skip("lua5.4 not found")
	}
	// Reference behaviour of each script under real Lua (5.4 has %g).
	cases := []struct{ script, input, want string }{
		{"hello.lua", "x", "Hello, Kernel World!\ntrue"},
		{"pass_all.lua", "x", "true"},
		{"refuse_all.lua", "x", "false"},
		{"gc_stress.lua", "x", "false"},
		{"http_check.lua", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "true"},
		{"http_check.lua", "GET / HTTP/1.0\r\n\r\n", "nil"},
		{"http_check.lua", "garbage", "nil"},
	}
	for _, c := range cases {
		code := fmt.Sprintf("dofile(%q); print((process(%q)))", Script(c.script), c.input)
		out, err := exec.Command(lua, "-e", code).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.script, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%s(%q) = %q, want %q", c.script, c.input, got, c.want)
		}
	}
}

func TestThesisServerBare(t *testing.T) {
	t.Parallel()
	bin := Build(t, "thesis_server")
	for _, v6 := range []bool{false, true} {
		args := []string{bin, "-n", "0", Script("pass_all.lua")}
		host := "127.0.0.1"
		if v6 {
			if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
				t.Log("no IPv6 loopback; skipping -6")
				continue
			} else {
				l.Close()
			}
			args = []string{bin, "-n", "-6", "0", Script("pass_all.lua")}
			host = "::1"
		}
		srv := Start(t, args, nil)
		addr := net.JoinHostPort(host, fmt.Sprint(srv.Port()))

		req := "GET / HTTP/1.0\r\nHost: x\r\n\r\n"
		c := dial(t, addr)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		reply, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(reply, []byte("HTTP/1.0 200 OK\r\n")) || !bytes.HasSuffix(reply, []byte("\r\n\r\nok\n")) {
			t.Fatalf("reply %q", reply)
		}
		mustLine(t, srv, "accept")
		want := fmt.Sprintf("recv %d %s", len(req), hex.EncodeToString([]byte(req)))
		if l := mustLine(t, srv, "recv "); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}

		// A client that closes without sending: the server logs eof
		// and keeps serving.
		dial(t, addr).Close()
		mustLine(t, srv, "accept")
		mustLine(t, srv, "eof")
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSetupErrorBare(t *testing.T) {
	t.Parallel()
	// Without -n on a stock kernel the "lua" ULP does not exist: every app
	// exits 1 naming the failed setsockopt (ENOENT). Under luawrap or with
	// the module loaded setup succeeds, so the test skips there.
	for _, app := range []string{"thesis_server", "threaded_server", "echo_server", "goecho"} {
		argv := []string{Build(t, app), "0", Script("pass_all.lua")}
		if app == "goecho" {
			argv = []string{argv[0], "-script", Script("pass_all.lua")}
		}
		srv := Start(t, argv, nil)
		if _, err := srv.WaitLine("listening", wait); err == nil {
			t.Skipf("%s: TCP_ULP \"lua\" available here (module or luawrap)", app)
		}
		<-srv.Exited()
		if !strings.Contains(strings.ToLower(srv.Stderr()), "setsockopt tcp_ulp: no such file or directory") {
			t.Errorf("%s: stderr %q", app, srv.Stderr())
		}
		if err := srv.Stop(); err == nil {
			t.Errorf("%s: exit status 0, want 1", app)
		}
	}
}

func TestThreadedServerBare(t *testing.T) {
	t.Parallel()
	bin := Build(t, "threaded_server")
	srv := Start(t, []string{bin, "-n", "-s", "0", Script("pass_all.lua")}, nil)
	c := dial(t, srv.Addr())
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		req := fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Fatalf("response %d %q", resp.StatusCode, body)
		}
		want := fmt.Sprintf("1 recv %d %s", len(req), hex.EncodeToString([]byte(req)))
		if l := mustLine(t, srv, "1 recv "); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	c.Close()
	mustLine(t, srv, "1 eof")

	// Bare kernel: level SOL_LUA is unknown to the kernel; which errno
	// it picks varies (ENOPROTOOPT on Linux, EOPNOTSUPP on some sandboxes).
	if err := srv.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if l := mustLine(t, srv, "stats "); !strings.HasPrefix(l, "stats error E") {
		t.Fatalf("stats line %q", l)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	mustLine(t, srv, "stats ")
	mustLine(t, srv, "exit")
}

// echoCheck streams n random bytes through addr while reading them back,
// and fails unless every byte returns once, in order.
func echoCheck(t *testing.T, addr string, n int) {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	data := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo mismatch: sent %d bytes, got %d", len(data), len(got))
	}
}

func TestEchoServerBare(t *testing.T) {
	t.Parallel()
	bin := Build(t, "echo_server")
	for _, flags := range [][]string{
		{},
		{"-b", "1", "-m", "read"},
		{"-m", "recvfrom", "-a", "restart"},
		{"-m", "recvmsg", "-b", "7", "-a", "norestart"},
		{"-m", "readv", "-b", "3", "-a", "norestart"},
		{"-N", "-a", "norestart"},
		{"-N", "-b", "1", "-m", "recvmsg", "-a", "restart"},
	} {
		flags := flags
		t.Run(strings.Join(append([]string{"x"}, flags...), "_"), func(t *testing.T) {
			t.Parallel()
			argv := append(append([]string{bin, "-n"}, flags...), "0", Script("pass_all.lua"))
			srv := Start(t, argv, nil)
			n := 1 << 16
			for i := 0; i+1 < len(flags); i++ {
				if flags[i] == "-b" && flags[i+1] == "1" {
					n = 1 << 13 // byte at a time: keep it quick
				}
			}
			echoCheck(t, srv.Addr(), n)
			l := mustLine(t, srv, "eof 1 ")
			if f := strings.Fields(l); f[2] != fmt.Sprint(n) {
				t.Fatalf("eof line %q, want %d bytes", l, n)
			}
		})
	}
}

func TestGoechoBare(t *testing.T) {
	t.Parallel()
	bin := Build(t, "goecho")
	srv := Start(t, []string{bin, "-n", "-busy"}, nil)
	echoCheck(t, srv.Addr(), 1<<18)
	mustLine(t, srv, "accept 1")
	mustLine(t, srv, fmt.Sprintf("eof 1 %d", 1<<18))
}
