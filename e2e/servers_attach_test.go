package e2e

// The command-line attach mode's options (issue 3 §1), on real servers:
// --listen selecting listeners by port and address, each with its own
// script and entry; IPv6, dual-stack and inherited (socket-activated)
// listeners; the warning for a --listen that never matches; script errors
// stopping luawrap before the program starts; LUAWRAP_* variables.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// serversCheckEntry is a script whose entry function is not "process":
// check refuses every message asking for refused.html, header fields or
// not, and passes everything else (so, unlike http_check.lua, a request
// without header fields).
const serversCheckEntry = `
function check(data)
  return not data:find("refused.html", 1, true)
end
`

// serversNoHeaders is a valid request for the valid path that
// http_check.lua refuses (no header field) and check passes.
const serversNoHeaders = "GET " + serversValidPath + " HTTP/1.0\r\n\r\n"

// serversWriteFile stores text as dir/name and returns the path.
func serversWriteFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serversAnswered200 sends req on a new connection and fails unless it is
// answered 200: the listener is not filtered, or its script passes req.
func serversAnswered200(t *testing.T, tg *serversTarget, req string) {
	t.Helper()
	got := rawRequest(t, tg.addr(), req)
	if !strings.HasPrefix(got, "HTTP/1.") || !strings.Contains(serversFirstLine(got), " 200") {
		t.Fatalf("%s %s: %q answered %q, want 200", tg.name, tg.addr(), req, serversFirstLine(got))
	}
}

// serversNotAnswered sends req on a new connection and fails if it is
// answered 200: the listener's script refused it.
func serversNotAnswered(t *testing.T, tg *serversTarget, req string) {
	t.Helper()
	if _, err := serversNoReply(tg.addr(), req); err != nil {
		t.Fatalf("%s %s: %v", tg.name, tg.addr(), err)
	}
}

// serversWaitLeaks waits until the log shows n requests that reached the
// server although a script would have refused them (they went through an
// unfiltered listener), and fails if it shows another number.
func serversWaitLeaks(t *testing.T, tg *serversTarget, n int) {
	t.Helper()
	var leaked int
	poll(e2eWait, func() bool { _, leaked = serversCounts(tg.log()); return leaked >= n })
	if leaked != n {
		t.Fatalf("%s logged %d requests for refused.html, want %d: %q", tg.name, leaked, n, tg.log())
	}
}

// serversWaitLines waits until the log holds n lines containing s.
func serversWaitLines(t *testing.T, tg *serversTarget, s string, n int) {
	t.Helper()
	count := func() int {
		k := 0
		for _, l := range tg.log() {
			if strings.Contains(l, s) {
				k++
			}
		}
		return k
	}
	var k int
	poll(e2eWait, func() bool { k = count(); return k >= n })
	if k != n {
		t.Fatalf("%s logged %d lines with %q, want %d: %q", tg.name, k, s, n, tg.log())
	}
}

// TestAttachListenPort: with --listen PORT the script goes on that
// listener only; the program's other listener is left alone.
func TestAttachListenPort(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	p1, p2 := serversFreePort(t), serversFreePort(t)
	tgs := serversGo(t, append(serversCheckFlags(), "--listen", strconv.Itoa(p1)), nil,
		fmt.Sprintf("127.0.0.1:%d", p1), fmt.Sprintf("127.0.0.1:%d", p2))
	on, off := tgs[0], tgs[1]

	serversCurlValid(t, on)
	serversRefuses(t, on)
	serversWaitLog(t, on, 1)

	serversCurlValid(t, off)
	serversAnswered200(t, off, serversRefused[0])
	serversWaitLeaks(t, off, 1)
	serversWaitLines(t, off, serversValidPath, 2)
}

