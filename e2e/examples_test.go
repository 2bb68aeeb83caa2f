package e2e

// The example scripts (examples/scripts) in front of real servers, with
// hostile inputs: what the script refuses or answers never reaches the
// server, whose own access log is the witness.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
)

// exampleScript is the path of an example script.
func exampleScript(name string) string {
	return filepath.Join(testapps.Root(), "examples", "scripts", name)
}

// exchange sends pieces on a new connection (each its own segment, paced
// when pace > 0) and returns all that comes back until the peer closes it
// (want == 0) or want bytes arrived.
func exchange(t *testing.T, addr string, pace time.Duration, want int, pieces ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, e2eWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(e2eWait))
	for _, p := range pieces {
		if _, err := c.Write([]byte(p)); err != nil {
			break // shut by a refusal: read what was said
		}
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	var got []byte
	buf := make([]byte, 8192)
	for want == 0 || len(got) < want {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the connection was not closed (got %q)", got)
		}
		if err != nil {
			break
		}
	}
	return string(got)
}

func statusOf(resp string) string {
	l, _, _ := strings.Cut(resp, "\r\n")
	return l
}

// onlyValid fails unless every request in the server's log is a valid one
// (GET of the valid path, 200): nothing hostile reached it, not even as a
// 400 the server would log for a request it could not parse.
// expected lists other lines the server must log (the requests the script
// passes on purpose), once each.
func onlyValid(t *testing.T, tg *serversTarget, want int, expected ...string) {
	t.Helper()
	var lines []string
	poll(e2eWait, func() bool { lines = tg.log(); return len(lines) >= want+len(expected) })
	time.Sleep(100 * time.Millisecond) // let a late, wrong line show up
	lines = tg.log()
	bad := 0
	for _, l := range lines {
		if i := slices.Index(expected, l); i >= 0 {
			expected = slices.Delete(expected, i, i+1)
			bad++
			continue
		}
		if !serversValid(l) {
			bad++
			t.Errorf("%s logged a request the script should have kept from it: %s", tg.name, l)
		}
	}
	if len(expected) > 0 {
		t.Errorf("%s did not log %q", tg.name, expected)
	}
	if len(lines)-bad != want {
		t.Fatalf("%s logged %d valid requests, want %d:\n%s", tg.name, len(lines)-bad, want, strings.Join(lines, "\n"))
	}
}

// The static cache answers /healthz and /cached.html itself, also
// pipelined with requests for nginx and under ab -k; nginx's access log
// shows it never saw them.
func TestExampleStaticCacheNginx(t *testing.T) {
	tg := serversNginx(t, []string{"--script", exampleScript("static_cache.lua")}, serversNginxOpts{})
	out, err := curl(t, "-f", "http://"+tg.addr()+"/healthz")
	if err != nil || out != "ok\n" {
		t.Fatalf("/healthz: %q %v", out, err)
	}
	if out, err := curl(t, "-f", "http://"+tg.addr()+"/cached.html"); err != nil || !strings.Contains(out, "Served by luawrap") {
		t.Fatalf("/cached.html: %q %v", out, err)
	}
	serversCurlValid(t, tg)
	// Pipelined: answered, then nginx's, then answered, on one connection.
	req := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	resp := exchange(t, tg.addr(), 0, 0, req("/healthz")+req(serversValidPath)+req("/healthz")+
		"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if n := strings.Count(resp, "HTTP/1.1 200"); n != 4 || !strings.Contains(resp, serversPage) {
		t.Fatalf("pipelined: %d answers:\n%s", n, resp)
	}
	// In order: luawrap answers a request behind one for nginx only after
	// nginx answered it (when nginx comes back for the next request).
	page := strings.Index(resp, serversPage)
	if first, last := strings.Index(resp, "\r\n\r\nok\n"), strings.LastIndex(resp, "\r\n\r\nok\n"); !(first < page && page < last) {
		t.Fatalf("pipelined answers out of order:\n%s", resp)
	}
	// Hostile inputs: /healthz dribbled one byte per segment is still
	// answered by luawrap alone; an oversized head and binary garbage are
	// not its business (this script validates nothing), so they go to
	// nginx, which rejects them itself.
	health := "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	if resp := exchange(t, tg.addr(), time.Millisecond, 0, testapps.Bytewise(health)...); !strings.HasSuffix(resp, "\r\n\r\nok\n") {
		t.Fatalf("dribbled /healthz: %q", resp)
	}
	big := "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n"
	if resp := exchange(t, tg.addr(), 0, 0, big); !strings.HasPrefix(resp, "HTTP/1.1 4") || !strings.Contains(resp, "nginx") {
		t.Fatalf("oversized head: nginx should have rejected it: %q", statusOf(resp))
	}
	ctx := t.Context()
	r, err := serversAB(ctx, "http://"+tg.addr()+"/healthz", 500, 8, true)
	if err != nil || r.complete != 500 || r.failed != 0 || r.non2xx != 0 {
		t.Fatalf("ab -k /healthz: %+v %v", r, err)
	}
	onlyValid(t, tg, 2, "GET /big HTTP/1.1 400")
}

