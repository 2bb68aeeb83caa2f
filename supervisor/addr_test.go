package supervisor

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestAddrCopy(t *testing.T) {
	addr := make([]byte, 16) // sockaddr_in
	for _, c := range []struct {
		userLen int32
		want    int
		err     error
	}{
		{16, 16, nil},
		{128, 16, nil},
		{4, 4, nil},
		{0, 0, nil},
		{-1, 0, unix.EINVAL},
		{-2147483648, 0, unix.EINVAL},
	} {
		got, err := addrCopy(c.userLen, addr)
		if got != c.want || err != c.err {
			t.Errorf("addrCopy(%d) = %d, %v; want %d, %v", c.userLen, got, err, c.want, c.err)
		}
	}
}
