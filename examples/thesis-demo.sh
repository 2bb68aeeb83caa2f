#!/usr/bin/env bash
# Installs what luawrap needs on Debian 12, builds it, and runs the thesis's
# test server (Cód. 8 + Cód. 11) under luawrap with the thesis's HTTP check
# (Cód. 13): one request passes, one is refused inside recv().
# Another of the thesis's scripts can be named: hello.lua (Cód. 12, prints to
# luawrap's log) or gc_stress.lua (Cód. 14, refuses everything), e.g.
#   ./examples/thesis-demo.sh hello.lua
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libseccomp-dev gcc libc6-dev curl >/dev/null
export PATH=$PATH:/usr/local/go/bin
mkdir -p bin
go build -o bin/luawrap ./cmd/luawrap
gcc -O2 -Wall -Iinclude -o bin/thesis_server testapps/c/thesis_server.c
port=${PORT:-18080}
out=$(mktemp)
script=testapps/scripts/${1:-http_check.lua}
[ -e "$script" ] || script=examples/scripts/${1:-http_check.lua}
bin/luawrap -- bin/thesis_server "$port" "$script" >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
echo "== a valid request (the thesis's HTTP check returns true): the server answers"
curl -sS "http://127.0.0.1:$port/index.html"
echo "== a request with no header fields (the HTTP check returns nil): recv() fails with ECONNREFUSED"
curl -sS -0 -H 'Host:' -H 'User-Agent:' -H 'Accept:' "http://127.0.0.1:$port/" || true
echo "== what the server saw"
cat "$out"
