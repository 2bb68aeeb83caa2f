package luaenv

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// This file holds the Lua glue of the pattern functions (string.find, match,
// gmatch, gsub), ported from Lua 5.4's lstrlib.c (str_find_aux, gmatch,
// gmatch_aux, str_gsub, add_s, add_value, push_captures). Each function is a
// Go closure over the state's env, which gives it the stop channel and the
// limits without any lookup per call.

// specials are the bytes that make a pattern more than a plain string
// (lstrlib.c SPECIALS).
const specials = "^$*+?.([%-"

func noSpecials(p string) bool { return !strings.ContainsAny(p, specials) }

// posRelat is posrelatI of Lua 5.4: a 1-based start position from an
// argument that may be negative (counted from the end) or zero.
func posRelat(pos int64, n int) int {
	switch {
	case pos > 0:
		if pos > int64(n)+1 {
			return n + 2 // past the end; callers treat init > len as "no match"
		}
		return int(pos)
	case pos == 0:
		return 1
	case pos < -int64(n):
		return 1
	default:
		return n + int(pos) + 1
	}
}

// argString is luaL_checklstring: strings as they are, numbers converted.
func argString(L *lua.LState, n int) string {
	if s, ok := L.Get(n).(lua.LString); ok {
		return string(s)
	}
	return L.CheckString(n)
}

// argInt is luaL_optinteger with default d. Floats are truncated (gopher-lua
// has no integer subtype) and clamped so that huge values stay huge.
func argInt(L *lua.LState, n int, d int64) int64 {
	v := L.Get(n)
	if v == lua.LNil {
		return d
	}
	f, ok := v.(lua.LNumber)
	if !ok {
		f = L.CheckNumber(n)
	}
	switch {
	case f != f:
		L.ArgError(n, "number has no integer representation")
	case f >= 1<<62:
		return 1 << 62
	case f <= -(1 << 62):
		return -(1 << 62)
	}
	return int64(f)
}

func (e *env) newMatchState(L *lua.LState, s, p string) matchState {
	return matchState{L: L, src: s, pat: p, stop: e.ctx.done, env: e}
}

// strFind implements string.find (find=true) and string.match.
func (e *env) strFind(L *lua.LState, find bool) int {
	s := argString(L, 1)
	p := argString(L, 2)
	init := posRelat(argInt(L, 3, 1), len(s)) - 1
	if init > len(s) { // start after string's end?
		L.Push(lua.LNil)
		return 1
	}
	if find && (lua.LVAsBool(L.Get(4)) || noSpecials(p)) {
		// do a plain search
		if i := strings.Index(s[init:], p); i >= 0 {
			L.Push(e.box.num(init + i + 1))
			L.Push(e.box.num(init + i + len(p)))
			return 2
		}
	} else {
		anchor := len(p) > 0 && p[0] == '^'
		if anchor {
			p = p[1:]
		}
		ms := e.newMatchState(L, s, p)
		c, lit := ms.firstLiteral()
		lit = lit && !anchor
		for s1 := init; ; s1++ {
			if lit {
				s1 = ms.nextCandidate(s1, c)
			}
			ms.reprep()
			if res := ms.match(s1, 0); res != -1 {
				if find {
					L.Push(e.box.num(s1 + 1)) // start
					L.Push(e.box.num(res))    // end
					return ms.pushCaptures(-1, 0, false) + 2
				}
				return ms.pushCaptures(s1, res, true)
			}
			if s1 >= len(s) || anchor {
				break
			}
		}
	}
	L.Push(lua.LNil) // not found
	return 1
}

// getOneCapture is get_onecapture: capture i as a string, or its position
// when it is a position capture (isPos true).
func (ms *matchState) getOneCapture(i, s, e int) (str string, pos int, isPos bool) {
	if i >= ms.level {
		if i != 0 {
			ms.fail("invalid capture index %" + itoa(i+1))
		}
		return ms.src[s:e], 0, false // whole match
	}
	c := ms.capture[i]
	switch c.len {
	case capUnfinished:
		ms.fail("unfinished capture")
	case capPosition:
		return "", c.init + 1, true
	}
	return ms.src[c.init : c.init+c.len], 0, false
}

func (ms *matchState) pushOneCapture(i, s, e int) {
	str, pos, isPos := ms.getOneCapture(i, s, e)
	if isPos {
		ms.L.Push(ms.env.box.num(pos))
	} else {
		ms.L.Push(ms.env.box.str(str))
	}
}

// pushCaptures is push_captures; whole says s..e is a match to push when the
// pattern has no captures (C passes s == NULL for "no").
func (ms *matchState) pushCaptures(s, e int, whole bool) int {
	n := ms.level
	if n == 0 && whole {
		n = 1
	}
	for i := 0; i < n; i++ {
		ms.pushOneCapture(i, s, e)
	}
	return n
}

// gmatchIter is the state of one string.gmatch iterator (GMatchState). The
// LFunction handed to Lua is embedded so that an iterator costs two small
// allocations: this struct and the method value. The matchState (over 500
// bytes, mostly the capture array) is taken from the env's spare and given
// back when the iterator is exhausted, which is how a for loop ends, so a
// gmatch loop per message does not allocate one.
type gmatchIter struct {
	fn        lua.LFunction
	ms        *matchState // nil once exhausted
	env       *env
	pos       int
	lastmatch int
}

