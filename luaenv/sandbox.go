package luaenv

import (
	"log/slog"
	"strings"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// env is one Lua state and what its built-ins need. A state runs one call at
// a time; the pool guarantees that.
type env struct {
	L      *lua.LState
	ctx    *stopCtx
	limits Limits
	logger *slog.Logger
	name   string

	// spareMS is a matchState for the next string.gmatch, given back by an
	// exhausted iterator (strlib.go).
	spareMS *matchState
	// box boxes the strings and numbers that built-ins and Judge push (box.go).
	box boxer
	// limitErr is set by a built-in that raised a limit error during the
	// current call, to classify the call's error.
	limitErr error
	// busySince is the start of the current call (watchdog clock), 0 when
	// idle, -1 once the watchdog stopped the call.
	busySince atomic.Int64

	// The luawrap API (api.go): the verdict the current call recorded, the
	// value verdict functions return, the size of the message being judged
	// (-1 in a hook), the connection, and the conn metatable.
	pend     verdictFunc
	sentinel *lua.LUserData
	size     int
	cur      *Conn
	connMT   *lua.LTable
}

// newEnv builds a sandboxed state: only what a filter needs.
//
//   - base functions without dofile, loadfile, require, module; load and
//     loadstring accept text only; collectgarbage is a harmless stub (the
//     real one lets a script force a full Go GC on every message); print
//     goes to the logger.
//   - string (with the Lua 5.4 pattern functions and memory guards), table,
//     math, coroutine (threads share the state's stop context);
//   - os.time, os.clock, os.date only. No io, debug, package, channel.
func newEnv(limits Limits, logger *slog.Logger, name string, sh *shared) *env {
	L := lua.NewState(lua.Options{
		SkipOpenLibs: true,
		// The registry (value stack) starts small and may grow to 256K
		// slots (4 MB). It grows linearly (copying), so the step is big
		// enough to keep growth to a few dozen copies.
		RegistrySize:     1024,
		RegistryMaxSize:  1 << 18,
		RegistryGrowStep: 8192,
		CallStackSize:    200, // like LUAI_MAXCCALLS
	})
	e := &env{L: L, ctx: newStopCtx(), limits: limits, logger: logger, name: name}
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range []string{"dofile", "loadfile", "require", "module", "_printregs", "gcinfo"} {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("print", L.NewFunction(e.print))
	g.RawSetString("load", L.NewFunction(e.load))
	g.RawSetString("loadstring", L.NewFunction(e.load))
	g.RawSetString("collectgarbage", L.NewFunction(collectGarbage))

	// os: time, clock and date only.
	osAll := L.GetGlobal(lua.OsLibName).(*lua.LTable)
	os := L.NewTable()
	for _, name := range []string{"time", "clock", "date"} {
		os.RawSetString(name, osAll.RawGetString(name))
	}
	g.RawSetString(lua.OsLibName, os)

	e.installString(L.GetGlobal(lua.StringLibName).(*lua.LTable))
	e.installTable(L.GetGlobal(lua.TabLibName).(*lua.LTable))
	e.installCoroutine(L.GetGlobal(lua.CoroutineLibName).(*lua.LTable))
	e.installAPI(sh)

	L.SetContext(e.ctx)
	return e
}

// installString replaces gopher-lua's pattern functions (Lua 5.1 semantics,
// no %g, a compile per call, not interruptible) with the 5.4 port and puts
// memory guards on the functions that can build big strings. The table is
// also the string metatable's __index, so s:find(...) uses the same code.
func (e *env) installString(str *lua.LTable) {
	L := e.L
	str.RawSetString("find", L.NewFunction(func(L *lua.LState) int { return e.strFind(L, true) }))
	str.RawSetString("match", L.NewFunction(func(L *lua.LState) int { return e.strFind(L, false) }))
	str.RawSetString("gmatch", L.NewFunction(e.strGmatch))
	str.RawSetString("gsub", L.NewFunction(e.strGsub))
	str.RawSetString("rep", L.NewFunction(e.strRep))
	format := str.RawGetString("format").(*lua.LFunction).GFunction
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int { return e.strFormat(L, format) }))
	str.RawSetString("gfind", lua.LNil)
	str.RawSetString("dump", lua.LNil) // bytecode
}

