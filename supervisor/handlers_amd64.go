package supervisor

import (
	"github.com/luawrap/luawrap/notify"
	"golang.org/x/sys/unix"
)

// archHandlers are syscalls that exist on x86_64 only (arm64 has dup3 but no dup2).
var archHandlers = map[int32]func(*Supervisor, *notify.Notif) reply{
	unix.SYS_DUP2: (*Supervisor).handleDup,
}

const sysDup2 = unix.SYS_DUP2
