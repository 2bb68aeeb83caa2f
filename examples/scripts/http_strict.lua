-- http_strict.lua: a strict HTTP/1.x request validator (RFC 9110/9112).
--
-- Each request head is checked before the server sees any of it; a bad one is
-- refused with a complete "Connection: close" reply, and logged:
--   400  control bytes (NUL, ESC, ...; HTAB only inside field values), bare CR
--        or bare LF, obs-fold (a line starting with SP/HTAB), a request line
--        not "METHOD SP request-target SP HTTP/1.1" (or HTTP/1.0), a field
--        name that is not a token or has whitespace before the colon, Host
--        missing (HTTP/1.1) or repeated, Content-Length not digits or
--        repeated with differing values, both Content-Length and
--        Transfer-Encoding, Transfer-Encoding in an HTTP/1.0 request
--   405  a method outside METHODS (with an Allow: header), refused as soon
--        as the first bytes rule every allowed method out
--   411  Transfer-Encoding: chunked (this script does not parse chunked
--        bodies, so it cannot find where the next request starts; clients
--        must send Content-Length)
--   413  Content-Length over MAX_BODY
--   414  a request line over MAX_LINE bytes
--   431  a head over MAX_HEAD bytes or MAX_FIELDS field lines; refused as
--        soon as that many bytes arrived without the blank line, not after
--        waiting for the rest
--   501  any other Transfer-Encoding
--   505  a well-formed version other than HTTP/1.0 and HTTP/1.1
-- Empty lines before a request line are refused too (400), as a strict
-- server may.
--
-- An incomplete head gets luawrap.more(): luawrap calls again with more
-- bytes (until --max-message or --more-timeout refuses). A valid head is
-- passed with luawrap.pass(n) together with as much of its Content-Length
-- body as has arrived; conn.body_end remembers where the body ends in the
-- stream, so later calls pass body bytes without parsing them. Pipelined
-- requests are therefore judged one by one.
--
-- Knobs: the locals below.
-- Run:   luawrap --script examples/scripts/http_strict.lua -- nginx -g 'daemon off;'

local MAX_LINE = 8 * 1024 -- request line, CRLF excluded
local MAX_HEAD = 16 * 1024 -- request line, fields and the blank line
local MAX_FIELDS = 100 -- header field lines
local MAX_BODY = 64 * 1024 * 1024 -- Content-Length
local METHODS = { GET = true, HEAD = true, POST = true, PUT = true,
	DELETE = true, OPTIONS = true, PATCH = true }
local ALLOW = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"

local REASON = { [400] = "Bad Request", [405] = "Method Not Allowed",
	[411] = "Length Required", [413] = "Content Too Large",
	[414] = "URI Too Long", [431] = "Request Header Fields Too Large",
	[501] = "Not Implemented", [505] = "HTTP Version Not Supported" }

local TCHAR = "[%w!#$%%&'*+%-.^_`|~]" -- a token's bytes
local CTL = "[\0-\8\11\12\14-\31\127]" -- control bytes but HTAB, LF, CR

local function refuse(conn, status, why, extra)
	local text = status .. " " .. REASON[status]
	local body = text .. ": " .. why .. "\n"
	luawrap.info("refused", status, why, conn.peer)
	return luawrap.refuse("HTTP/1.1 " .. text .. "\r\n" .. (extra or "")
		.. "Content-Type: text/plain\r\nContent-Length: " .. #body
		.. "\r\nConnection: close\r\n\r\n" .. body)
end

-- Byte-level faults in s, the head or, while it is incomplete, all of data.
local function bad_bytes(s)
	if s:find(CTL) then return "control byte" end
	if s:find("\r[^\n]") then return "bare CR" end
	if s:find("^\n") or s:find("[^\r]\n") then return "bare LF" end
	if s:find("\r\n[ \t]") then return "obs-fold" end
end

