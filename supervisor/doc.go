// Package supervisor emulates the Lua socket ULP of the 2019 thesis for a
// program running under a seccomp user-notification filter: it decides which
// syscalls the filter traps, starts the program, answers each trapped
// syscall (setsockopt/getsockopt of TCP_ULP and SOL_LUA, accept, the receive
// family and dup), runs the socket's Lua script on received bytes,
// and exits with the program's status.
//
// Pure decisions (filter rules, the fd range, address copying, flag
// mapping, the receive state machine's bookkeeping) are plain functions
// tested without a kernel; the handlers around them are thin.
package supervisor
