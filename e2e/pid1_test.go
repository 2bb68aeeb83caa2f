package e2e

// luawrap as a container entrypoint (issue 4 §1): PID 1 of a new PID
// namespace (unshare --pid --fork --mount-proc, as a container runtime
// starts its entrypoint) and, elsewhere, a child subreaper. It forwards
// signals, reaps orphans, exits with the program's status, and --kill-after
// ends a program that ignores SIGTERM.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// pid1Orphans makes an orphan and reports who adopted and reaped it: a
// child forks a grandchild and exits; once the child is reaped, the
// grandchild reports its parent ("ppid N"), is told to exit, and the
// script waits until it is gone from /proc ("reaped") or left a zombie
// ("zombie", after e2eWait).
const pid1Orphans = `import os, sys, time
r, w = os.pipe()
pr, pw = os.pipe()
child = os.fork()
if child == 0:
    g = os.fork()
    if g == 0:
        os.close(w)
        os.read(r, 1)           # wait until the orphan's parent was reported
        os._exit(7)
    os.write(pw, str(g).encode())
    os._exit(0)
os.waitpid(child, 0)            # the grandchild is an orphan now
g = int(os.read(pr, 32))
def ppid():
    for l in open("/proc/%d/status" % g):
        if l.startswith("PPid:"):
            return int(l.split()[1])
while ppid() == child:          # reparenting happens as the child exits
    time.sleep(0.001)
print("ppid", ppid(), flush=True)
os.close(w)                     # let the grandchild exit
deadline = time.time() + float(sys.argv[1])
while time.time() < deadline:
    try:
        state = open("/proc/%d/stat" % g).read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        # ESRCH: reaped between open() and read() of /proc/<pid>/stat
        print("reaped", flush=True)
        sys.exit(0)
    time.sleep(0.005)
print("zombie", state, flush=True)
sys.exit(1)
`

// pid1Signals prints the signals it gets; SIGTERM ends it with status 0.
const pid1Signals = `import os, signal, sys
def show(n, f):
    try:
        name = signal.Signals(n).name
    except ValueError:
        name = "SIG%d" % n
    print("got", name, flush=True)
    if n == signal.SIGTERM:
        sys.exit(0)
for s in (signal.SIGUSR1, signal.SIGURG, signal.SIGHUP, signal.SIGTERM, signal.SIGRTMIN + 2):
    signal.signal(s, show)
print("ready", os.getpid(), flush=True)
while True:
    signal.pause()
`

// needPIDNamespace skips unless unshare can create a PID namespace here.
func needPIDNamespace(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not found")
	}
	if out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot create a PID namespace here (needs root or user namespaces): %v %s", err, out)
	}
}

// startPID1 runs luawrap as PID 1 of a new PID namespace, with prog.
func startPID1(t *testing.T, lwFlags []string, prog ...string) (srv *testapps.Server, luawrapPid int) {
	t.Helper()
	needPIDNamespace(t)
	argv := append([]string{"unshare", "--pid", "--fork", "--mount-proc", requireLuawrap(t)}, lwFlags...)
	srv = testapps.Start(t, append(append(argv, "--"), prog...), nil)
	var kids []int
	if !poll(e2eWait, func() bool { kids = childrenOf(srv.Pid()); return len(kids) == 1 }) {
		t.Fatalf("unshare (pid %d) did not start luawrap: children %v", srv.Pid(), kids)
	}
	return srv, kids[0]
}

func pid1Script(t *testing.T, name, text string) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// As PID 1, orphans of the namespace are reparented to luawrap, which
// reaps them; the program's exit status is luawrap's (and unshare's).
func TestPID1ReapsOrphans(t *testing.T) {
	py := sigPython(t)
	srv, _ := startPID1(t, nil, py, pid1Script(t, "orphans.py", pid1Orphans), "10")
	if l := mustLine(t, srv, "ppid"); l != "ppid 1" {
		t.Fatalf("the orphan's parent: %q, want luawrap as PID 1", l)
	}
	mustLine(t, srv, "reaped")
	if code := exitCode(t, srv, e2eWait); code != 0 {
		t.Fatalf("exit status %d\n%s", code, srv.Stderr())
	}
}

// Not PID 1, luawrap is a child subreaper: the program's orphans come to
// it (not to the system's init) and are reaped.
func TestSubreaperReapsOrphans(t *testing.T) {
	py := sigPython(t)
	srv := testapps.Start(t, []string{requireLuawrap(t), "--", py, pid1Script(t, "orphans.py", pid1Orphans), "10"}, nil)
	want := fmt.Sprintf("ppid %d", srv.Pid())
	if l := mustLine(t, srv, "ppid"); l != want {
		t.Fatalf("the orphan's parent: %q, want luawrap (%s)", l, want)
	}
	mustLine(t, srv, "reaped")
	if code := exitCode(t, srv, e2eWait); code != 0 {
		t.Fatalf("exit status %d\n%s", code, srv.Stderr())
	}
}

