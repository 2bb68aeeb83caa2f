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
    if ok then
        return true
    end
end