// TestAttachListenOptions: --listen ADDR:PORT tells listeners on the same
// port apart by address (IPv6 in brackets), and each --listen takes its
// own script=FILE and entry=NAME; there is no --script.
func TestAttachListenOptions(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	custom := serversWriteFile(t, t.TempDir(), "check.lua", serversCheckEntry)
	p1, p2 := serversFreePort(t), serversFreePort(t)
	tgs := serversGo(t, []string{
		"--listen", fmt.Sprintf("[::1]:%d,script=%s", p1, testapps.Script("http_check.lua")),
		"--listen", fmt.Sprintf("%d,script=%s,entry=check", p2, custom),
	}, nil, fmt.Sprintf("127.0.0.1:%d", p1), fmt.Sprintf("[::1]:%d", p1), fmt.Sprintf("127.0.0.1:%d", p2))
	v4, v6, other := tgs[0], tgs[1], tgs[2]

	// [::1]:p1: http_check.lua.
	serversCurlValid(t, v6)
	serversRefuses(t, v6)
	serversWaitLog(t, v6, 1)

	// 127.0.0.1:p1: same port, other address: not attached.
	serversAnswered200(t, v4, serversRefused[0])
	serversWaitLeaks(t, v4, 1)

	// 127.0.0.1:p2: check.lua's check.
	serversCurlValid(t, other)
	serversAnswered200(t, other, serversNoHeaders)
	refusedURL := strings.TrimSuffix(other.url(), serversValidPath) + "/refused.html"
	if out, err := curl(t, refusedURL); err == nil {
		t.Fatalf("check.lua: curl %s answered %q", refusedURL, out)
	}
	serversWaitLines(t, other, "GET "+serversValidPath+" HTTP/1.0 200", 1)
	serversWaitLeaks(t, other, 1) // still only v4's
}

