package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// The start-up stub is luawrap's own binary re-executed (the moby/sys
// reexec pattern): Go cannot run code between fork and exec, and the
// filter must be installed as close to exec as possible, on the thread
// that execs, after luawrap has nothing left to do in the new process.
//
//	luawrap                               stub (child, same binary)
//	  build filter; socketpair
//	  start /proc/self/exe  ───────────▶  read stubConfig from fd N (the
//	  send stubConfig over its pair          first after inherited fds)
//	                                        setrlimit(NOFILE)
//	                                        prctl(NO_NEW_PRIVS); seccomp(NEW_LISTENER)
//	  recvmsg notify fd  ◀───────────────   sendmsg(notify fd, SCM_RIGHTS)
//	  probe ADDFD+SEND; shutdown(fd) ──────▶ poll(fd N) sees end of stream
//	  serve notifications                   execve(program)   (trapped calls wait for luawrap)
//
// Nothing the stub does after installing the filter is trapped by it
// (sendmsg, poll, fcntl(F_SETFD), execve), so the hand-over cannot deadlock
// (KERNEL-NOTES pitfall 7).

const stubEnv = "LUAWRAP_INTERNAL_STUB"

// The stub finds its end of the socketpair at the fd number stubEnv gives:
// after the fds luawrap inherited, which pass through (inherit.go).
var stubFD = 3

// Exit codes of the stub, as shells and tini use them.
const (
	exitCannotExec = 126
	exitNotFound   = 127
	exitInternal   = 125 // luawrap itself failed before the program ran
	exitUsage      = 2   // bad command line or script: nothing was started
)

type stubConfig struct {
	Filter   []unix.SockFilter
	SoftFile uint64 // new soft RLIMIT_NOFILE; 0 keeps it
	Ignored  []int  // signals luawrap inherited as ignored: SIG_IGN survives execve
}

// MaybeRunStub turns this process into the start-up stub when luawrap
// started it as one; otherwise it returns at once. Call it first in main.
func MaybeRunStub() {
	v := os.Getenv(stubEnv)
	if v == "" {
		return
	}
	os.Unsetenv(stubEnv)
	if fd, err := strconv.Atoi(v); err == nil && fd >= 3 {
		stubFD = fd
	}
	runtime.LockOSThread() // no_new_privs and the filter are per thread
	os.Exit(runStub(os.Args))
}

func runStub(argv []string) int {
	f := os.NewFile(uintptr(stubFD), "luawrap-stub")
	var cfg stubConfig
	if err := json.NewDecoder(f).Decode(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "luawrap: start-up: read configuration: %v\n", err)
		return exitInternal
	}
	for _, sig := range cfg.Ignored {
		signal.Ignore(syscall.Signal(sig))
	}
	path, code, err := lookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "luawrap: %s: %v\n", argv[0], err)
		return code
	}
	if cfg.SoftFile > 0 {
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
			rl.Cur = min(cfg.SoftFile, rl.Max)
			_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
		}
	}
	nfd, killable, err := notify.Install(cfg.Filter)
	if err != nil {
		fmt.Fprintf(os.Stderr, "luawrap: %v\n", err)
		return exitInternal
	}
	rights := unix.UnixRights(int(nfd))
	flag := byte(0)
	if killable {
		flag = 1
	}
	if err := unix.Sendmsg(stubFD, []byte{flag}, rights, nil, 0); err != nil {
		fmt.Fprintf(os.Stderr, "luawrap: start-up: hand over the notification fd: %v\n", err)
		return exitInternal
	}
	// Wait for luawrap to check the listener (ProbeAddFD) and shut its end:
	// on failure it kills the stub, so the program never starts without a
	// supervisor able to serve it. poll is never trapped; read would be
	// under --trap-all.
	fds := []unix.PollFd{{Fd: int32(stubFD), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	// Both fds are close-on-exec (seccomp(2) opens the listener O_CLOEXEC),
	// so nothing is left to close before exec.
	unix.CloseOnExec(stubFD)
	retargetListenPID()
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "luawrap: %s: %v\n", argv[0], err)
	if errors.Is(err, unix.ENOENT) {
		return exitNotFound
	}
	return exitCannotExec
}

// lookPath resolves the command as a shell would, with the shell's exit
// codes: 127 not found, 126 found but not executable.
func lookPath(name string) (string, int, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, 0, nil
	}
	var ee *exec.Error
	if errors.As(err, &ee) && errors.Is(ee.Err, exec.ErrNotFound) {
		return "", exitNotFound, errors.New("command not found")
	}
	if errors.Is(err, fs.ErrPermission) {
		return "", exitCannotExec, errors.New("permission denied (not executable)")
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", exitNotFound, errors.New("no such file or directory")
	}
	return "", exitCannotExec, err
}

// retargetListenPID keeps systemd socket activation working through
// luawrap: systemd (or systemd-socket-activate) sets LISTEN_PID to the pid
// it started, luawrap, and sd_listen_fds(3) in the program ignores the
// sockets unless LISTEN_PID is its own pid. The stub's pid becomes the
// program's at exec, so a LISTEN_PID naming luawrap is moved to the stub.
func retargetListenPID() {
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getppid()) {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
}
