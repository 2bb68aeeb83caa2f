package e2e

// Small helpers shared by the e2e tests. Keep them generic; test-specific
// helpers live in their test file with a prefix naming it.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
)

// e2eWait bounds every single wait of these tests (a line, a connection,
// an exit). Generous for a loaded 2-core CI machine; tests normally take
// milliseconds per step.
const e2eWait = 20 * time.Second

var (
	probeOnce sync.Once
	probeSkip string
	probeErr  error
)

// requireLuawrap builds luawrap and returns its path. The test is skipped
// (not failed) when this kernel or sandbox cannot run it: seccomp user
// notification with ADDFD_FLAG_SEND (Linux 5.14), pidfd_getfd, or a
// seccomp/ptrace policy that forbids them.
func requireLuawrap(t testing.TB) string {
	t.Helper()
	lw := testapps.BuildLuawrap(t)
	probeOnce.Do(func() {
		out, err := exec.Command(lw, "--", "/bin/true").CombinedOutput()
		if err == nil {
			return
		}
		msg := string(out)
		if strings.Contains(msg, "not supported by this kernel") ||
			strings.Contains(msg, "operation not permitted") {
			probeSkip = strings.TrimSpace(msg)
			return
		}
		probeErr = fmt.Errorf("luawrap -- /bin/true: %v\n%s", err, msg)
	})
	if probeSkip != "" {
		t.Skipf("luawrap cannot run here: %s", probeSkip)
	}
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return lw
}

// startWrapped runs prog under luawrap (lwFlags before "--") and waits
// until the program printed "listening <port>".
func startWrapped(t testing.TB, env, lwFlags []string, prog ...string) *testapps.Server {
	t.Helper()
	argv := append([]string{requireLuawrap(t)}, lwFlags...)
	argv = append(append(argv, "--"), prog...)
	srv := testapps.Start(t, argv, env)
	srv.Port()
	return srv
}

// writeScript stores a Lua script in the test's temporary directory and
// returns its path.
func writeScript(t testing.TB, lua string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.lua")
	if err := os.WriteFile(p, []byte(lua), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLine is Server.WaitLine that fails the test on timeout or exit.
func mustLine(t testing.TB, srv *testapps.Server, prefix string) string {
	t.Helper()
	l, err := srv.WaitLine(prefix, e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// exitCode waits up to d for the server to exit and returns its status
// the way a shell reports it: the exit code, or 128+signal.
func exitCode(t testing.TB, srv *testapps.Server, d time.Duration) int {
	t.Helper()
	select {
	case <-srv.Exited():
	case <-time.After(d):
		t.Fatalf("process %d did not exit within %v", srv.Pid(), d)
	}
	err := srv.Stop() // already exited: returns how
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("wait: %v", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// poll calls cond until it returns true or d passes (then it returns
// false). It checks a condition the system exposes (/proc), so the only
// waiting is between checks; every call is bounded in time.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// programPid returns the pid of the program luawrap runs (luawrap's only
// child; after exec it is the program). Call it once the program printed
// something, so the exec has happened.
func programPid(t testing.TB, srv *testapps.Server) int {
	t.Helper()
	lw := srv.Pid()
	var kids []int
	if !poll(e2eWait, func() bool { kids = childrenOf(lw); return len(kids) > 0 }) {
		t.Fatalf("luawrap (pid %d) has no child", lw)
	}
	if len(kids) != 1 {
		t.Fatalf("luawrap (pid %d) has %d children %v, want 1", lw, len(kids), kids)
	}
	return kids[0]
}

// childrenOf lists pid's children from /proc/<pid>/task/*/children, or by
// scanning /proc/*/stat when that file is missing (CONFIG_PROC_CHILDREN=n).
func childrenOf(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(tasks) > 0 {
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, w := range strings.Fields(string(b)) {
				if k, err := strconv.Atoi(w); err == nil {
					kids = append(kids, k)
				}
			}
		}
		return kids
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		k, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parentOf(k); err == nil && ppid == pid {
			kids = append(kids, k)
		}
	}
	return kids
}

// parentOf reads the ppid field of /proc/<pid>/stat.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces and ')'
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("short stat %q", s)
	}
	return strconv.Atoi(f[1])
}

// threadSyscall is one thread's current system call from
// /proc/<pid>/task/<tid>/syscall (only for a thread blocked in one).
type threadSyscall struct {
	tid  int
	nr   int
	args [6]uint64
}

// blockedSyscalls lists the threads of pid that sit in a system call
// (blocked: a thread stopped in a seccomp notification counts too).
// Running threads and unreadable entries are left out.
func blockedSyscalls(pid int) []threadSyscall {
	var out []threadSyscall
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		w := strings.Fields(string(b))
		if len(w) < 7 {
			continue // "running", or -1 (not in a syscall)
		}
		nr, err := strconv.Atoi(w[0])
		if err != nil || nr < 0 {
			continue
		}
		tid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		ts := threadSyscall{tid: tid, nr: nr}
		for i := range ts.args {
			v, err := strconv.ParseUint(strings.TrimPrefix(w[1+i], "0x"), 16, 64)
			if err != nil {
				continue
			}
			ts.args[i] = v
		}
		out = append(out, ts)
	}
	return out
}

// waitBlockedIn waits (bounded) until a thread of pid sits in one of the
// system calls nrs and returns it. It skips the test when /proc does not
// expose system calls (CONFIG_HAVE_ARCH_TRACEHOOK, ptrace access).
func waitBlockedIn(t testing.TB, pid int, what string, nrs ...int) threadSyscall {
	t.Helper()
	if _, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid)); err != nil {
		t.Skipf("cannot observe system calls of pid %d: %v", pid, err)
	}
	var found threadSyscall
	ok := poll(e2eWait, func() bool {
		for _, ts := range blockedSyscalls(pid) {
			for _, nr := range nrs {
				if ts.nr == nr {
					found = ts
					return true
				}
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("pid %d: no thread blocked in %s within %v (threads: %+v)", pid, what, e2eWait, blockedSyscalls(pid))
	}
	return found
}

// socketInode returns the inode of the socket open as fd in pid
// ("socket:[N]" in /proc), or "" when fd is not a socket.
func socketInode(pid, fd int) string {
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil || !strings.HasPrefix(l, "socket:[") {
		return ""
	}
	return l
}

// holdsSocket reports whether pid has the socket (as from socketInode)
// open on any fd.
func holdsSocket(pid int, inode string) bool {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && l == inode {
			return true
		}
	}
	return false
}

// sigIgnoredHere reports whether this test process inherited sig as
// ignored (a background job of a non-interactive shell ignores SIGINT);
// programs started from here then ignore it too.
func sigIgnoredHere(sig syscall.Signal) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}

const syscallSIGUSR1 = syscall.SIGUSR1
