-- rate_limit.lua: limit new connections per client address.
--
-- on_accept counts each peer's connections in luawrap.shared under
-- "conn:<address>" with a 1 s ttl. The ttl starts with the first connection
-- of a window (incr applies it when it creates the key), so a peer gets at
-- most PER_SECOND connections in each window; the next one is refused with
-- REPLY (a 429 page) and a warning, before the program accepts it. The
-- refused connections count too: a peer that keeps hammering stays over the
-- limit until the window ends.
--
-- With MAX_CONCURRENT > 0 it also bounds the connections a peer has open at
-- once, in "live:<address>": on_accept adds one, on_close takes it back.
-- on_close runs when luawrap sees the connection end (up to ~2 s after the
-- program closes it), so the count lags a little; a close racing with an
-- accept of the same peer can undercount by one, briefly.
--
-- Data is not inspected: process passes everything. Each address counts on
-- its own (IPv6 clients own many; a /64 key would need address parsing). If
-- the store is full (65,536 keys) connections are let through, with a
-- warning.
--
-- Knobs: PER_SECOND, MAX_CONCURRENT, REPLY (nil: close without a reply).
-- Run:   luawrap --script examples/scripts/rate_limit.lua -- nginx -g 'daemon off;'

local PER_SECOND = 10
local MAX_CONCURRENT = 0 -- 0: no limit
local BODY = "429 Too Many Requests\n"
local REPLY = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
	.. "Content-Type: text/plain\r\nContent-Length: " .. #BODY
	.. "\r\nConnection: close\r\n\r\n" .. BODY

function on_accept(conn)
	local n, err = luawrap.shared.incr("conn:" .. conn.peer, 1, 0, 1)
	if not n then
		luawrap.warn("rate limit off:", err)
		return true
	end
	if n > PER_SECOND then
		luawrap.warn("rate limit:", conn.peer, "connection", n, "this second")
		return luawrap.refuse(REPLY)
	end
	if MAX_CONCURRENT > 0 then
		local key = "live:" .. conn.peer
		local live = luawrap.shared.incr(key, 1)
		if live and live > MAX_CONCURRENT then
			luawrap.shared.incr(key, -1)
			luawrap.warn("connection limit:", conn.peer, "has", live - 1, "open")
			return luawrap.refuse(REPLY)
		end
		conn.counted = live ~= nil -- on_close gives it back
	end
	return true
end

function on_close(conn)
	if conn.counted then
		local key = "live:" .. conn.peer
		local live = luawrap.shared.incr(key, -1)
		if live and live <= 0 then luawrap.shared.delete(key) end
	end
end

function process(data, conn)
	return true
end
