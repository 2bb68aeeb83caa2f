package luaenv

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// limitScript runs the Lua statement given as the message when the message
// is not "ok", so one pool serves every case and must keep working.
const limitScript = `
function process(s)
  if s == "ok" then return true end
  local f = assert(load(s))
  return f()
end`

type limitCase struct {
	stmt string
	want error // nil: a plain script error
}

// TestLimits: each case is stopped, counted as an error, and the pool keeps
// working: the next call on the same pool succeeds.
func TestLimits(t *testing.T) {
	runLimitCases(t, mustPool(t, limitScript, Options{}), []limitCase{
		{"while true do end", ErrTimeLimit},
		{"local function f() while true do end end; while true do pcall(f) end", ErrTimeLimit},
		{"local co = coroutine.wrap(function() while true do end end); co()", ErrTimeLimit},
		{`return string.find(string.rep("a", 400), ".-.-.-b")`, ErrTimeLimit},
		{`return string.find(string.rep("a", 1e6), "a*b")`, ErrTimeLimit},
		{`for k in string.gmatch(string.rep("a", 1e4), "a-a-a-a-b") do end`, ErrTimeLimit},
		{`return string.rep("x", 2^31)`, ErrMemoryLimit},
		{`return string.rep("ab", 1e9, ",")`, ErrMemoryLimit},
		{`return string.rep("", 1e18, "x")`, ErrMemoryLimit},
		{`local s = "" while true do s = s .. "x" end`, ErrTimeLimit},
		{`return string.format("%099999999d", 1)`, nil},
		{`return unpack({}, 1, 1e8)`, nil},
		{`local function f() return f() + 1 end return f()`, nil},
	})
}

// TestMemoryLimits uses a 1 MiB limit: the guards are the same, and the test
// need not touch tens of MB of fresh memory (slow on first touch in VMs with
// lazily backed memory, where it would trip the time limit first), and the
// time limit is generous so that only the memory guards can stop a case.
func TestMemoryLimits(t *testing.T) {
	p := mustPool(t, limitScript, Options{Limits: Limits{Memory: 1 << 20, Time: 10 * time.Second}})
	runLimitCases(t, p, []limitCase{
		{`return string.rep("x", 2^31)`, ErrMemoryLimit},
		{`local s = string.rep("x", 1e5) return table.concat({s, s, s, s, s, s, s, s, s, s, s})`, ErrMemoryLimit},
		{`return table.concat({"a", "b"}, "x", 1, 3)`, nil}, // index 3 is nil: plain error
		{`return string.gsub(string.rep("x", 1e4), "x", string.rep("y", 110))`, ErrMemoryLimit},
		{`return string.gsub(string.rep("x", 1e4), "x", function() return string.rep("y", 110) end)`, ErrMemoryLimit},
		{`return string.gsub(string.rep("x", 2e4), "x", "%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0%0")`, ErrMemoryLimit},
		{`local s = string.rep("x", 6e5) return load(function() return s end)`, ErrMemoryLimit},
	})
}

func runLimitCases(t *testing.T, p *Pool, cases []limitCase) {
	t.Helper()
	for _, c := range cases {
		start := time.Now()
		r := p.Judge([]byte(c.stmt), nil)
		took := time.Since(start)
		if r.Verdict != Refuse || r.Err == nil {
			t.Errorf("%s: %+v, want an error", c.stmt, r)
		} else if c.want != nil && !errors.Is(r.Err, c.want) {
			t.Errorf("%s: error %v, want %v", c.stmt, r.Err, c.want)
		} else if c.want == nil && (errors.Is(r.Err, ErrTimeLimit) || errors.Is(r.Err, ErrMemoryLimit)) {
			t.Errorf("%s: error %v, want a plain error", c.stmt, r.Err)
		}
		if strings.Contains(r.Err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", c.stmt, r.Err)
		}
		if took > time.Second {
			t.Errorf("%s: stopped after %v", c.stmt, took)
		}
		t.Logf("%-70.70s %8v %v", c.stmt, took.Round(time.Millisecond), r.Err)
		// the pool keeps working, and a later call on the same pool succeeds
		if r := p.Judge([]byte("ok"), nil); r.Verdict != Pass || r.Err != nil {
			t.Fatalf("after %s: %+v", c.stmt, r)
		}
	}
}

// TestConcatDoublingBoundedByTimeOnly documents the hole: the VM's '..'
// cannot be hooked, so a doubling loop is stopped by the time limit only,
// after it has built strings far over Limits.Memory. The loop is capped at
// 256 MiB here to keep the test machine safe.
func TestConcatDoublingBoundedByTimeOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates up to 512 MiB")
	}
	p := mustPool(t, limitScript, Options{Limits: Limits{Time: 20 * time.Millisecond, Memory: 1 << 20}})
	r := p.Judge([]byte(`local s = "x" while #s < 2^28 do s = s .. s end return #s`), nil)
	t.Logf("doubling to 256 MiB with a 1 MiB memory limit and 20 ms: %+v", r)
	if r := p.Judge([]byte("ok"), nil); r.Verdict != Pass {
		t.Fatalf("pool broken: %+v", r)
	}
}
