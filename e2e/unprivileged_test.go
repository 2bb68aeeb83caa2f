package e2e

// luawrap run by an ordinary user without any capability (issue 4 §3):
// setpriv switches to uid/gid 65534 (nobody), clears the supplementary
// groups and empties the inheritable and bounding capability sets before
// it executes luawrap, so luawrap and everything it starts run with no
// capability at all, as in a container with runAsNonRoot and
// capabilities: drop: [ALL]. luawrap needs none: seccomp(2) is allowed
// to a caller without CAP_SYS_ADMIN once no_new_privs is set, and
// pidfd_getfd and process_vm_readv/writev only need ptrace access to a
// descendant of the same user (docs/requirements.md, docs/container.md).
//
// Each case is judged as the root cases are: valid requests are served,
// the ones the thesis's check refuses never reach the server, and /proc
// shows luawrap (and the program) running as 65534 with every capability
// set empty.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// unprivID is the user and group the tests run luawrap as.
const unprivID = 65534

// unprivEnv is what the unprivileged cases share: a directory every user
// can read and search, holding copies of luawrap, the thesis's check and a
// document root, and the setpriv command that drops to unprivID.
type unprivEnv struct {
	dir    string
	lw     string   // dir/luawrap
	script string   // dir/http_check.lua
	docs   string   // dir/docs: hello.html and refused.html
	drop   []string // setpriv ... --
	env    string   // env(1), to look up programs as the user
}

// asUser is argv run as unprivID with no capabilities, looked up as the
// user would (through env).
func (e *unprivEnv) asUser(argv ...string) *exec.Cmd {
	args := append(append(append([]string(nil), e.drop[1:]...), e.env), argv...)
	return exec.Command(e.drop[0], args...)
}

// unprivSetup skips the test when it cannot switch users (not root, no
// setpriv) or when this kernel cannot run luawrap at all, and fails it
// when luawrap runs as root but not as unprivID.
func unprivSetup(t *testing.T) *unprivEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running luawrap as uid 65534 needs root to switch users (CAP_SETUID, CAP_SETGID)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	src := requireLuawrap(t) // skips on kernels that cannot run luawrap at all

	// t.TempDir and testapps' build cache are 0700: make a directory the
	// user can reach and copy what it runs into it.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := &unprivEnv{
		dir:    dir,
		lw:     unprivCopy(t, src, dir, 0o755),
		script: unprivCopy(t, testapps.Script("http_check.lua"), dir, 0o644),
		docs:   filepath.Join(dir, "docs"),
		drop: []string{setpriv,
			"--reuid=" + strconv.Itoa(unprivID), "--regid=" + strconv.Itoa(unprivID), "--clear-groups",
			"--inh-caps=-all", "--bounding-set=-all", "--"},
	}
	if err := os.Mkdir(e.docs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"hello.html", "refused.html"} {
		if err := os.WriteFile(filepath.Join(e.docs, f), []byte(serversPage), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// setpriv executes its program while it still holds
	// CAP_DAC_READ_SEARCH, so it reaches files the user cannot; env,
	// executed by setpriv, looks as the user does. If the user cannot
	// reach the copies (a parent of TMPDIR it cannot search), the test
	// cannot run here.
	env, err := exec.LookPath("env")
	if err != nil {
		t.Skip("env not found")
	}
	e.env = env
	if out, err := e.asUser("test", "-x", e.lw, "-a", "-r", e.script).CombinedOutput(); err != nil {
		t.Skipf("uid %d cannot reach %s (%v %s): a parent directory is not searchable", unprivID, dir, err, out)
	}
	// The smallest run. A failure here is luawrap failing without
	// privileges.
	if out, err := e.asUser(e.lw, "--", "/bin/true").CombinedOutput(); err != nil {
		t.Fatalf("luawrap -- /bin/true as uid %d without capabilities: %v\n%s", unprivID, err, out)
	}
	return e
}

// unprivCopy copies file src into dir with mode and returns the copy's path.
func unprivCopy(t *testing.T, src, dir string, mode os.FileMode) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// argv is prog under luawrap --script <the thesis check>, started through
// setpriv as unprivID with no capabilities. setpriv executes luawrap, so
// the started process is luawrap itself.
func (e *unprivEnv) argv(prog ...string) []string {
	argv := append(append([]string(nil), e.drop...), e.lw, "--script", e.script, "--")
	return append(argv, prog...)
}

// argvAPI is prog under plain luawrap (a program that uses the SOL_LUA
// API itself), as unprivID with no capabilities.
func (e *unprivEnv) argvAPI(prog ...string) []string {
	argv := append(append([]string(nil), e.drop...), e.lw, "--")
	return append(argv, prog...)
}

// unprivStatus reads /proc/<pid>/status into a map of field to value.
func unprivStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// unprivCheckProc fails unless pid runs as unprivID (real, effective,
// saved and filesystem ids), in no supplementary group, with every
// capability set empty.
func unprivCheckProc(t *testing.T, what string, pid int) map[string]string {
	t.Helper()
	st := unprivStatus(t, pid)
	ids := strings.Repeat(strconv.Itoa(unprivID)+" ", 4)
	for _, k := range []string{"Uid", "Gid"} {
		if got := strings.Join(strings.Fields(st[k]), " ") + " "; got != ids {
			t.Errorf("%s (pid %d): %s: %q, want %d four times", what, pid, k, st[k], unprivID)
		}
	}
	if st["Groups"] != "" {
		t.Errorf("%s (pid %d): Groups: %q, want none", what, pid, st["Groups"])
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if v, ok := st[k]; ok && v != "0000000000000000" {
			t.Errorf("%s (pid %d): %s: %s, want 0000000000000000", what, pid, k, v)
		}
	}
	return st
}

// checkProcs shows that srv's process is the luawrap copy running
// without privileges, and that the program it started runs as the same
// user, under the seccomp filter, with no_new_privs.
func (e *unprivEnv) checkProcs(t *testing.T, srv *testapps.Server) {
	t.Helper()
	lw := srv.Pid()
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", lw)); err != nil || exe != e.lw {
		t.Fatalf("pid %d runs %q (%v), want %s", lw, exe, err, e.lw)
	}
	unprivCheckProc(t, "luawrap", lw)
	prog := programPid(t, srv)
	st := unprivCheckProc(t, "the program", prog)
	if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Errorf("the program (pid %d): NoNewPrivs %q, Seccomp %q; want 1 and 2 (under luawrap's filter)",
			prog, st["NoNewPrivs"], st["Seccomp"])
	}
	if strings.Contains(srv.Stderr(), "level=ERROR") {
		t.Errorf("luawrap logged errors:\n%s", serversTail(srv.Stderr(), 4096))
	}
}

