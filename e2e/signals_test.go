package e2e

// Signals against the receive emulation, end to end: a program whose
// receives are interrupted all the time (a 1 kHz SIGALRM storm, Go's SIGURG
// preemption) must still see every byte exactly once and in order, must
// never see a byte the script did not approve, and Ctrl-C must end a server
// blocked in accept or recv (KERNEL-NOTES.md, pitfalls 1-3).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
	"golang.org/x/sys/unix"
)

// sigRefuseEvil refuses any inspected message containing "EVIL".
const sigRefuseEvil = `function process(s)
    return string.find(s, "EVIL", 1, true) == nil
end
`

// sigRefuseBad refuses any inspected message containing "BAD".
const sigRefuseBad = `function process(s)
    return string.find(s, "BAD", 1, true) == nil
end
`

// sigSeed returns a per-test seed, logged so a failure can be replayed
// with E2E_SEED.
func sigSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED: %v", err)
		}
		return v
	}
	v := rand.Uint64()
	t.Logf("seed %d (E2E_SEED=%d to replay)", v, v)
	return v
}

// sigHash derives a per-subtest seed from its name (FNV-1a).
func sigHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// sigRandom returns n random bytes; noE replaces 'E' so "EVIL" cannot occur.
func sigRandom(rng *rand.Rand, n int, noE bool) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
		if noE && b[i] == 'E' {
			b[i] = 'e'
		}
	}
	return b
}

// sigDial connects to the server over loopback with a deadline on
// everything that follows.
func sigDial(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, e2eWait)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(e2eWait))
	return c.(*net.TCPConn), nil
}

// sigWriteChunks writes data in random-sized writes of 1..maxChunk bytes.
func sigWriteChunks(c net.Conn, rng *rand.Rand, data []byte, maxChunk int) error {
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(maxChunk))
		if _, err := c.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// sigReadAll reads until EOF. A reset counts as the end too (a server that
// closes with unread bytes queued resets the connection); what was read
// before it is returned either way, with the error for the caller to judge.
func sigReadAll(c net.Conn) ([]byte, error) {
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return got.Bytes(), nil
		}
		if err != nil {
			return got.Bytes(), err
		}
	}
}

// sigEchoStream sends data in random-sized writes while reading the echo
// concurrently, half-closes, and returns everything echoed until EOF.
func sigEchoStream(addr string, rng *rand.Rand, data []byte, maxChunk int) ([]byte, error) {
	c, err := sigDial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	type result struct {
		b   []byte
		err error
	}
	rc := make(chan result, 1)
	go func() {
		b, err := sigReadAll(c)
		rc <- result{b, err}
	}()
	werr := sigWriteChunks(c, rng, data, maxChunk)
	if werr == nil {
		werr = c.CloseWrite()
	}
	if werr != nil {
		c.Close() // unblocks the reader
	}
	r := <-rc
	if werr != nil {
		return r.b, fmt.Errorf("write: %w", werr)
	}
	if r.err != nil {
		return r.b, fmt.Errorf("read after %d of %d bytes echoed (all echoed, no EOF: %v): %w",
			len(r.b), len(data), bytes.Equal(r.b, data), r.err)
	}
	return r.b, nil
}

// sigSameBytes explains how got differs from want.
func sigSameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("echo differs: got %d bytes, want %d; first difference at offset %d", len(got), len(want), i)
}

// sigEOFLines collects n "eof <C> <bytes> [<alarms>]" lines (any order),
// failing on a "refused" or "error" line, and returns the byte totals and
// the largest alarm count seen (-1 without that field).
func sigEOFLines(t *testing.T, srv *testapps.Server, n int) (totals []int64, alarms int64) {
	t.Helper()
	alarms = -1
	for range n {
		l, err := srv.WaitMatch(func(l string) bool {
			return strings.HasPrefix(l, "eof ") || strings.HasPrefix(l, "refused") || strings.HasPrefix(l, "error")
		}, "eof/refused/error line", e2eWait)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(l)
		if f[0] != "eof" || len(f) < 3 {
			t.Fatalf("server: %q, want eof", l)
		}
		b, _ := strconv.ParseInt(f[2], 10, 64)
		totals = append(totals, b)
		if len(f) >= 4 {
			a, _ := strconv.ParseInt(f[3], 10, 64)
			alarms = max(alarms, a)
		}
	}
	return totals, alarms
}

