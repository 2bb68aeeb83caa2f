package e2e

import (
	"os"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testapps.CleanupCache()
	os.Exit(code)
}
