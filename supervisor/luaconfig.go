package supervisor

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/luawrap/luawrap/luaenv"
)

// luaConfig is the Lua side of a ULP socket: the scripts loaded with
// SS_LUA_LOADSCRIPT, the entry point, a pool of Lua states, and counters.
// As in the original module, a listener and every socket accepted from it
// share one (the module copied icsk_ulp_data on accept); unlike it, calls
// run in a pool of states so concurrent connections are judged in parallel.
type luaConfig struct {
	mu     sync.Mutex // serializes loads and entry changes
	chunks []*luaenv.Chunk
	entry  atomic.Pointer[string]
	pool   atomic.Pointer[luaenv.Pool]
	opts   luaenv.Options
	// onErrorPass passes the message when the script fails (--on-error=pass,
	// the original module's fail-open behaviour); the default refuses.
	onErrorPass bool
	stats       stats
}

// stats are the counters SS_LUA_STATS reports (struct sol_lua_stats).
type stats struct {
	inspected, passed, refused, errors atomic.Uint64
}

func newLuaConfig(o luaenv.Options, onErrorPass bool) *luaConfig {
	c := &luaConfig{opts: o, onErrorPass: onErrorPass}
	c.entry.Store(new(string))
	return c
}

// load compiles src and runs it after the scripts already loaded, as the
// original ran each LOADSCRIPT in the socket's one state.
func (c *luaConfig) load(name string, src []byte) error {
	ch, err := luaenv.Compile(name, src)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	chunks := append(append([]*luaenv.Chunk(nil), c.chunks...), ch)
	if err := c.rebuild(chunks, c.entryName()); err != nil {
		return err
	}
	c.chunks = chunks
	return nil
}

// setEntry names the function called per message.
func (c *luaConfig) setEntry(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.rebuild(c.chunks, name); err != nil {
		return err
	}
	c.entry.Store(&name)
	return nil
}

func (c *luaConfig) entryName() string { return *c.entry.Load() }

func (c *luaConfig) rebuild(chunks []*luaenv.Chunk, entry string) error {
	if len(chunks) == 0 {
		return nil
	}
	p, err := luaenv.NewPool(luaenv.Program{Chunks: chunks, Entry: entry}, c.opts)
	if err != nil {
		return err
	}
	c.pool.Store(p)
	return nil
}

// judge runs the entry function on data. Without a script or an entry
// point the original passed data unchecked; luawrap refuses (fail closed),
// counting it as a script error.
func (c *luaConfig) judge(data []byte, conn *luaenv.Conn, log *slog.Logger) luaenv.Result {
	c.stats.inspected.Add(1)
	var res luaenv.Result
	p := c.pool.Load()
	switch {
	case p == nil:
		res = luaenv.Result{Verdict: luaenv.Refuse, Err: fmt.Errorf("no script loaded (SS_LUA_LOADSCRIPT)")}
	case c.entryName() == "":
		res = luaenv.Result{Verdict: luaenv.Refuse, Err: fmt.Errorf("no entry point set (SS_LUA_ENTRYPOINT)")}
	default:
		res = p.Judge(data, conn)
	}
	c.count(&res, len(data), log)
	return res
}

// accept runs the script's on_accept hook for a new connection (Pass when
// it has none).
func (c *luaConfig) accept(conn *luaenv.Conn, log *slog.Logger) luaenv.Result {
	p := c.pool.Load()
	if p == nil {
		return luaenv.Result{Verdict: luaenv.Pass}
	}
	res := p.Accept(conn)
	if res.Err != nil {
		c.scriptError(res.Err, luaenv.AcceptHook, log)
		if c.onErrorPass {
			res.Verdict = luaenv.Pass
		}
	}
	return res
}

// closed runs the script's on_close hook.
func (c *luaConfig) closed(conn *luaenv.Conn, log *slog.Logger) {
	p := c.pool.Load()
	if p == nil || conn == nil {
		return
	}
	if err := p.Closed(conn); err != nil {
		c.scriptError(err, luaenv.CloseHook, log)
	}
}

// count updates the counters for one call on a message of size bytes.
func (c *luaConfig) count(res *luaenv.Result, size int, log *slog.Logger) {
	if res.Err != nil {
		c.scriptError(res.Err, "", log)
		if c.onErrorPass {
			*res = luaenv.Result{Verdict: luaenv.Pass, N: size}
		}
	}
	switch res.Verdict {
	case luaenv.Pass:
		c.stats.passed.Add(1)
	case luaenv.Refuse:
		c.stats.refused.Add(1)
	}
}

// scriptError counts and logs a failed call; hook names the hook, "" for
// the entry function.
func (c *luaConfig) scriptError(err error, hook string, log *slog.Logger) {
	c.stats.errors.Add(1)
	attrs := []any{"script", c.opts.Name}
	if hook != "" {
		attrs = append(attrs, "hook", hook)
	}
	log.Warn("script error", append(attrs, "err", err)...)
}
