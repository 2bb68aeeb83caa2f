// Package testapps builds and drives the test servers under testapps/ for
// luawrap's tests: C programs written against include/luawrap/sol_lua.h
// (c/*.c), a Go program (goecho) and Lua scripts (scripts/*.lua).
//
// Typical use:
//
//	bin := testapps.Build(t, "thesis_server")
//	lw := testapps.BuildLuawrap(t)
//	srv := testapps.Start(t, []string{lw, "--", bin, "0", testapps.Script("http_check.lua")}, nil)
//	conn, _ := net.Dial("tcp", srv.Addr())
//	...
//	line, err := srv.WaitLine("recv ", 5*time.Second)
//
// Every server prints "listening <port>" when ready and accepts port 0, so
// tests never need to pick free ports.
package testapps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout bounds how long Stop waits after SIGTERM before SIGKILL.
var StopTimeout = 5 * time.Second

// PortTimeout bounds how long Port waits for the "listening <port>" line.
// Generous: under luawrap a server may start slowly on a loaded CI machine.
var PortTimeout = 30 * time.Second

var (
	rootOnce sync.Once
	root     string

	cacheOnce sync.Once
	cacheDir  string
	cacheErr  error

	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// build memoises one binary per test process: parallel tests calling Build
// for the same name wait on the same sync.Once and share the result.
type build struct {
	once sync.Once
	path string
	err  error
	skip string
}

// Root returns the repository root, found from this source file's location
// so it works whatever the test's working directory is.
func Root() string {
	rootOnce.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			panic("testapps: runtime.Caller failed")
		}
		root = filepath.Dir(filepath.Dir(file))
	})
	return root
}

// Script returns the absolute path of testapps/scripts/<name>.
// Scripts that are also user examples (the thesis's HTTP check) live in
// examples/scripts only.
func Script(name string) string {
	p := filepath.Join(Root(), "testapps", "scripts", name)
	if _, err := os.Stat(p); err != nil {
		return filepath.Join(Root(), "examples", "scripts", name)
	}
	return p
}

// CacheDir returns the per-process directory binaries are built into.
func CacheDir(tb testing.TB) string {
	tb.Helper()
	cacheOnce.Do(func() {
		cacheDir, cacheErr = os.MkdirTemp("", fmt.Sprintf("luawrap-testapps-%d-", os.Getpid()))
	})
	if cacheErr != nil {
		tb.Fatalf("testapps: cache dir: %v", cacheErr)
	}
	return cacheDir
}

// CleanupCache removes the build cache. The cache outlives single tests on
// purpose (one build per test binary); call this from TestMain after m.Run
// to avoid leaving the directory in $TMPDIR.
func CleanupCache() {
	if cacheDir != "" {
		os.RemoveAll(cacheDir)
	}
}

// Build compiles testapps/c/<name>.c (or the Go programs "goecho" and
// "gohttp") once per test binary and returns the binary's path. C programs
// are built with gcc -O2 -Wall -Werror -pthread -I<root>/include. The test
// is skipped if the compiler is missing and fails if the build fails.
func Build(tb testing.TB, name string) string {
	tb.Helper()
	if name == "goecho" {
		return cached(tb, name, func(out string) (string, error) {
			return goBuild(out, "./testapps/goecho")
		})
	}
	if name == "gohttp" {
		return cached(tb, name, func(out string) (string, error) {
			return goBuild(out, "./testapps/gohttp")
		})
	}
	src := filepath.Join(Root(), "testapps", "c", name+".c")
	if _, err := os.Stat(src); err != nil {
		tb.Fatalf("testapps: no such test app %q: %v", name, err)
	}
	return cached(tb, name, func(out string) (string, error) {
		gcc, err := exec.LookPath("gcc")
		if err != nil {
			return "gcc not found in PATH: cannot build the C test apps", err
		}
		cmd := exec.Command(gcc, "-O2", "-Wall", "-Werror", "-pthread",
			"-I"+filepath.Join(Root(), "include"), "-o", out, src)
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("gcc %s: %v\n%s", name, err, b)
		}
		return "", nil
	})
}

