package e2e

// Helpers of the servers tests: real HTTP servers that know nothing about
// luawrap (python3 -m http.server, nginx, a Go net/http server, Node's
// http module) run bare or under luawrap with a script attached from the
// command line, and are judged by their own request logs.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
)

const (
	// serversValidPath is what valid requests (curl, ab) ask for.
	serversValidPath = "/hello.html"
	// serversPage is the content of hello.html (and refused.html) in
	// every document root.
	serversPage = "hello from a server that knows nothing about luawrap\n"
)

// serversRefused are complete, well-formed HTTP/1.0 requests that every
// server answers 200 when run bare, and that the thesis's check
// (http_check.lua) refuses: they carry no "Name: value" header field. The
// path names them in the servers' logs.
var serversRefused = []string{
	"GET /refused.html HTTP/1.0\r\n\r\n",
	"EVIL /refused.html HTTP/1.0\r\n\r\n",
}

// serversGarbage are more requests http_check.lua refuses: the brief's
// method-only request, binary garbage, a request line without CRLF.
var serversGarbage = []string{
	"EVIL / HTTP/1.1\r\n\r\n",
	"\x00\x01\x02\xff\xfe garbage",
	"GET /refused.html HTTP/1.1 no line end",
}

// serversTarget is a running server as the tests see it.
type serversTarget struct {
	name string
	srv  *testapps.Server
	host string // 127.0.0.1 or [::1]
	port int
	body string          // what a valid request is answered with
	log  func() []string // the server's request log so far, one entry per line
	// refusals, if set, counts the receives the server itself reports
	// failed with ECONNREFUSED (for the test's log only).
	refusals func() int
}

func (tg *serversTarget) addr() string {
	return net.JoinHostPort(strings.Trim(tg.host, "[]"), strconv.Itoa(tg.port))
}
func (tg *serversTarget) url() string { return "http://" + tg.addr() + serversValidPath }

// serversLeak reports whether a request-log line shows that a request the
// script should have refused reached the server: its path, its method, or
// a parse error the server reported (Node's clientError; a receive that
// failed with ECONNREFUSED or ECONNRESET is the server seeing the refusal,
// not the request).
func serversLeak(line string) bool {
	if strings.Contains(line, "refused.html") || strings.Contains(line, "EVIL") {
		return true
	}
	if strings.HasPrefix(line, "clientError ") {
		return !strings.Contains(line, "ECONNREFUSED") && !strings.Contains(line, "ECONNRESET")
	}
	return false
}

// serversValid reports whether a request-log line records a valid request
// answered 200.
func serversValid(line string) bool {
	return strings.Contains(line, "GET "+serversValidPath+" HTTP/1.") && strings.Contains(line, " 200")
}

// serversCounts counts the valid and the leaked requests in a log.
func serversCounts(lines []string) (valid, leaked int) {
	for _, l := range lines {
		switch {
		case serversLeak(l):
			leaked++
		case serversValid(l):
			valid++
		}
	}
	return valid, leaked
}

// serversAccessLine matches a request in the common log format of nginx
// and python's http.server: "GET /x HTTP/1.1" 200.
var serversAccessLine = regexp.MustCompile(`"(\S+) (\S+) (HTTP/\d\.\d)" (\d{3})`)

// serversAccessLog extracts the requests of common-log-format text (other
// lines, such as luawrap's own log records, are left out), as
// "METHOD PATH PROTO STATUS".
func serversAccessLog(text string) []string {
	var out []string
	for _, m := range serversAccessLine.FindAllStringSubmatch(text, -1) {
		out = append(out, strings.Join(m[1:], " "))
	}
	return out
}

// serversWaitLog waits until the server logged valid requests answered
// 200 (it logs after replying, so a client may be faster than the log)
// and fails unless it logged exactly that many and no leaked request.
func serversWaitLog(t *testing.T, tg *serversTarget, valid int) {
	t.Helper()
	var v, leaked int
	poll(e2eWait, func() bool {
		v, leaked = serversCounts(tg.log())
		return v >= valid || leaked > 0
	})
	if v != valid || leaked != 0 {
		var bad []string
		for _, l := range tg.log() {
			if serversLeak(l) {
				bad = append(bad, l)
			}
		}
		t.Fatalf("%s logged %d valid requests (want %d) and %d refused ones (want 0): %q",
			tg.name, v, valid, leaked, bad[:min(len(bad), 10)])
	}
}

