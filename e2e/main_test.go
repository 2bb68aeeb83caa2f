package e2e

import (
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

func TestMain(m *testing.M) {
	// A background job of a non-interactive shell (CI) inherits SIGINT
	// ignored, and so would every program started here, making the Ctrl-C
	// tests meaningless. Catching it here restores the default action for
	// children (execve resets caught signals, keeps ignored ones).
	if signal.Ignored(syscall.SIGINT) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	}
	code := m.Run()
	testapps.CleanupCache()
	os.Exit(code)
}
