package supervisor

import "github.com/luawrap/luawrap/notify"

// archHandlers are syscalls that exist on arm64 only: none luawrap traps.
var archHandlers = map[int32]func(*Supervisor, *notify.Notif) reply{}

const sysDup2 = -1 // no dup2 on arm64
