-- Differential test core: runs in lua5.4 and in a luaenv state. It must only
-- use what both have (Lua 5.1 syntax, string.byte/format/sub, table.concat).
local function hex(v)
  local t = {}
  for i = 1, #v do t[i] = string.format("%02x", string.byte(v, i)) end
  return table.concat(t)
end

local function unhex(h)
  local t = {}
  for i = 1, #h, 2 do
    t[#t + 1] = string.char(tonumber(string.sub(h, i, i + 1), 16))
  end
  return table.concat(t)
end

local function ser1(v)
  local t = type(v)
  if t == "string" then return "s" .. hex(v) end
  if t == "number" then return "n" .. string.format("%d", v) end
  return t
end

local function ser(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = ser1((select(i, ...))) end
  return table.concat(out, ",")
end

-- errors: keep Lua's message without the "chunk:line:" prefix that locates it
local function errtext(e)
  e = tostring(e)
  local i = 1
  while true do
    local c = string.sub(e, i, i)
    if c == "" then return e end
    if c == ":" then break end
    i = i + 1
  end
  -- skip "name:line: " when present
  local j = i + 1
  while string.sub(e, j, j) ~= "" and string.find("0123456789", string.sub(e, j, j), 1, true) do j = j + 1 end
  if j > i + 1 and string.sub(e, j, j + 1) == ": " then return string.sub(e, j + 2) end
  return e
end

local repl_table = { a = "[A]", GET = false, Host = 42, ["1"] = "one" }
local function repl_func(a, b)
  if a == "x" then return false end
  if b then return b .. "|" .. a end
  return "<" .. tostring(a) .. ">"
end

local function run(op, s, p, a3, a4)
  if op == "find" then return ser(string.find(s, p, tonumber(a3)))
  elseif op == "findp" then return ser(string.find(s, p, tonumber(a3), true))
  elseif op == "match" then return ser(string.match(s, p, tonumber(a3)))
  elseif op == "gmatch" then
    local out, n = {}, 0
    for a, b, c in string.gmatch(s, p) do
      n = n + 1
      out[n] = ser(a, b, c)
      if n >= 200 then break end
    end
    return table.concat(out, ";")
  elseif op == "gsubs" then return ser(string.gsub(s, p, a3, tonumber(a4)))
  elseif op == "gsubt" then return ser(string.gsub(s, p, repl_table, tonumber(a4)))
  elseif op == "gsubf" then return ser(string.gsub(s, p, repl_func, tonumber(a4)))
  end
  error("unknown op " .. op)
end

function runcase(op, s, p, a3, a4)
  if a3 == "" then a3 = nil end
  if a4 == "" then a4 = nil end
  local ok, r = pcall(run, op, s, p, a3, a4)
  if ok then return "ok " .. r end
  return "err " .. errtext(r)
end

function runline(line)
  local f = {}
  local start = 1
  for i = 1, 5 do
    local j = string.find(line, "\t", start, true) or (#line + 1)
    f[i] = string.sub(line, start, j - 1)
    start = j + 1
  end
  return runcase(f[1], unhex(f[2]), unhex(f[3]), unhex(f[4]), unhex(f[5]))
end