func (e *env) installTable(tab *lua.LTable) {
	L := e.L
	tab.RawSetString("concat", L.NewFunction(e.tabConcat))
	unpack := L.NewFunction(unpack)
	L.G.Global.RawSetString("unpack", unpack)
	tab.RawSetString("unpack", unpack) // Lua 5.2+ name
}

// installCoroutine makes new threads share the state's stop context. Left
// alone, gopher-lua gives each thread context.WithCancel(parent): with a
// parent that is not a *context.cancelCtx that starts a goroutine per
// coroutine, never released because coroutine threads are never closed.
func (e *env) installCoroutine(co *lua.LTable) {
	L := e.L
	create := co.RawGetString("create").(*lua.LFunction).GFunction
	wrap := co.RawGetString("wrap").(*lua.LFunction).GFunction
	co.RawSetString("create", L.NewFunction(func(L *lua.LState) int {
		n := e.withoutContext(L, create)
		if th, ok := L.Get(-1).(*lua.LState); ok {
			th.SetContext(e.ctx)
		}
		return n
	}))
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		n := e.withoutContext(L, wrap)
		if fn, ok := L.Get(-1).(*lua.LFunction); ok && len(fn.Upvalues) > 0 {
			if th, ok := fn.Upvalues[0].Value().(*lua.LState); ok {
				th.SetContext(e.ctx)
			}
		}
		return n
	}))
}

func (e *env) withoutContext(L *lua.LState, f lua.LGFunction) int {
	L.RemoveContext()
	defer L.SetContext(e.ctx)
	return f(L)
}

// print is Lua's print sent to the logger: the arguments converted with
// tostring and joined with tabs, at level Info with the pool's name.
func (e *env) print(L *lua.LState) int {
	var sb strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			sb.WriteByte('\t')
		}
		sb.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	e.logger.Info(sb.String(), "script", e.name)
	return 0
}

// load is Lua 5.2+'s load(chunk [, chunkname [, mode [, env]]]) for text
// chunks (a string, or a function returning pieces), also installed as the
// 5.1 name loadstring. Binary chunks are refused like mode "t" refuses them.
func (e *env) load(L *lua.LState) int {
	var text string
	switch v := L.Get(1).(type) {
	case lua.LString:
		text = string(v)
	case *lua.LFunction:
		var sb strings.Builder
		for {
			L.Push(v)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			s, ok := piece.(lua.LString)
			if piece == lua.LNil || (ok && len(s) == 0) {
				break
			}
			if !ok {
				L.Push(lua.LNil)
				L.Push(lua.LString("reader function must return a string"))
				return 2
			}
			if int64(sb.Len()+len(s)) > e.limits.Memory {
				e.memoryError(L, "load", int64(sb.Len()+len(s)))
			}
			sb.WriteString(string(s))
		}
		text = sb.String()
	default:
		L.ArgError(1, "string or function expected, got "+typeName(L.Get(1)))
	}
	name := L.OptString(2, "")
	if name == "" {
		name = chunkNameOf(text)
	} else if name[0] == '=' || name[0] == '@' {
		name = name[1:]
	}
	mode := L.OptString(3, "bt")
	if len(text) > 0 && text[0] == 0x1b {
		L.Push(lua.LNil)
		L.Push(lua.LString("attempt to load a binary chunk (only text chunks are allowed)"))
		return 2
	}
	if !strings.Contains(mode, "t") {
		L.Push(lua.LNil)
		L.Push(lua.LString("attempt to load a text chunk (mode is '" + mode + "')"))
		return 2
	}
	proto, err := compileText(strings.NewReader(text), name)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	fn := L.NewFunctionFromProto(proto)
	if t, ok := L.Get(4).(*lua.LTable); ok {
		fn.Env = t
	}
	L.Push(fn)
	return 1
}

// chunkNameOf is Lua's name for a chunk loaded from a string:
// [string "first line..."].
func chunkNameOf(text string) string {
	line, _, cut := strings.Cut(text, "\n")
	if len(line) > 40 {
		line, cut = line[:40], true
	}
	if cut {
		line += "..."
	}
	return `[string "` + line + `"]`
}

// collectGarbage keeps scripts that call collectgarbage working without
// letting them force collections: "count" answers 0, everything else 0.
func collectGarbage(L *lua.LState) int {
	L.Push(lua.LNumber(0))
	return 1
}
