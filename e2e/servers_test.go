package e2e

// luawrap in front of real servers that know nothing about it (issue 3
// §2): python3 -m http.server, Debian's nginx, a Go net/http server and
// Node's http module, each with the thesis's HTTP check attached from the
// command line (luawrap --script http_check.lua). Each is judged by its
// own request log: valid requests are answered and logged, refused ones
// never reach it, and a run of 1,000 mixed requests loses no valid one.
//
// Every server also runs bare once (serversBaseline): there the request
// the script refuses is answered 200 and logged, so the log is shown to
// reveal a refused request that got through.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// serversPython starts python3 -m http.server on bind (127.0.0.1, ::1 or
// :: for dual stack), port 0, serving a document root. It logs each
// request to stderr ("GET /x HTTP/1.1" 200 -), mixed with luawrap's log
// records, which serversAccessLog leaves out.
func serversPython(t *testing.T, lwFlags []string, bind string) *serversTarget {
	t.Helper()
	return serversPythonPort(t, lwFlags, bind, "0")
}

// serversPythonPort is serversPython on a given port.
func serversPythonPort(t *testing.T, lwFlags []string, bind, port string) *serversTarget {
	t.Helper()
	py := sigPython(t)
	dir := serversDocRoot(t)
	srv := testapps.Start(t, serversArgv(t, lwFlags,
		py, "-u", "-m", "http.server", "--bind", bind, port, "--directory", dir), nil)
	host := "127.0.0.1"
	if strings.Contains(bind, ":") {
		host = "[::1]"
	}
	return &serversTarget{
		name: "python http.server",
		srv:  srv,
		host: host,
		port: serversPortLine(t, srv), // "Serving HTTP on 127.0.0.1 port N ..."
		body: serversPage,
		log:  func() []string { return serversAccessLog(srv.Stderr()) },
		refusals: func() int {
			return strings.Count(srv.Stderr(), "ConnectionRefusedError: [Errno 111]")
		},
	}
}

// serversNginxConf is a self-contained nginx configuration: everything
// (pid, logs, temporary files, document root) in one test directory.
const serversNginxConf = `%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 1024; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    server {
        listen 127.0.0.1:%[3]d%[6]s;
        listen [::1]:%[3]d;
%[4]s
        root %[5]s;
    }
}
`

// serversNginxOpts says where nginx listens: on 127.0.0.1 and ::1 on port
// (0: a free port) and, when extra is not 0, on 127.0.0.1:extra too; and,
// when the test runs as root, whether the workers drop to nobody (nginx's
// default) or stay root.
type serversNginxOpts struct {
	port, extra int
	nobody      bool
	reuseport   bool // one SO_REUSEPORT listener per worker on 127.0.0.1:port
	// prefix runs before luawrap (e.g. setpriv dropping a capability).
	prefix []string
}

// serversNginx starts Debian's nginx in the foreground (daemon off), a
// master and two workers. The access log file is its request log.
func serversNginx(t *testing.T, lwFlags []string, o serversNginxOpts) *serversTarget {
	t.Helper()
	serversNeed(t, "nginx")
	root := os.Geteuid() == 0
	if o.nobody && !root {
		t.Skip("workers dropping to nobody: needs root")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	docs := serversDocRoot(t)
	user := ""
	switch {
	case root && o.nobody:
		// The workers (nobody) must reach the document root.
		for _, d := range []string{dir, filepath.Dir(dir), docs, filepath.Dir(docs)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	case root:
		user = "user root;"
	}
	port, extra := o.port, o.extra
	if port == 0 {
		port = serversFreePort(t)
	}
	extraListen := ""
	if extra != 0 {
		extraListen = fmt.Sprintf("        listen 127.0.0.1:%d;", extra)
	}
	conf := filepath.Join(dir, "nginx.conf")
	reuseport, v4 := "", 1
	if o.reuseport {
		reuseport, v4 = " reuseport", 2 // worker_processes
	}
	text := fmt.Sprintf(serversNginxConf, user, dir, port, extraListen, docs, reuseport)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := serversArgv(t, lwFlags, "nginx", "-e", "stderr", "-p", dir, "-c", conf, "-g", "daemon off; master_process on;")
	srv := testapps.Start(t, append(append([]string(nil), o.prefix...), argv...), nil)
	serversNginxShowErrors(t, dir)
	// nginx prints nothing when ready: wait for its listening sockets.
	serversWaitListeners(t, srv, port, v4+1)
	if extra != 0 {
		serversWaitListeners(t, srv, extra, 1)
	}
	if root && lwFlags != nil {
		want := 0
		if o.nobody {
			want = 65534
		}
		serversNginxWorkers(t, srv, want)
	}
	tg := serversNginxTarget("nginx", srv, port, dir)
	tg.refusals = func() int {
		// error_log at info: "recv() failed (111: Connection refused)".
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.Count(string(b), "(111: Connection refused)")
	}
	return tg
}

// serversNginxShowErrors logs the error.log of the nginx whose prefix is
// dir if the test fails.
func serversNginxShowErrors(t *testing.T, dir string) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", serversTail(string(b), 8192))
		}
	})
}

