package examples_test

import (
	"log/slog"
	"math/rand"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/luawrap/luawrap/luaenv"
	"github.com/luawrap/luawrap/testapps"
)

// maxMessage is luawrap's default --max-message: the most bytes one call sees.
const maxMessage = 64 << 10

// script is a pool running scripts/name (after edit, if any, which may
// change its knobs) and the log it writes. Extra chunks run after it.
func script(t *testing.T, name string, edit func(string) string, extra ...string) (*luaenv.Pool, *testapps.LockedBuffer) {
	t.Helper()
	src, err := os.ReadFile("scripts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edited := edit(string(src))
		if edited == string(src) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		src = []byte(edited)
	}
	ch, err := luaenv.Compile(name, src)
	if err != nil {
		t.Fatal(err)
	}
	chunks := []*luaenv.Chunk{ch}
	for i, e := range extra {
		c, err := luaenv.Compile("extra"+strconv.Itoa(i), []byte(e))
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
	}
	logs := &testapps.LockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pool, err := luaenv.NewPool(luaenv.Program{Chunks: chunks, Entry: "process"}, luaenv.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, logs
}

var nextID uint64

func conn(peer string) *luaenv.Conn {
	nextID++
	return luaenv.NewConn(nextID, netip.MustParseAddrPort(peer), netip.MustParseAddrPort("127.0.0.1:80"))
}

// step is one Judge call as the supervisor saw it.
type step struct {
	v luaenv.Verdict
	n int
}

// outcome is what a connection's bytes came to.
type outcome struct {
	steps     []step
	delivered string   // what the server received
	answers   []string // replies of luawrap.answer
	refused   bool
	reply     string // the refusal's reply
	pending   string // bytes still waiting for more (More at the end)
}

// feed simulates the supervisor: segments arrive one after another; the
// unjudged bytes (at most maxMessage of them) are judged until the verdict
// is More (wait for the next segment) or Refuse (stop).
func feed(t *testing.T, p *luaenv.Pool, c *luaenv.Conn, segments ...string) outcome {
	t.Helper()
	var o outcome
	var buf string
	for _, seg := range segments {
		buf += seg
		for len(buf) > 0 {
			data := buf[:min(len(buf), maxMessage)]
			r := p.Judge([]byte(data), c)
			if r.Err != nil {
				t.Fatalf("script error on %.60q: %v", data, r.Err)
			}
			o.steps = append(o.steps, step{r.Verdict, r.N})
			switch r.Verdict {
			case luaenv.Pass, luaenv.Answer:
				if r.N < 1 || r.N > len(data) {
					t.Fatalf("%v n=%d of %d bytes", r.Verdict, r.N, len(data))
				}
				if r.Verdict == luaenv.Pass {
					o.delivered += data[:r.N]
				} else {
					o.answers = append(o.answers, string(r.Reply))
				}
				c.Bytes += int64(r.N)
				buf = buf[r.N:]
				continue
			case luaenv.More:
				if len(data) == maxMessage { // luawrap refuses
					o.refused = true
					return o
				}
			case luaenv.Refuse:
				o.refused, o.reply = true, string(r.Reply)
				return o
			}
			break
		}
	}
	o.pending = buf
	return o
}

// status is a reply's status code, 0 if it has no HTTP status line.
func status(reply string) int {
	line, _, _ := strings.Cut(reply, "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// checkResponse checks that reply is a complete HTTP/1.1 response whose
// Content-Length matches its body, and returns its head and body.
func checkResponse(t *testing.T, reply string, wantBody bool) (head, body string) {
	t.Helper()
	head, body, ok := strings.Cut(reply, "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.1 ") {
		t.Fatalf("not an HTTP/1.1 response: %q", reply)
	}
	var cl string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if name, v, _ := strings.Cut(line, ": "); strings.EqualFold(name, "Content-Length") {
			cl = v
		}
	}
	n, err := strconv.Atoi(cl)
	if err != nil {
		t.Fatalf("no Content-Length in %q", head)
	}
	if wantBody && n != len(body) || !wantBody && body != "" {
		t.Fatalf("Content-Length %d, body %q", n, body)
	}
	return head, body
}

// passes fails the test unless o delivered exactly want and nothing else
// happened.
func passes(t *testing.T, o outcome, want string) {
	t.Helper()
	if o.refused || o.delivered != want || o.pending != "" || len(o.answers) != 0 {
		t.Fatalf("delivered %q, pending %q, answers %q, refused %v %q; want %q delivered",
			o.delivered, o.pending, o.answers, o.refused, o.reply, want)
	}
}

// --- http_check.lua (the thesis's Cód. 13) ---

func TestHTTPCheck(t *testing.T) {
	p, _ := script(t, "http_check.lua", nil)
	curl := "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
	if r := p.Judge([]byte(curl), conn("127.0.0.1:5000")); r.Verdict != luaenv.Pass || r.N != len(curl) || r.Err != nil {
		t.Fatalf("curl's request: %v n=%d err=%v", r.Verdict, r.N, r.Err)
	}
	for _, bad := range []string{
		"GET /index.html HTTP/1.0\r\n\r\n", // curl -0 -H Host: -H User-Agent: -H Accept:
		"\x00\x01\x02\xff\xfe garbage",
		"GET / HTTP/1.1 no line end",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		if r := p.Judge([]byte(bad), conn("127.0.0.1:5000")); r.Verdict != luaenv.Refuse || r.Reply != nil || r.Err != nil {
			t.Errorf("%q: %v reply=%q err=%v, want a plain refusal", bad, r.Verdict, r.Reply, r.Err)
		}
	}
}

// --- http_strict.lua ---

func TestHTTPStrictValid(t *testing.T) {
	p, _ := script(t, "http_strict.lua", nil)
	for name, req := range map[string]string{
		"GET":                         "GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: test/1.0\r\nAccept: */*\r\nX-Empty:\r\n\r\n",
		"HEAD":                        "HEAD / HTTP/1.1\r\nhost: example.com\r\n\r\n",
		"POST":                        "POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
		"HTTP/1.0":                    "GET / HTTP/1.0\r\n\r\n",
		"OPTIONS *":                   "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"absolute":                    "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"HTAB and obs-text in values": "GET / HTTP/1.1\r\nHost: a\r\nX-A:\tb\tc \r\nX-B: caf\xc3\xa9\r\n\r\n",
		"same Content-Length twice":   "PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\ncontent-length: 03\r\n\r\nabc",
		"empty body":                  "DELETE /f HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := conn("192.0.2.1:4000")
			r := p.Judge([]byte(req), c)
			if r.Verdict != luaenv.Pass || r.N != len(req) {
				t.Fatalf("%v n=%d (want pass %d) reply=%q err=%v", r.Verdict, r.N, len(req), r.Reply, r.Err)
			}
		})
	}
}