-- The request line, whole (complete) or a prefix of it: status, why.
local function bad_line(line, complete)
	local m, sp = line:match("^(" .. TCHAR .. "*)( ?)")
	if sp == "" and #m < #line then return 400, "malformed method" end
	if sp == "" and complete then return 400, "malformed request line" end
	if sp == "" then -- the method so far: can it still become an allowed one?
		for k in pairs(METHODS) do
			if k:sub(1, #m) == m then return end
		end
		return 405, "method not allowed"
	end
	if m == "" then return 400, "empty method" end
	if not METHODS[m] then return 405, "method not allowed" end
	if #line > MAX_LINE then return 414, "request line too long" end
	if not complete then return end
	local target, version = line:sub(#m + 2):match("^([^ ]+) ([^ ]+)$")
	if not target then return 400, "malformed request line" end
	if not version:find("^HTTP/%d%.%d$") then return 400, "bad version" end
	if version ~= "HTTP/1.1" and version ~= "HTTP/1.0" then
		return 505, "unsupported version"
	end
	if not (target:find("^/%g*$") or target:find("^[Hh][Tt][Tt][Pp][Ss]?://%g+$")
			or (m == "OPTIONS" and target == "*")) then
		return 400, "bad request-target"
	end
end

-- The header fields (each line ends in CRLF): status, why, or nil and the
-- Content-Length (a number or nil).
local function check_fields(block, version)
	local n, hosts, cl, te = 0, 0, nil, nil
	for line in block:gmatch("(.-)\r\n") do
		n = n + 1
		if n > MAX_FIELDS then return 431, "too many fields" end
		local name, value = line:match("^(" .. TCHAR .. "+):(.*)$")
		if not name then
			if line:find("^[^:]-[ \t]:") then return 400, "whitespace before colon" end
			return 400, "malformed field"
		end
		name, value = name:lower(), value:match("^[ \t]*(.-)[ \t]*$")
		if name == "host" then
			hosts = hosts + 1
			if not value:find("^[%w%-._~%%!$&'()*+,;=:%[%]]*$") then
				return 400, "bad Host"
			end
		elseif name == "content-length" then
			for item in (value .. ","):gmatch("([^,]*),") do
				item = item:match("^[ \t]*(.-)[ \t]*$")
				if not item:find("^%d+$") or #item > 15 then
					return 400, "bad Content-Length"
				end
				if cl and tonumber(item) ~= cl then
					return 400, "differing Content-Lengths"
				end
				cl = tonumber(item)
			end
		elseif name == "transfer-encoding" then
			te = te and (te .. "," .. value) or value
		end
	end
	if hosts > 1 then return 400, "more than one Host" end
	if hosts == 0 and version == "HTTP/1.1" then return 400, "missing Host" end
	if te then
		if cl then return 400, "both Content-Length and Transfer-Encoding" end
		if version == "HTTP/1.0" then return 400, "Transfer-Encoding in HTTP/1.0" end
		if te:lower() == "chunked" then return 411, "chunked body" end
		return 501, "unsupported Transfer-Encoding"
	end
	if cl and cl > MAX_BODY then return 413, "body too large" end
	return nil, nil, cl
end

function process(data, conn)
	-- Body bytes of a request passed earlier: deliver them unparsed.
	local left = (conn.body_end or 0) - conn.bytes
	if left > 0 then return luawrap.pass(math.min(#data, left)) end

	local hend = data:find("\r\n\r\n", 1, true)
	local head = hend and data:sub(1, hend + 3) or data
	local why = bad_bytes(head:sub(1, MAX_HEAD))
	if why then return refuse(conn, 400, why) end
	local line = head:match("^(.-)\r\n")
	local status
	status, why = bad_line(line or head:match("^(.-)\r?$"), line ~= nil)
	if status then
		local extra = status == 405 and "Allow: " .. ALLOW .. "\r\n" or nil
		return refuse(conn, status, why, extra)
	end
	if #head > MAX_HEAD then return refuse(conn, 431, "head too large") end
	if not hend then return luawrap.more() end

	local cl
	status, why, cl = check_fields(head:sub(#line + 3, -3), line:match("HTTP/1%.%d$"))
	if status then return refuse(conn, status, why) end
	conn.body_end = conn.bytes + #head + (cl or 0)
	return luawrap.pass(math.min(#data, #head + (cl or 0)))
end
