// Command gohttp is an ordinary Go net/http server that knows nothing about
// luawrap or the SOL_LUA API: the standard library's listener (MPTCP by
// default since Go 1.24, as in any real Go server), accept loop, netpoller
// and HTTP/1.1 parser. luawrap's tests attach a script to it from the
// command line (luawrap --script).
//
// Usage:
//
//	gohttp [-addr HOST:PORT]... [-fd N]... [-dir DIR] [-body TEXT]
//
// Output (stdout, one line each):
//
//	socket <port> tcp|mptcp              the protocol of each -addr listener
//	listening <port>                     once per listener, in flag order (-addr first)
//	<method> <path> <proto> <status>     once per request, after the reply
//
// Requests are served from DIR when -dir is given (http.FileServer), else
// answered 200 with TEXT. -fd N serves on an inherited listening socket
// (socket activation: LISTEN_FDS=1 passes it as fd 3).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
)

// ipprotoMPTCP is IPPROTO_MPTCP from <linux/in.h> (not in package syscall).
const ipprotoMPTCP = 262

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

var out sync.Mutex

// logf writes one line; the mutex keeps lines whole across goroutines.
func logf(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func main() {
	var addrs multi
	var fds multi
	flag.Var(&addrs, "addr", "listen address HOST:PORT (repeatable; port 0: the kernel chooses, printed)")
	flag.Var(&fds, "fd", "serve on this inherited listening socket fd (repeatable)")
	dir := flag.String("dir", "", "serve files from this directory")
	body := flag.String("body", "ok\n", "reply body when -dir is not given")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gohttp [-addr HOST:PORT]... [-fd N]... [-dir DIR] [-body TEXT]")
		os.Exit(2)
	}
	if len(addrs) == 0 && len(fds) == 0 {
		addrs = multi{"127.0.0.1:0"}
	}

	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, *body)
	})
	if *dir != "" {
		h = http.FileServer(http.Dir(*dir))
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		logf("%s %s %s %d", r.Method, r.URL.RequestURI(), r.Proto, sw.status)
	})}

	var lns []net.Listener
	for _, a := range addrs {
		// The zero ListenConfig: Go's defaults, MPTCP included (unless
		// GODEBUG=multipathtcp=0).
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		logf("socket %d %s", ln.Addr().(*net.TCPAddr).Port, protocol(ln))
		lns = append(lns, ln)
	}
	for _, s := range fds {
		var fd int
		if _, err := fmt.Sscan(s, &fd); err != nil {
			fmt.Fprintf(os.Stderr, "-fd %q: %v\n", s, err)
			os.Exit(2)
		}
		ln, err := net.FileListener(os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd)))
		if err != nil {
			fmt.Fprintf(os.Stderr, "-fd %d: %v\n", fd, err)
			os.Exit(1)
		}
		lns = append(lns, ln)
	}
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		logf("listening %d", ln.Addr().(*net.TCPAddr).Port)
		go func() { errs <- srv.Serve(ln) }()
	}
	err := <-errs
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// protocol names the listener's protocol: getsockopt(SO_PROTOCOL).
func protocol(ln net.Listener) string {
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err.Error()
	}
	proto, serr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) {
		proto, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
	}); err != nil {
		return err.Error()
	}
	switch {
	case serr != nil:
		return serr.Error()
	case proto == ipprotoMPTCP:
		return "mptcp"
	case proto == syscall.IPPROTO_TCP:
		return "tcp"
	}
	return fmt.Sprintf("protocol-%d", proto)
}