// sigStreamCase is one server under test and the streams its clients send.
type sigStreamCase struct {
	clients  int
	minSize  int // bytes per client, uniform in [minSize, maxSize]
	maxSize  int
	maxChunk int // largest single write
}

// sigRunStreams runs c.clients concurrent clients against addr, each
// sending its own random stream, and checks every echo byte for byte.
// It returns the stream sizes.
func sigRunStreams(t *testing.T, addr string, seed uint64, c sigStreamCase) []int64 {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, c.clients)
	sizes := make([]int64, c.clients)
	for i := range c.clients {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		data := sigRandom(rng, c.minSize+rng.IntN(c.maxSize-c.minSize+1), false)
		sizes[i] = int64(len(data))
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := sigEchoStream(addr, rng, data, c.maxChunk)
			if err == nil {
				err = sigSameBytes(got, data)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d (%d bytes): %v", i, sizes[i], err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return sizes
}

// sigSameTotals checks the server's per-connection byte counts against
// what the clients sent (as multisets: connection numbers are the
// server's).
func sigSameTotals(t *testing.T, got, want []int64) {
	t.Helper()
	g := append([]int64(nil), got...)
	w := append([]int64(nil), want...)
	sort.Slice(g, func(i, j int) bool { return g[i] < g[j] })
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("server byte counts %v, clients sent %v", g, w)
	}
}

// TestSignalsEchoStorm: the C echo server's receives are interrupted by a
// 1 kHz SIGALRM (with and without SA_RESTART) while several clients stream
// random data through it. Every byte must come back exactly once, in
// order, with every receive call, buffer size (byte at a time, odd-sized,
// page-sized) and blocking mode. A lost, duplicated or reordered byte —
// e.g. approved bytes dropped when the delivering notification died, or
// delivered twice on the restarted call — fails the byte comparison.
func TestSignalsEchoStorm(t *testing.T) {
	t.Parallel()
	sigStorm(t, true)
}

// TestSignalsEchoStormBare runs the same matrix without luawrap (-n, no
// ULP): it proves the server and the clients are byte-exact on their own,
// so a failure of TestSignalsEchoStorm is luawrap's.
func TestSignalsEchoStormBare(t *testing.T) {
	t.Parallel()
	sigStorm(t, false)
}

func sigStorm(t *testing.T, wrapped bool) {
	bin := testapps.Build(t, "echo_server")
	if wrapped {
		requireLuawrap(t)
	}
	seed := sigSeed(t)
	// The script runs once per inspected message; a byte-at-a-time reader
	// costs a round trip per byte (≈ 100 µs), so small buffers get small
	// streams. The full product is 60 servers; byte-at-a-time skips recv
	// and recvfrom (same code path as read for the emulation: a flat
	// buffer), which keeps the whole matrix around 20 s on 2 cores.
	streams := map[int]sigStreamCase{
		1:    {clients: 3, minSize: 512, maxSize: 1536, maxChunk: 64},
		7:    {clients: 3, minSize: 4 << 10, maxSize: 12 << 10, maxChunk: 700},
		4096: {clients: 4, minSize: 64 << 10, maxSize: 256 << 10, maxChunk: 16 << 10},
	}
	for _, alarm := range []string{"restart", "norestart"} {
		for _, mode := range []string{"blocking", "nonblocking"} {
			for _, method := range []string{"read", "recv", "recvfrom", "recvmsg", "readv"} {
				for _, b := range []int{1, 7, 4096} {
					if b == 1 && (method == "recv" || method == "recvfrom") {
						continue
					}
					name := fmt.Sprintf("%s/%s/%s/b%d", alarm, mode, method, b)
					sc := streams[b]
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						args := []string{bin, "-a", alarm, "-m", method, "-b", strconv.Itoa(b)}
						if mode == "nonblocking" {
							args = append(args, "-N")
						}
						var srv *testapps.Server
						if wrapped {
							args = append(args, "0", testapps.Script("pass_all.lua"))
							srv = startWrapped(t, nil, nil, args...)
						} else {
							srv = testapps.Start(t, append(args, "-n", "0"), nil)
						}
						sizes := sigRunStreams(t, srv.Addr(), seed^sigHash(name), sc)
						totals, alarms := sigEOFLines(t, srv, sc.clients)
						sigSameTotals(t, totals, sizes)
						if alarms <= 0 {
							t.Fatalf("no SIGALRM was handled (alarms %d): the storm interrupted nothing", alarms)
						}
					})
				}
			}
		}
	}
}