func TestHTTPStrictPipelined(t *testing.T) {
	p, _ := script(t, "http_strict.lua", nil)
	get := "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
	post := "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 22\r\n\r\nGET /evil HTTP/1.1\r\n\r\n"
	head := "HEAD /c HTTP/1.1\r\nHost: a\r\n\r\n"
	c := conn("192.0.2.1:4000")
	r := p.Judge([]byte(get+post+head), c)
	if r.Verdict != luaenv.Pass || r.N != len(get) {
		t.Fatalf("first call: %v n=%d, want pass %d", r.Verdict, r.N, len(get))
	}
	o := feed(t, p, conn("192.0.2.1:4001"), get+post+head)
	passes(t, o, get+post+head)
	want := []step{{luaenv.Pass, len(get)}, {luaenv.Pass, len(post)}, {luaenv.Pass, len(head)}}
	if len(o.steps) != 3 || o.steps[0] != want[0] || o.steps[1] != want[1] || o.steps[2] != want[2] {
		t.Fatalf("steps %v, want %v", o.steps, want)
	}

	// The body in pieces, the next request behind its last piece: body
	// bytes pass as they come, unparsed, and the next request is judged.
	postHead, body, _ := strings.Cut(post, "\r\n\r\n")
	postHead += "\r\n\r\n"
	o = feed(t, p, conn("192.0.2.1:4002"), postHead+body[:5], body[5:9], body[9:]+get)
	passes(t, o, post+get)
	if len(o.steps) != 4 || o.steps[0].n != len(postHead)+5 || o.steps[3].n != len(get) {
		t.Fatalf("steps %v", o.steps)
	}

	// A bad request behind a good one: the good one is delivered.
	o = feed(t, p, conn("192.0.2.1:4003"), get+"GET / HTTP/1.1\r\n\r\n")
	if !o.refused || o.delivered != get || status(o.reply) != 400 || !strings.Contains(o.reply, "missing Host") {
		t.Fatalf("delivered %q refused %v %q", o.delivered, o.refused, o.reply)
	}
}

