package luaenv

import (
	"runtime"
	"strconv"
	"testing"
)

// TestGmatchRecycle: an exhausted gmatch iterator gives its match state to
// the next gmatch (strlib.go); calling the old iterator again must still
// return nothing and leave the new one alone, and a loop left by break
// keeps its own state.
func TestGmatchRecycle(t *testing.T) {
	p := mustPool(t, `
function process()
  local got = {}
  local it = string.gmatch("a1b2", "%a")
  for x in it do got[#got+1] = x end
  local it2 = string.gmatch("xyz", "(%a)")
  local first = it2()
  if it() ~= nil or it() ~= nil then return false end
  local second = it2()
  for k in string.gmatch("k1 k2 k3", "k(%d)") do if k == "2" then break end end
  local it3 = string.gmatch("pq", ".")
  local third, fourth = it2(), it3()
  return table.concat(got) == "ab" and first == "x" and second == "y"
     and third == "z" and it2() == nil and fourth == "p" and it3() == "q"
end`, Options{})
	for i := 0; i < 3; i++ {
		if r := p.Judge(nil, nil); r.Verdict != Pass || r.Err != nil {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
}

// TestBoxedValuesSurvive keeps captures, positions and messages (boxed in
// shared slabs, box.go) in a global table across many calls and garbage
// collections and checks them afterwards.
func TestBoxedValuesSurvive(t *testing.T) {
	p := mustPool(t, `
kept = {}
function process(s)
  if s == "check" then
    for i = 1, #kept, 4 do
      local msg, cap, pos, pos2 = kept[i], kept[i+1], kept[i+2], kept[i+3]
      local n = string.match(msg, "^m(%d+)$")
      if cap ~= n or pos ~= 2 or pos2 ~= #msg then return false end
    end
    return #kept == 4 * 200
  end
  local a, b = string.find(s, "%d+")
  kept[#kept+1] = s
  kept[#kept+1] = string.match(s, "(%d+)")
  kept[#kept+1] = a
  kept[#kept+1] = b
  return true
end`, Options{MaxIdle: 1})
	for i := 0; i < 200; i++ {
		if r := p.Judge([]byte("m"+strconv.Itoa(i*37)), nil); r.Verdict != Pass {
			t.Fatalf("call %d: %+v", i, r)
		}
		if i%50 == 0 {
			runtime.GC()
		}
	}
	runtime.GC()
	if r := p.Judge([]byte("check"), nil); r.Verdict != Pass || r.Err != nil {
		t.Fatalf("check: %+v", r)
	}
}

// TestTableHint: constructors get a hash size hint (tablehint.go) that must
// not change what tables hold or how they iterate.
func TestTableHint(t *testing.T) {
	p := mustPool(t, `
function process()
  local t = {}
  for i = 1, 20 do t["k" .. i] = i end
  local n, sum = 0, 0
  for k, v in pairs(t) do n = n + 1; sum = sum + v end
  local a = {1, 2, 3, x = "y"}
  return n == 20 and sum == 210 and #a == 3 and a.x == "y" and next({}) == nil
end`, Options{})
	if r := p.Judge(nil, nil); r.Verdict != Pass || r.Err != nil {
		t.Fatalf("%+v", r)
	}
}
