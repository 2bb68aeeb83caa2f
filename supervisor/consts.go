package supervisor

// The original module's ABI (thesis §5, include/luawrap/sol_lua.h).
const (
	SolTCP          = 6   // SOL_TCP
	TCPULP          = 31  // TCP_ULP
	SolLua          = 999 // SOL_LUA
	OptLoadScript   = 1   // SS_LUA_LOADSCRIPT, later ULP_LOADSCRIPT
	OptEntryPoint   = 2   // SS_LUA_ENTRYPOINT, later ULP_ENTRYPOINT
	OptStats        = 3   // SS_LUA_STATS (luawrap): struct sol_lua_stats
	ULPName         = "lua"
	ulpNameMax      = 16 // TCP_ULP_NAME_MAX, include/net/tcp.h
	ScriptMax       = 1 << 20
	EntryMax        = 64 // the original's limit, NUL included
	statsStructSize = 32
)
