package luaenv

import lua "github.com/yuin/gopher-lua"

// This file is a port of the pattern matcher of Lua 5.4's lstrlib.c
// (match, singlematch, classEnd, matchbracketclass, matchbalance, max_expand,
// min_expand, captures). It interprets the pattern text directly, like C Lua,
// instead of compiling it per call as gopher-lua does, and works on the Go
// strings themselves so that matching a subject never copies it.
//
// Differences from C that are deliberate:
//   - C reads the NUL terminator past the end of a pattern or subject; here
//     byteAt returns 0 past the end, which gives the same results.
//   - Work is counted (one unit per match call and per subject byte scanned by
//     a loop) and the state's stop channel is polled every checkEvery units,
//     so a pathological pattern is stopped by the time limit. The C matcher
//     cannot be interrupted; gopher-lua's context check only runs between VM
//     instructions.

const (
	maxCaptures = 32  // LUA_MAXCAPTURES
	maxCCalls   = 200 // MAXCCALLS: recursion depth of match

	capUnfinished = -1 // CAP_UNFINISHED
	capPosition   = -2 // CAP_POSITION

	lEsc = '%'

	// checkEvery is how many units of matcher work pass between two polls of
	// the stop channel. A poll is a non-blocking receive (a few ns); 4096
	// units are well under a microsecond of work.
	checkEvery = 4096
)

type capture struct {
	init int // offset in src
	len  int // length, capUnfinished or capPosition
}

// matchState is lstrlib.c's MatchState. It lives on the caller's stack for
// find/match/gsub and inside the iterator for gmatch.
type matchState struct {
	src        string
	pat        string
	level      int
	matchdepth int
	work       int
	stop       <-chan struct{}
	L          *lua.LState // raises errors; the thread running the call
	env        *env
	capture    [maxCaptures]capture
}

func (ms *matchState) reprep() {
	ms.level = 0
	ms.matchdepth = maxCCalls
}

// count adds n units of work and polls the stop channel when due.
func (ms *matchState) count(n int) {
	ms.work += n
	if ms.work >= checkEvery {
		ms.work = 0
		if ms.stop != nil {
			select {
			case <-ms.stop:
				ms.env.timeError(ms.L)
			default:
			}
		}
	}
}

// fail raises a Lua error with Lua's own message (luaL_error).
func (ms *matchState) fail(msg string) {
	ms.L.RaiseError("%s", msg)
}

// patAt returns the pattern byte at i, or 0 past its end (C's terminator).
func (ms *matchState) patAt(i int) byte {
	if i < len(ms.pat) {
		return ms.pat[i]
	}
	return 0
}

func (ms *matchState) checkCapture(l byte) int {
	i := int(l) - '1'
	if i < 0 || i >= ms.level || ms.capture[i].len == capUnfinished {
		ms.fail("invalid capture index %" + itoa(i+1))
	}
	return i
}

func (ms *matchState) captureToClose() int {
	for level := ms.level - 1; level >= 0; level-- {
		if ms.capture[level].len == capUnfinished {
			return level
		}
	}
	ms.fail("invalid pattern capture")
	return 0
}

