package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// runLuawrap runs luawrap to completion and returns its exit status (as a
// shell reports it) and stderr.
func runLuawrap(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, testapps.BuildLuawrap(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), stderr.String()
		}
		return ws.ExitStatus(), stderr.String()
	}
	t.Fatalf("run luawrap %v: %v", args, err)
	return 0, ""
}

// TestExitStatus: luawrap exits as the program did, and as a shell does
// when the program cannot be run (tini's conventions).
func TestExitStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain, garbage := dir+"/plain", dir+"/garbage"
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"exit code", nil, []string{"--", "sh", "-c", "exit 7"}, 7, ""},
		{"success", nil, []string{"--", "true"}, 0, ""},
		{"killed by a signal", nil, []string{"--", "sh", "-c", "kill -TERM $$"}, 143, ""},
		{"not found", nil, []string{"--", "/nonexistent/prog"}, 127, "/nonexistent/prog: no such file or directory"},
		{"not in PATH", nil, []string{"--", "no-such-command-luawrap"}, 127, "command not found"},
		{"not executable", nil, []string{"--", plain}, 126, "permission denied"},
		{"not a program", nil, []string{"--", garbage}, 126, "exec format error"},
		{"no command", nil, nil, 2, "no command given"},
		{"bad flag value", nil, []string{"--on-error=maybe", "--", "true"}, 2, "--on-error"},
		{"bad environment value", []string{"LUAWRAP_ON_ERROR=maybe"}, []string{"--", "true"}, 2, "LUAWRAP_ON_ERROR"},
		{"environment sets a flag", []string{"LUAWRAP_TRAP_ALL=true"}, []string{"--", "true"}, 0, ""},
		{"flag overrides environment", []string{"LUAWRAP_ON_ERROR=maybe"}, []string{"--on-error=pass", "--", "true"}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, stderr := runLuawrap(t, c.env, c.args...)
			if code != c.code || !strings.Contains(stderr, c.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, c.code, c.stderr)
			}
		})
	}
}

// TestHelpListsEveryFlag: --help names each flag with its variable.
func TestHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, testapps.BuildLuawrap(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, f := range []string{"trap-all", "allow-io-uring", "on-error", "fd-base", "time-limit", "memory-limit", "max-message", "workers", "log-level", "log-format"} {
		env := "LUAWRAP_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(string(out), "--"+f) || !strings.Contains(string(out), env) {
			t.Errorf("--help lacks --%s or %s:\n%s", f, env, out)
		}
	}
}

// TestSignalForwarded: SIGTERM sent to luawrap reaches the program, whose
// death by it is luawrap's exit status.
func TestSignalForwarded(t *testing.T) {
	t.Parallel()
	bin := testapps.Build(t, "thesis_server")
	srv := startWrapped(t, nil, nil, bin, "0", testapps.Script("pass_all.lua"))
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, srv, e2eWait); code != 143 {
		t.Fatalf("exit %d, want 143", code)
	}
}

// TestIgnoredSignalsStayIgnored: a signal luawrap inherited as ignored is
// ignored by the program too, as without luawrap (SIG_IGN survives exec).
func TestIgnoredSignalsStayIgnored(t *testing.T) {
	t.Parallel()
	lw := testapps.BuildLuawrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", `trap '' INT; exec "$0" -- grep SigIgn /proc/self/status`, lw).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 {
		t.Fatalf("unexpected output %q", out)
	}
	mask, err := strconv.ParseUint(fields[1], 16, 64)
	if err != nil || mask&(1<<(uint(syscall.SIGINT)-1)) == 0 {
		t.Fatalf("program's SigIgn %q: SIGINT not ignored", fields[1])
	}
}
