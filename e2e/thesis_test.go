package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
)

// recvLine waits for the thesis server's next event and returns it.
func nextEvent(t *testing.T, srv *testapps.Server) string {
	t.Helper()
	l, err := srv.WaitMatch(func(s string) bool {
		return strings.HasPrefix(s, "recv ") || s == "refused" || s == "eof" || strings.HasPrefix(s, "error")
	}, "a recv, refused, eof or error line", e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
	return string(out), err
}

// dialSend connects to addr and sends data in the given pieces (each its
// own write, so its own segment).
func dialSend(t *testing.T, addr string, pieces ...string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(e2eWait))
	for _, p := range pieces {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// rawRequest sends data in pieces and returns what the server answered
// before closing.
func rawRequest(t *testing.T, addr string, pieces ...string) string {
	t.Helper()
	c := dialSend(t, addr, pieces...)
	defer c.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(c)
	return buf.String()
}

// oneReply sends a request on a new connection and returns the first
// bytes answered (keep-alive servers do not close after replying), or ""
// when the server closed or reset the connection without answering.
func oneReply(t *testing.T, addr, req string) string {
	t.Helper()
	c := dialSend(t, addr, req)
	defer c.Close()
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	return string(buf[:n])
}

// TestThesisServerCurl runs the thesis's C server (Cód. 8 + Cód. 11) under
// luawrap with the thesis's HTTP check (Cód. 13): curl's valid requests
// reach the server byte for byte; malformed ones never do.
func TestThesisServerCurl(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	bin := testapps.Build(t, "thesis_server")
	for _, family := range []string{"ipv4", "ipv6"} {
		t.Run(family, func(t *testing.T) {
			t.Parallel()
			args := []string{bin, "0", testapps.Script("http_check.lua")}
			host := "127.0.0.1"
			if family == "ipv6" {
				args = []string{bin, "-6", "0", testapps.Script("http_check.lua")}
				host = "[::1]"
			}
			srv := startWrapped(t, nil, nil, args...)
			url := fmt.Sprintf("http://%s:%d/index.html", host, srv.Port())

			out, err := curl(t, url)
			if err != nil || out != "ok\n" {
				t.Fatalf("valid request: %q, %v", out, err)
			}
			ev := nextEvent(t, srv)
			got, _ := hex.DecodeString(strings.Fields(ev)[2])
			if !bytes.HasPrefix(got, []byte("GET /index.html HTTP/1.1\r\n")) || !bytes.Contains(got, []byte("User-Agent: curl")) {
				t.Fatalf("server received %q", got)
			}

			// No header fields: parse.requestfields finds none → nil → refused.
			if out, err := curl(t, "-0", "-H", "Host:", "-H", "User-Agent:", "-H", "Accept:", url); err == nil {
				t.Fatalf("refused request answered: %q", out)
			}
			if ev := nextEvent(t, srv); ev != "refused" {
				t.Fatalf("malformed request: server saw %q, want refused", ev)
			}

			// Raw sockets: binary garbage, no CRLF, a request dribbled over
			// several segments (all judged: only complete bytes reach it).
			addr := strings.TrimPrefix(strings.TrimSuffix(url, "/index.html"), "http://")
			for _, bad := range [][]string{
				{"\x00\x01\x02\xff\xfe garbage"},
				{"GET / HTTP/1.1 no line end"},
				{"GET / HTTP/1.0\r\n\r\n"},
			} {
				if reply := rawRequest(t, addr, bad...); reply != "" {
					t.Fatalf("%q answered %q", bad, reply)
				}
				if ev := nextEvent(t, srv); ev != "refused" {
					t.Fatalf("%q: server saw %q, want refused", bad, ev)
				}
			}
			if reply := rawRequest(t, addr, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); !strings.HasPrefix(reply, "HTTP/1.0 200") {
				t.Fatalf("valid raw request answered %q", reply)
			}
			if ev := nextEvent(t, srv); !strings.HasPrefix(ev, "recv ") {
				t.Fatalf("valid raw request: server saw %q", ev)
			}
		})
	}
}

// TestThesisScripts runs the thesis's other two scripts: Cód. 12's print
// goes to luawrap's log, Cód. 14 (the GC stress) refuses without error.
func TestThesisScripts(t *testing.T) {
	t.Parallel()
	bin := testapps.Build(t, "thesis_server")
	srv := startWrapped(t, nil, nil, bin, "0", testapps.Script("hello.lua"))
	if reply := rawRequest(t, srv.Addr(), "ping\r\n"); !strings.HasPrefix(reply, "HTTP/1.0 200") {
		t.Fatalf("hello.lua: reply %q", reply)
	}
	nextEvent(t, srv)
	if !poll(e2eWait, func() bool { return strings.Contains(srv.Stderr(), "Hello, Kernel World!") }) {
		t.Fatalf("print output not in luawrap's log:\n%s", srv.Stderr())
	}

	gc := startWrapped(t, nil, nil, bin, "0", testapps.Script("gc_stress.lua"))
	for range 3 {
		if reply := rawRequest(t, gc.Addr(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); reply != "" {
			t.Fatalf("gc_stress.lua passed a request: %q", reply)
		}
		if ev := nextEvent(t, gc); ev != "refused" {
			t.Fatalf("gc_stress.lua: %q", ev)
		}
	}
}

// TestScriptLimitsKeepServing: a script stuck in a loop, a pathological
// pattern and a memory bomb are stopped by the limits and counted as
// errors; the message is refused (fail closed) and the server goes on.
func TestScriptLimitsKeepServing(t *testing.T) {
	t.Parallel()
	script := writeScript(t, `
function process(s)
  if s:find("LOOP", 1, true) then while true do end end
  if s:find("PATTERN", 1, true) then return string.find(string.rep("a", 400), ".-.-.-b") end
  if s:find("BOMB", 1, true) then return #string.rep("x", 2^31) > 0 end
  return true
end`)
	bin := testapps.Build(t, "threaded_server")
	srv := startWrapped(t, nil, []string{"--time-limit", "100ms"}, bin, "-s", "0", script)
	for _, bad := range []string{"LOOP\r\n", "PATTERN\r\n", "BOMB\r\n"} {
		if reply := oneReply(t, srv.Addr(), bad); reply != "" {
			t.Fatalf("%q answered %q", bad, reply)
		}
		if reply := oneReply(t, srv.Addr(), "GET / HTTP/1.1\r\n\r\n"); !strings.HasPrefix(reply, "HTTP/1.1 200") {
			t.Fatalf("after %q the server did not answer a good request: %q", bad, reply)
		}
	}
	if err := srv.Signal(syscallSIGUSR1); err != nil {
		t.Fatal(err)
	}
	st := mustLine(t, srv, "stats")
	if !strings.Contains(st, "errors=3") || !strings.Contains(st, "passed=3") {
		t.Fatalf("stats %q: want 3 errors, 3 passed", st)
	}
	for _, want := range []string{"time limit", "memory limit"} {
		if !strings.Contains(srv.Stderr(), want) {
			t.Errorf("luawrap's log does not mention %q:\n%s", want, srv.Stderr())
		}
	}
}

// TestThreadedServerParallel: a thread-per-connection server judged by a
// pool of Lua states: many concurrent keep-alive clients, every valid
// request answered, every refused one never seen by the server.
func TestThreadedServerParallel(t *testing.T) {
	t.Parallel()
	bin := testapps.Build(t, "threaded_server")
	srv := startWrapped(t, nil, nil, bin, "-s", "0", testapps.Script("http_check.lua"))
	const clients, perClient = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", srv.Addr(), e2eWait)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(e2eWait))
			buf := make([]byte, 256)
			for k := range perClient {
				req := fmt.Sprintf("GET /%d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i, k)
				if _, err := c.Write([]byte(req)); err != nil {
					errs <- err
					return
				}
				n, err := c.Read(buf)
				if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
					errs <- fmt.Errorf("client %d request %d: %q %v", i, k, buf[:n], err)
					return
				}
			}
			// A malformed request ends the connection: refused, never seen.
			c.Write([]byte("BAD REQUEST WITHOUT LINE END"))
			if n, err := c.Read(buf); err == nil {
				errs <- fmt.Errorf("client %d: refused request answered %q", i, buf[:n])
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.Signal(syscallSIGUSR1)
	st := mustLine(t, srv, "stats")
	want := fmt.Sprintf("inspected=%d passed=%d refused=%d errors=0", clients*(perClient+1), clients*perClient, clients)
	if !strings.Contains(st, want) {
		t.Fatalf("stats %q, want %q", st, want)
	}
	for _, l := range srv.Lines() {
		if strings.Contains(l, hex.EncodeToString([]byte("BAD REQUEST"))) {
			t.Fatalf("server received a refused request: %s", l)
		}
	}
}

// TestOnErrorPass: a script error refuses the message by default (fail
// closed); --on-error=pass restores the original module's fail-open.
func TestOnErrorPass(t *testing.T) {
	t.Parallel()
	script := writeScript(t, `function process(s) if s:find("OOPS", 1, true) then error("broken") end return true end`)
	bin := testapps.Build(t, "thesis_server")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{nil, "refused"},
		{[]string{"--on-error=pass"}, "recv"},
	} {
		srv := startWrapped(t, nil, c.flags, bin, "0", script)
		rawRequest(t, srv.Addr(), "OOPS\r\n")
		if ev := nextEvent(t, srv); !strings.HasPrefix(ev, c.want) {
			t.Errorf("%v: server saw %q, want %s", c.flags, ev, c.want)
		}
		if !poll(e2eWait, func() bool { return strings.Contains(srv.Stderr(), "broken") }) {
			t.Errorf("%v: the script error is not in luawrap's log:\n%s", c.flags, srv.Stderr())
		}
	}
}