func TestHTTPStrictByteByByte(t *testing.T) {
	p, _ := script(t, "http_strict.lua", nil)
	req := "GET /index.html HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
	o := feed(t, p, conn("192.0.2.1:4000"), testapps.Bytewise(req)...)
	passes(t, o, req)
	for i, s := range o.steps[:len(o.steps)-1] {
		if s.v != luaenv.More {
			t.Fatalf("step %d: %v before the head was complete", i, s)
		}
	}
	if last := o.steps[len(o.steps)-1]; len(o.steps) != len(req) || last != (step{luaenv.Pass, len(req)}) {
		t.Fatalf("%d steps, last %v", len(o.steps), last)
	}

	// Two pipelined requests, the second with a body, byte by byte.
	post := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
	o = feed(t, p, conn("192.0.2.1:4001"), testapps.Bytewise(req+post)...)
	passes(t, o, req+post)

	// A bad byte is refused when it arrives, not when the head is complete.
	bad := "GET / HTTP/1.1\r\nHost: a\r\nX: \x00"
	o = feed(t, p, conn("192.0.2.1:4002"), testapps.Bytewise(bad+"rest\r\n\r\n")...)
	if !o.refused || len(o.steps) != len(bad) || status(o.reply) != 400 {
		t.Fatalf("refused %v after %d steps (want %d): %q", o.refused, len(o.steps), len(bad), o.reply)
	}
}

