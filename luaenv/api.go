package luaenv

import (
	"context"
	"log/slog"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// installAPI adds the global table luawrap: verdict constructors, logging,
// the shared store and a clock (docs/scripts.md).
//
// A verdict function records its verdict in the state and returns the
// state's sentinel; the call's result is the recorded verdict only when the
// script returns that sentinel (resultOf). Nothing is allocated per verdict.
func (e *env) installAPI(sh *shared) {
	L := e.L
	e.sentinel = L.NewUserData()
	t := L.NewTable()
	t.RawSetString("pass", L.NewFunction(e.apiPass))
	t.RawSetString("refuse", L.NewFunction(e.apiRefuse))
	t.RawSetString("answer", L.NewFunction(e.apiAnswer))
	t.RawSetString("more", L.NewFunction(e.apiMore))
	t.RawSetString("log", L.NewFunction(e.apiLog))
	for _, lv := range []string{"debug", "info", "warn", "error"} {
		level := levelOf(lv)
		t.RawSetString(lv, L.NewFunction(func(L *lua.LState) int { return e.logAt(L, level, 1) }))
	}
	t.RawSetString("now", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(float64(time.Now().UnixMicro()) / 1e6))
		return 1
	}))
	t.RawSetString("shared", sh.table(L))
	L.SetGlobal("luawrap", t)
}

func (e *env) record(v verdictFunc) int {
	v.set = true
	e.pend = v
	e.L.Push(e.sentinel)
	return 1
}

// optCount reads the optional byte count of pass/answer: 1..size of the
// message being judged.
func (e *env) optCount(L *lua.LState, arg int, fn string) int {
	if L.Get(arg) == lua.LNil {
		return 0
	}
	n := L.CheckInt(arg)
	if e.size < 0 {
		L.RaiseError("luawrap.%s(n): no message is being judged here", fn)
	}
	if n < 1 || n > e.size {
		L.RaiseError("luawrap.%s(n): n = %d is outside 1..%d (the message's length)", fn, n, e.size)
	}
	return n
}

func (e *env) apiPass(L *lua.LState) int {
	return e.record(verdictFunc{v: Pass, n: e.optCount(L, 1, "pass")})
}

func (e *env) apiRefuse(L *lua.LState) int {
	return e.record(verdictFunc{v: Refuse, reply: L.OptString(1, "")})
}

func (e *env) apiAnswer(L *lua.LState) int {
	reply := L.CheckString(1)
	if e.size < 0 {
		L.RaiseError("luawrap.answer: only a message can be answered (use luawrap.refuse(reply) here)")
	}
	return e.record(verdictFunc{v: Answer, n: e.optCount(L, 2, "answer"), reply: reply, close: lua.LVAsBool(L.Get(3))})
}

func (e *env) apiMore(L *lua.LState) int {
	if e.size < 0 {
		L.RaiseError("luawrap.more: no message is being judged here")
	}
	return e.record(verdictFunc{v: More})
}

func levelOf(name string) slog.Level {
	switch name {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// apiLog is luawrap.log(level, ...).
func (e *env) apiLog(L *lua.LState) int {
	name := L.CheckString(1)
	switch name {
	case "debug", "info", "warn", "warning", "error":
	default:
		L.ArgError(1, "level must be debug, info, warn or error")
	}
	return e.logAt(L, levelOf(name), 2)
}

// logAt logs the arguments from first on, tostring'd and joined by spaces,
// with the script's name and the connection being judged.
func (e *env) logAt(L *lua.LState, level slog.Level, first int) int {
	if !e.logger.Enabled(context.Background(), level) {
		return 0
	}
	var sb strings.Builder
	for i := first; i <= L.GetTop(); i++ {
		if i > first {
			sb.WriteByte(' ')
		}
		sb.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	attrs := []any{"script", e.name}
	if e.cur != nil {
		attrs = append(attrs, "conn", e.cur.ID, "peer", e.cur.Peer.String())
	}
	e.logger.Log(context.Background(), level, sb.String(), attrs...)
	return 0
}