// serversCurlValid fetches the valid path with curl and checks the answer.
func serversCurlValid(t *testing.T, tg *serversTarget) {
	t.Helper()
	out, err := curl(t, "-f", tg.url())
	if err != nil || out != tg.body {
		t.Fatalf("%s: curl %s: %q, %v", tg.name, tg.url(), out, err)
	}
}

// serversNoReply sends a request on a new connection and fails if the
// connection was answered 200 before it was closed or reset. It returns
// what was answered (normally nothing).
func serversNoReply(addr, req string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, e2eWait)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(e2eWait))
	if _, err := c.Write([]byte(req)); err != nil {
		// The connection may be shut as soon as the request is judged.
		return "", nil
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return string(got), fmt.Errorf("%q: connection still open after %v (got %q)", req, e2eWait, got)
			}
			break // EOF or reset: what we want
		}
	}
	if strings.HasPrefix(string(got), "HTTP/1.") && strings.Contains(strings.SplitN(string(got), "\r\n", 2)[0], " 200") {
		return string(got), fmt.Errorf("refused request %q was answered %q", req, serversFirstLine(string(got)))
	}
	return string(got), nil
}

func serversFirstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// serversRefuses sends every refused and garbage request once and checks
// none is answered 200; then curl's request without header fields.
func serversRefuses(t *testing.T, tg *serversTarget) {
	t.Helper()
	for _, req := range append(append([]string(nil), serversRefused...), serversGarbage...) {
		if _, err := serversNoReply(tg.addr(), req); err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
	}
	// curl without any header field (-0: HTTP/1.0, no Host needed).
	refusedURL := strings.TrimSuffix(tg.url(), serversValidPath) + "/refused.html"
	if out, err := curl(t, "-0", "-H", "Host:", "-H", "User-Agent:", "-H", "Accept:", refusedURL); err == nil {
		t.Fatalf("%s: curl without header fields was answered %q", tg.name, out)
	}
}

// serversFiltered shows the script on a server's listener at work: curl is
// served, the refused requests never reach the server, it keeps serving,
// and its log counts exactly the two valid requests.
func serversFiltered(t *testing.T, tg *serversTarget) {
	t.Helper()
	serversCurlValid(t, tg)
	serversRefuses(t, tg)
	serversCurlValid(t, tg)
	serversWaitLog(t, tg, 2)
}

// serversABResult is what ab reports.
type serversABResult struct {
	complete, failed, non2xx, writeErrors int
	keepAlive                             int // requests on reused connections
	out                                   string
}

var serversABField = regexp.MustCompile(`(?m)^(Complete requests|Failed requests|Non-2xx responses|Write errors|Keep-Alive requests):\s+(\d+)`)

// serversParseAB reads ab's report; complete is -1 when it has none.
func serversParseAB(out string) serversABResult {
	r := serversABResult{out: out, complete: -1}
	for _, m := range serversABField.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "Complete requests":
			r.complete = v
		case "Failed requests":
			r.failed = v
		case "Non-2xx responses":
			r.non2xx = v
		case "Write errors":
			r.writeErrors = v
		case "Keep-Alive requests":
			r.keepAlive = v
		}
	}
	return r
}