// TestSignalsGoPreemption: a Go server under constant SIGURG preemption
// (-busy) echoes several concurrent random streams byte for byte. Go reads
// through the netpoller on non-blocking sockets, from many threads.
func TestSignalsGoPreemption(t *testing.T) {
	t.Parallel()
	bin := testapps.Build(t, "goecho")
	seed := sigSeed(t)
	srv := startWrapped(t, nil, nil, bin, "-busy", "-script", testapps.Script("pass_all.lua"))
	sc := sigStreamCase{clients: 6, minSize: 64 << 10, maxSize: 256 << 10, maxChunk: 32 << 10}
	sizes := sigRunStreams(t, srv.Addr(), seed, sc)
	totals, _ := sigEOFLines(t, srv, sc.clients)
	sigSameTotals(t, totals, sizes)
}

// TestSignalsRefuseEvil: with a script that refuses any message containing
// "EVIL", under the signal storm and Go preemption, the program never
// receives "EVIL": the echo (everything the program received) is exactly
// the approved data and nothing after it, and the server logs refused.
//
// Two clients per server:
//   - settled: streams good data, reads all of it back (so nothing is
//     queued), then sends one small write with "EVIL" in the middle:
//     the echo must be exactly the good data;
//   - racing: sends a little good data (no back-pressure, so each write
//     is its own segment) and the "EVIL" write right behind it, then more
//     good data: the echo must be a prefix of the good data before the
//     "EVIL" write — a message is judged as a whole, and nothing after a
//     refusal is delivered.
func TestSignalsRefuseEvil(t *testing.T) {
	t.Parallel()
	c := testapps.Build(t, "echo_server")
	g := testapps.Build(t, "goecho")
	requireLuawrap(t)
	seed := sigSeed(t)
	script := writeScript(t, sigRefuseEvil)
	servers := []struct {
		name string
		argv []string
	}{
		{"c/blocking/recvmsg/b7", []string{c, "-a", "norestart", "-m", "recvmsg", "-b", "7", "0", script}},
		{"c/blocking/read/b4096", []string{c, "-a", "restart", "-m", "read", "-b", "4096", "0", script}},
		{"c/nonblocking/readv/b4096", []string{c, "-a", "norestart", "-N", "-m", "readv", "-b", "4096", "0", script}},
		{"go/busy", []string{g, "-busy", "-script", script}},
	}
	for si, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			srv := startWrapped(t, nil, nil, sv.argv...)
			addr := srv.Addr()
			const pairs = 2
			var wg sync.WaitGroup
			errs := make([]error, 2*pairs)
			for i := range 2 * pairs {
				rng := rand.New(rand.NewPCG(seed, uint64(si*100+i)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i%2 == 0 {
						errs[i] = sigEvilSettled(addr, rng)
					} else {
						errs[i] = sigEvilRacing(addr, rng)
					}
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("client %d: %v", i, err)
				}
			}
			for range 2 * pairs {
				l, err := srv.WaitMatch(func(l string) bool {
					return strings.HasPrefix(l, "eof ") || strings.HasPrefix(l, "refused") || strings.HasPrefix(l, "error")
				}, "refused/eof/error line", e2eWait)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(l, "refused") {
					t.Errorf("server: %q, want refused", l)
				}
			}
		})
	}
}

