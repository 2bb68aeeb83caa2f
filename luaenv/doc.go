// Package luaenv runs the Lua scripts that judge the bytes received on a
// managed socket: it owns compiling scripts, the sandbox, the Lua 5.4 pattern
// functions, the time and memory limits, and the pool of Lua states
// (gopher-lua) that the supervisor calls for every message.
//
// # API
//
// Compile turns a script text into a Chunk (text only; bytecode is refused).
// NewPool runs a Program's chunks in a fresh state, as the original kernel
// module ran the script at load time, and returns that error if any. Judge
// calls the entry function with the message as one Lua string: a true value
// passes, false/nil/no value refuses, and a script error refuses with
// Result.Err set (one line, "file:line: message" where Lua gives a line).
//
// # Lua dialect
//
// gopher-lua is Lua 5.1. The original module ran Lua 5.3, so luaenv adds
// what filters use: the pattern functions (string.find, match, gmatch, gsub)
// are a port of Lua 5.4's lstrlib.c matcher, with %g, %f, %b, position
// captures, back references and the "pattern too complex" recursion bound;
// string.rep takes a separator; load takes strings, chunk names, modes and an
// env table; table.unpack exists. Integers do not: numbers stay float64, so
// "//", bitwise operators and math.type are missing.
//
// Where Lua 5.3 and 5.4 differ we follow 5.4 (our differential oracle is
// Debian's lua5.4): gmatch accepts an init argument (5.3 ignores it), and
// gsub and gmatch skip an empty match that ends where the previous match
// ended ("lastmatch"; older 5.3 releases could also match the empty string
// there). A 5.3 script is not made wrong by either rule. Integer
// arguments are truncated instead of rejected when they are not integral.
//
// # Sandbox
//
// Only what a filter needs: base functions without dofile, loadfile,
// require and module; collectgarbage is a stub (the real one would let a
// script force a full Go GC per message); load and loadstring compile text
// only; print goes to the slog logger at Info with attribute "script". Also
// string, table, math, coroutine, and os.time, os.clock, os.date. No io, os
// beyond those three, debug, package, string.dump, or channel.
//
// # Limits
//
// Time: gopher-lua's LState.SetContext makes the VM poll ctx.Done() before
// every instruction. Each state gets one long-lived context (stopCtx) whose
// Done is a plain field, so the poll is a few ns, and a single watchdog
// goroutine per pool (one ticker, Time/4) closes the channel of a call that
// overran. A call therefore pays a monotonic clock read and two atomics, not
// a context and a timer. The pattern matcher, table.concat and the load
// reader poll the same channel, every 4096 units of work for the matcher,
// since gopher-lua only checks between instructions. Coroutines share their
// state's context (gopher-lua's default, context.WithCancel per thread,
// leaks a goroutine per coroutine with a custom context). The limit is wall
// time: waiting for a CPU counts.
//
// Memory (max size of one string or table a built-in builds in one call):
// string.rep, string.gsub, table.concat and load compute or track the size
// and refuse before allocating; string.format rejects widths and precisions
// over two digits as Lua does (so a conversion adds at most 99 bytes);
// unpack refuses more than 65536 results; the value stack is capped at 256K
// slots and the call depth at 200. NOT bounded by Memory, only by Time: the
// VM's own '..' operator (gopher-lua's OP_CONCAT cannot be hooked, so
// "s = s .. s" doubles until the time limit stops it, and in the 200 ms default it can
// build hundreds of MB) and tables grown by Lua code (t[#t+1] = x).
//
// A state whose call hit a limit, or in which gopher-lua panicked, is
// discarded: it may hold whatever the runaway code built. A state whose call
// raised an ordinary Lua error is kept: gopher-lua unwinds it like pcall
// does, and discarding it would let any client make every call pay for a
// new state (~150 µs). Globals persist between the calls a state serves,
// as in the original module; each state has its own globals.
//
// # Performance
//
// The bar is a per-message cost within 1.5x of C Lua 5.4 on the thesis
// HTTP script (BenchmarkThesisHTTP vs BenchmarkLua54ThesisHTTP). What gets
// there, each measured on that script:
//   - the matcher skips attempts that must fail: after a repetition whose
//     continuation starts with a literal byte (the ':' of "(%g*):"), and at
//     start positions where a pattern's leading literal is absent
//     (patfast.go); results and errors stay lstrlib.c's;
//   - table constructors get a small hash size hint, so the first string key
//     does not make gopher-lua's 32-entry map (tablehint.go);
//   - a gmatch loop reuses the match state of the previous, exhausted one;
//   - captures, positions and the message are boxed into LValues from slabs
//     (box.go) instead of one allocation each.
//
// Not done: gopher-lua's VM polls ctx.Done() before every instruction
// (about 4-6 ns each), and a table with string keys still costs about ten
// allocations (gopher-lua keeps a key list and a second map for next).
// Both are inside gopher-lua; the time limit needs the poll, since nothing
// else can stop "while true do end".
//
// # Pool
//
// Chunks are parsed and compiled once (a *lua.FunctionProto shared by all
// states); a state instantiates them with NewFunctionFromProto. States are
// created on demand and kept in a LIFO idle list bounded by Options.MaxIdle
// (default 2*GOMAXPROCS).
package luaenv