// As PID 1, signals sent to luawrap reach the program, except SIGURG (the
// Go runtime's) and SIGCHLD; a program that exits on SIGTERM gives its
// status; one killed by a signal gives 128+signal.
func TestPID1Signals(t *testing.T) {
	py := sigPython(t)
	srv, lw := startPID1(t, nil, py, pid1Script(t, "signals.py", pid1Signals))
	mustLine(t, srv, "ready")
	for _, s := range []syscall.Signal{syscall.SIGURG, syscall.SIGCHLD, syscall.SIGUSR1, syscall.SIGHUP, syscall.Signal(34 + 2)} {
		if err := syscall.Kill(lw, s); err != nil {
			t.Fatal(err)
		}
		if s == syscall.SIGURG || s == syscall.SIGCHLD {
			continue
		}
		name := map[syscall.Signal]string{syscall.SIGUSR1: "SIGUSR1", syscall.SIGHUP: "SIGHUP", 36: "SIG36"}[s]
		if l := mustLine(t, srv, "got"); !strings.HasPrefix(l, "got "+name) {
			t.Fatalf("after %v the program printed %q (SIGURG/SIGCHLD must not be forwarded)", s, l)
		}
	}
	syscall.Kill(lw, syscall.SIGTERM)
	if l := mustLine(t, srv, "got"); l != "got SIGTERM" {
		t.Fatalf("after SIGTERM: %q", l)
	}
	if code := exitCode(t, srv, e2eWait); code != 0 {
		t.Fatalf("exit status %d, want the program's 0\n%s", code, srv.Stderr())
	}

	srv, _ = startPID1(t, nil, "sh", "-c", "echo up; kill -KILL $$")
	if code := exitCode(t, srv, e2eWait); code != 128+9 {
		t.Fatalf("a program killed by SIGKILL: exit status %d, want 137", code)
	}
}

// --kill-after: a program (and its worker) that ignores SIGTERM is killed
// with its process group that long after the SIGTERM; without the option
// luawrap waits.
func TestKillAfter(t *testing.T) {
	py := sigPython(t)
	ignore := pid1Script(t, "ignore.py", `import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    time.sleep(1000)    # a worker, in the program's process group
print("ready", flush=True)
time.sleep(1000)
`)
	srv := testapps.Start(t, []string{requireLuawrap(t), "--kill-after", "200ms", "--", py, ignore}, nil)
	mustLine(t, srv, "ready")
	prog := programPid(t, srv)
	var workers []int
	if !poll(e2eWait, func() bool { workers = childrenOf(prog); return len(workers) == 1 }) {
		t.Fatalf("the program's worker did not start: %v", workers)
	}
	srv.Signal(syscall.SIGTERM)
	if code := exitCode(t, srv, e2eWait); code != 128+9 {
		t.Fatalf("exit status %d, want 137 (killed after --kill-after)\n%s", code, srv.Stderr())
	}
	if !strings.Contains(srv.Stderr(), "--kill-after") {
		t.Fatalf("luawrap did not say why it killed the program:\n%s", srv.Stderr())
	}
	for _, w := range workers {
		if !poll(e2eWait, func() bool { return !alive(w) }) {
			t.Fatalf("worker %d survived --kill-after", w)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0], "Z")
}

// pid1Graceful serves one connection; SIGTERM only marks it as stopping,
// so a receive it interrupts is retried (PEP 475) and the request finished.
const pid1Graceful = `import signal, socket, sys
stopping = False
def term(n, f):
    global stopping
    stopping = True
    print("got SIGTERM", flush=True)
signal.signal(signal.SIGTERM, term)
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print("listening", s.getsockname()[1], flush=True)
c, _ = s.accept()
print("accepted", flush=True)
data = c.recv(100)
c.sendall(data)
c.close()
print("served", stopping, flush=True)
sys.exit(0 if stopping else 3)
`

// SIGTERM to luawrap while the program sits in a judged receive: the call
// in flight is answered (interrupted, so the program's handler runs, then
// restarted), not dropped, and the bytes that come next are judged and
// delivered; the program finishes its request and its status is luawrap's.
func TestSIGTERMCallInFlight(t *testing.T) {
	py := sigPython(t)
	script := writeScript(t, `function process(data) return not data:find("EVIL", 1, true) end`)
	srv := startWrapped(t, nil, []string{"--script", script}, py, pid1Script(t, "graceful.py", pid1Graceful))
	c := dialSend(t, srv.Addr())
	defer c.Close()
	mustLine(t, srv, "accepted")
	prog := programPid(t, srv)
	waitBlockedIn(t, prog, "recvfrom", syscall.SYS_RECVFROM)
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	mustLine(t, srv, "got SIGTERM")
	waitBlockedIn(t, prog, "recvfrom (restarted)", syscall.SYS_RECVFROM)
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, c, 6); got != "hello\n" {
		t.Fatalf("echo %q", got)
	}
	if l := mustLine(t, srv, "served"); l != "served True" {
		t.Fatalf("program: %q", l)
	}
	if code := exitCode(t, srv, e2eWait); code != 0 {
		t.Fatalf("exit status %d\n%s", code, srv.Stderr())
	}
}