// sigEvilChunk is a small write with "EVIL" inside good bytes.
func sigEvilChunk(rng *rand.Rand) []byte {
	return append(append(sigRandom(rng, rng.IntN(200), true), "EVIL"...), sigRandom(rng, rng.IntN(200), true)...)
}

// sigAfterRefusal reads the rest of a refused connection: only EOF or a
// reset may come, no byte.
func sigAfterRefusal(c net.Conn) error {
	rest, err := sigReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("after the EVIL write: %w", err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("%d bytes echoed after the EVIL write (contains EVIL: %v)", len(rest), bytes.Contains(rest, []byte("EVIL")))
	}
	return nil
}

func sigEvilSettled(addr string, rng *rand.Rand) error {
	good := sigRandom(rng, 16<<10+rng.IntN(48<<10), true)
	c, err := sigDial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() { werr <- sigWriteChunks(c, rng, good, 2048) }()
	got := make([]byte, len(good))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading the good echo: %w", err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if err := sigSameBytes(got, good); err != nil {
		return err
	}
	// Everything sent so far came back: the server's queue is empty and
	// the next write is judged on its own.
	if _, err := c.Write(sigEvilChunk(rng)); err != nil {
		return err
	}
	return sigAfterRefusal(c)
}

func sigEvilRacing(addr string, rng *rand.Rand) error {
	good := sigRandom(rng, rng.IntN(16<<10), true)
	c, err := sigDial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	rc := make(chan []byte, 1)
	rerr := make(chan error, 1)
	go func() {
		b, err := sigReadAll(c)
		rc <- b
		rerr <- err
	}()
	werr := sigWriteChunks(c, rng, good, 1024)
	if werr == nil {
		_, werr = c.Write(sigEvilChunk(rng))
	}
	if werr == nil {
		// After a refusal the server closes: these may fail, which is fine.
		_ = sigWriteChunks(c, rng, sigRandom(rng, 4096, true), 512)
		_ = c.CloseWrite()
	}
	got := <-rc
	err = <-rerr
	if werr != nil {
		return fmt.Errorf("write before the EVIL write ended: %w", werr)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("read: %w", err)
	}
	if bytes.Contains(got, []byte("EVIL")) {
		return errors.New("the program received EVIL")
	}
	if !bytes.HasPrefix(good, got) {
		return fmt.Errorf("echo (%d bytes) is not a prefix of the %d good bytes sent before EVIL: %v", len(got), len(good), sigSameBytes(got, good[:min(len(good), len(got))]))
	}
	return nil
}

// sigRecvNr maps echo_server's -m to the system call a blocked receive
// sits in (glibc's recv is recvfrom on the architectures with one).
var sigRecvNr = map[string]int{
	"read":     unix.SYS_READ,
	"recv":     unix.SYS_RECVFROM,
	"recvfrom": unix.SYS_RECVFROM,
	"recvmsg":  unix.SYS_RECVMSG,
	"readv":    unix.SYS_READV,
}