// TestAttachListenNginx: --listen ADDR:PORT and --listen PORT on nginx, a
// master whose two workers accept: 127.0.0.1:p and port q get the script,
// [::1]:p (same port as the first) does not.
func TestAttachListenNginx(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl", "nginx")
	p, q := serversFreePort(t), serversFreePort(t)
	tg := serversNginx(t, append(serversCheckFlags(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", p), "--listen", strconv.Itoa(q)), serversNginxOpts{port: p, extra: q})
	extra := *tg
	extra.port = q
	v6 := *tg
	v6.host = "[::1]"

	serversCurlValid(t, tg)
	serversRefuses(t, tg)
	serversCurlValid(t, &extra)
	serversRefuses(t, &extra)
	serversWaitLog(t, tg, 2)

	serversCurlValid(t, &v6)
	serversAnswered200(t, &v6, serversRefused[0])
	serversWaitLeaks(t, tg, 1)
	serversWaitLines(t, tg, "GET "+serversValidPath+" HTTP/1.1 200", 3)
}

// TestAttachIPv6: a listener on [::1] is filtered for IPv6 clients.
func TestAttachIPv6(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	tg := serversGo(t, serversCheckFlags(), nil, "[::1]:0")[0]
	serversFiltered(t, tg)
}

// TestAttachDualStack: python's http.server --bind :: listens on [::] with
// IPV6_V6ONLY off; its script judges IPv4 clients (as v4-mapped peers)
// and IPv6 clients alike, whether attached to every listener or by
// --listen PORT or --listen [::]:PORT.
func TestAttachDualStack(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	for _, c := range []struct {
		name   string
		listen func(port int) string
	}{
		{"every listener", nil},
		{"--listen PORT", func(p int) string { return strconv.Itoa(p) }},
		{"--listen [::]:PORT", func(p int) string { return fmt.Sprintf("[::]:%d", p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			flags, port := serversCheckFlags(), "0"
			if c.listen != nil {
				p := serversFreePort(t)
				flags, port = append(flags, "--listen", c.listen(p)), strconv.Itoa(p)
			}
			v6 := serversPythonPort(t, flags, "::", port)
			v4 := *v6
			v4.host = "127.0.0.1"
			for i, tg := range []*serversTarget{&v4, v6} {
				serversCurlValid(t, tg)
				serversRefuses(t, tg)
				serversWaitLog(t, tg, i+1)
			}
		})
	}
}

// serversActivated is a socket-activated python http.server: it serves
// the listening socket it inherits as fd 3 (LISTEN_FDS=1), as under
// systemd, and never binds one itself.
const serversActivated = `import functools, http.server, os, socket, sys
if os.environ.get("LISTEN_FDS") != "1":
    sys.exit("LISTEN_FDS=%r, want 1" % os.environ.get("LISTEN_FDS"))
# As sd_listen_fds(3): the fds are for the process LISTEN_PID names.
pid = os.environ.get("LISTEN_PID")
if pid is not None and pid != str(os.getpid()):
    sys.exit("LISTEN_PID=%s is not this process (%d): the fds are not for it" % (pid, os.getpid()))
sock = socket.socket(fileno=3)
sock.setblocking(True)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
srv = http.server.ThreadingHTTPServer(sock.getsockname()[:2], handler, bind_and_activate=False)
srv.socket.close()
srv.socket = sock
print("listening", sock.getsockname()[1], flush=True)
srv.serve_forever()
`

// TestAttachInherited: a listener the program inherits from luawrap's
// parent (socket activation: fd 3, LISTEN_FDS=1) rather than creates is
// filtered too: every listener, or by --listen PORT. The bare runs show
// the programs serve the inherited socket.
func TestAttachInherited(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	for _, c := range []struct {
		name   string
		listen bool
		prog   func(t *testing.T) (name string, argv []string)
	}{
		{"python", false, func(t *testing.T) (string, []string) {
			script := serversWriteFile(t, t.TempDir(), "activated.py", serversActivated)
			return "python http.server (socket-activated)", []string{sigPython(t), script, serversDocRoot(t)}
		}},
		{"go --listen", true, func(t *testing.T) (string, []string) {
			return "go net/http (socket-activated)", []string{testapps.Build(t, "gohttp"), "-fd", "3", "-dir", serversDocRoot(t)}
		}},
	} {
		for _, bare := range []bool{true, false} {
			name := c.name + " luawrap"
			if bare {
				name = c.name + " bare"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f, port := serversParentListener(t)
				var flags []string
				if !bare {
					flags = serversCheckFlags()
					if c.listen {
						flags = append(flags, "--listen", strconv.Itoa(port))
					}
				}
				name, prog := c.prog(t)
				srv := testapps.StartFiles(t, serversArgv(t, flags, prog...), []string{"LISTEN_FDS=1"}, []*os.File{f})
				f.Close() // only the program holds the listener now
				tg := &serversTarget{name: name, srv: srv, host: "127.0.0.1", port: port, body: serversPage,
					log: func() []string { return append(serversAccessLog(srv.Stderr()), srv.Lines()...) }}
				if got := serversPortLine(t, srv); got != port {
					t.Fatalf("the program serves port %d, want the inherited %d", got, port)
				}
				if bare {
					serversBaseline(t, tg)
					return
				}
				serversFiltered(t, tg)
			})
		}
	}
}

// TestAttachSystemdSocketActivate: systemd-socket-activate opens the
// listener, sets LISTEN_FDS=1 and LISTEN_PID to the pid it execs (luawrap,
// at the first connection) and runs luawrap, which runs a program that
// checks LISTEN_PID as sd_listen_fds(3) does. The bare run execs the
// program itself.
func TestAttachSystemdSocketActivate(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl", "systemd-socket-activate")
	for _, bare := range []bool{true, false} {
		name := "luawrap"
		if bare {
			name = "bare"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := serversFreePort(t)
			script := serversWriteFile(t, t.TempDir(), "activated.py", serversActivated)
			var flags []string
			if !bare {
				flags = serversCheckFlags()
			}
			argv := append([]string{"systemd-socket-activate", "-l", fmt.Sprintf("127.0.0.1:%d", port)},
				serversArgv(t, flags, sigPython(t), script, serversDocRoot(t))...)
			srv := testapps.Start(t, argv, nil)
			tg := &serversTarget{name: "python http.server (systemd-socket-activate)", srv: srv,
				host: "127.0.0.1", port: port, body: serversPage,
				log: func() []string { return serversAccessLog(srv.Stderr()) }}
			serversWaitListeners(t, srv, port, 1)
			// The first connection starts the program.
			serversCurlValid(t, tg)
			if got := serversPortLine(t, srv); got != port {
				t.Fatalf("the program serves port %d, want the inherited %d", got, port)
			}
			if bare {
				serversWaitLog(t, tg, 1)
				serversAnswered200(t, tg, serversRefused[0])
				serversWaitLeaks(t, tg, 1)
				return
			}
			serversRefuses(t, tg)
			serversCurlValid(t, tg)
			serversWaitLog(t, tg, 2)
		})
	}
}

// serversParentListener opens a listening socket as systemd would (plain
// TCP, 127.0.0.1, any port) and returns it as a file to pass on.
func serversParentListener(t *testing.T) (*os.File, int) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().(*net.TCPAddr).Port
}

// TestAttachListenNoMatch: a --listen that matches none of the program's
// listeners leaves them alone and is reported by one warning, however
// many listeners the program opens elsewhere: another port, or the same
// port on the wildcard address, which 127.0.0.1:PORT does not select (Go
// listens on [::] with IPV6_V6ONLY off for "0.0.0.0:PORT").
func TestAttachListenNoMatch(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	for _, c := range []struct {
		name   string
		addrs  func(p int) []string
		listen func(p int) string
	}{
		{"other port", func(int) []string { return []string{"127.0.0.1:0", "[::1]:0"} }, strconv.Itoa},
		{"other address", func(p int) []string { return []string{fmt.Sprintf("0.0.0.0:%d", p)} },
			func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := serversFreePort(t)
			tgs := serversGo(t, append(serversCheckFlags(), "--listen", c.listen(p)), nil, c.addrs(p)...)
			for _, tg := range tgs {
				serversCurlValid(t, tg)
				serversAnswered200(t, tg, serversRefused[0])
			}
			serversWaitLeaks(t, tgs[0], len(tgs))
			srv := tgs[0].srv
			if err := srv.Stop(); err != nil {
				t.Logf("stop: %v", err) // luawrap exits 143 with the program
			}
			var warns []string
			for _, l := range strings.Split(srv.Stderr(), "\n") {
				if strings.Contains(l, "level=WARN") && strings.Contains(l, strconv.Itoa(p)) {
					warns = append(warns, l)
				}
			}
			if len(warns) != 1 {
				t.Fatalf("%d warnings naming port %d, want 1:\n%s", len(warns), p, srv.Stderr())
			}
			t.Logf("warning: %s", warns[0])
		})
	}
}