// python returns a python3 that unprivID can run with its http.server
// module (a python under /root, as pyenv installs it, cannot be), or skips.
func (e *unprivEnv) python(t *testing.T) string {
	t.Helper()
	var cands []string
	if p, err := exec.LookPath("python3"); err == nil {
		if out, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output(); err == nil {
			cands = append(cands, strings.TrimSpace(string(out)))
		}
	}
	cands = append(cands, "/usr/bin/python3", "/usr/local/bin/python3")
	var tried []string
	for _, p := range cands {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		out, err := e.asUser(p, "-c", "import http.server").CombinedOutput()
		if err == nil {
			return p
		}
		tried = append(tried, fmt.Sprintf("%s: %v %s", p, err, strings.TrimSpace(string(out))))
	}
	t.Skipf("no python3 that uid %d can run: %q", unprivID, tried)
	return ""
}

// TestUnprivileged runs luawrap as uid/gid 65534 with no capabilities
// in front of python's http.server and Debian's nginx (both with the
// thesis's check attached from the command line) and the thesis's C
// server (the SOL_LUA API).
func TestUnprivileged(t *testing.T) {
	t.Parallel()
	serversNeed(t, "curl")
	e := unprivSetup(t)

	t.Run("python http.server", func(t *testing.T) {
		t.Parallel()
		py := e.python(t)
		t.Logf("python: %s", py)
		srv := testapps.Start(t, e.argv(py, "-u", "-m", "http.server",
			"--bind", "127.0.0.1", "0", "--directory", e.docs), nil)
		tg := &serversTarget{
			name: "python http.server (uid 65534)",
			srv:  srv,
			host: "127.0.0.1",
			port: serversPortLine(t, srv),
			body: serversPage,
			log:  func() []string { return serversAccessLog(srv.Stderr()) },
		}
		e.checkProcs(t, srv)
		// curl is served; the refused requests (among them curl without
		// header fields) never reach the server's access log.
		serversFiltered(t, tg)
	})

	t.Run("nginx", func(t *testing.T) {
		t.Parallel()
		serversNeed(t, "nginx")
		// Everything nginx writes (pid, logs, temporary files) in one
		// directory the user owns; no "user" directive: a master that is
		// not root keeps its workers under its own user, as in the
		// container image (deploy/docker/nginx.conf).
		dir := filepath.Join(e.dir, "nginx")
		if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, unprivID, unprivID); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(dir, "tmp"), unprivID, unprivID); err != nil {
			t.Fatal(err)
		}
		port := serversFreePort(t)
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(serversNginxConf, "", dir, port, "", e.docs, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		srv := testapps.Start(t, e.argv("nginx", "-e", "stderr", "-p", dir, "-c", conf,
			"-g", "daemon off; master_process on;"), nil)
		serversNginxShowErrors(t, dir)
		serversWaitListeners(t, srv, port, 2)
		e.checkProcs(t, srv)
		serversNginxWorkers(t, srv, unprivID)
		serversFiltered(t, serversNginxTarget("nginx (uid 65534)", srv, port, dir))
	})

	t.Run("thesis server", func(t *testing.T) {
		t.Parallel()
		bin := unprivCopy(t, testapps.Build(t, "thesis_server"), t.TempDir(), 0o755)
		if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755); err != nil {
			t.Fatal(err)
		}
		srv := testapps.Start(t, e.argvAPI(bin, "0", e.script), nil)
		url := fmt.Sprintf("http://127.0.0.1:%d/index.html", srv.Port())
		e.checkProcs(t, srv)

		// SOL_LUA: the server set the ULP, loaded the script and named
		// the entry itself; curl's request reaches it, one without header
		// fields is refused before it does.
		if out, err := curl(t, url); err != nil || out != "ok\n" {
			t.Fatalf("valid request: %q, %v", out, err)
		}
		if ev := nextEvent(t, srv); !strings.HasPrefix(ev, "recv ") {
			t.Fatalf("valid request: server saw %q", ev)
		}
		if out, err := curl(t, "-0", "-H", "Host:", "-H", "User-Agent:", "-H", "Accept:", url); err == nil {
			t.Fatalf("refused request answered: %q", out)
		}
		if ev := nextEvent(t, srv); ev != "refused" {
			t.Fatalf("request without header fields: server saw %q, want refused", ev)
		}
	})
}
