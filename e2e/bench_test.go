package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// benchProgram runs testapps/c/recv_bench for b.N operations and reports
// the time per operation it measured itself (start-up excluded).
func benchProgram(b *testing.B, underLuawrap bool, op string) {
	prog := testapps.Build(b, "recv_bench")
	argv := []string{prog, "-n", op, strconv.Itoa(b.N)}
	if underLuawrap {
		argv = []string{testapps.BuildLuawrap(b), "--", prog, op, strconv.Itoa(b.N)}
	}
	b.ResetTimer()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	b.StopTimer()
	if err != nil {
		b.Fatalf("%v: %v\n%s", argv, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "ns_per_op "); ok {
			ns, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(ns, "ns/op-inner")
			return
		}
	}
	b.Fatalf("no measurement in:\n%s", out)
}

// BenchmarkTrappedRecv is one receive on a Lua socket: write 64 bytes on
// the client, recv them on the accepted socket (trapped, inspected by a
// `return true` script and delivered), against the same bare.
func BenchmarkTrappedRecv(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchProgram(b, false, "recv") })
	b.Run("luawrap", func(b *testing.B) { benchProgram(b, true, "recv") })
}

// BenchmarkUntrappedRead is read() on an fd luawrap does not manage: it
// must not reach luawrap at all, so both figures should match.
func BenchmarkUntrappedRead(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchProgram(b, false, "read") })
	b.Run("luawrap", func(b *testing.B) { benchProgram(b, true, "read") })
}
