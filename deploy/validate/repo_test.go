package validate

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the luawrap repository root, found from this file's
// location (deploy/validate/repo_test.go), whatever the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller failed")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "cmd", "luawrap")); err != nil {
		t.Fatalf("repository root not found from %s: %v", file, err)
	}
	return root
}

// readRepo reads a file given by its path in the repository.
func readRepo(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
