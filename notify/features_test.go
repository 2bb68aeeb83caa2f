package notify

import (
	"errors"
	"testing"
)

// A missing feature reads as one sentence naming it and the first Linux
// that has it, and matches ErrNotSupported.
func TestFeatureError(t *testing.T) {
	err := error(&FeatureError{Feature: "SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND", Linux: "5.14"})
	want := "SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND not supported by this kernel (requires Linux >= 5.14)"
	if err.Error() != want {
		t.Fatalf("%q, want %q", err.Error(), want)
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Fatal("not ErrNotSupported")
	}
}

// The libseccomp here is new enough (Debian 12 has 2.5.4).
func TestCheckLibrary(t *testing.T) {
	if err := checkLibrary(); err != nil {
		t.Fatal(err)
	}
}

// This kernel is new enough for the supervisor.
func TestProbeHost(t *testing.T) {
	if err := ProbeHost(); err != nil {
		t.Skipf("kernel lacks a feature luawrap needs: %v", err)
	}
}
