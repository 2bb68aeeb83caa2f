package luaenv

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConn() *Conn {
	return NewConn(7, netip.MustParseAddrPort("[::ffff:10.1.2.3]:4000"), netip.MustParseAddrPort("127.0.0.1:80"))
}

func TestVerdictFunctions(t *testing.T) {
	p := mustPool(t, `
function process(s)
  if s == "all" then return luawrap.pass() end
  if s == "two" then return luawrap.pass(2) end
  if s == "ref" then return luawrap.refuse("HTTP/1.1 400 Bad Request\r\n\r\n") end
  if s == "bare" then return luawrap.refuse() end
  if s == "ans" then return luawrap.answer("pong") end
  if s == "ans1" then return luawrap.answer("p", 1) end
  if s == "more" then return luawrap.more() end
  if s == "big" then return luawrap.pass(10) end
  if s == "ignored" then luawrap.refuse() return true end
  return 1
end`, Options{})
	defer p.Close()
	for _, c := range []struct {
		in    string
		v     Verdict
		n     int
		reply string
		err   string
	}{
		{"all", Pass, 3, "", ""},
		{"two", Pass, 2, "", ""},
		{"ref", Refuse, 0, "HTTP/1.1 400 Bad Request\r\n\r\n", ""},
		{"bare", Refuse, 0, "", ""},
		{"ans", Answer, 3, "pong", ""},
		{"ans1", Answer, 1, "p", ""},
		{"more", More, 0, "", ""},
		{"big", Refuse, 0, "", "outside 1..3"},
		{"ignored", Pass, 7, "", ""}, // the returned value decides
		{"other", Pass, 5, "", ""},   // thesis semantics: any true value
	} {
		r := p.Judge([]byte(c.in), testConn())
		if r.Verdict != c.v || r.N != c.n || string(r.Reply) != c.reply {
			t.Errorf("%s: got %v n=%d reply=%q err=%v, want %v n=%d reply=%q", c.in, r.Verdict, r.N, r.Reply, r.Err, c.v, c.n, c.reply)
		}
		if (r.Err == nil) != (c.err == "") || (r.Err != nil && !strings.Contains(r.Err.Error(), c.err)) {
			t.Errorf("%s: err %v, want %q", c.in, r.Err, c.err)
		}
	}
}

func TestConnTable(t *testing.T) {
	p := mustPool(t, `
function process(s, conn)
  if s == "ro" then conn.peer = "x" end
  if s == "tbl" then conn.t = {} end
  conn.calls = (conn.calls or 0) + 1
  return luawrap.refuse(table.concat({conn.id, conn.peer, conn.peer_port, conn["local"], conn.local_port, conn.bytes, conn.calls, tostring(conn.missing)}, " "))
end`, Options{})
	defer p.Close()
	c := testConn()
	if r := p.Judge([]byte("a"), c); string(r.Reply) != "7 10.1.2.3 4000 127.0.0.1 80 0 1 nil" {
		t.Fatalf("first call: %q %v", r.Reply, r.Err)
	}
	c.Bytes = 12
	if r := p.Judge([]byte("b"), c); string(r.Reply) != "7 10.1.2.3 4000 127.0.0.1 80 12 2 nil" {
		t.Fatalf("second call: %q %v", r.Reply, r.Err)
	}
	if r := p.Judge([]byte("ro"), c); r.Err == nil || !strings.Contains(r.Err.Error(), "read-only") {
		t.Fatalf("writing conn.peer: %v", r.Err)
	}
	if r := p.Judge([]byte("tbl"), c); r.Err == nil || !strings.Contains(r.Err.Error(), "strings, numbers and booleans") {
		t.Fatalf("storing a table: %v", r.Err)
	}
	if r := p.Judge([]byte("a"), NewConn(8, netip.AddrPort{}, netip.AddrPort{})); !strings.HasSuffix(string(r.Reply), " 1 nil") {
		t.Fatalf("fields leaked to another connection: %q", r.Reply)
	}
}

