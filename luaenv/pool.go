package luaenv

import (
	"errors"
	"log/slog"
	"runtime"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// Program is what a socket carries: chunks run in order in every fresh
// state, then Entry (a global function) is called per message.
type Program struct {
	Chunks []*Chunk
	Entry  string
}

// Options configure a Pool.
type Options struct {
	Limits Limits
	Logger *slog.Logger // nil → slog.Default()
	Name   string       // for logs, e.g. "listener 127.0.0.1:8080"
	// MaxIdle bounds the idle states kept for reuse; 0 → 2*GOMAXPROCS.
	// States beyond it are closed when their call ends.
	MaxIdle int
}

var (
	// ErrClosed is the Result.Err of Judge on a closed Pool.
	ErrClosed = errors.New("luaenv: pool closed")
	// ErrNoEntry matches the error of a call whose entry function is missing
	// or not a function.
	ErrNoEntry = errors.New("entry function not defined")
)

// Pool runs one Program in a set of Lua states. A state serves one call at a
// time; states are created on demand (from the shared compiled prototypes)
// and kept for reuse, so a script's globals persist between the calls that a
// state serves, as they did in the original module's per-listener state.
type Pool struct {
	prog     Program
	limits   Limits
	logger   *slog.Logger
	name     string
	maxIdle  int
	hasEntry bool
	// hasAccept, hasClose: the optional hooks on_accept and on_close exist.
	hasAccept, hasClose bool
	shared              *shared
	wd                  *watchdog

	mu     sync.Mutex
	idle   []*env // LIFO: the most recently used state is the warmest
	closed bool
}

// NewPool validates the program by running its chunks in a fresh state, as
// the original module ran the script at load time: a runtime error there is
// returned here. That state becomes the first pooled state.
func NewPool(p Program, o Options) (*Pool, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 2 * runtime.GOMAXPROCS(0)
	}
	for i, c := range p.Chunks {
		if c == nil || c.proto == nil {
			return nil, errors.New("luaenv: program chunk " + itoa(i) + " is nil")
		}
	}
	limits := o.Limits.withDefaults()
	pool := &Pool{prog: p, limits: limits, logger: o.Logger, name: o.Name,
		maxIdle: o.MaxIdle, wd: newWatchdog(limits.Time), shared: newShared()}
	e, err := pool.newState()
	if err != nil {
		pool.wd.close()
		return nil, err
	}
	_, pool.hasEntry = e.L.GetGlobal(p.Entry).(*lua.LFunction)
	_, pool.hasAccept = e.L.GetGlobal(AcceptHook).(*lua.LFunction)
	_, pool.hasClose = e.L.GetGlobal(CloseHook).(*lua.LFunction)
	pool.idle = append(pool.idle, e)
	return pool, nil
}

// HasEntry reports whether the entry function exists after running the
// chunks, so that a caller can fail early.
func (p *Pool) HasEntry() bool { return p.hasEntry && p.prog.Entry != "" }

// newState creates a state and runs the program's chunks in it.
func (p *Pool) newState() (*env, error) {
	e := newEnv(p.limits, p.logger, p.name, p.shared)
	p.wd.add(e)
	for _, c := range p.prog.Chunks {
		e.L.Push(e.L.NewFunctionFromProto(c.proto))
		if _, _, err := p.call(e, 0, 0); err != nil {
			p.discard(e)
			return nil, err
		}
	}
	return e, nil
}

func (p *Pool) discard(e *env) {
	p.wd.remove(e)
	e.L.Close()
}

// call runs the function and arguments on top of e's stack under the limits.
// keep says whether the state may be reused.
func (p *Pool) call(e *env, nargs, nret int) (ret lua.LValue, keep bool, err error) {
	e.limitErr = nil
	p.wd.begin(e)
	perr := e.L.PCall(nargs, nret, nil)
	stopped := p.wd.end(e)
	if perr == nil {
		if nret > 0 {
			ret = e.L.Get(-1)
		}
		e.L.SetTop(0)
		return ret, !stopped, nil
	}
	e.L.SetTop(0)
	msg := perr.Error()
	var ae *lua.ApiError
	if errors.As(perr, &ae) {
		msg = ae.Object.String() // without the traceback
	}
	se := &ScriptError{Msg: oneLine(msg), Limit: e.limitErr}
	if stopped {
		se.Limit = ErrTimeLimit
	}
	// A state stopped by a limit may hold whatever the runaway code built,
	// and a Go panic inside gopher-lua may have left it inconsistent: drop
	// it. An ordinary Lua error unwinds cleanly (as under pcall) and the
	// state is kept, or a client could make every call pay a new state.
	keep = se.Limit == nil && !stopped && (ae == nil || ae.Type != lua.ApiErrorPanic)
	return nil, keep, se
}

// The optional hooks' global names (docs/scripts.md).
const (
	AcceptHook = "on_accept"
	CloseHook  = "on_close"
)

// HasAcceptHook reports whether the script defines on_accept, so a caller
// can skip building what the hook would need.
func (p *Pool) HasAcceptHook() bool { return p.hasAccept }

// Judge runs the entry function on data (and c, which may be nil) in a
// pooled state. It is safe for concurrent use; states are reused but never
// shared by two calls at once. Calls for one Conn must not overlap.
func (p *Pool) Judge(data []byte, c *Conn) Result {
	return p.run(p.prog.Entry, data, len(data), c, true)
}

// Accept runs on_accept(conn): Pass when the hook is absent or accepts.
// Only Pass and Refuse (with its reply) are possible.
func (p *Pool) Accept(c *Conn) Result {
	if !p.hasAccept {
		return Result{Verdict: Pass}
	}
	return p.run(AcceptHook, nil, -1, c, false)
}

// Closed runs on_close(conn) if the script has it; its result is ignored
// and an error is returned for the caller to log.
func (p *Pool) Closed(c *Conn) error {
	if !p.hasClose {
		return nil
	}
	return p.run(CloseHook, nil, -1, c, false).Err
}

// run calls the global fn with (data, conn) when withData, else (conn).
// size is the message length, -1 in a hook.
func (p *Pool) run(fn string, data []byte, size int, c *Conn, withData bool) Result {
	e, err := p.get()
	if err != nil {
		return Result{Verdict: Refuse, Err: err}
	}
	f, ok := e.L.GetGlobal(fn).(*lua.LFunction)
	if !ok {
		p.put(e, true)
		return Result{Verdict: Refuse, Err: &ScriptError{
			Msg: "entry function '" + fn + "' not defined", Limit: ErrNoEntry}}
	}
	e.pend, e.size, e.cur = verdictFunc{}, size, c
	e.L.Push(f)
	nargs := 1
	if withData {
		e.L.Push(e.box.str(string(data))) // the one copy of the message
		nargs = 2
	}
	e.L.Push(e.connValue(c))
	ret, keep, err := p.call(e, nargs, 1)
	res := e.resultOf(ret, max(size, 0))
	e.cur = nil
	p.put(e, keep)
	if err != nil {
		return Result{Verdict: Refuse, Err: err}
	}
	return res
}

func (p *Pool) get() (*env, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		e := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return e, nil
	}
	p.mu.Unlock()
	return p.newState()
}

func (p *Pool) put(e *env, keep bool) {
	if keep {
		p.mu.Lock()
		if !p.closed && len(p.idle) < p.maxIdle {
			p.idle = append(p.idle, e)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	p.discard(e)
}

// Close closes the idle states; states in use are closed when their call
// ends. Judge on a closed pool returns ErrClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	p.mu.Unlock()
	for _, e := range idle {
		p.discard(e)
	}
	p.wd.close()
}
