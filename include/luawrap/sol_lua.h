/*
 * luawrap/sol_lua.h - public API of the "lua" TCP Upper Layer Protocol.
 *
 * This is the user-space interface of the 2019 PUC-Rio kernel module
 * (github tammela/ulp-lua), which luawrap emulates on a stock kernel.
 * The numeric values are part of the binary interface: programs compiled
 * against the original module must keep working unchanged under luawrap,
 * so never renumber anything here.
 *
 * Usage (thesis, Cod. 8), on a listening socket:
 *
 *   setsockopt(fd, SOL_TCP, TCP_ULP, "lua", sizeof("lua"));
 *   setsockopt(fd, SOL_LUA, SS_LUA_LOADSCRIPT, text, textlen);
 *   setsockopt(fd, SOL_LUA, SS_LUA_ENTRYPOINT, "process", sizeof("process"));
 *
 * Every socket accepted from that listener then runs the entry function on
 * the received bytes before recv()/recvmsg() returns; a false/nil result
 * makes the receive fail with ECONNREFUSED and the application should close
 * the connection.
 *
 * Every definition is guarded with #ifndef so this header can be included
 * before or after <netinet/tcp.h>/<linux/tcp.h> (which may define TCP_ULP).
 */
#ifndef LUAWRAP_SOL_LUA_H
#define LUAWRAP_SOL_LUA_H

#include <stdint.h>

/* TCP_ULP arrived in Linux 4.13; old libc headers do not define it. */
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* The module's own socket option level (not a real protocol number). */
#ifndef SOL_LUA
#define SOL_LUA 999
#endif

/*
 * setsockopt: option value is the Lua script text, optlen its length
 * (no NUL needed). Compiled as text only (no bytecode) and run at once, so
 * it can define globals; compile or run errors give EINVAL.
 */
#ifndef SS_LUA_LOADSCRIPT
#define SS_LUA_LOADSCRIPT 1
#endif

/*
 * setsockopt: option value is the name of the global Lua function to call
 * on each receive. Callers pass the trailing NUL in optlen, e.g.
 * sizeof("process").
 */
#ifndef SS_LUA_ENTRYPOINT
#define SS_LUA_ENTRYPOINT 2
#endif

/* Names used by the later public code of the module; same values. */
#ifndef ULP_LOADSCRIPT
#define ULP_LOADSCRIPT SS_LUA_LOADSCRIPT
#endif
#ifndef ULP_ENTRYPOINT
#define ULP_ENTRYPOINT SS_LUA_ENTRYPOINT
#endif

/*
 * luawrap extension, getsockopt only: fills a struct sol_lua_stats with the
 * counters of the socket's Lua state (the original module answered
 * ENOPROTOOPT to every getsockopt; it still does for unknown options).
 * setsockopt with this option gives ENOPROTOOPT.
 */
#ifndef SS_LUA_STATS
#define SS_LUA_STATS 3
#endif

/*
 * Counters returned by getsockopt(fd, SOL_LUA, SS_LUA_STATS, &st, &len).
 * Fixed-width fields and no padding, so the layout is the same for 32- and
 * 64-bit callers and for luawrap's Go side (4 x little-endian uint64).
 */
struct sol_lua_stats {
	uint64_t inspected; /* receives on which the entry function ran */
	uint64_t passed;    /* ... it returned a true value */
	uint64_t refused;   /* ... it returned false/nil: ECONNREFUSED */
	uint64_t errors;    /* ... the call failed: a Lua runtime error, a time or
	                     * memory limit, a missing entry function, no script
	                     * or no entry point (also counted in refused, or in
	                     * passed with --on-error=pass) */
};

#ifdef __cplusplus
static_assert(sizeof(struct sol_lua_stats) == 32,
	      "struct sol_lua_stats is part of the ABI: 4 x uint64_t");
#else
_Static_assert(sizeof(struct sol_lua_stats) == 32,
	       "struct sol_lua_stats is part of the ABI: 4 x uint64_t");
#endif

/*
 * Limits. Over the limit setsockopt fails with EINVAL.
 * The original module accepted at most 8192 bytes of script; luawrap raises
 * that to 1 MiB (anything that fit before still fits).
 */
#ifndef SOL_LUA_SCRIPT_MAX
#define SOL_LUA_SCRIPT_MAX 1048576
#endif

/* Maximum entry point name length, including the trailing NUL. */
#ifndef SOL_LUA_ENTRY_MAX
#define SOL_LUA_ENTRY_MAX 64
#endif

#endif /* LUAWRAP_SOL_LUA_H */
