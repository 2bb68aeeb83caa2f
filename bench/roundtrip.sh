#!/usr/bin/env bash
# Compares, in one run on this machine, what one trapped call costs:
#   floor     a minimal C supervisor answering CONTINUE to read() (min_supervisor.c)
#   luawrap   one receive on a Lua socket: trapped, judged by `return true`, delivered
#   bare      the same receive without luawrap
# and one read() on an fd luawrap does not manage, with and without luawrap.
# Usage: bench/roundtrip.sh [ITERATIONS]   (needs gcc, libseccomp-dev, Go)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export PATH=$PATH:/usr/local/go/bin
go build -o "$out/luawrap" ./cmd/luawrap
gcc -O2 -Iinclude -o "$out/recv_bench" testapps/c/recv_bench.c
gcc -O2 -o "$out/min_supervisor" bench/min_supervisor.c
ns() { "$@" | awk '/ns_per_op/ {print $2}'; }
for round in 1 2 3; do
	printf 'round %d: trapped call floor (C, CONTINUE read) %8s ns | luawrap receive %8s ns | bare receive %8s ns | untrapped read: luawrap %6s ns, bare %6s ns\n' "$round" \
		"$(ns "$out/min_supervisor" "$out/recv_bench" read "$n")" \
		"$(ns "$out/luawrap" -- "$out/recv_bench" recv "$n")" \
		"$(ns "$out/recv_bench" -n recv "$n")" \
		"$(ns "$out/luawrap" -- "$out/recv_bench" read "$n")" \
		"$(ns "$out/recv_bench" -n read "$n")"
done
