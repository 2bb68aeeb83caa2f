package e2e

// The script interface on an unmodified server (docs/scripts.md): verdicts
// (pass n, refuse with a reply, answer, more), its limits, the hooks and
// the connection table. The server is echo_server -n, which knows nothing
// about luawrap and echoes exactly the bytes it receives, so what the
// client reads back is what the server got. Each case runs against the
// blocking thread-per-connection server and the non-blocking one waiting
// in poll() (level-triggered).

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
)

// lineScript passes newline-terminated lines one by one, waits for the rest
// of an incomplete one, refuses "BAD" with a reply and answers "PING".
const lineScript = `
function process(data, conn)
  local i = data:find("\n", 1, true)
  if not i then return luawrap.more() end
  local line = data:sub(1, i - 1)
  if line == "BAD" then return luawrap.refuse("NO\n") end
  if line == "EVIL" then return false end
  if line == "PING" then return luawrap.answer("PONG\n", i) end
  if line == "WHO" then
    conn.n = (conn.n or 0) + 1
    return luawrap.answer(string.format("%d %d %s %s\n", conn.n, conn.bytes, conn.peer, tostring(conn.id > 0)), i)
  end
  return luawrap.pass(i)
end
function on_accept(conn)
  if conn.peer == "127.0.0.2" then return luawrap.refuse("bye\n") end
  return true
end
function on_close(conn) luawrap.info("closed", conn.id, conn.bytes) end
`

type verdictServer struct {
	name string
	args []string
}

var verdictServers = []verdictServer{{"blocking", nil}, {"nonblocking", []string{"-N"}}}

// startLines starts echo_server -n under luawrap with lineScript.
func startLines(t *testing.T, vs verdictServer, lwFlags ...string) *testapps.Server {
	t.Helper()
	script := writeScript(t, lineScript)
	bin := testapps.Build(t, "echo_server")
	args := append(append([]string{bin, "-n"}, vs.args...), "0")
	return startWrapped(t, nil, append([]string{"--script", script}, lwFlags...), args...)
}

// readUntilEOF reads what the connection gives until the peer closes it.
func readUntilEOF(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(e2eWait))
	b, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

// readN reads exactly n bytes.
func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(e2eWait))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

func forEachServer(t *testing.T, f func(t *testing.T, vs verdictServer)) {
	for _, vs := range verdictServers {
		t.Run(vs.name, func(t *testing.T) { f(t, vs) })
	}
}

// Pipelined messages in one segment are judged one by one: those before a
// refused one reach the server, nothing after it does.
func TestVerdictPassPrefix(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		srv := startLines(t, vs)
		c := dialSend(t, srv.Addr(), "one\ntwo\nEVIL\nthree\n")
		defer c.Close()
		if got := readUntilEOF(t, c); got != "one\ntwo\n" {
			t.Fatalf("server received %q, want the two lines before EVIL", got)
		}
		mustLine(t, srv, "refused")
	})
}

// A message dribbled one byte per segment is delivered whole, once; an
// incomplete one does not make a level-triggered server spin.
func TestVerdictMore(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		srv := startLines(t, vs)
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := "dribbled line\n"
		for i := range len(msg) {
			if _, err := c.Write([]byte{msg[i]}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // one segment per byte (TCP_NODELAY is Go's default)
		}
		if got := readN(t, c, len(msg)); got != msg {
			t.Fatalf("server received %q", got)
		}
		// Leave a message incomplete for a while: the server must sleep.
		pid := programPid(t, srv)
		before := cpuTicks(t, pid)
		if _, err := c.Write([]byte("incomplete")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if used := cpuTicks(t, pid) - before; used > 10 {
			t.Fatalf("the server used %d CPU ticks in 0.5 s while a message was incomplete: it spins", used)
		}
		if _, err := c.Write([]byte(" now\n")); err != nil {
			t.Fatal(err)
		}
		if got := readN(t, c, len("incomplete now\n")); got != "incomplete now\n" {
			t.Fatalf("server received %q", got)
		}
	})
}

// cpuTicks is the user+system time of every thread of pid, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// An incomplete message is refused after --more-timeout, and one that
// reaches --max-message at once; neither reaches the server.
func TestVerdictMoreLimits(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		srv := startLines(t, vs, "--more-timeout", "300ms", "--max-message", "1024")
		c := dialSend(t, srv.Addr(), "never ends")
		start := time.Now()
		if got := readUntilEOF(t, c); got != "" {
			t.Fatalf("server received %q", got)
		}
		c.Close()
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("refused after %v, before --more-timeout", d)
		}
		mustLine(t, srv, "refused")
		c = dialSend(t, srv.Addr(), strings.Repeat("x", 2000))
		if got := readUntilEOF(t, c); got != "" {
			t.Fatalf("server received %q of an oversized message", got)
		}
		c.Close()
		mustLine(t, srv, "refused")
		logged := func() bool {
			return strings.Contains(srv.Stderr(), "--more-timeout") && strings.Contains(srv.Stderr(), "--max-message")
		}
		if !poll(e2eWait, logged) {
			t.Fatalf("luawrap did not log why it refused:\n%s", srv.Stderr())
		}
	})
}

