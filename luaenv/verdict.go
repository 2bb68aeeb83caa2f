package luaenv

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// Verdict is what a script decided about a message. Refuse is the zero value
// so that any failure path defaults to refusing.
type Verdict int

const (
	// Refuse: the receive fails with ECONNREFUSED and the connection is
	// shut (a false value, nil, no value, luawrap.refuse([reply]), or a
	// script error). Result.Reply, if set, goes to the client first.
	Refuse Verdict = iota
	// Pass: the first Result.N bytes are delivered (any true value or
	// luawrap.pass(): all of them).
	Pass
	// Answer: the first Result.N bytes are consumed without being
	// delivered and Result.Reply is sent to the client; the connection
	// stays open (luawrap.answer).
	Answer
	// More: the message is incomplete; judge again when more bytes arrived
	// (luawrap.more).
	More
)

func (v Verdict) String() string {
	switch v {
	case Refuse:
		return "refuse"
	case Pass:
		return "pass"
	case Answer:
		return "answer"
	case More:
		return "more"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Result is the outcome of one Judge or Accept call.
type Result struct {
	Verdict Verdict
	// N is how many bytes a Pass or Answer covers (1..len(data); all of
	// them for a plain true).
	N int
	// Reply is the bytes to send to the client (Answer, or Refuse with a
	// reply); nil when there are none.
	Reply []byte
	// Close ends the connection after an Answer's reply: the client sees
	// the end of the stream, and so does the program.
	Close bool
	// Err is the script error: runtime error, missing entry function, time
	// or memory limit (errors.Is ErrTimeLimit / ErrMemoryLimit). Verdict is
	// Refuse when Err is set.
	Err error
}

// verdictFunc is what a luawrap.pass/refuse/answer/more call recorded; the
// call returns the state's sentinel, and a script returning the sentinel
// gets the recorded verdict.
type verdictFunc struct {
	set   bool
	v     Verdict
	n     int
	reply string
	close bool
}

// resultOf turns what the entry function returned into a Result for a
// message of size bytes. Plain Lua values keep the thesis's meaning: any
// true value passes everything, nil and false refuse.
func (e *env) resultOf(ret lua.LValue, size int) Result {
	if ret == e.sentinel && e.pend.set {
		r := Result{Verdict: e.pend.v, N: e.pend.n, Close: e.pend.close}
		if e.pend.reply != "" {
			r.Reply = []byte(e.pend.reply)
		}
		if (r.Verdict == Pass || r.Verdict == Answer) && r.N == 0 {
			r.N = size
		}
		return r
	}
	if lua.LVAsBool(ret) {
		return Result{Verdict: Pass, N: size}
	}
	return Result{Verdict: Refuse}
}

// ScriptError is a failed call or load. Its message is one line, Lua's own,
// with "file:line:" where Lua gives one.
type ScriptError struct {
	Msg   string
	Limit error // ErrTimeLimit, ErrMemoryLimit or nil
}

func (e *ScriptError) Error() string { return e.Msg }
func (e *ScriptError) Unwrap() error { return e.Limit }
