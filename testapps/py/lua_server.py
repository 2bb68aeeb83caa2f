#!/usr/bin/env python3
"""lua_server - a small Python server written for the SOL_LUA API of the 2019
"lua" TCP ULP, the way a Python program for the original kernel module would
have been written (no header to import: the ABI numbers are spelled out).

usage: lua_server.py [-n] PORT SCRIPT [ENTRY]
  -n     no ULP: skip the SOL_LUA setup (bare-kernel run); SCRIPT is ignored
  PORT   0 lets the kernel choose; the real port is printed
  ENTRY  Lua entry function, default "process"

stdout (one line per event, flushed):
  listening <port>
  accept
  recv <n>          recv() returned n bytes; the server replies "ok <n>\\n"
  refused           recv() failed with ECONNREFUSED (the script said no)
  eof               recv() returned 0
  error <ERRNO>     other receive/send error; the connection is closed

One connection at a time, sequentially. No signal handling of its own: a
SIGINT raises KeyboardInterrupt wherever the server is blocked, as in any
Python program.
"""
import errno
import socket
import sys

TCP_ULP = 31
SOL_LUA = 999
SS_LUA_LOADSCRIPT = 1
SS_LUA_ENTRYPOINT = 2


def main(argv):
    noulp = False
    if argv and argv[0] == "-n":
        noulp = True
        argv = argv[1:]
    if len(argv) < (1 if noulp else 2) or len(argv) > 3:
        print("usage: lua_server.py [-n] PORT SCRIPT [ENTRY]", file=sys.stderr)
        return 1
    port = int(argv[0])
    entry = argv[2] if len(argv) == 3 else "process"

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    if not noulp:
        with open(argv[1], "rb") as f:
            script = f.read()
        ls.setsockopt(socket.SOL_TCP, TCP_ULP, b"lua")
        ls.setsockopt(SOL_LUA, SS_LUA_LOADSCRIPT, script)
        ls.setsockopt(SOL_LUA, SS_LUA_ENTRYPOINT, entry.encode() + b"\0")
    ls.listen(16)
    print("listening", ls.getsockname()[1], flush=True)

    while True:
        conn, _ = ls.accept()
        print("accept", flush=True)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except ConnectionRefusedError:
                    print("refused", flush=True)
                    break
                except OSError as e:
                    print("error", errno.errorcode.get(e.errno, e.errno), flush=True)
                    break
                if not data:
                    print("eof", flush=True)
                    break
                print("recv", len(data), flush=True)
                try:
                    conn.sendall(b"ok %d\n" % len(data))
                except OSError as e:
                    print("error", errno.errorcode.get(e.errno, e.errno), flush=True)
                    break


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