// TestAttachScriptErrors: a script that does not compile, fails when run
// at load, or lacks its entry function stops luawrap before the program
// starts, with a non-zero status and the file (and line) and Lua's message
// on stderr; from the command line, a per-listener option or the
// environment alike.
func TestAttachScriptErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	syntax := serversWriteFile(t, dir, "syntax.lua", "function process(s)\n  return s ==\nend\n")
	atLoad := serversWriteFile(t, dir, "atload.lua", "local x = 1\nerror(\"boom at load\")\n")
	noEntry := serversWriteFile(t, dir, "noentry.lua", "function other(s) return true end\n")
	good := testapps.Script("http_check.lua")
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"syntax error", nil, []string{"--script", syntax}, []string{syntax + ":3:", "near 'end'"}},
		{"error at load", nil, []string{"--script", atLoad}, []string{atLoad + ":2:", "boom at load"}},
		{"no process function", nil, []string{"--script", noEntry}, []string{noEntry, "'process'"}},
		{"no --entry function", nil, []string{"--script", good, "--entry", "nosuch"}, []string{good, "'nosuch'"}},
		{"missing file", nil, []string{"--script", filepath.Join(dir, "nosuch.lua")}, []string{filepath.Join(dir, "nosuch.lua")}},
		{"--listen script=", nil, []string{"--listen", "8080,script=" + syntax}, []string{syntax + ":3:", "near 'end'"}},
		{"--listen entry=", nil, []string{"--script", good, "--listen", "8080,entry=nope"}, []string{good, "'nope'"}},
		{"LUAWRAP_SCRIPT", []string{"LUAWRAP_SCRIPT=" + syntax}, nil, []string{syntax + ":3:", "near 'end'"}},
		{"LUAWRAP_ENTRY", []string{"LUAWRAP_SCRIPT=" + good, "LUAWRAP_ENTRY=nosuch"}, nil, []string{good, "'nosuch'"}},
		{"LUAWRAP_LISTEN", []string{"LUAWRAP_LISTEN=8080,script=" + noEntry}, nil, []string{noEntry, "'process'"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(t.TempDir(), "started")
			args := append(append([]string(nil), c.args...), "--", "sh", "-c", "touch "+marker)
			code, stderr := runLuawrap(t, c.env, args...)
			if code == 0 {
				t.Errorf("exit 0, want non-zero")
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the program ran")
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestAttachHelp: --help lists the attach mode's flags with their
// variables.
func TestAttachHelp(t *testing.T) {
	t.Parallel()
	code, out := runLuawrap(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	for _, f := range []string{"script", "entry", "listen", "more-timeout"} {
		env := "LUAWRAP_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(out, "--"+f) || !strings.Contains(out, env) {
			t.Errorf("--help lacks --%s or %s:\n%s", f, env, out)
		}
	}
}

// TestAttachEnv: LUAWRAP_SCRIPT, LUAWRAP_ENTRY and LUAWRAP_LISTEN (a
// space-separated list) do what the flags do, and LUAWRAP_MORE_TIMEOUT is
// read and checked; the command line overrides the environment.
func TestAttachEnv(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	custom := serversWriteFile(t, t.TempDir(), "check.lua", serversCheckEntry)
	p1, p2 := serversFreePort(t), serversFreePort(t)
	env := []string{
		"LUAWRAP_SCRIPT=" + custom,
		"LUAWRAP_ENTRY=check",
		fmt.Sprintf("LUAWRAP_LISTEN=%d 127.0.0.1:%d,script=%s,entry=process", p1, p2, testapps.Script("http_check.lua")),
		"LUAWRAP_MORE_TIMEOUT=5s",
	}
	tgs := serversGo(t, []string{}, env, fmt.Sprintf("127.0.0.1:%d", p1), fmt.Sprintf("127.0.0.1:%d", p2))
	checked, http := tgs[0], tgs[1]

	// p1: LUAWRAP_SCRIPT's check (LUAWRAP_ENTRY).
	serversCurlValid(t, checked)
	serversAnswered200(t, checked, serversNoHeaders)
	serversNotAnswered(t, checked, "GET /refused.html HTTP/1.1\r\nHost: x\r\n\r\n")
	// p2: http_check.lua's process.
	serversCurlValid(t, http)
	serversRefuses(t, http)
	serversWaitLines(t, http, "GET "+serversValidPath+" HTTP/1.0 200", 1)
	serversWaitLines(t, http, "GET "+serversValidPath+" HTTP/1.1 200", 2)
	serversWaitLeaks(t, http, 0)

	// A bad variable is named; the command line overrides a variable.
	code, stderr := runLuawrap(t, []string{"LUAWRAP_MORE_TIMEOUT=0s"}, "--", "true")
	if code != 2 || !strings.Contains(stderr, "LUAWRAP_MORE_TIMEOUT") {
		t.Errorf("LUAWRAP_MORE_TIMEOUT=0s: exit %d, stderr %q; want 2 naming the variable", code, stderr)
	}
	bad := serversWriteFile(t, t.TempDir(), "bad.lua", "this is not lua")
	code, stderr = runLuawrap(t, []string{"LUAWRAP_SCRIPT=" + bad, "LUAWRAP_ENTRY=nosuch"},
		"--script", testapps.Script("http_check.lua"), "--entry", "process", "--", "true")
	if code != 0 {
		t.Errorf("--script and --entry over bad LUAWRAP_SCRIPT and LUAWRAP_ENTRY: exit %d\n%s", code, stderr)
	}
}

// serversForked is a python http.server that forks first and listens in
// the child (as servers that daemonize or start workers before binding).
const serversForked = `import functools, http.server, os, signal, sys
pid = os.fork()
if pid:
    signal.signal(signal.SIGTERM, lambda *a: os.kill(pid, signal.SIGTERM))
    os.waitpid(pid, 0)
    sys.exit(0)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print("listening", srv.server_address[1], flush=True)
srv.serve_forever()
`

// TestAttachAfterFork: a listener created by a forked child, after the
// fork, gets the script (nginx covers listening before forking workers).
func TestAttachAfterFork(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	script := serversWriteFile(t, t.TempDir(), "forked.py", serversForked)
	srv := testapps.Start(t, serversArgv(t, serversCheckFlags(), sigPython(t), script, serversDocRoot(t)), nil)
	tg := &serversTarget{name: "python http.server (forked child)", srv: srv, host: "127.0.0.1", body: serversPage,
		log: func() []string { return serversAccessLog(srv.Stderr()) }}
	tg.port = serversPortLine(t, srv)
	serversFiltered(t, tg)
}
