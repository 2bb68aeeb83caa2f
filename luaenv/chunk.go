package luaenv

import (
	"errors"
	"fmt"
	"io"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Chunk is one compiled script text. Its prototype is immutable and shared by
// every state of every pool that runs it; a state only instantiates a closure
// over it (LState.NewFunctionFromProto), which costs no parsing.
type Chunk struct {
	name  string
	proto *lua.FunctionProto
}

// Name is the chunk name used in error messages.
func (c *Chunk) Name() string { return c.name }

// Compile parses and compiles one script text. Only text is accepted: the
// original module loaded text only, and gopher-lua cannot run Lua bytecode,
// whose loader is also the classic way out of a Lua sandbox. Errors read like
// Lua's: "check.lua:3: 'end' expected near '<eof>'".
func Compile(name string, src []byte) (*Chunk, error) {
	if len(src) > 0 && src[0] == 0x1b { // LUA_SIGNATURE[0]
		return nil, fmt.Errorf("%s: precompiled Lua bytecode is not accepted (text only)", name)
	}
	proto, err := compileText(strings.NewReader(string(src)), name)
	if err != nil {
		return nil, err
	}
	return &Chunk{name: name, proto: proto}, nil
}

// compileText parses and compiles Lua text, turning gopher-lua's error forms
// into Lua's one-line "name:line: message" form.
func compileText(r io.Reader, name string) (*lua.FunctionProto, error) {
	stmts, err := parse.Parse(r, name)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			if pe.Pos.Line == parse.EOF {
				return nil, fmt.Errorf("%s: %s near <eof>", name, pe.Message)
			}
			return nil, fmt.Errorf("%s:%d: %s near '%s'", name, pe.Pos.Line, pe.Message, pe.Token)
		}
		return nil, fmt.Errorf("%s: %s", name, oneLine(err.Error()))
	}
	proto, err := lua.Compile(stmts, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s:%d: %s", name, ce.Line, ce.Message)
		}
		return nil, fmt.Errorf("%s: %s", name, oneLine(err.Error()))
	}
	hintTables(proto)
	return proto, nil
}

// oneLine makes an error message fit one log line: newlines become spaces and
// very long messages are cut.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.Fields(s), " ")
	}
	const maxLen = 300
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return s
}
