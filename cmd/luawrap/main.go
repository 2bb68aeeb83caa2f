// Command luawrap runs a program under a seccomp filter and emulates the
// Lua socket ULP (SOL_LUA) for it; see docs/usage.md.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/luawrap/luawrap/supervisor"
)

func main() {
	supervisor.MaybeRunStub() // the start-up stub never returns from here
	if os.Getenv("GOGC") == "" {
		// Scripts allocate per message (gopher-lua tables, strings); a
		// larger heap target trades memory for fewer collections on the
		// hot path (the thesis's GC stress script runs ~3x faster).
		debug.SetGCPercent(400)
	}
	cfg, err := parseArgs(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		if err == errHelp {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "luawrap: %v\n", err)
		os.Exit(2)
	}
	if path := os.Getenv("LUAWRAP_CPUPROFILE"); path != "" {
		// For performance work: a pprof CPU profile of the supervisor.
		if f, err := os.Create(path); err == nil {
			_ = pprof.StartCPUProfile(f)
		}
	}
	code, err := supervisor.Run(cfg)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "luawrap: %v\n", err)
	}
	os.Exit(code)
}
