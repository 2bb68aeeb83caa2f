#!/usr/bin/env bash
# nginx under luawrap with the thesis HTTP check, against the anchors of
# ../shared/bench/anchors.sh (bare nginx, HAProxy+Lua in front of nginx),
# with wrk, in one run, as ratios to bare nginx. Rounds alternate the
# targets so drift on a noisy machine hits them alike. "trap-floor" is nginx
# under bench/min_supervisor.c answering every recvfrom CONTINUE: what any
# design that traps each receive costs here before doing any work.
#   bench/nginx.sh [SECONDS] [ROUNDS]
# Needs nginx-light, haproxy, wrk; builds luawrap into bench/.out.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5} rounds=${2:-2} base=${BASE:-28080}
anchors=${ANCHORS:-../shared/bench/anchors.sh}
out=bench/.out
mkdir -p "$out"
export PATH=$PATH:/usr/local/go/bin
go build -o "$out/luawrap" ./cmd/luawrap
dir=$(mktemp -d)
trap 'bash "$anchors" stop "$dir" >/dev/null 2>&1; kill $lw 2>/dev/null; kill "$(cat "$dir/floor-nginx.pid" 2>/dev/null)" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
bash "$anchors" start "$dir" "$base" >/dev/null
# The same nginx configuration, on its own port, under luawrap.
sed -e "s/127.0.0.1:$base /127.0.0.1:$((base + 3)) /" -e "s#pid $dir/nginx.pid#pid $dir/lw-nginx.pid#" \
	"$dir/nginx.conf" >"$dir/lw-nginx.conf"
"$out/luawrap" --script examples/scripts/http_check.lua -- nginx -c "$dir/lw-nginx.conf" -p "$dir" >"$dir/lw.log" 2>&1 &
lw=$!
gcc -O2 -o "$out/min_supervisor" bench/min_supervisor.c
sed -e "s/127.0.0.1:$base /127.0.0.1:$((base + 4)) /" -e "s#pid $dir/nginx.pid#pid $dir/floor-nginx.pid#" \
	"$dir/nginx.conf" >"$dir/floor-nginx.conf"
"$out/min_supervisor" -r nginx -c "$dir/floor-nginx.conf" -p "$dir" >"$dir/floor.log" 2>&1 &
floor=$!
for port in $((base + 3)) $((base + 4)); do
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

declare -A sum cpu
ticks() { awk '{print $14 + $15}' "/proc/$lw/stat"; }
targets="bare:$base trap-floor:$((base + 4)) luawrap:$((base + 3)) haproxy-tcp-thesis:$((base + 2)) haproxy-http-lua:$((base + 1))"
for r in $(seq "$rounds"); do
	for mode in keepalive close; do
		hdr=()
		[ "$mode" = close ] && hdr=(-H "Connection: close")
		for t in $targets; do
			name=${t%%:*} port=${t##*:}
			t0=$(ticks)
			rps=$(wrk -t2 -c8 -d"${secs}s" "${hdr[@]}" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
			if [ "$name" = luawrap ]; then
				# luawrap's own CPU (its threads; nginx is its child) per request
				cpu[$mode]=$(awk -v c="${cpu[$mode]:-0}" -v t="$(($(ticks) - t0))" -v hz="$(getconf CLK_TCK)" \
					-v n="$(awk -v r="$rps" -v s="$secs" 'BEGIN {print r * s}')" 'BEGIN {print c + t / hz * 1e6 / n}')
			fi
			sum[$name.$mode]=$(awk -v a="${sum[$name.$mode]:-0}" -v b="$rps" 'BEGIN {print a + b}')
		done
	done
done
printf '%-20s %12s %8s %12s %8s\n' target keepalive ratio close ratio
for t in $targets; do
	name=${t%%:*}
	k=$(awk -v s="${sum[$name.keepalive]}" -v n="$rounds" 'BEGIN {printf "%.0f", s / n}')
	c=$(awk -v s="${sum[$name.close]}" -v n="$rounds" 'BEGIN {printf "%.0f", s / n}')
	kb=$(awk -v s="${sum[bare.keepalive]}" -v n="$rounds" 'BEGIN {print s / n}')
	cb=$(awk -v s="${sum[bare.close]}" -v n="$rounds" 'BEGIN {print s / n}')
	printf '%-20s %12s %8.2f %12s %8.2f\n' "$name" "$k" "$(awk -v a="$k" -v b="$kb" 'BEGIN {print a / b}')" \
		"$c" "$(awk -v a="$c" -v b="$cb" 'BEGIN {print a / b}')"
done
printf 'luawrap CPU per request: keep-alive %.0f us, close %.0f us\n' \
	"$(awk -v c="${cpu[keepalive]}" -v n="$rounds" 'BEGIN {print c / n}')" \
	"$(awk -v c="${cpu[close]}" -v n="$rounds" 'BEGIN {print c / n}')"
