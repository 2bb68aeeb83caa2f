package notify

import (
	"testing"
	"unsafe"
)

// The kernel rejects ioctls whose struct size differs from its own
// (SECCOMP_GET_NOTIF_SIZES reports 80/24 on every 64-bit arch).
func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"seccomp_data", unsafe.Sizeof(Data{}), 64},
		{"seccomp_notif", unsafe.Sizeof(Notif{}), 80},
		{"seccomp_notif_resp", unsafe.Sizeof(Resp{}), 24},
		{"seccomp_notif_addfd", unsafe.Sizeof(AddFD{}), 24},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, kernel expects %d", c.name, c.got, c.want)
		}
	}
}
