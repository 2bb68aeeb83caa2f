package supervisor

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Files luawrap inherited without close-on-exec (a listener from systemd
// socket activation, LISTEN_FDS, a pipe from a parent) belong to the
// program: they must reach it at the same numbers, as they would without
// luawrap. Go opens all of its own files close-on-exec, so the inherited
// ones are exactly those without FD_CLOEXEC.

// maxInheritedFD bounds the numbers passed on (each number below the
// highest is an ExtraFiles slot).
const maxInheritedFD = 1 << 12

// inheritedFiles returns ExtraFiles (entry i is fd 3+i; nil entries are
// closed in the child) carrying every inherited fd from 3 up. luawrap
// closes its own copies once the program started: it keeps none, so a
// listener the program closes is closed.
func inheritedFiles() (extra []*os.File) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 || fd >= maxInheritedFD {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC != 0 {
			continue // Go's own (or the directory being read)
		}
		for len(extra) <= fd-3 {
			extra = append(extra, nil)
		}
		extra[fd-3] = os.NewFile(uintptr(fd), "inherited-"+e.Name())
	}
	return extra
}
