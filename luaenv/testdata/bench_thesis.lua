-- Times C Lua on the same loop as BenchmarkThesisHTTP: lua5.4
-- bench_thesis.lua http_check.lua <request-hex> <iterations>. Prints the
-- nanoseconds per call of process(request).
local f = assert(io.open(arg[1], "rb"))
assert(load(f:read("a"), "=thesis_http.lua"))()
f:close()
local req = arg[2]:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
local n = tonumber(arg[3])
local want = process(req)
local t0 = os.clock()
for _ = 1, n do process(req) end
local t = os.clock() - t0
io.write(string.format("%.1f %s\n", t * 1e9 / n, tostring(want)))