// serversNginxTarget is an nginx started with prefix dir and
// serversNginxConf, serving on port: its requests are counted from its
// access log.
func serversNginxTarget(name string, srv *testapps.Server, port int, dir string) *serversTarget {
	access := filepath.Join(dir, "access.log")
	return &serversTarget{
		name: name,
		srv:  srv,
		host: "127.0.0.1",
		port: port,
		body: serversPage,
		log: func() []string {
			b, _ := os.ReadFile(access)
			return serversAccessLog(string(b))
		},
	}
}

// serversGo starts testapps/gohttp (net/http, files from a document
// root) with env added to its environment, listening on addrs (default
// 127.0.0.1:0), and returns one target per address. It logs one line per
// request to stdout.
func serversGo(t *testing.T, lwFlags, env []string, addrs ...string) []*serversTarget {
	t.Helper()
	bin := testapps.Build(t, "gohttp")
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:0"}
	}
	argv := []string{bin, "-dir", serversDocRoot(t)}
	for _, a := range addrs {
		argv = append(argv, "-addr", a)
	}
	srv := testapps.Start(t, serversArgv(t, lwFlags, argv...), env)
	var tgs []*serversTarget
	for _, a := range addrs {
		host := "127.0.0.1"
		if strings.HasPrefix(a, "[") {
			host = "[::1]"
		}
		tgs = append(tgs, &serversTarget{
			name: "go net/http",
			srv:  srv,
			host: host,
			port: serversPortLine(t, srv), // "listening N", in flag order
			body: serversPage,
			log:  srv.Lines,
		})
	}
	return tgs
}

// serversNginxWorkers waits until the nginx master under luawrap has its
// two workers, running as uid.
func serversNginxWorkers(t *testing.T, srv *testapps.Server, uid int) {
	t.Helper()
	master := programPid(t, srv)
	var uids []string
	ok := poll(e2eWait, func() bool {
		uids = nil
		for _, w := range childrenOf(master) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w))
			if err != nil {
				return false
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "Uid:"); ok {
					uids = append(uids, strings.Fields(v)[1]) // effective
				}
			}
		}
		if len(uids) != 2 {
			return false
		}
		for _, u := range uids {
			if u != strconv.Itoa(uid) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("nginx master %d: workers' uids %v, want two of %d", master, uids, uid)
	}
}

// serversGoProtocol returns the protocol gohttp reported for its first
// listener: "mptcp" (Go's default where the kernel has MPTCP) or "tcp".
func serversGoProtocol(t *testing.T, tg *serversTarget) string {
	t.Helper()
	prefix := fmt.Sprintf("socket %d ", tg.port)
	for _, l := range tg.srv.Lines() {
		if p, ok := strings.CutPrefix(l, prefix); ok {
			return p
		}
	}
	t.Fatalf("gohttp did not report its listener's protocol: %q", tg.srv.Lines())
	return ""
}

