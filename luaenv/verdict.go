package luaenv

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// Verdict is what a script decided about a message. Refuse is the zero value
// so that any failure path defaults to refusing. More verdicts may follow
// (pass the first n bytes, reply, need more data); they will be appended.
type Verdict int

const (
	// Refuse: the receive fails with ECONNREFUSED (a false value, nil, no
	// value, or a script error).
	Refuse Verdict = iota
	// Pass: the bytes are delivered (any value but nil and false).
	Pass
)

func (v Verdict) String() string {
	switch v {
	case Refuse:
		return "refuse"
	case Pass:
		return "pass"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Result is the outcome of one Judge call.
type Result struct {
	Verdict Verdict
	// Err is the script error: runtime error, missing entry function, time
	// or memory limit (errors.Is ErrTimeLimit / ErrMemoryLimit). Verdict is
	// Refuse when Err is set.
	Err error
}

// verdictOf applies Lua truth: everything but nil and false passes.
func verdictOf(v lua.LValue) Verdict {
	if lua.LVAsBool(v) {
		return Pass
	}
	return Refuse
}

// ScriptError is a failed call or load. Its message is one line, Lua's own,
// with "file:line:" where Lua gives one.
type ScriptError struct {
	Msg   string
	Limit error // ErrTimeLimit, ErrMemoryLimit or nil
}

func (e *ScriptError) Error() string { return e.Msg }
func (e *ScriptError) Unwrap() error { return e.Limit }