func TestHTTPStrictRefusals(t *testing.T) {
	long := strings.Repeat("a", 9<<10)
	fields := strings.Repeat("X-Filler: "+strings.Repeat("f", 90)+"\r\n", 200) // 20 KiB
	many := strings.Repeat("X: y\r\n", 101)
	for _, c := range []struct {
		name, req string
		status    int
		why       string
	}{
		{"unknown method", "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", 405, "method not allowed"},
		{"unknown method, incomplete", "TRA", 405, "method not allowed"},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405, "method not allowed"},
		{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "method not allowed"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 405, "method not allowed"},
		{"long request line", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "request line too long"},
		{"long request line, incomplete", "GET /" + long, 414, "request line too long"},
		{"large head", "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n", 431, "head too large"},
		{"large head, incomplete", "GET / HTTP/1.1\r\nHost: a\r\n" + fields, 431, "head too large"},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n", 431, "too many fields"},
		{"NUL in a field", "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400, "control byte"},
		{"NUL in the target", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "control byte"},
		{"ESC in a field", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n", 400, "control byte"},
		{"DEL in a field", "GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n", 400, "control byte"},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF"},
		{"bare LF between fields", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, "bare LF"},
		{"bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF"},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, "obs-fold"},
		{"whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "obs-fold"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace before colon"},
		{"HTAB before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "whitespace before colon"},
		{"space before colon, CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400, "whitespace before colon"},
		{"field without colon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", 400, "malformed field"},
		{"field name not a token", "GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400, "malformed field"},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
		{"differing CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nhello", 400, "differing Content-Lengths"},
		{"differing CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nhello", 400, "differing Content-Lengths"},
		{"negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length"},
		{"signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400, "bad Content-Length"},
		{"huge CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "bad Content-Length"},
		{"CL over MAX_BODY", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 67108865\r\n\r\n", 413, "body too large"},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411, "chunked body"},
		{"gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported Transfer-Encoding"},
		{"TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "unsupported Transfer-Encoding"},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in HTTP/1.0"},
		{"no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing Host"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad Host"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "unsupported version"},
		{"HTTP/1.1x", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "bad version"},
		{"no version", "GET /\r\nHost: a\r\n\r\n", 400, "malformed request line"},
		{"method only", "GET\r\n\r\n", 400, "malformed request line"},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
		{"trailing text", "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400, "malformed request line"},
		{"empty line first", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
		{"relative target", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad request-target"},
		{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad request-target"},
		{"HTAB in the target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad request-target"},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad request-target"},
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "control byte"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, logs := script(t, "http_strict.lua", nil)
			o := feed(t, p, conn("192.0.2.7:4000"), c.req)
			if !o.refused || o.delivered != "" {
				t.Fatalf("not refused: delivered %q, pending %.40q, steps %v", o.delivered, o.pending, o.steps)
			}
			if len(o.steps) != 1 {
				t.Fatalf("refused after %d calls, want at once", len(o.steps))
			}
			head, body := checkResponse(t, o.reply, true)
			if status(o.reply) != c.status || !strings.Contains(body, c.why) {
				t.Fatalf("reply %q, want %d (%s)", o.reply, c.status, c.why)
			}
			if !strings.Contains(head, "\r\nConnection: close") {
				t.Fatalf("no Connection: close in %q", head)
			}
			if c.status == 405 && !strings.Contains(head, "\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH") {
				t.Fatalf("405 without Allow: %q", head)
			}
			if l := logs.String(); !strings.Contains(l, "refused "+strconv.Itoa(c.status)) || !strings.Contains(l, "192.0.2.7") {
				t.Fatalf("log %q", l)
			}
		})
	}
}

func TestHTTPStrictGarbage(t *testing.T) {
	p, _ := script(t, "http_strict.lua", nil)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		junk := make([]byte, 1+rng.Intn(1024))
		rng.Read(junk)
		o := feed(t, p, conn("192.0.2.9:4000"), string(junk))
		if !o.refused || o.delivered != "" {
			t.Fatalf("%q: delivered %q pending %q", junk, o.delivered, o.pending)
		}
		if s := status(o.reply); s != 400 && s != 405 {
			t.Fatalf("%q: reply %q", junk, o.reply)
		}
	}
}

// A client that never ends its head is refused by the script's own limit
// before luawrap's --max-message.
func TestHTTPStrictEndlessHead(t *testing.T) {
	p, _ := script(t, "http_strict.lua", nil)
	segs := []string{"GET / HTTP/1.1\r\nHost: a\r\n"}
	for i := 0; i < 100; i++ {
		segs = append(segs, "X-Slow: "+strings.Repeat("z", 500)+"\r\n")
	}
	o := feed(t, p, conn("192.0.2.1:4000"), segs...)
	if !o.refused || status(o.reply) != 431 || o.delivered != "" {
		t.Fatalf("refused %v %q", o.refused, o.reply)
	}
	if n := len(o.steps); n < 30 || n > 40 {
		t.Fatalf("refused after %d segments, want about 16 KiB worth (32)", n)
	}
}

// --- static_cache.lua ---

// countChunk makes a request "COUNT?" report luawrap.shared "answered".
const countChunk = `
local inner = process
function process(data, conn)
	if data == "COUNT?" then return luawrap.refuse(tostring(luawrap.shared.get("answered"))) end
	return inner(data, conn)
end`

func answered(t *testing.T, p *luaenv.Pool) string {
	t.Helper()
	return string(p.Judge([]byte("COUNT?"), conn("127.0.0.1:1")).Reply)
}

func TestStaticCacheAnswers(t *testing.T) {
	p, _ := script(t, "static_cache.lua", nil, countChunk)
	if got := answered(t, p); got != "nil" {
		t.Fatalf("answered before any request: %s", got)
	}
	for _, c := range []struct {
		name, req, body, ctype, connection string
	}{
		{"healthz", "GET /healthz HTTP/1.1\r\nHost: a\r\nUser-Agent: probe\r\n\r\n", "ok\n", "text/plain", ""},
		{"query", "GET /healthz?from=lb HTTP/1.1\r\nHost: a\r\n\r\n", "ok\n", "text/plain", ""},
		{"cached.html", "GET /cached.html HTTP/1.1\r\nHost: a\r\n\r\n", "<!doctype html>", "text/html", ""},
		{"HEAD", "HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n", "", "text/plain", ""},
		{"close", "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", "ok\n", "text/plain", "close"},
		{"HTTP/1.0", "GET /healthz HTTP/1.0\r\n\r\n", "ok\n", "text/plain", "close"},
		{"HTTP/1.0 keep-alive", "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "ok\n", "text/plain", "keep-alive"},
		{"Content-Length 0", "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "ok\n", "text/plain", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := p.Judge([]byte(c.req), conn("192.0.2.1:4000"))
			if r.Verdict != luaenv.Answer || r.N != len(c.req) || r.Err != nil {
				t.Fatalf("%v n=%d err=%v, want answer %d", r.Verdict, r.N, r.Err, len(c.req))
			}
			reply := string(r.Reply)
			head, body := checkResponse(t, reply, c.body != "")
			if !strings.HasPrefix(reply, "HTTP/1.1 200 OK\r\n") || !strings.HasPrefix(body, c.body) ||
				!strings.Contains(head, "\r\nContent-Type: "+c.ctype) {
				t.Fatalf("reply %q", reply)
			}
			if c.body == "" && !strings.Contains(head, "\r\nContent-Length: 3") {
				t.Fatalf("HEAD reply %q: want GET's Content-Length", head)
			}
			if r.Close != (c.connection == "close") {
				t.Fatalf("answer closes the connection: %v, want %v", r.Close, c.connection == "close")
			}
			hasConn := strings.Contains(head, "\r\nConnection: ")
			if c.connection == "" && hasConn || c.connection != "" && !strings.Contains(head, "\r\nConnection: "+c.connection) {
				t.Fatalf("reply head %q, want Connection %q", head, c.connection)
			}
		})
	}
	if got := answered(t, p); got != "8" {
		t.Fatalf("answered %s, want 8", got)
	}
}

func TestStaticCachePasses(t *testing.T) {
	p, _ := script(t, "static_cache.lua", nil, countChunk)
	smuggled := "GET /healthz HTTP/1.1\r\n\r\n"
	clHead := "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n"
	teHead := "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunk := strconv.FormatInt(int64(len(smuggled)), 16) + "\r\n" + smuggled + "\r\n"
	for name, req := range map[string]string{
		"other path":       "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
		"prefix path":      "GET /healthz/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST to healthz":  "POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
		"DELETE":           "DELETE /cached.html HTTP/1.1\r\nHost: a\r\n\r\n",
		"not HTTP":         "SSH-2.0-OpenSSH_9.2\r\n\r\n\x00\x01\x02",
		"smuggled in body": clHead + smuggled,
		"chunked":          teHead + chunk + "0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			passes(t, feed(t, p, conn("192.0.2.1:4000"), req), req)
		})
	}
	// The same bodies arriving after their heads: body bytes are passed as
	// such, while a real request behind a Content-Length body is answered.
	o := feed(t, p, conn("192.0.2.1:4001"), clHead, smuggled, smuggled)
	if o.refused || o.delivered != clHead+smuggled || len(o.answers) != 1 || o.pending != "" {
		t.Fatalf("outcome %+v", o)
	}
	// After a chunked head the script stops looking: all passes.
	passes(t, feed(t, p, conn("192.0.2.1:4002"), teHead, chunk, "0\r\n\r\n", smuggled), teHead+chunk+"0\r\n\r\n"+smuggled)
	if got := answered(t, p); got != "1" {
		t.Fatalf("answered %s, want 1", got)
	}
}

func TestStaticCachePipelined(t *testing.T) {
	p, _ := script(t, "static_cache.lua", nil)
	health := "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
	index := "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"
	post := "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"

	r := p.Judge([]byte(health+index), conn("192.0.2.1:4000"))
	if r.Verdict != luaenv.Answer || r.N != len(health) {
		t.Fatalf("first call: %v n=%d, want answer %d", r.Verdict, r.N, len(health))
	}
	o := feed(t, p, conn("192.0.2.1:4001"), health+index+post+health)
	want := []step{{luaenv.Answer, len(health)}, {luaenv.Pass, len(index)}, {luaenv.Pass, len(post)}, {luaenv.Answer, len(health)}}
	if o.refused || o.delivered != index+post || len(o.answers) != 2 || len(o.steps) != 4 {
		t.Fatalf("outcome %+v", o)
	}
	for i := range want {
		if o.steps[i] != want[i] {
			t.Fatalf("steps %v, want %v", o.steps, want)
		}
	}

	// Byte by byte: More until each head is complete.
	o = feed(t, p, conn("192.0.2.1:4002"), testapps.Bytewise(health+index)...)
	if o.refused || o.delivered != index || len(o.answers) != 1 || o.pending != "" ||
		!strings.HasSuffix(o.answers[0], "\r\n\r\nok\n") {
		t.Fatalf("outcome %+v", o)
	}
	if more := len(o.steps) - 2; more != len(health+index)-2 {
		t.Fatalf("%d Mores in %v", more, o.steps)
	}

	// An incomplete head waits.
	o = feed(t, p, conn("192.0.2.1:4003"), "GET /healthz HTTP/1.1\r\nHost: a\r\n")
	if o.refused || o.pending == "" || len(o.steps) != 1 || o.steps[0].v != luaenv.More {
		t.Fatalf("outcome %+v", o)
	}
}

// --- rate_limit.lua ---

func TestRateLimit(t *testing.T) {
	p, logs := script(t, "rate_limit.lua", nil)
	accept := func(peer string) luaenv.Result {
		t.Helper()
		r := p.Accept(conn(peer))
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r
	}
	start := time.Now()
	for i := 1; i <= 10; i++ {
		if r := accept("198.51.100.1:" + strconv.Itoa(5000+i)); r.Verdict != luaenv.Pass {
			t.Fatalf("connection %d: %v %q", i, r.Verdict, r.Reply)
		}
	}
	r := accept("198.51.100.1:5011")
	if r.Verdict != luaenv.Refuse || status(string(r.Reply)) != 429 {
		t.Fatalf("11th connection: %v %q", r.Verdict, r.Reply)
	}
	checkResponse(t, string(r.Reply), true)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "198.51.100.1") {
		t.Fatalf("log %q", logs.String())
	}
	if r := accept("198.51.100.2:5000"); r.Verdict != luaenv.Pass {
		t.Fatalf("another peer: %v", r.Verdict)
	}
	if r := accept("[2001:db8::1]:5000"); r.Verdict != luaenv.Pass {
		t.Fatalf("an IPv6 peer: %v", r.Verdict)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Skip("too slow to be within one window")
	}

	// Data is not judged, and the window ends after a second.
	c := conn("198.51.100.2:5001")
	if r := p.Judge([]byte("\x16\x03\x01 anything"), c); r.Verdict != luaenv.Pass || r.N != 12 {
		t.Fatalf("process: %v n=%d", r.Verdict, r.N)
	}
	time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
	if r := accept("198.51.100.1:5012"); r.Verdict != luaenv.Pass {
		t.Fatalf("next window: %v", r.Verdict)
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	p, _ := script(t, "rate_limit.lua", func(s string) string {
		return strings.Replace(s, "local MAX_CONCURRENT = 0", "local MAX_CONCURRENT = 2", 1)
	})
	a1, a2, a3, a4 := conn("198.51.100.1:1"), conn("198.51.100.1:2"), conn("198.51.100.1:3"), conn("198.51.100.1:4")
	for _, c := range []*luaenv.Conn{a1, a2} {
		if r := p.Accept(c); r.Verdict != luaenv.Pass || r.Err != nil {
			t.Fatalf("accept: %v %v", r.Verdict, r.Err)
		}
	}
	if r := p.Accept(a3); r.Verdict != luaenv.Refuse || status(string(r.Reply)) != 429 {
		t.Fatalf("third open connection: %v %q %v", r.Verdict, r.Reply, r.Err)
	}
	if r := p.Accept(conn("198.51.100.2:1")); r.Verdict != luaenv.Pass {
		t.Fatalf("another peer: %v", r.Verdict)
	}
	for _, c := range []*luaenv.Conn{a3, a1} { // a3 was refused: it gives nothing back
		if err := p.Closed(c); err != nil {
			t.Fatal(err)
		}
	}
	if r := p.Accept(a4); r.Verdict != luaenv.Pass {
		t.Fatalf("after a close: %v %q", r.Verdict, r.Reply)
	}
	if r := p.Accept(conn("198.51.100.1:5")); r.Verdict != luaenv.Refuse {
		t.Fatalf("third open connection again: %v", r.Verdict)
	}
}
