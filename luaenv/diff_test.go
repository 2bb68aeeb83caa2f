package luaenv

import (
	"bytes"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The differential tests run the same Lua code in lua5.4 (once for the whole
// corpus, cases fed through a file) and in a luaenv state, and compare.

const lua54 = "/usr/bin/lua5.4"

func needLua54(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(lua54); err != nil {
		t.Skipf("differential oracle %s not available: %v", lua54, err)
	}
}

func runLua54(t testing.TB, args ...string) []string {
	t.Helper()
	cmd := exec.Command(lua54, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lua5.4 %v: %v\n%s", args, err, stderr.String())
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testEnv is a sandboxed state with the given script files run in it.
// thesisScript is the thesis's HTTP check (Cód. 13) as the project ships it.
const thesisScript = "../examples/scripts/http_check.lua"

// testEnv loads files (names in testdata/, or paths) into one state.
func testEnv(t testing.TB, files ...string) *env {
	t.Helper()
	e := newEnv(DefaultLimits, quietLogger(), "test", newShared())
	t.Cleanup(e.L.Close)
	var src []byte
	for _, f := range files {
		path := f
		if !strings.Contains(f, "/") {
			path = filepath.Join("testdata", f)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	c, err := Compile(files[0], src)
	if err != nil {
		t.Fatal(err)
	}
	e.L.Push(e.L.NewFunctionFromProto(c.proto))
	if err := e.L.PCall(0, 0, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func callString(t testing.TB, e *env, fn string, args ...string) string {
	t.Helper()
	e.L.Push(e.L.GetGlobal(fn))
	for _, a := range args {
		e.L.Push(lua.LString(a))
	}
	if err := e.L.PCall(len(args), 1, nil); err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	r := e.L.Get(-1).String()
	e.L.Pop(1)
	return r
}

func TestPatternsDifferential(t *testing.T) {
	needLua54(t)
	cases := patternCases()
	if len(cases) < 200 {
		t.Fatalf("corpus has %d cases, want >= 200", len(cases))
	}
	var lines []string
	for _, c := range cases {
		lines = append(lines, strings.Join([]string{c.op, hex.EncodeToString([]byte(c.s)),
			hex.EncodeToString([]byte(c.p)), hex.EncodeToString([]byte(c.a3)),
			hex.EncodeToString([]byte(c.a4))}, "\t"))
	}
	file := filepath.Join(t.TempDir(), "cases.txt")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := runLua54(t, "testdata/diffmain.lua", "testdata/diffcore.lua", file)
	if len(want) != len(cases) {
		t.Fatalf("lua5.4 gave %d results for %d cases", len(want), len(cases))
	}
	e := testEnv(t, "diffcore.lua")
	bad, errs := 0, 0
	for i, line := range lines {
		if strings.HasPrefix(want[i], "err ") {
			errs++
		}
		got := callString(t, e, "runline", line)
		if same(got, want[i]) {
			continue
		}
		if bad++; bad <= 20 {
			c := cases[i]
			t.Errorf("%s(%q, %q, %q, %q):\n got  %s\n want %s", c.op, short(c.s), c.p, c.a3, c.a4, got, want[i])
		}
	}
	t.Logf("%d pattern cases (%d are errors in lua5.4), %d differ", len(cases), errs, bad)
}

// same compares results; argument errors are compared by status only
// (gopher-lua words "bad argument" messages differently).
func same(got, want string) bool {
	if got == want {
		return true
	}
	return strings.HasPrefix(want, "err bad argument") && strings.HasPrefix(got, "err bad argument")
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestThesisHTTPDifferential(t *testing.T) {
	needLua54(t)
	reqs := httpRequests()
	var lines []string
	for _, r := range reqs {
		lines = append(lines, hex.EncodeToString([]byte(r)))
	}
	file := filepath.Join(t.TempDir(), "reqs.txt")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := runLua54(t, "testdata/thesismain.lua", thesisScript, "testdata/thesis_dump.lua", file)
	if len(want) != len(reqs) {
		t.Fatalf("lua5.4 gave %d results for %d requests", len(want), len(reqs))
	}
	e := testEnv(t, thesisScript, "thesis_dump.lua")
	// A long token makes the script quadratic (lua5.4 itself needs ~160 ms
	// for the 5000-byte path): compare semantics here, without the limit.
	pool := thesisPool(t, Limits{Time: time.Minute})
	passes := 0
	for i, r := range reqs {
		if got := callString(t, e, "dumpheader", r); got != want[i] {
			t.Errorf("request %q:\n got  %s\n want %s", short(r), got, want[i])
		}
		res := pool.Judge([]byte(r), nil)
		if res.Err != nil {
			t.Errorf("request %q: %v", short(r), res.Err)
		}
		wantV := Refuse
		if strings.HasPrefix(want[i], "pass") {
			wantV = Pass
			passes++
		}
		if res.Verdict != wantV {
			t.Errorf("request %q: Judge says %v, lua5.4 says %v", short(r), res.Verdict, wantV)
		}
	}
	t.Logf("%d requests, %d pass in both", len(reqs), passes)
}

func thesisPool(t testing.TB, l Limits) *Pool {
	t.Helper()
	src, err := os.ReadFile(thesisScript)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile("thesis_http.lua", src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(Program{Chunks: []*Chunk{c}, Entry: "process"}, Options{Logger: quietLogger(), Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
