package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// errRestartSys is ERESTARTSYS (include/linux/errno.h), what a blocking
// socket call returns when a signal interrupts it: on the way back to user
// space the kernel runs the handler and then restarts the call
// (SA_RESTART) or fails it with EINTR. It must only be returned while the
// thread has a signal pending, or user space would see errno 512.
const errRestartSys = unix.Errno(512)

// sigState is the signal part of /proc/<tid>/status.
type sigState struct {
	tid, tgid             int
	thread, shared, block uint64 // SigPnd, ShdPnd, SigBlk
}

// parseSigState reads the fields of proc_pid_status(5) luawrap needs.
func parseSigState(status []byte) (sigState, error) {
	var st sigState
	found := 0
	for _, line := range bytes.Split(status, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		var err error
		switch string(k) {
		case "Pid":
			st.tid, err = strconv.Atoi(string(v))
		case "Tgid":
			st.tgid, err = strconv.Atoi(string(v))
		case "SigPnd":
			st.thread, err = strconv.ParseUint(string(v), 16, 64)
		case "ShdPnd":
			st.shared, err = strconv.ParseUint(string(v), 16, 64)
		case "SigBlk":
			st.block, err = strconv.ParseUint(string(v), 16, 64)
		default:
			continue
		}
		if err != nil {
			return st, fmt.Errorf("parse /proc status %s: %w", k, err)
		}
		found++
	}
	if found < 5 {
		return st, fmt.Errorf("parse /proc status: %d of 5 fields", found)
	}
	return st, nil
}

// interrupts reports whether a signal pending now is one the kernel has
// flagged this thread for (TIF_SIGPENDING), so that answering
// ERESTARTSYS hands the thread to its signal handling. A thread-directed
// signal always is. A process-directed one is given to the thread group
// leader unless the leader blocks it or is already handling one
// (complete_signal(), kernel/signal.c) — either way the leader has the
// flag — so it counts for the leader only; another thread it may reach
// is released when its call completes, which only delays the handler.
// Blocked signals never count: they stay pending without interrupting.
func (st sigState) interrupts() bool {
	pending := st.thread
	if st.tid == st.tgid {
		pending |= st.shared
	}
	return pending&^st.block != 0
}

// signalPending reports whether thread tid should leave a blocking call for
// its signal handler now. With WAIT_KILLABLE_RECV the kernel defers every
// non-fatal signal while luawrap holds the call, so luawrap must look.
func signalPending(tid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return false
	}
	st, err := parseSigState(b)
	return err == nil && st.interrupts()
}