// refuse(reply) sends the reply, then the connection ends; the server's
// receive fails and it never sees the bytes.
func TestVerdictRefuseWithReply(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		srv := startLines(t, vs)
		c := dialSend(t, srv.Addr(), "ok\n", "BAD\nhidden\n")
		defer c.Close()
		if got := readUntilEOF(t, c); got != "ok\nNO\n" && got != "NO\nok\n" {
			t.Fatalf("client read %q, want the echo of ok and the reply NO", got)
		}
		mustLine(t, srv, "refused")
	})
}

// answer() replies for the server: it never sees the answered message, the
// connection stays open, and what follows is judged and delivered. The
// connection table keeps the script's fields and the stream offset.
func TestVerdictAnswerAndConn(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		srv := startLines(t, vs)
		c := dialSend(t, srv.Addr(), "PING\n")
		defer c.Close()
		if got := readN(t, c, 5); got != "PONG\n" {
			t.Fatalf("got %q, want luawrap's PONG", got)
		}
		if _, err := c.Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		if got := readN(t, c, 6); got != "hello\n" {
			t.Fatalf("echo %q", got)
		}
		// PING (5) and hello (6) were consumed before the first WHO.
		if _, err := c.Write([]byte("WHO\nWHO\n")); err != nil {
			t.Fatal(err)
		}
		want := "1 11 127.0.0.1 true\n2 15 127.0.0.1 true\n"
		if got := readN(t, c, len(want)); got != want {
			t.Fatalf("conn table: got %q, want %q", got, want)
		}
		c.(*net.TCPConn).CloseWrite()
		if got := readUntilEOF(t, c); got != "" {
			t.Fatalf("server received answered messages: %q", got)
		}
		if l := mustLine(t, srv, "eof"); !strings.HasPrefix(l, "eof 1 6 ") {
			t.Fatalf("server line %q: it must have received only hello (6 bytes)", l)
		}
		if !poll(e2eWait, func() bool { return strings.Contains(srv.Stderr(), `msg="closed 1 19"`) }) {
			t.Fatalf("on_close did not run:\n%s", srv.Stderr())
		}
	})
}

// on_accept refuses by peer address before the program sees the
// connection; other peers are served.
func TestVerdictOnAccept(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		srv := startLines(t, vs)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: e2eWait}
		c, err := d.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hi\n"))
		if got := readUntilEOF(t, c); got != "bye\n" {
			t.Fatalf("refused peer read %q, want bye", got)
		}
		c.Close()
		ok := dialSend(t, srv.Addr(), "hi\n")
		defer ok.Close()
		if got := readN(t, ok, 3); got != "hi\n" {
			t.Fatalf("accepted peer: echo %q", got)
		}
		if l := mustLine(t, srv, "accept"); l != "accept 1" {
			t.Fatalf("the server saw %q first: the refused peer reached it", l)
		}
	})
}

// on_close runs for every connection the program accepted, also one that
// never carried a byte (nothing was judged on it); conn.peer is known from
// the accept.
func TestVerdictOnCloseSilentConnection(t *testing.T) {
	forEachServer(t, func(t *testing.T, vs verdictServer) {
		script := writeScript(t, `function process() return true end
function on_close(conn) luawrap.info("closed", conn.id, conn.bytes, conn.peer) end`)
		args := append(append([]string{testapps.Build(t, "echo_server"), "-n"}, vs.args...), "0")
		srv := startWrapped(t, nil, []string{"--script", script}, args...)
		c, err := net.DialTimeout("tcp", srv.Addr(), e2eWait)
		if err != nil {
			t.Fatal(err)
		}
		if l := mustLine(t, srv, "accept"); l != "accept 1" {
			t.Fatalf("server line %q", l)
		}
		c.Close()
		if !poll(e2eWait, func() bool { return strings.Contains(srv.Stderr(), `msg="closed 1 0 127.0.0.1"`) }) {
			t.Fatalf("on_close did not run for a connection without data:\n%s", srv.Stderr())
		}
	})
}

// on_close runs when the program closes a connection the client keeps
// open: luawrap sees no end of stream then, its sweeper finds the socket
// gone (python's http.server closes after an HTTP/1.0 response).
func TestVerdictOnCloseProgramCloses(t *testing.T) {
	script := writeScript(t, `function process() return true end
function on_close(conn) luawrap.info("on_close", conn.id, conn.bytes) end`)
	tg := serversPython(t, []string{"--script", script}, "127.0.0.1")
	req := "GET " + serversValidPath + " HTTP/1.0\r\nHost: x\r\n\r\n"
	c := dialSend(t, tg.addr(), req)
	defer c.Close() // only after on_close ran: the client never closes first
	if resp := readUntilEOF(t, c); !strings.Contains(resp, serversPage) {
		t.Fatalf("response %q", resp)
	}
	want := fmt.Sprintf(`msg="on_close 1 %d"`, len(req))
	if !poll(e2eWait, func() bool { return strings.Contains(tg.srv.Stderr(), want) }) {
		t.Fatalf("on_close did not run after the program closed the connection:\n%s", tg.srv.Stderr())
	}
}
