-- Cód. 13 of the thesis: HTTP request sanity check, copied verbatim (only
-- HAProxy's core.register_action glue removed). process(buff) returns true when
-- the bytes contain CRLF and at least one "Name: value" header field, else
-- nothing (nil: refused). As in the thesis, the GET check only records the
-- path; it does not refuse other methods. "%g" needs Lua >= 5.2: gopher-lua
-- (Lua 5.1) reads it as a literal "g" unless luawrap provides it. The spaces
-- in "GET (%g+) HTTP" render as underscores in the thesis PDF text.
local parse = {}
function parse.sanitycheck(s)
    if not string.find(s, "\r\n") then return end
    return true
end
function parse.requestmethod(s)
    local ok = string.match(s, "^GET")
    if not ok then return end
    local path = string.match(s, "GET (%g+) HTTP")
    return path
end
function parse.requestfields(s, header)
    local size = 0
    for k, v in string.gmatch(s, "(%g*):%s*([^\r\n]+)") do
        header[k] = v
        size = size + 1
    end
    return size ~= 0, size
end
function parse.http(s)
    local header = {}
    if parse.sanitycheck(s) then
        header.GET = parse.requestmethod(s)
        local ok, size = parse.requestfields(s, header)
        if not ok then return end
        header.size = size
        return true, header
    end
    return
end
function process(buff)
    local ok, header = parse.http(buff)
    if ok then return true end
end