// classEnd returns the index just after the single-char class at p.
func (ms *matchState) classEnd(p int) int {
	c := ms.pat[p]
	p++
	switch c {
	case lEsc:
		if p >= len(ms.pat) {
			ms.fail("malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if ms.patAt(p) == '^' {
			p++
		}
		for { // look for a ']'
			if p >= len(ms.pat) {
				ms.fail("malformed pattern (missing ']')")
			}
			c := ms.pat[p]
			p++
			if c == lEsc && p < len(ms.pat) {
				p++ // skip escapes (e.g. '%]')
			}
			if ms.patAt(p) == ']' {
				break
			}
		}
		return p + 1
	default:
		return p
	}
}

// Character classes of the C locale, as <ctype.h> defines them.
const (
	ctAlpha = 1 << iota
	ctCntrl
	ctDigit
	ctGraph
	ctLower
	ctPunct
	ctSpace
	ctUpper
	ctAlnum
	ctXdigit
	ctZero // %z: deprecated since 5.2 but still accepted by 5.4
)

var (
	ctype    [256]uint16 // class bits of each byte
	classBit [256]uint16 // bit tested by a class letter (either case), 0 if none
)

func init() {
	for c := 0; c < 256; c++ {
		var m uint16
		switch {
		case c >= 'a' && c <= 'z':
			m |= ctAlpha | ctLower | ctAlnum | ctGraph
		case c >= 'A' && c <= 'Z':
			m |= ctAlpha | ctUpper | ctAlnum | ctGraph
		case c >= '0' && c <= '9':
			m |= ctDigit | ctAlnum | ctGraph | ctXdigit
		case c > 32 && c < 127:
			m |= ctPunct | ctGraph
		}
		if c < 32 || c == 127 {
			m |= ctCntrl
		}
		if c == ' ' || (c >= '\t' && c <= '\r') {
			m |= ctSpace
		}
		if (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') {
			m |= ctXdigit
		}
		if c == 0 {
			m |= ctZero
		}
		ctype[c] = m
	}
	for cl, m := range map[byte]uint16{'a': ctAlpha, 'c': ctCntrl, 'd': ctDigit,
		'g': ctGraph, 'l': ctLower, 'p': ctPunct, 's': ctSpace, 'u': ctUpper,
		'w': ctAlnum, 'x': ctXdigit, 'z': ctZero} {
		classBit[cl] = m
		classBit[cl-'a'+'A'] = m
	}
}

// matchClass is match_class: cl is the letter after '%'.
func matchClass(c, cl byte) bool {
	m := classBit[cl]
	if m == 0 {
		return c == cl
	}
	res := ctype[c]&m != 0
	if cl < 'a' { // upper-case class letter: complement
		return !res
	}
	return res
}

// matchBracketClass is matchbracketclass: p is at '[', ec at the closing ']'.
func (ms *matchState) matchBracketClass(c byte, p, ec int) bool {
	pat := ms.pat
	sig := true
	if pat[p+1] == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		if pat[p] == lEsc {
			p++
			if matchClass(c, pat[p]) {
				return sig
			}
		} else if pat[p+1] == '-' && p+2 < ec {
			p += 2
			if pat[p-2] <= c && c <= pat[p] {
				return sig
			}
		} else if pat[p] == c {
			return sig
		}
	}
	return !sig
}

// singleMatch is singlematch: does src[s] match the class at p..ep?
func (ms *matchState) singleMatch(s, p, ep int) bool {
	if s >= len(ms.src) {
		return false
	}
	c := ms.src[s]
	switch ms.pat[p] {
	case '.':
		return true
	case lEsc:
		return matchClass(c, ms.pat[p+1])
	case '[':
		return ms.matchBracketClass(c, p, ep-1)
	default:
		return ms.pat[p] == c
	}
}

func (ms *matchState) matchBalance(s, p int) int {
	if p >= len(ms.pat)-1 {
		ms.fail("malformed pattern (missing arguments to '%b')")
	}
	if s >= len(ms.src) || ms.src[s] != ms.pat[p] {
		return -1
	}
	b, e := ms.pat[p], ms.pat[p+1]
	cont := 1
	start := s
	for s++; s < len(ms.src); s++ {
		if c := ms.src[s]; c == e {
			cont--
			if cont == 0 {
				ms.count(s - start)
				return s + 1
			}
		} else if c == b {
			cont++
		}
	}
	ms.count(s - start)
	return -1
}

