package luaenv

import "strings"

// Shortcuts of the matcher that C Lua does not take. They only skip calls of
// match that would fail at once, so results, captures and errors are those
// of lstrlib.c; only the work counter (the poll interval) sees fewer units.

// literalAt reports whether every match of the pattern from p must begin
// with the byte c: the item at p is a plain byte or an escaped non-class
// byte ("%.", "%-") without a suffix that allows zero repetitions. p itself
// is never a capture or anchor item.
func (ms *matchState) literalAt(p int) (c byte, ok bool) {
	pat := ms.pat
	if p >= len(pat) {
		return 0, false
	}
	next := p + 1
	switch c = pat[p]; c {
	case '(', ')', '[', '.', '$':
		return 0, false
	case lEsc:
		if p+1 >= len(pat) {
			return 0, false
		}
		c = pat[p+1]
		// classes, %b, %f and back references keep the general path
		if classBit[c] != 0 || c == 'b' || c == 'f' || (c >= '0' && c <= '9') {
			return 0, false
		}
		next = p + 2
	}
	if next < len(pat) {
		if s := pat[next]; s == '*' || s == '?' || s == '-' {
			return 0, false
		}
	}
	return c, true
}

// followLiteral is literalAt for what follows a repetition ending at ep (the
// pattern continues at ep+1), looking through one ')' that closes a capture:
// closing a capture consumes nothing. The capture to close is the same for
// every length the repetition tries, so captureToClose is called once here,
// raising "invalid pattern capture" just as C's first attempt would.
func (ms *matchState) followLiteral(ep int) (c byte, ok bool) {
	p := ep + 1
	if p < len(ms.pat) && ms.pat[p] == ')' {
		ms.captureToClose()
		p++
	}
	// Skipping attempts also skips their depth check: keep the general path
	// near the "pattern too complex" bound so that error stays C's.
	if ms.matchdepth < 8 {
		return 0, false
	}
	return ms.literalAt(p)
}

// firstLiteral is the byte every match of the whole pattern must start
// with, looking through leading '(' (opening a capture consumes nothing and
// cannot fail at level 0 with at most maxCaptures of them). The scanning
// loops of find, match and gsub use it to jump to candidate positions.
func (ms *matchState) firstLiteral() (c byte, ok bool) {
	p := 0
	for p < len(ms.pat) && p < maxCaptures && ms.pat[p] == '(' {
		if p+1 < len(ms.pat) && ms.pat[p+1] == ')' {
			p += 2 // position capture
			continue
		}
		p++
	}
	return ms.literalAt(p)
}

// nextCandidate returns the first position >= s where a match starting with
// c can begin, or len(src) when there is none (the loop still tries len(src)
// once, where the match fails as the pattern needs a byte).
func (ms *matchState) nextCandidate(s int, c byte) int {
	if s >= len(ms.src) {
		return s
	}
	i := strings.IndexByte(ms.src[s:], c)
	if i < 0 {
		return len(ms.src)
	}
	ms.count(i)
	return s + i
}