// The strict validator in front of nginx: valid requests (also dribbled one
// byte per segment) are served; hostile ones are answered 400/405/431 by
// luawrap and never reach nginx.
func TestExampleStrictNginx(t *testing.T) {
	tg := serversNginx(t, []string{"--script", exampleScript("http_strict.lua")}, serversNginxOpts{})
	serversCurlValid(t, tg)
	valid := "GET " + serversValidPath + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	if resp := exchange(t, tg.addr(), time.Millisecond, 0, testapps.Bytewise(valid)...); !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("a valid request dribbled byte by byte: %q", statusOf(resp))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := make([]byte, 512)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	for _, c := range []struct {
		name   string
		pieces []string
		pace   time.Duration
		status string
	}{
		{"oversized header", []string{"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"}, 0, "431"},
		{"endless header dribbled", []string{"GET /endless HTTP/1.1\r\nHost: x\r\nX-A: ", strings.Repeat("b", 8<<10), strings.Repeat("c", 8<<10), strings.Repeat("d", 8<<10)}, 5 * time.Millisecond, "431"},
		{"NUL dribbled byte by byte", testapps.Bytewise("GET /nul HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"), time.Millisecond, "400"},
		{"bare LF", []string{"GET /lf HTTP/1.1\nHost: x\r\n\r\n"}, 0, "400"},
		{"CL and TE (smuggling)", []string{"POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, 0, "400"},
		{"space before colon", []string{"GET /sp HTTP/1.1\r\nHost : x\r\n\r\n"}, 0, "400"},
		{"method not allowed", []string{"TRACE /trace HTTP/1.1\r\nHost: x\r\n\r\n"}, 0, "405"},
		{"binary garbage", []string{string(garbage)}, 0, "40"},
		{"TLS hello", []string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}, 0, "40"},
	} {
		resp := exchange(t, tg.addr(), c.pace, 0, c.pieces...)
		if !strings.HasPrefix(resp, "HTTP/1.1 "+c.status) {
			t.Errorf("%s: answered %q, want %s from luawrap", c.name, statusOf(resp), c.status)
		}
	}
	// Pipelined: a valid request, then a smuggling attempt: nginx gets the
	// first only.
	resp := exchange(t, tg.addr(), 0, 0, "GET "+serversValidPath+" HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /second HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
	if !strings.HasPrefix(resp, "HTTP/1.1 200") || !strings.Contains(resp, "HTTP/1.1 400") {
		t.Fatalf("pipelined valid + smuggling:\n%s", resp)
	}
	onlyValid(t, tg, 3)
}

// The per-peer connection rate limit in front of python's http.server:
// the connections over the limit in one second are answered 429 and the
// server never sees them; another peer is not limited.
func TestExampleRateLimitPython(t *testing.T) {
	tg := serversPython(t, []string{"--script", exampleScript("rate_limit.lua")}, "0.0.0.0")
	get := fmt.Sprintf("GET %s HTTP/1.0\r\nHost: x\r\n\r\n", serversValidPath)
	// Within one window: at most 10 accepted, the rest 429. A window may
	// end during the burst, so count rather than expect exact positions.
	ok, limited := 0, 0
	start := time.Now()
	for range 15 {
		switch s := statusOf(exchange(t, tg.addr(), 0, 0, get)); {
		case strings.Contains(s, " 200 "):
			ok++
		case strings.Contains(s, " 429 "):
			limited++
		default:
			t.Fatalf("unexpected answer %q", s)
		}
	}
	if time.Since(start) < 900*time.Millisecond && (ok != 10 || limited != 5) {
		t.Fatalf("15 connections in one window: %d served, %d limited; want 10 and 5", ok, limited)
	}
	if limited == 0 {
		t.Fatal("no connection was limited")
	}
	// Another peer address has its own budget.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: e2eWait}
	c, err := d.Dial("tcp", tg.addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(e2eWait))
	c.Write([]byte(get))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	c.Close()
	if !strings.Contains(string(buf[:n]), " 200 ") {
		t.Fatalf("another peer: %q", buf[:n])
	}
	onlyValid(t, tg, ok+1)
}
