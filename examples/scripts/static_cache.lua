-- static_cache.lua: answer a few fixed resources without the server.
--
-- "GET /healthz" (200, "ok\n") and "GET /cached.html" (a small HTML page),
-- also as HEAD and with a query string, are answered by the script with
-- luawrap.answer(reply, n), n being the length of that request's head: the
-- server never sees them, and a request pipelined behind one is still judged
-- (and usually passed) on its own. Replies keep the connection alive unless
-- the request asked for "Connection: close" (or is HTTP/1.0 without
-- "Connection: keep-alive"): then luawrap.answer(reply, n, true) closes it
-- after the reply. Every answer counts in luawrap.shared key
-- "answered".
--
-- Everything else goes to the server: luawrap.pass(n) for the head and its
-- Content-Length body (conn.body_end marks where the body ends, so body bytes
-- are never mistaken for a request). When the framing cannot be followed
-- (not an HTTP/1.x request line, Transfer-Encoding, a bad Content-Length) the
-- script stops looking: conn.passthrough passes the rest of the connection
-- unjudged, since a body could otherwise smuggle a "request" it would answer.
-- A request with a body is never answered. An incomplete head gets
-- luawrap.more(); luawrap's --max-message and --more-timeout bound the wait.
-- This script validates nothing: put http_strict.lua's checks first if needed.
--
-- Knobs: PAGES below (path → content type and body).
-- Run:   luawrap --script examples/scripts/static_cache.lua -- nginx -g 'daemon off;'

local PAGES = {
	["/healthz"] = { type = "text/plain", body = "ok\n" },
	["/cached.html"] = { type = "text/html; charset=utf-8", body =
		"<!doctype html>\n<title>cached</title>\n<p>Served by luawrap.</p>\n" },
}

local function reply(method, page, connection)
	return "HTTP/1.1 200 OK\r\nContent-Type: " .. page.type
		.. "\r\nContent-Length: " .. #page.body .. "\r\n"
		.. (connection and "Connection: " .. connection .. "\r\n" or "")
		.. "\r\n" .. (method == "HEAD" and "" or page.body)
end

function process(data, conn)
	if conn.passthrough then return true end
	local left = (conn.body_end or 0) - conn.bytes
	if left > 0 then return luawrap.pass(math.min(#data, left)) end

	local hend = data:find("\r\n\r\n", 1, true)
	if not hend then return luawrap.more() end
	local head = data:sub(1, hend + 3)
	local method, target, version = head:match("^(%u+) (%S+) HTTP/(1%.[01])\r\n")
	if not method then
		conn.passthrough = true
		return true
	end
	local cl, unsure, connection = nil, false, ""
	for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
		name = name:lower()
		if name == "content-length" then
			if cl or not value:find("^%d+[ \t]*$") then unsure = true end
			cl = tonumber(value:match("^%d+"))
		elseif name == "transfer-encoding" then
			unsure = true
		elseif name == "connection" then
			connection = connection .. "," .. value:lower()
		end
	end
	if unsure then
		conn.passthrough = true
		return true
	end

	local page = PAGES[target:match("^[^?]*")]
	if page and (method == "GET" or method == "HEAD") and (cl or 0) == 0 then
		local close = connection:find("close", 1, true)
		local keep = connection:find("keep-alive", 1, true)
		luawrap.shared.incr("answered", 1)
		if close or (version == "1.0" and not keep) then
			-- The third argument ends the connection after the reply; the
			-- server sees the client close.
			return luawrap.answer(reply(method, page, "close"), #head, true)
		end
		return luawrap.answer(reply(method, page, version == "1.0" and "keep-alive" or nil), #head)
	end
	conn.body_end = conn.bytes + #head + (cl or 0)
	return luawrap.pass(math.min(#data, #head + (cl or 0)))
end
