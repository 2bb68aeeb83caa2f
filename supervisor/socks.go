package supervisor

import (
	"sync"

	"github.com/luawrap/luawrap/luaenv"

	"golang.org/x/sys/unix"
)

// sock is luawrap's state for one socket that carries the Lua ULP: a
// listener whose setsockopt(TCP_ULP, "lua") was emulated, or a connection
// accepted from one. It is keyed by SO_COOKIE, which the kernel never
// reuses, not by fd numbers, which are per process and get reused
// (KERNEL-NOTES pitfall 6). luawrap holds no fd of the socket between calls,
// so it never keeps open a connection the program closed.
type sock struct {
	cookie uint64
	lua    *luaConfig

	listener bool // a listener attached by --script/--listen

	mu sync.Mutex // serializes the receive state machine and accepts
	// Receive side.
	approved int    // bytes at the head of the kernel queue the script approved
	held     []byte // approved bytes already taken off the queue, not yet delivered
	refused  bool   // the script refused: every later receive fails ECONNREFUSED
	seen     bool   // sock_diag has listed it as held (see sweep.go)
	// conn is what the script knows of the connection (built on first use).
	conn *luaenv.Conn
	// partial holds an incomplete message (luawrap.more) taken off the
	// queue so that the socket stops being readable: a level-triggered
	// program does not spin on it and an edge-triggered one is woken by
	// the next bytes. It is judged again with them, until --more-timeout.
	partial []byte
	moreGen uint64 // invalidates a pending timeout (more.go)
	// next is a verdict the script gave on bytes behind approved ones
	// (pipelining): it applies when those reach the head of the queue.
	next *luaenv.Result
	// consumed counts bytes delivered or answered: conn.bytes.
	consumed int64
	// lastPid and lastFD locate the socket in the program (the last
	// receive) for a timeout that fires between calls.
	lastPid, lastFD int
	ended           bool // on_close has run
	// Listener side: connections accepted for a call that was interrupted
	// before they could be installed; the next accept gets them first.
	pending []int
	// listenProto is the listener's SO_PROTOCOL, asked at its first accept.
	listenProto int
}

// registry maps socket cookies to their state.
type registry struct {
	mu sync.RWMutex
	m  map[uint64]*sock
}

func newRegistry() *registry { return &registry{m: map[uint64]*sock{}} }

func (r *registry) get(cookie uint64) *sock {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[cookie]
}

// add registers s unless the cookie is known; it reports whether it did.
func (r *registry) add(s *sock) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[s.cookie] != nil {
		return false
	}
	r.m[s.cookie] = s
	return true
}

func (r *registry) remove(cookie uint64) *sock {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.m[cookie]
	delete(r.m, cookie)
	return s
}

func (r *registry) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// cookies lists the known cookies.
func (r *registry) cookies() []uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]uint64, 0, len(r.m))
	for c := range r.m {
		out = append(out, c)
	}
	return out
}

// socketCookie returns SO_COOKIE (Linux 4.12): unique for the boot.
func socketCookie(fd int) (uint64, error) {
	return unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
}