func (ms *matchState) maxExpand(s, p, ep int) int {
	// Count the repetitions with a loop specialised on the class kind (the
	// hot loop of patterns like "(%g*):"); same result as calling
	// singleMatch for each byte.
	src, i := ms.src, 0
	switch c := ms.pat[p]; c {
	case '.':
		i = max(len(src)-s, 0)
	case lEsc:
		cl := ms.pat[p+1]
		if m := classBit[cl]; m == 0 {
			for s+i < len(src) && src[s+i] == cl {
				i++
			}
		} else if cl >= 'a' {
			for s+i < len(src) && ctype[src[s+i]]&m != 0 {
				i++
			}
		} else {
			for s+i < len(src) && ctype[src[s+i]]&m == 0 {
				i++
			}
		}
	case '[':
		for s+i < len(src) && ms.matchBracketClass(src[s+i], p, ep-1) {
			i++
		}
	default:
		for s+i < len(src) && src[s+i] == c {
			i++
		}
	}
	ms.count(i)
	// keeps trying to match with the maximum repetitions; when the rest must
	// start with a literal byte, only where that byte is (patfast.go)
	if c, ok := ms.followLiteral(ep); ok {
		for ; i >= 0; i-- {
			if s+i < len(src) && src[s+i] == c {
				if res := ms.match(s+i, ep+1); res != -1 {
					return res
				}
			}
		}
		return -1
	}
	for ; i >= 0; i-- {
		if res := ms.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

func (ms *matchState) minExpand(s, p, ep int) int {
	c, lit := ms.followLiteral(ep)
	for {
		if lit && (s >= len(ms.src) || ms.src[s] != c) {
			ms.count(1) // the rest cannot match here (patfast.go)
		} else if res := ms.match(s, ep+1); res != -1 {
			return res
		}
		if ms.singleMatch(s, p, ep) {
			s++ // try with one more repetition
		} else {
			return -1
		}
	}
}

func (ms *matchState) startCapture(s, p, what int) int {
	level := ms.level
	if level >= maxCaptures {
		ms.fail("too many captures")
	}
	ms.capture[level] = capture{init: s, len: what}
	ms.level = level + 1
	res := ms.match(s, p)
	if res == -1 {
		ms.level-- // undo capture
	}
	return res
}

func (ms *matchState) endCapture(s, p int) int {
	l := ms.captureToClose()
	ms.capture[l].len = s - ms.capture[l].init // close capture
	res := ms.match(s, p)
	if res == -1 {
		ms.capture[l].len = capUnfinished // undo capture
	}
	return res
}

func (ms *matchState) matchCapture(s int, l byte) int {
	i := ms.checkCapture(l)
	n := ms.capture[i].len
	if n >= 0 && len(ms.src)-s >= n {
		ms.count(n)
		init := ms.capture[i].init
		if ms.src[init:init+n] == ms.src[s:s+n] {
			return s + n
		}
	}
	return -1
}

// match is lstrlib.c's match: returns the end of the match of pat[p:] at
// src[s:], or -1. The C "goto init" loops are the for loop here.
func (ms *matchState) match(s, p int) int {
	if ms.matchdepth == 0 {
		ms.fail("pattern too complex")
	}
	ms.matchdepth--
	ms.work++
	if ms.work >= checkEvery {
		ms.count(0)
	}
	pat := ms.pat
	for p != len(pat) {
		switch pat[p] {
		case '(': // start capture
			if ms.patAt(p+1) == ')' { // position capture?
				s = ms.startCapture(s, p+2, capPosition)
			} else {
				s = ms.startCapture(s, p+1, capUnfinished)
			}
			goto done
		case ')': // end capture
			s = ms.endCapture(s, p+1)
			goto done
		case '$':
			if p+1 != len(pat) { // not the end of the pattern: an ordinary '$'
				break
			}
			if s != len(ms.src) {
				s = -1
			}
			goto done
		case lEsc:
			switch ms.patAt(p + 1) {
			case 'b': // balanced string
				s = ms.matchBalance(s, p+2)
				if s != -1 {
					p += 4
					continue
				}
				goto done
			case 'f': // frontier
				p += 2
				if ms.patAt(p) != '[' {
					ms.fail("missing '[' after '%f' in pattern")
				}
				ep := ms.classEnd(p)
				var prev, cur byte
				if s > 0 {
					prev = ms.src[s-1]
				}
				if s < len(ms.src) {
					cur = ms.src[s]
				}
				if !ms.matchBracketClass(prev, p, ep-1) && ms.matchBracketClass(cur, p, ep-1) {
					p = ep
					continue
				}
				s = -1
				goto done
			case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9': // capture results
				s = ms.matchCapture(s, pat[p+1])
				if s != -1 {
					p += 2
					continue
				}
				goto done
			}
		}
		// default: a single-char class, maybe followed by a repetition
		{
			ep := ms.classEnd(p)
			epc := ms.patAt(ep)
			if !ms.singleMatch(s, p, ep) {
				if epc == '*' || epc == '?' || epc == '-' { // accept empty?
					p = ep + 1
					continue
				}
				s = -1 // '+' or no suffix
				goto done
			}
			// matched single
			switch epc {
			case '?':
				if res := ms.match(s+1, ep+1); res != -1 {
					s = res
					goto done
				}
				p = ep + 1
				continue
			case '+': // 1 or more repetitions
				s = ms.maxExpand(s+1, p, ep)
			case '*': // 0 or more repetitions
				s = ms.maxExpand(s, p, ep)
			case '-': // 0 or more repetitions (minimum)
				s = ms.minExpand(s, p, ep)
			default: // no suffix
				s++
				p = ep
				continue
			}
			goto done
		}
	}
done:
	ms.matchdepth++
	return s
}

// itoa avoids strconv in the error paths above.
func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