// strGmatch implements string.gmatch with Lua 5.4's optional init argument.
// As in Lua (5.2 and later), '^' is not an anchor here.
func (e *env) strGmatch(L *lua.LState) int {
	s := argString(L, 1)
	p := argString(L, 2)
	init := posRelat(argInt(L, 3, 1), len(s)) - 1
	if init > len(s) {
		init = len(s) + 1 // start after string's end
	}
	ms := e.spareMS
	if ms != nil {
		e.spareMS = nil
	} else {
		ms = new(matchState)
	}
	ms.src, ms.pat, ms.stop, ms.env, ms.L, ms.work = s, p, e.ctx.done, e, L, 0
	g := &gmatchIter{ms: ms, env: e, pos: init, lastmatch: -1}
	g.fn = lua.LFunction{IsG: true, Env: L.Env, GFunction: g.next}
	L.Push(&g.fn)
	return 1
}

// next is gmatch_aux. Lua 5.4 rule: a match may not end where the previous
// one ended (lastmatch), so an empty match right after a match is skipped.
func (g *gmatchIter) next(L *lua.LState) int {
	ms := g.ms
	if ms == nil {
		return 0 // exhausted: later calls return nothing at once
	}
	ms.L = L
	c, lit := ms.firstLiteral()
	for src := g.pos; src <= len(ms.src); src++ {
		if lit {
			src = ms.nextCandidate(src, c)
		}
		ms.reprep()
		if e := ms.match(src, 0); e != -1 && e != g.lastmatch {
			g.pos, g.lastmatch = e, e
			return ms.pushCaptures(src, e, true)
		}
	}
	// Exhausted: no later call can use ms, so it may serve the next gmatch.
	// (A match error unwinds past this point and leaves ms to the iterator.)
	g.ms = nil
	ms.src, ms.pat, ms.L = "", "", nil // keep no subject alive
	g.env.spareMS = ms
	return 0
}

// strGsub implements string.gsub (str_gsub of Lua 5.4, including the
// lastmatch rule for empty matches).
func (e *env) strGsub(L *lua.LState) int {
	src := argString(L, 1)
	p := argString(L, 2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTNumber, lua.LTString, lua.LTFunction, lua.LTTable:
	default:
		L.ArgError(3, "string/function/table expected, got "+typeName(repl))
	}
	maxS := argInt(L, 4, int64(len(src))+1)
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		p = p[1:]
	}
	ms := e.newMatchState(L, src, p)
	var b []byte
	pos, flushed, lastmatch := 0, 0, -1
	changed := false
	n := int64(0)
	c, lit := ms.firstLiteral()
	lit = lit && !anchor
	for n < maxS {
		if lit {
			pos = ms.nextCandidate(pos, c)
		}
		ms.reprep()
		if end := ms.match(pos, 0); end != -1 && end != lastmatch { // match?
			n++
			b = append(b, src[flushed:pos]...)
			var ok bool
			b, ok = ms.addValue(b, pos, end, repl)
			changed = ok || changed
			if len(b) > int(e.limits.Memory) {
				e.memoryError(L, "string.gsub", int64(len(b)))
			}
			pos, flushed, lastmatch = end, end, end
		} else if pos < len(src) { // otherwise, skip one character
			pos++
		} else {
			break // end of subject
		}
		if anchor {
			break
		}
	}
	if !changed {
		L.Push(L.Get(1))
		if _, ok := L.Get(1).(lua.LString); !ok {
			L.Pop(1)
			L.Push(lua.LString(src))
		}
	} else {
		if int64(len(b))+int64(len(src)-flushed) > e.limits.Memory {
			e.memoryError(L, "string.gsub", int64(len(b))+int64(len(src)-flushed))
		}
		b = append(b, src[flushed:]...)
		L.Push(lua.LString(b))
	}
	L.Push(lua.LNumber(n))
	return 2
}

// addS is add_s: expand a replacement string with %0-%9 and %%.
func (ms *matchState) addS(b []byte, s, e int, news string) []byte {
	for {
		i := strings.IndexByte(news, lEsc)
		if i < 0 {
			break
		}
		b = append(b, news[:i]...)
		var c byte
		if i+1 < len(news) {
			c = news[i+1]
		}
		switch {
		case c == lEsc:
			b = append(b, lEsc)
		case c == '0':
			b = append(b, ms.src[s:e]...)
		case c >= '1' && c <= '9':
			str, pos, isPos := ms.getOneCapture(int(c-'1'), s, e)
			if isPos {
				b = strconv.AppendInt(b, int64(pos), 10)
			} else {
				b = append(b, str...)
			}
		default:
			ms.fail("invalid use of '%' in replacement string")
		}
		news = news[i+2:]
	}
	return append(b, news...)
}

// addValue is add_value: appends the replacement of the match s..e to b and
// says whether the subject changed.
func (ms *matchState) addValue(b []byte, s, e int, repl lua.LValue) ([]byte, bool) {
	L := ms.L
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString:
		return ms.addS(b, s, e, string(r)), true
	case lua.LNumber:
		return ms.addS(b, s, e, r.String()), true
	case *lua.LFunction:
		top := L.GetTop()
		L.Push(r)
		n := ms.pushCaptures(s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.SetTop(top)
	default: // table
		ms.pushOneCapture(0, s, e)
		k := L.Get(-1)
		L.Pop(1)
		v = L.GetTable(repl, k)
	}
	switch r := v.(type) {
	case lua.LString:
		return append(b, r...), true
	case lua.LNumber:
		return append(b, r.String()...), true
	}
	if !lua.LVAsBool(v) { // nil or false: keep original text
		return append(b, ms.src[s:e]...), false
	}
	ms.fail("invalid replacement value (a " + typeName(v) + ")")
	return b, false
}

func typeName(v lua.LValue) string {
	if v == nil {
		return "no value"
	}
	return v.Type().String()
}
