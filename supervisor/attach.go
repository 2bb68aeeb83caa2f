package supervisor

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/luawrap/luawrap/luaenv"
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// Attach puts a script on the TCP listeners of a program that knows
// nothing about luawrap (--script, --listen): as if the program had called
// setsockopt(TCP_ULP, "lua"), SS_LUA_LOADSCRIPT and SS_LUA_ENTRYPOINT on
// each listener it selects.
//
// A listener is attached when the program calls listen() on it, or, for a
// listener it inherited (socket activation) or one listen() did not show,
// at its first accept. Both go by the listener's bound address, so it
// works whichever process (a forked worker) accepts.
type Attach struct {
	// Addr and Port select listeners by the address they are bound to:
	// Port 0 selects every TCP listener, an invalid Addr any address.
	// IPv4-mapped addresses compare as IPv4.
	Addr netip.Addr
	Port uint16
	// Script names the script (its file) in logs and errors; Source is it.
	Script string
	Source []byte
	Entry  string

	lua     *luaConfig
	matched atomic.Bool
}

// Spec is the listener selection as the user wrote it.
func (a *Attach) Spec() string {
	switch {
	case a.Port == 0:
		return "every TCP listener"
	case !a.Addr.IsValid():
		return fmt.Sprintf("port %d", a.Port)
	}
	return netip.AddrPortFrom(a.Addr, a.Port).String()
}

// matches reports whether a listener bound to local is selected.
func (a *Attach) matches(local netip.AddrPort) bool {
	if a.Port != 0 && a.Port != local.Port() {
		return false
	}
	return !a.Addr.IsValid() || a.Addr.Unmap() == local.Addr().Unmap()
}

// ErrScript marks a script that cannot be attached (does not compile,
// fails when run, lacks its entry function): a usage error.
var ErrScript = errors.New("script error")

// prepare compiles and runs the script once, so a broken one stops
// luawrap before the program starts (the error says file:line and Lua's
// message).
func (a *Attach) prepare(o Options) error {
	lo := luaenv.Options{Limits: o.Limits, Logger: o.Logger, Name: a.Script}
	c := newLuaConfig(lo, o.OnErrorPass)
	if err := c.load(a.Script, a.Source); err != nil {
		return fmt.Errorf("%w: %v", ErrScript, err)
	}
	entry := a.Entry
	if entry == "" {
		entry = DefaultEntry
	}
	if err := c.setEntry(entry); err != nil {
		return fmt.Errorf("%w: %v", ErrScript, err)
	}
	if p := c.pool.Load(); p == nil || !p.HasEntry() {
		return fmt.Errorf("%w: %s: entry function '%s' is not defined (--entry names it)", ErrScript, a.Script, entry)
	}
	a.lua = c
	return nil
}

// DefaultEntry is the entry function of --script when --entry is not given.
const DefaultEntry = "process"

// attacher decides which listeners get which script, once per listener.
type attacher struct {
	rules []*Attach
	mu    sync.Mutex
	// plain remembers listeners that matched no rule (by cookie), so their
	// accepts are answered CONTINUE without looking again.
	plain map[uint64]bool
}

// maxPlain bounds the memory of unattached listeners; forgetting only costs
// a getsockname on the next accept.
const maxPlain = 4096

// tcpListenerAddr returns the bound address of fd when it is an IPv4 or
// IPv6 stream socket of TCP or MPTCP (Go >= 1.24 listens with MPTCP).
func tcpListenerAddr(fd int) (netip.AddrPort, bool) {
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_MPTCP) {
		return netip.AddrPort{}, false
	}
	var local rawAddr
	if sockName(fd, false, &local) != nil {
		return netip.AddrPort{}, false
	}
	ap := local.addrPort()
	return ap, ap.IsValid()
}

// listenerSock returns the state of the listener dup (cookie), attaching
// a script when a rule selects it; nil when it is not a Lua listener.
func (s *Supervisor) listenerSock(dup int, cookie uint64, how string) *sock {
	if sk := s.socks.get(cookie); sk != nil {
		return sk
	}
	at := s.attach
	if at == nil {
		return nil
	}
	at.mu.Lock()
	plain := at.plain[cookie]
	at.mu.Unlock()
	if plain {
		return nil
	}
	local, ok := tcpListenerAddr(dup)
	var rule *Attach
	if ok {
		for _, r := range at.rules {
			if r.matches(local) {
				rule = r
				break
			}
		}
	}
	if rule == nil {
		at.mu.Lock()
		if len(at.plain) >= maxPlain {
			clear(at.plain)
		}
		at.plain[cookie] = true
		at.mu.Unlock()
		if ok {
			s.warnUnmatched(local)
		}
		return nil
	}
	sk := &sock{cookie: cookie, lua: rule.lua, listener: true}
	if s.socks.add(sk) {
		rule.matched.Store(true)
		s.log.Info("script attached", "script", rule.Script, "listener", local.String(), "at", how)
		return sk
	}
	return s.socks.get(cookie)
}

// warnUnmatched says once per rule that a --listen has matched nothing
// while the program listens elsewhere: the usual typo.
func (s *Supervisor) warnUnmatched(local netip.AddrPort) {
	for _, r := range s.attach.rules {
		if r.Port == 0 || r.matched.Load() {
			continue
		}
		if !s.first(r) {
			continue
		}
		s.log.Warn("--listen matches no listener of the program yet", "listen", r.Spec(),
			"script", r.Script, "program_listens_on", local.String())
	}
}

// handleListen attaches scripts when the program starts listening. listen
// itself is always the kernel's.
func (s *Supervisor) handleListen(n *notify.Notif) reply {
	dup, _, err := s.procs.getFD(int(n.Pid), int(int32(n.Data.Args[0])))
	if unseen(err) {
		s.blind(n, err) // the listener's accepts will fail closed; listen is harmless
		return cont
	}
	if err != nil {
		return cont
	}
	defer unix.Close(dup)
	if cookie, err := socketCookie(dup); err == nil {
		s.listenerSock(dup, cookie, "listen")
	}
	return cont
}
