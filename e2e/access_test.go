package e2e

// Fail closed where luawrap may not inspect the program (issue 4 §3): a
// container's seccomp profile refusing pidfd_getfd or process_vm_readv/
// writev stops luawrap before the program runs; a worker that changed user
// out of luawrap's reach gets its Lua-relevant calls failed, never passed.

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// TestAccessDeniedAtStart: under a profile that refuses one of the calls
// luawrap needs, it exits 125 with one sentence naming the call, and the
// program never runs (it would otherwise run unfiltered or stuck).
func TestAccessDeniedAtStart(t *testing.T) {
	lw := requireLuawrap(t)
	deny := testapps.Build(t, "deny")
	script := testapps.Script("http_check.lua")
	for _, call := range []string{"pidfd_getfd", "process_vm_readv", "process_vm_writev", "pidfd_open"} {
		t.Run(call, func(t *testing.T) {
			cmd := exec.Command(deny, call, lw, "--script", script, "--", "sh", "-c", "echo PROGRAM RAN")
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 125 {
				t.Fatalf("exit %v, want 125:\n%s", err, out)
			}
			if strings.Contains(string(out), "PROGRAM RAN") {
				t.Fatalf("the program ran:\n%s", out)
			}
			if want := "luawrap: " + call + ": operation not permitted: luawrap is not allowed to inspect the program"; !strings.Contains(string(out), want) {
				t.Fatalf("message %q lacks %q", out, want)
			}
		})
	}
}

// TestAccessDeniedWorkers: nginx's workers switch to nobody; luawrap, root
// but without CAP_SYS_PTRACE, cannot copy their fds. Their accepts on the
// attached listener then fail (EPERM), so no request reaches nginx
// unjudged, and luawrap says why.
func TestAccessDeniedWorkers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nginx's workers must switch user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not found")
	}
	tg := serversNginx(t, serversCheckFlags(), serversNginxOpts{nobody: true,
		prefix: []string{"setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"}})
	// The connection is never accepted (the workers' accept fails), so
	// nothing answers or closes it: send and move on.
	c := dialSend(t, tg.addr(), serversRefused[0])
	defer c.Close()
	if !poll(e2eWait, func() bool { return strings.Contains(tg.srv.Stderr(), "cannot inspect process") }) {
		t.Fatalf("luawrap did not report the workers out of reach:\n%s", tg.srv.Stderr())
	}
	if !strings.Contains(tg.srv.Stderr(), "CAP_SYS_PTRACE") {
		t.Fatalf("the message does not say what to do:\n%s", tg.srv.Stderr())
	}
	if lines := tg.log(); len(lines) != 0 {
		t.Fatalf("requests reached nginx unjudged: %q", lines)
	}
}
