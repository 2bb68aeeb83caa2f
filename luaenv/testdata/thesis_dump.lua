
-- Appended to the thesis script (testapps/scripts/http_check.lua) by the tests (parse is a local of that chunk):
-- the verdict and the parsed header, keys sorted, values hex-encoded.
function dumpheader(s)
  local verdict = process(s) and "pass" or "refuse"
  local ok, h = parse.http(s)
  if not ok then return verdict end
  local keys = {}
  for k in pairs(h) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local out = { verdict }
  for _, k in ipairs(keys) do
    local v = tostring(h[k])
    local t = {}
    for i = 1, #v do t[i] = string.format("%02x", string.byte(v, i)) end
    local kt = {}
    for i = 1, #k do kt[i] = string.format("%02x", string.byte(k, i)) end
    out[#out + 1] = table.concat(kt) .. "=" .. table.concat(t)
  end
  return table.concat(out, " ")
end
