package luaenv

import (
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// shared is luawrap.shared: one key/value store per Pool, used by all its
// states at once (OpenResty's ngx.shared.DICT is the model). Lua globals
// are per state and states are pooled, so counters that must hold across
// connections (rate limits) live here. Values are strings, numbers and
// booleans: immutable Lua values, safe to hand from one state to another.
type shared struct {
	mu  sync.Mutex
	m   map[string]sharedEntry
	now func() time.Time
}

type sharedEntry struct {
	v   lua.LValue
	exp time.Time // zero: never
}

// maxSharedKeys bounds the store.
const maxSharedKeys = 1 << 16

func newShared() *shared {
	return &shared{m: map[string]sharedEntry{}, now: time.Now}
}

// table builds the luawrap.shared table for one state.
func (s *shared) table(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("get", L.NewFunction(s.get))
	t.RawSetString("set", L.NewFunction(s.set))
	t.RawSetString("incr", L.NewFunction(s.incr))
	t.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		key := L.CheckString(1)
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
		return 0
	}))
	return t
}

// lookup returns the live entry for key; the caller holds s.mu.
func (s *shared) lookup(key string, now time.Time) (sharedEntry, bool) {
	en, ok := s.m[key]
	if ok && !en.exp.IsZero() && !now.Before(en.exp) {
		delete(s.m, key)
		return sharedEntry{}, false
	}
	return en, ok
}

// room reports whether a new key fits, evicting expired entries when full;
// the caller holds s.mu.
func (s *shared) room(now time.Time) bool {
	if len(s.m) < maxSharedKeys {
		return true
	}
	for k, en := range s.m {
		if !en.exp.IsZero() && !now.Before(en.exp) {
			delete(s.m, k)
		}
	}
	return len(s.m) < maxSharedKeys
}

func expiry(L *lua.LState, arg int, now time.Time) time.Time {
	ttl := float64(L.OptNumber(arg, 0))
	if ttl < 0 {
		L.ArgError(arg, "ttl must not be negative")
	}
	if ttl == 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(ttl * float64(time.Second)))
}

func (s *shared) get(L *lua.LState) int {
	key := L.CheckString(1)
	s.mu.Lock()
	en, ok := s.lookup(key, s.now())
	s.mu.Unlock()
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(en.v)
	return 1
}

func (s *shared) set(L *lua.LState) int {
	key := L.CheckString(1)
	v := L.Get(2)
	if v == lua.LNil {
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
		L.Push(lua.LTrue)
		return 1
	}
	if !isScalar(v) {
		L.ArgError(2, "shared values are strings, numbers and booleans, not "+v.Type().String())
	}
	now := s.now()
	exp := expiry(L, 3, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.lookup(key, now); !ok && !s.room(now) {
		L.Push(lua.LNil)
		L.Push(lua.LString("full"))
		return 2
	}
	s.m[key] = sharedEntry{v: v, exp: exp}
	L.Push(lua.LTrue)
	return 1
}

// incr is incr(key, delta [, init [, ttl]]): the ttl applies when the key
// is created, so a window counter expires a fixed time after its first hit.
func (s *shared) incr(L *lua.LState) int {
	key := L.CheckString(1)
	delta := float64(L.CheckNumber(2))
	init := float64(L.OptNumber(3, 0))
	now := s.now()
	exp := expiry(L, 4, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.lookup(key, now)
	if !ok {
		if !s.room(now) {
			L.Push(lua.LNil)
			L.Push(lua.LString("full"))
			return 2
		}
		en = sharedEntry{v: lua.LNumber(init), exp: exp}
	}
	cur, isNum := en.v.(lua.LNumber)
	if !isNum {
		L.RaiseError("luawrap.shared.incr: %q holds a %s, not a number", key, en.v.Type().String())
	}
	en.v = lua.LNumber(float64(cur) + delta)
	s.m[key] = en
	L.Push(en.v)
	return 1
}