// The fields of one connection survive being judged by different states
// of the pool, concurrently with other connections (-race checks sharing).
func TestConnAcrossStates(t *testing.T) {
	p := mustPool(t, `function process(s, conn) conn.n = (conn.n or 0) + 1 return luawrap.refuse(tostring(conn.n)) end`, Options{})
	defer p.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testConn()
			for i := 1; i <= 200; i++ {
				if r := p.Judge([]byte("x"), c); string(r.Reply) != itoa(i) {
					t.Errorf("call %d saw %q", i, r.Reply)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestHooks(t *testing.T) {
	p := mustPool(t, `
function process(s) return true end
function on_accept(conn)
  if conn.peer == "10.1.2.3" then return luawrap.refuse("go away") end
  conn.accepted = true
  return true
end
function on_close(conn) luawrap.shared.set("closed", conn.id) end`, Options{})
	defer p.Close()
	if !p.HasAcceptHook() || !p.hasClose {
		t.Fatal("hooks not found")
	}
	if r := p.Accept(testConn()); r.Verdict != Refuse || string(r.Reply) != "go away" {
		t.Fatalf("on_accept refusal: %+v", r)
	}
	other := NewConn(9, netip.MustParseAddrPort("127.0.0.2:1"), netip.MustParseAddrPort("127.0.0.1:80"))
	if r := p.Accept(other); r.Verdict != Pass || r.Err != nil {
		t.Fatalf("on_accept pass: %+v", r)
	}
	if err := p.Closed(other); err != nil {
		t.Fatal(err)
	}
	probe := mustPool(t, `function process() return true end`, Options{})
	defer probe.Close()
	if r := probe.Accept(other); r.Verdict != Pass || probe.Closed(other) != nil || probe.HasAcceptHook() {
		t.Fatalf("absent hooks must accept: %+v", r)
	}
	// In a hook there is no message: more/answer/pass(n) are errors.
	bad := mustPool(t, `function process() return true end function on_accept() return luawrap.more() end`, Options{})
	defer bad.Close()
	if r := bad.Accept(other); r.Verdict != Refuse || r.Err == nil {
		t.Fatalf("more() in on_accept: %+v", r)
	}
}

func TestShared(t *testing.T) {
	p := mustPool(t, `
function process(s)
  local sh = luawrap.shared
  if s == "incr" then return luawrap.refuse(tostring(sh.incr("n", 1, 10, 0.05))) end
  if s == "get" then return luawrap.refuse(tostring(sh.get("n"))) end
  if s == "set" then sh.set("k", "v") return luawrap.refuse(sh.get("k")) end
  if s == "del" then sh.delete("k") return luawrap.refuse(tostring(sh.get("k"))) end
  if s == "tbl" then sh.set("k", {}) end
  return true
end`, Options{})
	defer p.Close()
	clock := time.Unix(1000, 0)
	p.shared.now = func() time.Time { return clock }
	for i, want := range []string{"11", "12", "13"} {
		if r := p.Judge([]byte("incr"), nil); string(r.Reply) != want {
			t.Fatalf("incr %d: %q %v", i, r.Reply, r.Err)
		}
	}
	clock = clock.Add(60 * time.Millisecond) // past the ttl of the first incr
	if r := p.Judge([]byte("get"), nil); string(r.Reply) != "nil" {
		t.Fatalf("expired entry still there: %q", r.Reply)
	}
	if r := p.Judge([]byte("set"), nil); string(r.Reply) != "v" {
		t.Fatalf("set/get: %q %v", r.Reply, r.Err)
	}
	if r := p.Judge([]byte("del"), nil); string(r.Reply) != "nil" {
		t.Fatalf("delete: %q", r.Reply)
	}
	if r := p.Judge([]byte("tbl"), nil); r.Err == nil {
		t.Fatal("a table was stored in the shared store")
	}
}

func TestSharedFull(t *testing.T) {
	sh := newShared()
	now := time.Unix(0, 0)
	sh.now = func() time.Time { return now }
	for i := 0; i < maxSharedKeys; i++ {
		sh.m[itoa(i)] = sharedEntry{exp: now.Add(time.Second)}
	}
	if sh.room(now) {
		t.Fatal("room in a full store")
	}
	if !sh.room(now.Add(2 * time.Second)) {
		t.Fatal("expired entries were not evicted")
	}
}

func TestScriptLog(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := mustPool(t, `function process(s, conn)
  luawrap.warn("odd request", #s, "bytes")
  luawrap.log("debug", "not shown")
  luawrap.log("error", "shown")
  return true
end`, Options{Logger: lg, Name: "check.lua"})
	defer p.Close()
	p.Judge([]byte("abc"), testConn())
	out := buf.String()
	for _, want := range []string{`level=WARN msg="odd request 3 bytes" script=check.lua conn=7 peer=10.1.2.3:4000`, `level=ERROR msg=shown`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not shown") {
		t.Errorf("debug record logged at info:\n%s", out)
	}
}

func TestAnswerClose(t *testing.T) {
	p := mustPool(t, `function process(s)
  if s == "keep" then return luawrap.answer("r", 2) end
  return luawrap.answer("r", nil, true)
end`, Options{})
	defer p.Close()
	if r := p.Judge([]byte("keep"), nil); r.Verdict != Answer || r.N != 2 || r.Close {
		t.Fatalf("answer: %+v", r)
	}
	if r := p.Judge([]byte("close"), nil); r.Verdict != Answer || r.N != 5 || !r.Close {
		t.Fatalf("answer with close: %+v", r)
	}
}
