package luaenv

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound one call of a script (and the load of a script).
type Limits struct {
	// Time is the wall time one call (or the load) may take; default 50ms.
	// Zero or negative means the default.
	Time time.Duration
	// Memory is the largest string or table in bytes that a built-in
	// (string.rep, string.gsub, table.concat, load, ...) may build in one
	// call; default 64 MiB. Zero or negative means the default. Strings built
	// by the VM's own '..' operator and tables built by Lua code are bounded
	// only by Time (see doc.go).
	Memory int64
}

// DefaultLimits are the limits used for zero fields of Limits.
var DefaultLimits = Limits{Time: 200 * time.Millisecond, Memory: 64 << 20}

func (l Limits) withDefaults() Limits {
	if l.Time <= 0 {
		l.Time = DefaultLimits.Time
	}
	if l.Memory <= 0 {
		l.Memory = DefaultLimits.Memory
	}
	return l
}

var (
	// ErrTimeLimit matches (errors.Is) a call stopped by Limits.Time.
	ErrTimeLimit = errors.New("time limit exceeded")
	// ErrMemoryLimit matches a call whose built-in refused to exceed Limits.Memory.
	ErrMemoryLimit = errors.New("memory limit exceeded")
)

// stopCtx is the context.Context given to a state with LState.SetContext.
// gopher-lua's VM then does a non-blocking receive on Done() before every
// instruction; returning a plain field (no lazily built channel, no lock)
// keeps that at a few ns. One stopCtx lives as long as its state: starting a
// call costs one atomic store, not a new context and timer. The watchdog
// closes done when a call overruns; the state is then discarded, so done is
// never reopened.
type stopCtx struct {
	done chan struct{}
}

func newStopCtx() *stopCtx { return &stopCtx{done: make(chan struct{})} }

func (c *stopCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *stopCtx) Done() <-chan struct{}       { return c.done }
func (c *stopCtx) Value(any) any               { return nil }
func (c *stopCtx) Err() error {
	select {
	case <-c.done:
		return ErrTimeLimit
	default:
		return nil
	}
}

// watchdog enforces Limits.Time for all states of a pool with one goroutine
// and one ticker, so a call pays only a clock read and two atomic operations.
// It stops itself after a second without calls and restarts on the next one.
// A call is stopped at most one tick (Time/4) after its limit.
type watchdog struct {
	limit time.Duration
	tick  time.Duration
	epoch time.Time

	mu   sync.Mutex
	envs map[*env]struct{}

	running atomic.Bool
	quit    chan struct{}
	once    sync.Once
}

func newWatchdog(limit time.Duration) *watchdog {
	tick := min(max(limit/4, time.Millisecond), 100*time.Millisecond)
	return &watchdog{limit: limit, tick: tick, epoch: time.Now(),
		envs: make(map[*env]struct{}), quit: make(chan struct{})}
}

// now is monotonic nanoseconds since the epoch, never 0 or negative (those
// values of env.busySince mean idle and stopped).
func (w *watchdog) now() int64 { return int64(time.Since(w.epoch)) + 1 }

func (w *watchdog) add(e *env) {
	w.mu.Lock()
	w.envs[e] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(e *env) {
	w.mu.Lock()
	delete(w.envs, e)
	w.mu.Unlock()
}

// begin marks the start of a call on e. The store comes before the load of
// running, and the watchdog clears running before its last scan, so either
// this call starts a watchdog or the exiting watchdog sees the call.
func (w *watchdog) begin(e *env) {
	e.busySince.Store(w.now())
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		go w.run()
	}
}

// end marks the end of a call and reports whether the watchdog stopped it.
func (w *watchdog) end(e *env) (stopped bool) {
	return e.busySince.Swap(0) == -1
}

func (w *watchdog) close() { w.once.Do(func() { close(w.quit) }) }

func (w *watchdog) run() {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	idleTicks := int(time.Second / w.tick)
	idle := 0
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
		if w.scan() {
			idle = 0
			continue
		}
		if idle++; idle < idleTicks {
			continue
		}
		w.running.Store(false)
		if !w.scan() || !w.running.CompareAndSwap(false, true) {
			return
		}
		idle = 0
	}
}

// scan stops overdue calls and reports whether any call is in progress.
func (w *watchdog) scan() (busy bool) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for e := range w.envs {
		b := e.busySince.Load()
		if b <= 0 {
			continue
		}
		busy = true
		if time.Duration(now-b) > w.limit && e.busySince.CompareAndSwap(b, -1) {
			close(e.ctx.done)
		}
	}
	return busy
}