// BuildLuawrap builds ./cmd/luawrap once per test binary and returns its path.
func BuildLuawrap(tb testing.TB) string {
	tb.Helper()
	return cached(tb, "luawrap", func(out string) (string, error) {
		return goBuild(out, "./cmd/luawrap")
	})
}

// goBuild runs "go build -o out pkg" in the repository root.
func goBuild(out, pkg string) (string, error) {
	// go test puts $GOROOT/bin first in PATH, so this finds the same go.
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "go tool not found in PATH: cannot build " + pkg, err
	}
	cmd := exec.Command(gobin, "build", "-o", out, pkg)
	cmd.Dir = Root()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return "", nil
}

// cached runs do(out) once per name. do returns a non-empty skip reason
// when a tool is missing (the test is skipped, not failed).
func cached(tb testing.TB, name string, do func(out string) (skip string, err error)) string {
	tb.Helper()
	dir := CacheDir(tb)
	buildsMu.Lock()
	b := builds[name]
	if b == nil {
		b = &build{}
		builds[name] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		out := filepath.Join(dir, name)
		b.skip, b.err = do(out)
		if b.err == nil {
			b.path = out
		}
	})
	if b.skip != "" {
		tb.Skipf("testapps: %s", b.skip)
	}
	if b.err != nil {
		tb.Fatalf("testapps: build %s: %v", name, b.err)
	}
	return b.path
}

