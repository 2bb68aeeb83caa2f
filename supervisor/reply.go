package supervisor

import "golang.org/x/sys/unix"

// reply is a handler's answer to a notification.
type reply struct {
	val   int64
	errno unix.Errno
	kind  replyKind
}

type replyKind int

const (
	replyValue    replyKind = iota // return val, or fail with errno when errno != 0
	replyContinue                  // let the kernel run the syscall as issued
	replyDone                      // the handler already answered (ADDFD with SEND, deliveries)
	replyAsync                     // a goroutine will answer when the call can complete
)

var (
	cont  = reply{kind: replyContinue}
	done  = reply{kind: replyDone}
	async = reply{kind: replyAsync}
)

func ok(v int64) reply        { return reply{val: v} }
func fail(e unix.Errno) reply { return reply{errno: e} }
func failErr(err error) reply { return fail(errnoOf(err)) }

// errnoOf maps an error from a syscall to the errno the program should see.
func errnoOf(err error) unix.Errno {
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}
