package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// Config is a whole run: what to start and how to supervise it.
type Config struct {
	Argv    []string
	Options Options
	// FDBase overrides the automatic managed range (0: automatic).
	FDBase int
	// KillAfter, when positive, kills the program's process group this
	// long after a SIGTERM or SIGINT was forwarded to it, if it is still
	// running (--kill-after).
	KillAfter time.Duration
}

// Run starts the program under the filter, serves its notifications and
// returns its exit status (128+signal when killed), as tini does.
// An error means luawrap could not run the program at all.
func Run(cfg Config) (int, error) {
	if len(cfg.Argv) == 0 {
		return exitInternal, errors.New("no command given")
	}
	if err := notify.ProbeHost(); err != nil {
		return exitInternal, err
	}
	o := cfg.Options
	var sc stubConfig
	if !o.TrapAll {
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return exitInternal, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
		}
		r, err := ChooseRange(rl.Cur, rl.Max, cfg.FDBase)
		if err != nil {
			return exitInternal, err
		}
		o.Range = r
		sc.SoftFile = uint64(r.Limit)
	}
	for _, a := range o.Attach {
		if err := a.prepare(o); err != nil {
			return exitUsage, err
		}
	}
	prog, err := notify.Build(Rules(FilterConfig{Range: o.Range, TrapAll: o.TrapAll,
		AllowIOUring: o.AllowIOUring, Listen: len(o.Attach) > 0}))
	if err != nil {
		return exitInternal, err
	}
	sc.Filter = prog

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return exitInternal, fmt.Errorf("create start-up socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(pair[0]), "luawrap-parent")
	theirs := os.NewFile(uintptr(pair[1]), "luawrap-stub")
	defer mine.Close()

	// Inherited fds keep their numbers; the stub's socketpair end goes
	// right after them and the stub learns its number from the environment.
	inherited := inheritedFiles()
	extra := append(append([]*os.File(nil), inherited...), theirs)
	stubAt := 3 + len(inherited)
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        cfg.Argv,
		Env:         append(os.Environ(), stubEnv+"="+strconv.Itoa(stubAt)),
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  extra,
		SysProcAttr: processGroupAttr(),
	}
	// A signal luawrap inherited as ignored stays ignored for the program,
	// as it would be without luawrap (a background job of a script ignores
	// SIGINT): Notify below un-ignores it for luawrap itself.
	for _, sig := range forwardedSignals {
		if signal.Ignored(sig) {
			sc.Ignored = append(sc.Ignored, int(sig.(syscall.Signal)))
		}
	}
	// Signals are caught before the start so none is lost in between.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	if err := becomeSubreaper(); err != nil {
		o.Logger.Warn("cannot become the child subreaper: the program's orphans will not be reaped by luawrap", "err", err)
	}
	reap := newReaper(o.Logger)
	err = cmd.Start()
	theirs.Close()
	for _, f := range inherited {
		if f != nil {
			f.Close() // the program has them now
		}
	}
	if err != nil {
		return exitInternal, fmt.Errorf("start %s: %w", cfg.Argv[0], err)
	}
	reap.start(cmd.Process.Pid)
	go forward(sigs, cmd.Process.Pid, cfg.KillAfter, o.Logger)

	nfd, killable, err := handOver(mine, sc)
	if err != nil {
		// The stub failed before the hand-over and said why on stderr.
		return reap.wait(), nil
	}
	err = notify.ProbeAddFD(nfd)
	if err == nil {
		err = notify.ProbeAccess(cmd.Process.Pid)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		reap.wait()
		return exitInternal, err
	}
	if err := unix.Shutdown(int(mine.Fd()), unix.SHUT_WR); err != nil {
		_ = cmd.Process.Kill()
		reap.wait()
		return exitInternal, fmt.Errorf("release the start-up stub: %w", err)
	}
	o.killable = killable
	if !killable {
		o.Logger.Warn("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV not supported by this kernel (requires Linux >= 5.19): a signal that interrupts a receive as it completes can lose the bytes it delivered")
	}
	sup := New(nfd, o)
	serveErr := make(chan error, 1)
	go func() { serveErr <- sup.Serve() }()
	select {
	case <-reap.done:
		return reap.status, nil
	case err := <-serveErr:
		_ = cmd.Process.Kill()
		reap.wait()
		return exitInternal, err
	}
}

// handOver sends the stub its configuration and receives the listener and
// whether it was installed with WAIT_KILLABLE_RECV.
func handOver(f *os.File, sc stubConfig) (notify.FD, bool, error) {
	if err := json.NewEncoder(f).Encode(sc); err != nil {
		return -1, false, fmt.Errorf("send start-up configuration: %w", err)
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	conn := int(f.Fd())
	for {
		_, oobn, _, _, err := unix.Recvmsg(conn, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, false, err
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return -1, false, errors.New("stub exited before the hand-over")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return -1, false, errors.New("malformed hand-over")
		}
		return notify.FD(fds[0]), buf[0] == 1, nil
	}
}
