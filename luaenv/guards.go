package luaenv

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// This file holds the built-ins that can build big strings, guarded by
// Limits.Memory: they compute the size of the result first and refuse before
// allocating. gopher-lua's own versions allocate first (string.rep("x", 2^31)
// would take 2 GB before any context check could run).

// memoryError raises the memory limit error of built-in fn.
func (e *env) memoryError(L *lua.LState, fn string, size int64) {
	e.limitErr = ErrMemoryLimit
	L.RaiseError("%s", fn+": "+ErrMemoryLimit.Error()+" ("+strconv.FormatInt(size, 10)+
		" bytes > "+strconv.FormatInt(e.limits.Memory, 10)+")")
}

// timeError raises the time limit error from inside a built-in.
func (e *env) timeError(L *lua.LState) {
	e.limitErr = ErrTimeLimit
	L.RaiseError("%s", ErrTimeLimit.Error())
}

// stopped polls the stop channel (for loops inside built-ins).
func (e *env) stopped() bool {
	select {
	case <-e.ctx.done:
		return true
	default:
		return false
	}
}

// strRep is string.rep(s, n [, sep]) (Lua 5.2+ sep argument).
func (e *env) strRep(L *lua.LState) int {
	s := argString(L, 1)
	n := argInt(L, 2, 0)
	if L.Get(2) == lua.LNil {
		L.CheckNumber(2)
	}
	sep := ""
	if L.Get(3) != lua.LNil {
		sep = argString(L, 3)
	}
	if n <= 0 || (len(s) == 0 && len(sep) == 0) {
		L.Push(lua.LString(""))
		return 1
	}
	// size = n*len(s) + (n-1)*len(sep), computed without overflow: n < 2^62
	// and the lengths are checked against the limit first.
	unit := int64(len(s) + len(sep))
	if unit > e.limits.Memory || n > (e.limits.Memory+int64(len(sep)))/unit {
		size := float64(n)*float64(unit) - float64(len(sep))
		e.memoryError(L, "string.rep", int64(min(size, 1<<62)))
	}
	if sep == "" {
		L.Push(lua.LString(strings.Repeat(s, int(n))))
		return 1
	}
	var b strings.Builder
	b.Grow(int(n*unit) - len(sep))
	for i := int64(0); i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// strFormat checks the format like Lua 5.3/5.4 do (at most two digits of
// width and of precision, so one conversion adds at most 99 bytes) and then
// calls gopher-lua's string.format. Go's fmt accepts any width: "%999999999d"
// would allocate a gigabyte.
func (e *env) strFormat(L *lua.LState, format lua.LGFunction) int {
	f := argString(L, 1)
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		start := i
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		if i-start > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		if digits(f, &i) > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if i < len(f) && f[i] == '.' {
			i++
			if digits(f, &i) > 2 {
				L.RaiseError("invalid format (width or precision too long)")
			}
		}
	}
	return format(L)
}

func digits(f string, i *int) int {
	n := 0
	for *i < len(f) && f[*i] >= '0' && f[*i] <= '9' {
		*i++
		n++
	}
	return n
}

// tabConcat is table.concat(list [, sep [, i [, j]]]) with the size of the
// result computed before building it.
func (e *env) tabConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := ""
	if L.Get(2) != lua.LNil {
		sep = argString(L, 2)
	}
	i := argInt(L, 3, 1)
	j := argInt(L, 4, int64(t.Len()))
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	size := int64(0)
	for k := i; k <= j; k++ {
		switch v := t.RawGetInt(int(k)).(type) {
		case lua.LString:
			size += int64(len(v))
		case lua.LNumber:
			size += int64(len(v.String()))
		default:
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		if k > i {
			size += int64(len(sep))
		}
		if size > e.limits.Memory {
			e.memoryError(L, "table.concat", size)
		}
		if k&0xffff == 0 && e.stopped() {
			e.timeError(L)
		}
	}
	var b strings.Builder
	b.Grow(int(size))
	for k := i; k <= j; k++ {
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(t.RawGetInt(int(k)).String())
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// maxUnpack bounds the values unpack may push (Lua: "too many results to
// unpack"); gopher-lua's version pushes until the registry overflows.
const maxUnpack = 1 << 16

// unpack is unpack / table.unpack(list [, i [, j]]).
func unpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i := argInt(L, 2, 1)
	j := argInt(L, 3, int64(t.Len()))
	if i > j {
		return 0
	}
	if j-i >= maxUnpack {
		L.RaiseError("too many results to unpack")
	}
	for k := i; k <= j; k++ {
		L.Push(t.RawGetInt(int(k)))
	}
	return int(j - i + 1)
}