// serversAB runs ab -n n -c c (-k) on the target's valid URL.
func serversAB(ctx context.Context, url string, n, c int, keepAlive bool) (serversABResult, error) {
	args := []string{"-q", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-s", "20"}
	if keepAlive {
		args = append(args, "-k")
	}
	out, err := exec.CommandContext(ctx, "ab", append(args, url)...).CombinedOutput()
	r := serversParseAB(string(out))
	if err != nil {
		return r, fmt.Errorf("ab %v: %v\n%s", args, err, out)
	}
	return r, nil
}

// serversMixedRun is the run of 1,000 mixed requests: 500 valid
// ones from ab -n 500 -c 8 and, at the same time, 500 refused ones over
// raw sockets from 4 goroutines. No valid request may be lost, no refused
// one answered 200, and the server's log must count exactly the valid
// ones (validBefore + 500) and no refused one.
func serversMixedRun(t *testing.T, tg *serversTarget, validBefore int, keepAlive bool) {
	t.Helper()
	const valid, refused, rawClients = 500, 500, 4
	ctx, cancel := context.WithTimeout(context.Background(), 5*e2eWait)
	defer cancel()

	start := time.Now()
	var wg sync.WaitGroup
	var ab serversABResult
	var abErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ab, abErr = serversAB(ctx, tg.url(), valid, 8, keepAlive)
	}()
	rawErrs := make(chan error, refused)
	var repliedMu sync.Mutex
	replied := map[string]int{} // first line of non-empty non-200 replies
	for g := range rawClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < refused; i += rawClients {
				got, err := serversNoReply(tg.addr(), serversRefused[i%len(serversRefused)])
				if err != nil {
					rawErrs <- err
					continue
				}
				if got != "" {
					repliedMu.Lock()
					replied[serversFirstLine(got)]++
					repliedMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(rawErrs)
	t.Logf("%s: %d valid (ab -c 8, keep-alive %v) + %d refused (%d raw clients) in %v",
		tg.name, valid, keepAlive, refused, rawClients, time.Since(start).Round(time.Millisecond))
	if len(replied) > 0 {
		t.Logf("%s: refused requests answered (not 200): %v", tg.name, replied)
	}
	n := 0
	for err := range rawErrs {
		if n++; n <= 5 {
			t.Errorf("%s: raw client: %v", tg.name, err)
		}
	}
	if n > 5 {
		t.Errorf("%s: ... %d raw client errors in all", tg.name, n)
	}
	if abErr != nil {
		t.Fatalf("%s: %v", tg.name, abErr)
	}
	if ab.complete != valid || ab.failed != 0 || ab.non2xx != 0 || ab.writeErrors != 0 {
		t.Fatalf("%s: ab: %d complete (want %d), %d failed, %d non-2xx, %d write errors:\n%s",
			tg.name, ab.complete, valid, ab.failed, ab.non2xx, ab.writeErrors, ab.out)
	}
	if keepAlive {
		if ab.keepAlive == 0 {
			t.Fatalf("%s: ab -k: no request reused a connection:\n%s", tg.name, ab.out)
		}
		t.Logf("%s: ab -k: %d requests on reused connections", tg.name, ab.keepAlive)
	}
	serversWaitLog(t, tg, validBefore+valid)
}

// serversScenario is the whole check of one server under luawrap with
// http_check.lua attached: valid requests answered, refused ones never
// reaching the server, the server still serving, then the mixed run and
// one more valid request.
func serversScenario(t *testing.T, tg *serversTarget, keepAlive bool) {
	t.Helper()
	serversCurlValid(t, tg)
	serversWaitLog(t, tg, 1)
	serversRefuses(t, tg)
	serversCurlValid(t, tg)
	serversWaitLog(t, tg, 2)
	serversMixedRun(t, tg, 2, keepAlive)
	serversCurlValid(t, tg)
	serversWaitLog(t, tg, 503)
	if tg.refusals != nil {
		t.Logf("%s reports %d receives refused (ECONNREFUSED)", tg.name, tg.refusals())
	}
}

// serversBaseline runs against the bare server: valid requests are
// answered and logged, and so is a request the script would refuse, which
// shows the log would reveal a refused request that got through.
func serversBaseline(t *testing.T, tg *serversTarget) {
	t.Helper()
	serversCurlValid(t, tg)
	serversWaitLog(t, tg, 1)
	got := rawRequest(t, tg.addr(), serversRefused[0])
	if !strings.HasPrefix(got, "HTTP/1.") || !strings.Contains(serversFirstLine(got), " 200") {
		t.Fatalf("%s bare: %q answered %q, want 200", tg.name, serversRefused[0], serversFirstLine(got))
	}
	if !poll(e2eWait, func() bool { _, leaked := serversCounts(tg.log()); return leaked == 1 }) {
		t.Fatalf("%s bare: the request for refused.html is not in the log: %q", tg.name, tg.log())
	}
}

// serversNeed skips the test when a program is not installed.
func serversNeed(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
}

// serversDocRoot returns a directory holding hello.html and refused.html.
func serversDocRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"hello.html", "refused.html"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(serversPage), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serversArgv is prog run bare (lwFlags nil) or under luawrap with lwFlags.
func serversArgv(t *testing.T, lwFlags []string, prog ...string) []string {
	t.Helper()
	if lwFlags == nil {
		return prog
	}
	argv := append([]string{requireLuawrap(t)}, lwFlags...)
	return append(append(argv, "--"), prog...)
}

// serversCheckFlags attaches the thesis's HTTP check to every listener.
func serversCheckFlags() []string {
	return []string{"--script", testapps.Script("http_check.lua")}
}

var (
	serversPortsMu sync.Mutex
	serversPorts   = map[int]bool{}
)

// serversFreePort returns a port that is free on 127.0.0.1 and ::1, for
// servers that cannot be told to listen on port 0 and report it (nginx)
// or for --listen. It is below the ephemeral range, so neither the
// outgoing connections of parallel tests nor their port-0 listeners take
// it before the server binds it, and never handed out twice.
func serversFreePort(t *testing.T) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	from := max(1024, low-12000)
	if low-from < 1000 {
		from, low = 61000, 65535 // ephemeral range starts low: use the top
	}
	serversPortsMu.Lock()
	defer serversPortsMu.Unlock()
	for range 200 {
		p := from + rand.IntN(low-from)
		if serversPorts[p] {
			continue
		}
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		l4, err := lc.Listen(context.Background(), "tcp4", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l6, err := lc.Listen(context.Background(), "tcp6", fmt.Sprintf("[::1]:%d", p))
		l4.Close()
		if err != nil {
			continue
		}
		l6.Close()
		serversPorts[p] = true
		return p
	}
	t.Fatal("no free port found")
	return 0
}

// serversListeners counts the sockets listening on port (any address,
// IPv4 and IPv6) in /proc/net/tcp and tcp6.
func serversListeners(port int) int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			w := strings.Fields(sc.Text())
			// sl local_address rem_address st ...; st 0A is TCP_LISTEN.
			if len(w) < 4 || w[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(w[1], ':')
			if p, err := strconv.ParseUint(w[1][i+1:], 16, 16); err == nil && int(p) == port {
				n++
			}
		}
		file.Close()
	}
	return n
}

// serversWaitListeners waits until want sockets listen on port, failing if
// the server exits first.
func serversWaitListeners(t *testing.T, srv *testapps.Server, port, want int) {
	t.Helper()
	ok := poll(e2eWait, func() bool {
		select {
		case <-srv.Exited():
			return true
		default:
		}
		return serversListeners(port) >= want
	})
	select {
	case <-srv.Exited():
		t.Fatalf("server exited before listening on port %d: %v\nstderr:\n%s", port, srv.Stop(), srv.Stderr())
	default:
	}
	if !ok {
		t.Fatalf("port %d: %d listeners after %v, want %d", port, serversListeners(port), e2eWait, want)
	}
}

// serversPortLine waits for the line a server prints once it listens and
// returns the port in it (the first number after "port " or "listening ").
var serversPortRE = regexp.MustCompile(`(?:port|listening) (\d+)`)

func serversPortLine(t *testing.T, srv *testapps.Server) int {
	t.Helper()
	l, err := srv.WaitMatch(serversPortRE.MatchString, "a line naming the port", e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(serversPortRE.FindStringSubmatch(l)[1])
	return p
}

// serversTail is the end of s, at most n bytes.
func serversTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
