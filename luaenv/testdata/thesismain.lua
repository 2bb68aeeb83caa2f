-- Driver for lua5.4: arg[1] thesis script, arg[2] dump helper, arg[3] file
-- of hex-encoded requests; prints dumpheader(request) per line.
local function slurp(name)
  local f = assert(io.open(name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
assert(load(slurp(arg[1]) .. slurp(arg[2]), "=thesis_http.lua"))()
for line in io.lines(arg[3]) do
  local req = line:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  io.write(dumpheader(req), "\n")
end
