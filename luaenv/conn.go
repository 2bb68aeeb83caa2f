package luaenv

import (
	"net/netip"

	lua "github.com/yuin/gopher-lua"
)

// Conn is what a script knows about one connection: the conn argument of
// the entry function and of the hooks. Calls for one Conn must not run at
// the same time (the supervisor serializes them per socket).
//
// Scripts may keep their own fields in it for the connection's life. Only
// strings, numbers and booleans can be stored: those are immutable values,
// so a Conn judged by one Lua state and then another (states are pooled)
// never shares a mutable Lua object between two states, which would be a
// data race in gopher-lua.
type Conn struct {
	ID    uint64
	Peer  netip.AddrPort
	Local netip.AddrPort
	// Bytes is the stream offset of the data being judged: bytes of the
	// connection consumed before it (delivered or answered). The caller
	// keeps it up to date.
	Bytes int64

	peer, local lua.LString
	fields      map[string]lua.LValue
	// ud is the userdata scripts see, made by the first state that judged
	// the connection and reused by the others: its metatable's functions
	// use no state of their own and the table is never written after it
	// is built (__metatable hides it from scripts).
	ud *lua.LUserData
}

// isScalar reports whether v is a string, number or boolean: the immutable
// values that may pass from one Lua state to another (conn fields, the
// shared store).
func isScalar(v lua.LValue) bool {
	switch v.(type) {
	case lua.LString, lua.LNumber, lua.LBool:
		return true
	}
	return false
}

// maxConnFields bounds the fields a script may add to one connection.
const maxConnFields = 256

// NewConn describes a connection. IPv4-mapped IPv6 addresses (a dual-stack
// listener's IPv4 clients) are shown as IPv4.
func NewConn(id uint64, peer, local netip.AddrPort) *Conn {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	return &Conn{ID: id, Peer: peer, Local: local,
		peer: lua.LString(addrText(peer.Addr())), local: lua.LString(addrText(local.Addr()))}
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.WithZone("").String()
}

// connValue is c as the Lua value scripts see: a userdata whose metatable
// (one per state) reads the built-in fields and reads and writes the
// script's own.
func (e *env) connValue(c *Conn) lua.LValue {
	if c == nil {
		return lua.LNil
	}
	if c.ud == nil {
		c.ud = e.L.NewUserData()
		c.ud.Value = c
		c.ud.Metatable = e.connMeta()
	}
	return c.ud
}

func (e *env) connMeta() *lua.LTable {
	if e.connMT != nil {
		return e.connMT
	}
	L := e.L
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(connIndex))
	mt.RawSetString("__newindex", L.NewFunction(connNewIndex))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		c := checkConn(L)
		L.Push(lua.LString("conn " + itoa(int(c.ID)) + " " + c.Peer.String()))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("conn")) // getmetatable hides it
	e.connMT = mt
	return mt
}

func checkConn(L *lua.LState) *Conn {
	ud := L.CheckUserData(1)
	c, ok := ud.Value.(*Conn)
	if !ok {
		L.ArgError(1, "conn expected")
	}
	return c
}

// builtin returns the read-only field name of c, or nil.
func (c *Conn) builtin(name string) lua.LValue {
	switch name {
	case "id":
		return lua.LNumber(c.ID)
	case "peer":
		return c.peer
	case "peer_port":
		return lua.LNumber(c.Peer.Port())
	case "local":
		return c.local
	case "local_port":
		return lua.LNumber(c.Local.Port())
	case "bytes":
		return lua.LNumber(c.Bytes)
	}
	return nil
}

func connIndex(L *lua.LState) int {
	c := checkConn(L)
	key := L.Get(2)
	if k, ok := key.(lua.LString); ok {
		if v := c.builtin(string(k)); v != nil {
			L.Push(v)
			return 1
		}
		if v, ok := c.fields[string(k)]; ok {
			L.Push(v)
			return 1
		}
	}
	L.Push(lua.LNil)
	return 1
}

func connNewIndex(L *lua.LState) int {
	c := checkConn(L)
	k, ok := L.Get(2).(lua.LString)
	if !ok {
		L.RaiseError("conn fields are named by strings, not %s", L.Get(2).Type().String())
	}
	name := string(k)
	if c.builtin(name) != nil {
		L.RaiseError("conn.%s is read-only", name)
	}
	v := L.Get(3)
	if v == lua.LNil {
		delete(c.fields, name)
		return 0
	}
	if !isScalar(v) {
		L.RaiseError("conn.%s: conn fields hold strings, numbers and booleans, not %s", name, v.Type().String())
	}
	if c.fields == nil {
		c.fields = map[string]lua.LValue{}
	}
	if _, exists := c.fields[name]; !exists && len(c.fields) >= maxConnFields {
		L.RaiseError("conn.%s: a connection holds at most %d fields", name, maxConnFields)
	}
	c.fields[name] = v
	return 0
}
