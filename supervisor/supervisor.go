package supervisor

import (
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/luawrap/luawrap/luaenv"
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// Options configure the emulation.
type Options struct {
	Range        FDRange
	TrapAll      bool
	AllowIOUring bool
	// OnErrorPass passes a message when its script fails, as the original
	// module did; by default a script error refuses it (fail closed).
	OnErrorPass bool
	Limits      luaenv.Limits
	// MaxMessage is how many queued bytes one script call sees at most.
	MaxMessage int
	// Workers is how many goroutines answer notifications (0: one per
	// CPU); see Serve. More than one lets concurrent connections be judged
	// in parallel.
	Workers int
	Logger  *slog.Logger
	// Attach puts scripts on the listeners of an unmodified program
	// (--script, --listen); the first rule that selects a listener wins.
	Attach []*Attach
	// MoreTimeout bounds how long an incomplete message may wait for the
	// rest (luawrap.more); 0: DefaultMoreTimeout.
	MoreTimeout time.Duration
	// killable: the filter has WAIT_KILLABLE_RECV (set by Run).
	killable bool
}

// DefaultMaxMessage bounds one inspection (and one peek buffer).
const DefaultMaxMessage = 64 << 10

// Supervisor answers the notifications of one filter.
type Supervisor struct {
	opts  Options
	fd    notify.FD
	log   *slog.Logger
	procs *procTable
	socks *registry
	warns sync.Map
	// attach is nil without --script.
	attach  *attacher
	connIDs atomic.Uint64
}

// New prepares a supervisor for listener fd.
func New(fd notify.FD, o Options) *Supervisor {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.Limits == (luaenv.Limits{}) {
		o.Limits = luaenv.DefaultLimits
	}
	if o.MoreTimeout <= 0 {
		o.MoreTimeout = DefaultMoreTimeout
	}
	s := &Supervisor{opts: o, fd: fd, log: o.Logger, procs: newProcTable(o.Range), socks: newRegistry()}
	if len(o.Attach) > 0 {
		s.attach = &attacher{rules: o.Attach, plain: map[uint64]bool{}}
	}
	return s
}

// handlers is the one table of trapped syscalls and who answers them.
var handlers = map[int32]func(*Supervisor, *notify.Notif) reply{
	unix.SYS_SETSOCKOPT: (*Supervisor).handleSetsockopt,
	unix.SYS_GETSOCKOPT: (*Supervisor).handleGetsockopt,
	unix.SYS_ACCEPT:     (*Supervisor).handleAccept,
	unix.SYS_ACCEPT4:    (*Supervisor).handleAccept,
	unix.SYS_READ:       (*Supervisor).handleReceive,
	unix.SYS_READV:      (*Supervisor).handleReceive,
	unix.SYS_RECVFROM:   (*Supervisor).handleReceive,
	unix.SYS_RECVMSG:    (*Supervisor).handleReceive,
	unix.SYS_RECVMMSG:   (*Supervisor).handleReceive,
	unix.SYS_PREADV2:    (*Supervisor).handleReceive,
	unix.SYS_SPLICE:     (*Supervisor).handleReceive,
	unix.SYS_DUP:        (*Supervisor).handleDup,
	unix.SYS_DUP3:       (*Supervisor).handleDup,
	unix.SYS_FCNTL:      (*Supervisor).handleDup,
	unix.SYS_CONNECT:    (*Supervisor).handleConnect,
	unix.SYS_LISTEN:     (*Supervisor).handleListen,
}

func init() {
	for nr, h := range archHandlers {
		handlers[nr] = h
	}
}

// Serve answers notifications until the listener is closed or no target
// is left. Up to Workers goroutines answer them (leader/followers): one
// leader receives and handles each notification itself, which keeps one
// thread hot for a single-threaded program (two threads alternating in
// NOTIF_RECV cost ~25% more per round trip here); when another
// notification is already waiting as it picks one up, it first promotes a
// follower to receive it, so the threads of a busy program are judged in
// parallel.
func (s *Supervisor) Serve() error {
	if err := s.fd.SetSyncWakeUp(); err != nil && !errors.Is(err, notify.ErrNotSupported) {
		s.log.Debug("sync wake-up unavailable", "err", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go s.sweepLoop(stop)
	workers := s.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	errc := make(chan error, workers)
	promote := make(chan struct{})
	for i := range workers {
		go func() { errc <- s.serveOne(promote, i == 0) }()
	}
	return <-errc
}

// serveOne is one worker: a follower waits on promote until it leads; the
// leader receives, hands the lead on when more work is waiting, and
// handles what it received.
//
// The check for more work is a poll, one syscall of the ten or so a judged
// receive costs. While one thread alone sends notifications (a
// single-threaded program, one busy worker) nothing else can be waiting,
// so after soloStreak of its notifications in a row the leader stops
// asking; another thread's first notification is then received right
// after the one in hand, and the checks resume with it.
func (s *Supervisor) serveOne(promote chan struct{}, leader bool) error {
	var n notify.Notif
	var last uint32
	streak := 0
	for {
		if !leader {
			<-promote
			leader = true
		}
		if err := s.fd.Recv(&n); err != nil {
			return err
		}
		if n.Pid == last {
			streak = min(streak+1, soloStreak)
		} else {
			last, streak = n.Pid, 0
		}
		if streak < soloStreak && s.fd.Pending() {
			select {
			case promote <- struct{}{}: // a follower leads from now on
				leader = false
			default: // every worker is busy
			}
		}
		s.dispatch(&n)
	}
}

// soloStreak is how many notifications in a row from one thread make the
// leader stop checking for others (see serveOne).
const soloStreak = 16

func (s *Supervisor) dispatch(n *notify.Notif) {
	h := handlers[n.Data.Nr]
	r := cont
	if h != nil {
		r = h(s, n)
	}
	s.send(n, r)
}

// send answers n unless the handler already did or will.
func (s *Supervisor) send(n *notify.Notif, r reply) {
	var err error
	switch r.kind {
	case replyContinue:
		err = s.fd.Continue(n.ID)
	case replyValue:
		if r.errno != 0 {
			err = s.fd.Fail(n.ID, r.errno)
		} else {
			err = s.fd.Return(n.ID, r.val)
		}
	default:
		return
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		s.log.Warn("answer notification", "pid", n.Pid, "syscall", n.Data.Nr, "err", err)
	}
}

// warnOnce logs a message the first time key is seen.
// first reports whether this is the first time key is seen: for things
// said once per run.
func (s *Supervisor) first(key any) bool {
	_, seen := s.warns.LoadOrStore(key, true)
	return !seen
}

func (s *Supervisor) warnOnce(key, msg string) {
	if s.first(key) {
		s.log.Warn(msg)
	}
}

func (s *Supervisor) newLuaConfig(name string) *luaConfig {
	return newLuaConfig(luaenv.Options{Limits: s.opts.Limits, Logger: s.log, Name: name}, s.opts.OnErrorPass)
}