// Server is a running test server whose stdout is parsed line by line.
type Server struct {
	tb  testing.TB
	cmd *exec.Cmd

	mu      sync.Mutex
	lines   []string
	cursor  int           // WaitLine consumes lines up to here
	changed chan struct{} // closed and replaced on every new line / at EOF
	eof     bool          // stdout fully read: no more lines will come
	exitErr error         // cmd.Wait result, valid once exited is closed
	port    int

	stderr  LockedBuffer
	exited  chan struct{}
	stop    sync.Once
	stopErr error
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers and readers:
// exec's copier goroutine, a logger used by several goroutines.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Bytewise splits s into one-byte pieces: a message dribbled one byte per
// segment, the hardest case for a filter that must wait for the rest.
func Bytewise(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

// Start runs argv with stdout parsed into lines and stderr captured. env
// entries are appended to the test's environment (nil: inherit as is).
// The process gets its own process group so Stop can kill stragglers
// (e.g. a server forked by luawrap). Stop is registered with tb.Cleanup;
// on test failure the output is logged.
func Start(tb testing.TB, argv []string, env []string) *Server {
	tb.Helper()
	return StartFiles(tb, argv, env, nil)
}

// StartFiles is Start with open files passed to the process: files[i]
// becomes its fd 3+i, as systemd passes listening sockets (LISTEN_FDS).
func StartFiles(tb testing.TB, argv []string, env []string, files []*os.File) *Server {
	tb.Helper()
	if len(argv) == 0 {
		tb.Fatal("testapps.Start: empty argv")
	}
	s := &Server{
		tb:      tb,
		changed: make(chan struct{}),
		exited:  make(chan struct{}),
		port:    -1,
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = &s.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.ExtraFiles = files
	// A grandchild holding our pipes open must not hang Wait forever.
	cmd.WaitDelay = StopTimeout
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testapps.Start %q: %v", argv, err)
	}
	go s.readLines(pr)
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(s.exited)
		// Wait has copied all output: end the line reader.
		pw.Close()
	}()
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Logf("testapps: %s: %v", argv[0], err)
		}
		if tb.Failed() {
			tb.Logf("testapps: %s stdout:\n%s", argv[0], tail(strings.Join(s.Lines(), "\n"), 8192))
			tb.Logf("testapps: %s stderr:\n%s", argv[0], tail(s.Stderr(), 8192))
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// readLines feeds stdout lines to waiters; each new line wakes them.
func (s *Server) readLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	// recv lines carry hex of up to a whole read buffer.
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		s.mu.Lock()
		s.lines = append(s.lines, sc.Text())
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
	// Drain on scanner error (line too long) so the child never blocks.
	io.Copy(io.Discard, r)
	s.mu.Lock()
	s.eof = true
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// ErrExited is wrapped by WaitLine/WaitMatch errors when the server's
// output ended before a matching line appeared.
var ErrExited = errors.New("server exited")

// WaitLine waits for the next line starting with prefix, consuming it and
// every line before it (later calls only see later lines), and returns it.
// It fails when the timeout expires or the server exits first.
func (s *Server) WaitLine(prefix string, timeout time.Duration) (string, error) {
	return s.WaitMatch(func(l string) bool { return strings.HasPrefix(l, prefix) },
		fmt.Sprintf("line with prefix %q", prefix), timeout)
}

// WaitMatch is WaitLine with an arbitrary predicate; what describes it in
// the error message.
func (s *Server) WaitMatch(match func(line string) bool, what string, timeout time.Duration) (string, error) {
	line, i, err := s.wait(s.cursorPos, match, what, timeout)
	if err == nil {
		s.mu.Lock()
		if i+1 > s.cursor {
			s.cursor = i + 1
		}
		s.mu.Unlock()
	}
	return line, err
}

func (s *Server) cursorPos() int { return s.cursor }

// wait scans lines from start() onwards until match succeeds. It blocks on
// the changed channel, so it wakes exactly when a line arrives.
func (s *Server) wait(start func() int, match func(string) bool, what string, timeout time.Duration) (string, int, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	from := -1
	for {
		s.mu.Lock()
		if from < 0 {
			from = start()
		}
		for ; from < len(s.lines); from++ {
			if match(s.lines[from]) {
				l := s.lines[from]
				s.mu.Unlock()
				return l, from, nil
			}
		}
		eof, ch := s.eof, s.changed
		s.mu.Unlock()
		if eof {
			<-s.exited
			return "", -1, fmt.Errorf("waiting for %s: %w (%v); stderr:\n%s",
				what, ErrExited, s.exitError(), tail(s.Stderr(), 4096))
		}
		select {
		case <-ch:
		case <-timer.C:
			return "", -1, fmt.Errorf("waiting for %s: timeout after %v; last lines:\n%s\nstderr:\n%s",
				what, timeout, tail(strings.Join(s.Lines(), "\n"), 2048), tail(s.Stderr(), 4096))
		}
	}
}

func (s *Server) exitError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

// Lines returns a snapshot of every stdout line so far (consumed or not).
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Stderr returns everything the server wrote to stderr so far.
func (s *Server) Stderr() string { return s.stderr.String() }

// Pid returns the process id (the luawrap supervisor when wrapped).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Signal sends sig to the process (e.g. syscall.SIGUSR1 for stats).
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Port waits (up to PortTimeout) for "listening <port>" and returns the
// port; the test fails if the server exits or never gets ready. It does
// not consume lines, so it can be called at any time, any number of times.
func (s *Server) Port() int {
	s.tb.Helper()
	s.mu.Lock()
	p := s.port
	s.mu.Unlock()
	if p >= 0 {
		return p
	}
	line, _, err := s.wait(func() int { return 0 },
		func(l string) bool { return strings.HasPrefix(l, "listening ") },
		`"listening <port>"`, PortTimeout)
	if err != nil {
		s.tb.Fatalf("testapps: %v", err)
	}
	p, err = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "listening ")))
	if err != nil || p <= 0 || p > 65535 {
		s.tb.Fatalf("testapps: bad listening line %q", line)
	}
	s.mu.Lock()
	s.port = p
	s.mu.Unlock()
	return p
}

// Addr returns "127.0.0.1:<port>" (waits for the port like Port).
func (s *Server) Addr() string {
	s.tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", s.Port())
}

// Stop sends SIGTERM, waits up to StopTimeout, then SIGKILLs the whole
// process group. It returns the exit error unless the exit was the
// expected one (status 0 or killed by our SIGTERM). Safe to call twice.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		select {
		case <-s.exited:
			// Exited on its own: report how.
			s.stopErr = s.exitError()
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(StopTimeout):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
			s.stopErr = fmt.Errorf("did not exit within %v of SIGTERM; killed", StopTimeout)
			return
		}
		// Leftover children in the group (the server under luawrap)
		// must not outlive the test.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		err := s.exitError()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				err = nil
			}
		}
		s.stopErr = err
	})
	return s.stopErr
}
