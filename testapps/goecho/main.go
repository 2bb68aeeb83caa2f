// Command goecho is a Go echo server written for the SOL_LUA API of the
// 2019 "lua" TCP ULP. It exists because Go programs stress luawrap in ways C
// programs do not: the runtime accepts with accept4(SOCK_NONBLOCK), reads
// through the epoll netpoller (read(2) returning EAGAIN, then epoll_wait),
// runs many threads, and preempts goroutines with SIGURG, so syscalls
// luawrap intercepts are interrupted constantly (-busy makes that certain).
//
// Usage:
//
//	goecho [-n] [-busy] [-mptcp] [-addr HOST:PORT] [-entry NAME] -script FILE
//
// Output (one line per event, stdout):
//
//	listening <port>
//	accept <C>
//	eof <C> <bytes>
//	refused <C>          read failed with ECONNREFUSED (the script said no)
//	error <C> <error>
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// The original module's ABI (see include/luawrap/sol_lua.h). Defined here
// because Go programs for the module had no header to import.
const (
	solTCP          = 6
	tcpULP          = 31
	solLua          = 999
	ssLuaLoadScript = 1
	ssLuaEntryPoint = 2
)

var out sync.Mutex

// logf writes one event line; the mutex keeps lines whole across goroutines.
func logf(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: kernel chooses, printed)")
	script := flag.String("script", "", "Lua script file loaded with SS_LUA_LOADSCRIPT")
	entry := flag.String("entry", "process", "Lua entry function (SS_LUA_ENTRYPOINT)")
	noULP := flag.Bool("n", false, "no ULP: skip the SOL_LUA setup (bare-kernel smoke test)")
	busy := flag.Bool("busy", false, "run GOMAXPROCS CPU-bound goroutines so the runtime preempts with SIGURG constantly")
	mptcp := flag.Bool("mptcp", false, "keep Go's default MPTCP listener (IPPROTO_MPTCP) instead of plain TCP")
	flag.Parse()
	if flag.NArg() != 0 || (*script == "" && !*noULP) {
		fmt.Fprintln(os.Stderr, "usage: goecho [-n] [-busy] [-mptcp] [-addr HOST:PORT] [-entry NAME] -script FILE")
		os.Exit(1)
	}

	// net.Listen("tcp", addr), except that since Go 1.24 "tcp" listeners
	// are IPPROTO_MPTCP sockets when the kernel supports MPTCP, and the
	// kernel rejects TCP_ULP on those (ENOPROTOOPT). A 2019 program got a
	// plain TCP socket, so turn MPTCP off unless -mptcp asks for it.
	var lc net.ListenConfig
	lc.SetMultipathTCP(*mptcp)
	ln, err := lc.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !*noULP {
		text, err := os.ReadFile(*script)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := attachLua(ln.(*net.TCPListener), text, *entry); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *busy {
		startBusy(runtime.GOMAXPROCS(0))
	}
	logf("listening %d", ln.Addr().(*net.TCPAddr).Port)

	var n uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			// Accept only fails for good on a closed listener; the
			// runtime already retries EINTR/ECONNABORTED itself.
			logf("error %v", err)
			os.Exit(1)
		}
		id := atomic.AddUint64(&n, 1)
		logf("accept %d", id)
		go echo(c, id)
	}
}

// attachLua is Cód. 8 of the thesis done through the raw listener fd: the
// ULP, then the script text (length = optlen, no NUL), then the entry name
// with its trailing NUL counted in optlen, as C callers pass sizeof("...").
func attachLua(ln *net.TCPListener, text []byte, entry string) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if e := syscall.SetsockoptString(int(fd), solTCP, tcpULP, "lua\x00"); e != nil {
			serr = fmt.Errorf("setsockopt TCP_ULP: %w", e)
			return
		}
		if e := syscall.SetsockoptString(int(fd), solLua, ssLuaLoadScript, string(text)); e != nil {
			serr = fmt.Errorf("setsockopt SS_LUA_LOADSCRIPT: %w", e)
			return
		}
		if e := syscall.SetsockoptString(int(fd), solLua, ssLuaEntryPoint, entry+"\x00"); e != nil {
			serr = fmt.Errorf("setsockopt SS_LUA_ENTRYPOINT: %w", e)
			return
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// echo copies everything back byte for byte until EOF or an error.
func echo(c net.Conn, id uint64) {
	defer c.Close()
	buf := make([]byte, 32<<10)
	var total uint64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				logf("error %d %v", id, werr)
				return
			}
			total += uint64(n)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			logf("eof %d %d", id, total)
			return
		case errors.Is(err, syscall.ECONNREFUSED):
			logf("refused %d", id)
			return
		default:
			logf("error %d %v", id, err)
			return
		}
	}
}

// sink keeps the busy loops from being optimised away.
var sink atomic.Uint64

// startBusy runs k goroutines that never block or call functions the
// compiler could use as preemption points, so the scheduler must preempt
// them asynchronously with SIGURG every ~10 ms per running goroutine.
func startBusy(k int) {
	for i := 0; i < k; i++ {
		go func() {
			var x uint64
			for {
				for j := 0; j < 1<<20; j++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
				sink.Store(x)
			}
		}()
	}
}