// serversNode starts testapps/node/server.js (Node's http module, a fixed
// "ok" body) on 127.0.0.1, port 0. It logs one line per request to
// stdout, and one per connection error (clientError).
func serversNode(t *testing.T, lwFlags []string) *serversTarget {
	t.Helper()
	serversNeed(t, "node")
	js := filepath.Join(testapps.Root(), "testapps", "node", "server.js")
	srv := testapps.Start(t, serversArgv(t, lwFlags, "node", js, "127.0.0.1", "0"), nil)
	return &serversTarget{
		name: "node http",
		srv:  srv,
		host: "127.0.0.1",
		port: serversPortLine(t, srv), // "listening N"
		body: "ok\n",
		log:  srv.Lines,
		refusals: func() int {
			n := 0
			for _, l := range srv.Lines() {
				if l == "clientError ECONNREFUSED" {
					n++
				}
			}
			return n
		},
	}
}

// TestServersPython: python3 -m http.server (a thread per connection,
// blocking recv, listen backlog 5) under luawrap with http_check.lua.
func TestServersPython(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl", "ab")
	t.Run("bare", func(t *testing.T) {
		t.Parallel()
		serversBaseline(t, serversPython(t, nil, "127.0.0.1"))
	})
	t.Run("luawrap", func(t *testing.T) {
		t.Parallel()
		serversScenario(t, serversPython(t, serversCheckFlags(), "127.0.0.1"), false)
	})
}

// TestServersNginx: Debian's nginx (a master, two workers, accept4 and
// edge-triggered epoll), with and without ab's keep-alive, with workers
// that drop to nobody, and with one SO_REUSEPORT listener per worker;
// IPv6 clients too.
func TestServersNginx(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl", "ab", "nginx")
	t.Run("bare", func(t *testing.T) {
		t.Parallel()
		serversBaseline(t, serversNginx(t, nil, serversNginxOpts{}))
	})
	for _, c := range []struct {
		name      string
		keepAlive bool
		nobody    bool
		reuseport bool
	}{
		{"luawrap", false, false, false},
		{"luawrap ab -k", true, false, false},
		{"luawrap workers as nobody", false, true, false},
		{"luawrap reuseport", false, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := serversNginx(t, serversCheckFlags(), serversNginxOpts{nobody: c.nobody, reuseport: c.reuseport})
			serversScenario(t, tg, c.keepAlive)
			// The same server over IPv6.
			v6 := *tg
			v6.host = "[::1]"
			serversCurlValid(t, &v6)
			serversRefuses(t, &v6)
			serversWaitLog(t, &v6, 504)
		})
	}
}

// TestServersGo: a Go net/http server (netpoller, a goroutine per
// connection), on Go's default MPTCP listener and on plain TCP.
func TestServersGo(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl", "ab")
	t.Run("bare", func(t *testing.T) {
		t.Parallel()
		serversBaseline(t, serversGo(t, nil, nil)[0])
	})
	// Go ≥ 1.24 listeners are MPTCP sockets by default, as in any real Go
	// server; multipathtcp=0 gives plain TCP.
	mptcp := "mptcp"
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		mptcp = "tcp" // no MPTCP in this kernel: Go falls back to TCP
	}
	for _, c := range []struct {
		name  string
		env   []string
		proto string
	}{
		{"luawrap mptcp (default)", nil, mptcp},
		{"luawrap GODEBUG=multipathtcp=0", []string{"GODEBUG=multipathtcp=0"}, "tcp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := serversGo(t, serversCheckFlags(), c.env)[0]
			if p := serversGoProtocol(t, tg); p != c.proto {
				t.Fatalf("gohttp's listener is %s, want %s", p, c.proto)
			}
			serversScenario(t, tg, false)
		})
	}
}

// TestServersNode: Node's http module on libuv's level-triggered loop.
func TestServersNode(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl", "ab", "node")
	t.Run("bare", func(t *testing.T) {
		t.Parallel()
		serversBaseline(t, serversNode(t, nil))
	})
	t.Run("luawrap", func(t *testing.T) {
		t.Parallel()
		serversScenario(t, serversNode(t, serversCheckFlags()), false)
	})
}