// TestSignalsLateBytesJudged closes the latency hole (KERNEL-NOTES
// pitfall 3): bytes that arrive while the program is already blocked in a
// receive must still be judged. Answering such a receive with CONTINUE
// (letting the kernel block) would hand the program bytes no script saw.
//
// The server blocks in its receive with nothing queued; the test checks
// that through /proc (the thread sits in the receive system call on the
// connection, and luawrap holds the socket to watch it — a CONTINUE'd
// call would not), then sends. An approved "hello" must be echoed (the
// waiting call is completed, not lost), then — once blocked again — "BAD"
// must be refused and never echoed.
func TestSignalsLateBytesJudged(t *testing.T) {
	t.Parallel()
	bin := testapps.Build(t, "echo_server")
	requireLuawrap(t)
	script := writeScript(t, sigRefuseBad)
	for _, method := range []string{"read", "recv", "recvmsg", "readv"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			srv := startWrapped(t, nil, nil, bin, "-m", method, "0", script)
			c, err := sigDial(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mustLine(t, srv, "accept 1")
			pid := programPid(t, srv)
			lw := srv.Pid()

			blocked := func(round string) {
				t.Helper()
				var fd int
				var inode string
				ok := poll(e2eWait, func() bool {
					for _, ts := range blockedSyscalls(pid) {
						if ts.nr != sigRecvNr[method] {
							continue
						}
						fd = int(int32(ts.args[0]))
						inode = socketInode(pid, fd)
						if inode != "" && holdsSocket(lw, inode) {
							return true
						}
					}
					return false
				})
				if !ok {
					t.Fatalf("%s: the server never sat in %s with luawrap watching the socket (threads %+v, fd %d %s): "+
						"a receive left to the kernel would pass late bytes unjudged", round, method, blockedSyscalls(pid), fd, inode)
				}
			}

			blocked("before hello")
			if _, err := c.Write([]byte("hello\n")); err != nil {
				t.Fatal(err)
			}
			echo := make([]byte, 6)
			if _, err := io.ReadFull(c, echo); err != nil || string(echo) != "hello\n" {
				t.Fatalf("echo of hello: %q, %v", echo, err)
			}

			blocked("before BAD")
			if _, err := c.Write([]byte("BAD\n")); err != nil {
				t.Fatal(err)
			}
			mustLine(t, srv, "refused 1")
			if err := sigAfterRefusal(c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSignalsCtrlC: SIGINT ends a server blocked in accept (or recv) under
// luawrap promptly, whether sent to luawrap (which forwards it) or to the
// program itself, and luawrap exits as the program did: 130 for the C
// server killed by SIGINT. A notification parked by luawrap while the
// program waits must not keep the signal from acting (pitfall 2).
func TestSignalsCtrlC(t *testing.T) {
	t.Parallel()
	if sigIgnoredHere(syscall.SIGINT) {
		t.Skip("this test process ignores SIGINT (inherited), so would the servers")
	}
	bin := testapps.Build(t, "thesis_server")
	requireLuawrap(t)
	for _, where := range []string{"accept", "recv"} {
		for _, to := range []string{"luawrap", "program"} {
			t.Run(where+"/to-"+to, func(t *testing.T) {
				t.Parallel()
				srv := startWrapped(t, nil, nil, bin, "0", testapps.Script("pass_all.lua"))
				pid := programPid(t, srv)
				if where == "accept" {
					waitBlockedIn(t, pid, "accept", unix.SYS_ACCEPT, unix.SYS_ACCEPT4)
				} else {
					c, err := sigDial(srv.Addr())
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					mustLine(t, srv, "accept")
					waitBlockedIn(t, pid, "recvfrom", unix.SYS_RECVFROM)
				}
				sigInterrupt(t, srv, pid, to)
				start := time.Now()
				if code := exitCode(t, srv, 5*time.Second); code != 130 {
					t.Fatalf("luawrap exited %d, want 130 (SIGINT)", code)
				}
				t.Logf("exited %v after SIGINT", time.Since(start).Round(time.Millisecond))
			})
		}
	}
}

func sigInterrupt(t *testing.T, srv *testapps.Server, pid int, to string) {
	t.Helper()
	var err error
	if to == "luawrap" {
		err = srv.Signal(syscall.SIGINT)
	} else {
		err = syscall.Kill(pid, syscall.SIGINT)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sigPython returns the real python3 executable (not a pyenv shim script)
// or skips.
func sigPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skipf("python3 does not run: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestSignalsCtrlCPython: a Python server for the SOL_LUA API blocked in
// accept ends on SIGINT through KeyboardInterrupt exactly as it does
// without luawrap: same exit status (Python ≥ 3.8 re-kills itself with
// SIGINT: 130), traceback on stderr. It also serves a request first, so
// the test knows the SOL_LUA setup worked under luawrap.
func TestSignalsCtrlCPython(t *testing.T) {
	t.Parallel()
	if sigIgnoredHere(syscall.SIGINT) {
		t.Skip("this test process ignores SIGINT (inherited), so would the servers")
	}
	py := sigPython(t)
	server := filepath.Join(testapps.Root(), "testapps", "py", "lua_server.py")

	// Bare baseline (-n: no ULP, a stock kernel has none).
	bare := testapps.Start(t, []string{py, server, "-n", "0"}, nil)
	bare.Port()
	waitBlockedIn(t, bare.Pid(), "accept", unix.SYS_ACCEPT, unix.SYS_ACCEPT4)
	if err := bare.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	want := exitCode(t, bare, 5*time.Second)
	if want != 130 && want != 1 {
		t.Fatalf("bare python3 exited %d on SIGINT, want 130 or 1", want)
	}
	if !strings.Contains(bare.Stderr(), "KeyboardInterrupt") {
		t.Fatalf("bare python3: no KeyboardInterrupt on stderr:\n%s", bare.Stderr())
	}

	for _, to := range []string{"luawrap", "program"} {
		t.Run("to-"+to, func(t *testing.T) {
			t.Parallel()
			srv := startWrapped(t, nil, nil, py, server, "0", testapps.Script("http_check.lua"))
			c, err := sigDial(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("GET / HTTP/1.0\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			mustLine(t, srv, "recv ")
			if reply, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(reply, "ok ") {
				t.Fatalf("reply %q, %v", reply, err)
			}
			c.Close()
			mustLine(t, srv, "eof")
			pid := programPid(t, srv)
			waitBlockedIn(t, pid, "accept", unix.SYS_ACCEPT, unix.SYS_ACCEPT4)
			sigInterrupt(t, srv, pid, to)
			if code := exitCode(t, srv, 5*time.Second); code != want {
				t.Fatalf("under luawrap python3 exited %d on SIGINT, bare %d", code, want)
			}
			if !strings.Contains(srv.Stderr(), "KeyboardInterrupt") {
				t.Fatalf("no KeyboardInterrupt on stderr:\n%s", srv.Stderr())
			}
		})
	}
}

// TestSignalsToLuawrapDuringAccepts: signals luawrap itself receives (here
// SIGWINCH, which it forwards and the program ignores) must not break the
// atomic install of accepted connections: an ADDFD+SEND interrupted in
// luawrap leaves the kernel's answer at 0, so the program would get fd 0
// as its connection. Every connection must be served.
func TestSignalsToLuawrapDuringAccepts(t *testing.T) {
	t.Parallel()
	bin := testapps.Build(t, "threaded_server")
	srv := startWrapped(t, nil, nil, bin, "0", testapps.Script("pass_all.lua"))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				// To every luawrap thread: a process-directed signal
				// mostly lands on an idle one.
				tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", srv.Pid()))
				for _, task := range tasks {
					if tid, err := strconv.Atoi(task.Name()); err == nil {
						_ = unix.Tgkill(srv.Pid(), tid, unix.SIGWINCH)
					}
				}
				time.Sleep(20 * time.Microsecond) // a signal rate, not a synchronisation
			}
		}
	}()
	const conns = 400
	for i := range conns {
		if reply := oneReply(t, srv.Addr(), "GET / HTTP/1.1\r\n\r\n"); !strings.HasPrefix(reply, "HTTP/1.1 200") {
			t.Fatalf("connection %d answered %q; server said:\n%s", i, reply, strings.Join(srv.Lines(), "\n"))
		}
	}
	for _, l := range srv.Lines() {
		if strings.Contains(l, "error") {
			t.Fatalf("server: %q", l)
		}
	}
}
