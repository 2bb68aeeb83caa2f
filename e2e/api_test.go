package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/luawrap/luawrap/testapps"
	"golang.org/x/sys/unix"
)

// runProbe runs testapps/c/api_probe to completion and returns its CHECK
// lines as name → value.
func runProbe(t *testing.T, argv ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", argv, err, stdout.String(), stderr.String())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(&stdout)
	done := false
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if f[0] == "DONE" {
			done = true
		}
		if len(f) == 3 && f[0] == "CHECK" {
			got[f[1]] = f[2]
		}
	}
	if !done {
		t.Fatalf("%v did not finish:\n%s\nstderr:\n%s", argv, stdout.String(), stderr.String())
	}
	t.Logf("luawrap stderr:\n%s", stderr.String())
	return got
}

// kernelAnswer is what this kernel answers, without luawrap, to
// setsockopt(SOL_TCP, TCP_ULP, name) on a new socket of the given kind.
func kernelAnswer(t *testing.T, domain, typ int, name string) string {
	t.Helper()
	fd, err := unix.Socket(domain, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	return errnoName(unix.SetsockoptString(fd, unix.SOL_TCP, unix.TCP_ULP, name+"\x00"))
}

func errnoName(err error) string {
	if err == nil {
		return "0"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if e == unix.EOPNOTSUPP {
			return "EOPNOTSUPP" // glibc's strerrorname_np name for 95; Go's is ENOTSUP
		}
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// TestSolLuaAPI checks the module's API call by call, as a C program
// written against include/luawrap/sol_lua.h sees it under luawrap.
func TestSolLuaAPI(t *testing.T) {
	t.Parallel()
	lw := testapps.BuildLuawrap(t)
	probe := testapps.Build(t, "api_probe")
	got := runProbe(t, lw, "--", probe)

	want := map[string]string{
		"io_uring_setup": "ENOSYS",
		// TCP_ULP "lua": emulated; everything else is the kernel's answer.
		"ulp_first":        "0",
		"ulp_again":        "EEXIST",
		"ulp_udp":          kernelAnswer(t, unix.AF_INET, unix.SOCK_DGRAM, "lua"),
		"ulp_unix":         kernelAnswer(t, unix.AF_UNIX, unix.SOCK_STREAM, "lua"),
		"ulp_file":         "ENOTSOCK",
		"ulp_badfd":        "EBADF",
		"ulp_tls":          kernelAnswer(t, unix.AF_INET, unix.SOCK_STREAM, "tls"),
		"ulp_nodelay":      "0",
		"sollua_noulp_set": "ENOPROTOOPT",
		"sollua_noulp_get": "ENOPROTOOPT",
		// SOL_LUA options.
		"load_ok":             "0",
		"load_syntax":         "EINVAL",
		"load_runtime":        "EINVAL",
		"load_bytecode":       "EINVAL",
		"load_8193":           "0", // the original's 8192 limit is lifted to 1 MiB
		"load_over":           "EINVAL",
		"load_efault":         "EFAULT",
		"entry_nul":           "0",
		"get_entry":           "0",
		"get_entry_value":     "process",
		"get_entry_len":       "8",
		"get_entry_short":     "0",
		"get_entry_short_len": "3",
		"entry_nonul":         "0",
		"get_entry_value2":    "check",
		"entry_64":            "0",
		"entry_65":            "EINVAL",
		"entry_empty":         "EINVAL",
		"unknown_set":         "ENOPROTOOPT",
		"unknown_get":         "ENOPROTOOPT",
		"stats":               "0",
		"stats_len":           "32",
		"get_neglen":          "EINVAL",
		// accept on a Lua listener.
		"accept_eagain":          "EAGAIN",
		"accept4":                "0",
		"accept4_fd_in_range":    "1",
		"accept4_len":            "16", // real length written back
		"accept4_family_copied":  "2",  // the first 4 bytes were copied …
		"accept4_port_untouched": "238",
		"accept4_nonblock":       "1",
		"accept4_cloexec":        "1",
		"getulp":                 "0",
		"getulp_name":            "lua", // getsockopt(SOL_TCP, TCP_ULP) names the emulated ULP
		"getulp_len":             "16",
		"accept_neglen":          "EINVAL",
		"accept_after_neglen":    "0", // … and the connection was not lost
		"accept_len":             "16",
		"accept_peer_matches":    "1",
		"accept_blocking":        "1",
		"accept_no_cloexec":      "1",
		"accept4_badflags":       "EINVAL",
		// The receive family.
		"recv_rcvtimeo":      "EAGAIN",
		"accept_rcvtimeo":    "EAGAIN",
		"recv_eagain":        "EAGAIN",
		"recv_dontwait":      "EAGAIN",
		"recv_len0":          "0",
		"peek":               "5",
		"peek_again":         "12",
		"bytewise_count":     "12",
		"bytewise_data":      "hello world",
		"bytewise_inspected": "1", // one script call for a message read byte by byte
		"waitall":            "8",
		"recvfrom":           "4",
		"recvfrom_addrlen":   "0",
		"recvmsg":            "6",
		"recvmsg_data":       "45|6789",
		"recvmsg_flags":      "0",
		"readv_efault":       "EFAULT",
		"read_efault":        "EFAULT",
		"read_after_efault":  "2", // EFAULT lost nothing
		// Copies of a managed socket stay managed.
		"dup_in_range":    "1",
		"fdupfd_in_range": "1",
		"fdupfd_cloexec":  "1",
		"dup2_low":        "EBADF",
		"dup_refused":     "ECONNREFUSED",
		"refused_sticks":  "ECONNREFUSED",
		"client_sees_eof": "ECONNRESET", // closed with the refused bytes unread: RST, as the kernel does
		"recv_eof":        "0",
		"recv_reset":      "ECONNRESET",
		"stats_final":     "5 4 1 0", // inspected passed refused errors
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: no result", name)
		} else if g != w {
			t.Errorf("%s = %s, want %s", name, g, w)
		}
	}
}

// TestSolLuaAPIBareBaseline runs the probe without luawrap (no ULP) to show
// which results are the kernel's own: the receive semantics must match.
func TestSolLuaAPIBareBaseline(t *testing.T) {
	t.Parallel()
	probe := testapps.Build(t, "api_probe")
	got := runProbe(t, probe, "-n")
	for name, w := range map[string]string{
		// recv_rcvtimeo is left out: this kernel (6.18) answers EINTR with no
		// signal pending; luawrap answers socket(7)'s EAGAIN.
		"accept_rcvtimeo": "EAGAIN", "recv_eagain": "EAGAIN", "recv_dontwait": "EAGAIN", "recv_len0": "0", "peek": "5", "peek_again": "12",
		"bytewise_count": "12", "waitall": "8", "recvfrom": "4", "recvfrom_addrlen": "0", "recvmsg": "6",
		"recvmsg_data": "45|6789", "recvmsg_flags": "0", "readv_efault": "EFAULT", "read_efault": "EFAULT",
		"read_after_efault": "2", "recv_eof": "0", "recv_reset": "ECONNRESET",
		"accept4_len": "16", "accept4_family_copied": "2", "accept4_port_untouched": "238",
		"accept_neglen": "EINVAL", "accept4_badflags": "EINVAL",
	} {
		if got[name] != w {
			t.Errorf("bare %s = %s, want %s", name, got[name], w)
		}
	}
}

// TestSolLuaAPITrapAll runs the probe with --trap-all: managed sockets take
// the lowest free fd (select()-friendly), copies may go anywhere, and the
// receive semantics are the same.
func TestSolLuaAPITrapAll(t *testing.T) {
	t.Parallel()
	lw := testapps.BuildLuawrap(t)
	probe := testapps.Build(t, "api_probe")
	got := runProbe(t, lw, "--trap-all", "--", probe)
	for name, w := range map[string]string{
		"ulp_first": "0", "ulp_again": "EEXIST", "load_ok": "0", "get_entry_value": "process",
		"accept4_fd_in_range": "0", "accept4_nonblock": "1", "accept4_cloexec": "1", "accept_neglen": "EINVAL",
		"accept_after_neglen": "0", "recv_eagain": "EAGAIN", "recv_len0": "0", "peek": "5", "peek_again": "12",
		"bytewise_count": "12", "bytewise_inspected": "1", "waitall": "8", "recvfrom": "4", "recvmsg": "6",
		"recvmsg_data": "45|6789", "read_efault": "EFAULT", "read_after_efault": "2",
		"dup_in_range": "0", "dup2_low": "100", "dup_refused": "ECONNREFUSED", "refused_sticks": "ECONNREFUSED",
		"recv_eof": "0", "recv_reset": "ECONNRESET", "stats_final": "5 4 1 0",
	} {
		if got[name] != w {
			t.Errorf("--trap-all: %s = %s, want %s", name, got[name], w)
		}
	}
}
