#!/usr/bin/env bash
# `make bench-alloc`: heap allocations per request in steady state, counted by
# valgrind's dhat (every malloc the process makes), for get, set and multi-get.
#
# For each scenario the release proxy runs twice under dhat, each time warmed
# up the same way (preload, then one second of the scenario), then loaded for
# the same number of seconds at two fixed rates, LOW and 2 x LOW requests per
# second. Whatever the proxy allocates per second (the health monitor's probes)
# or once (start-up, pools filling) is the same in both runs; the difference in
# blocks allocated, divided by the difference in requests, is what one request
# allocates. Every reply is checked by magent-loadgen.
#
# Usage: scripts/count-allocations.sh [SECONDS] [LOW_RATE]   (defaults 4 and 400)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-4}
low=${2:-400}
high=$((low * 2))
build=.build/release
command -v valgrind > /dev/null || { echo "valgrind is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
swift build -c release --product magent > /dev/null
swift build -c release --product magent-loadgen > /dev/null

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

source scripts/lib/ports.sh

servers=()
for _ in 1 2; do
    port=$(free_port)
    memcached -u nobody -l 127.0.0.1 -p "$port" -U 0 -t 1 &
    pids+=($!)
    servers+=("-s" "127.0.0.1:$port")
    wait_port "$port"
done

# One proxy run under dhat: prints "<blocks allocated> <requests sent at the measured rate>".
measure() {
    local rate=$1
    shift
    local port out
    port=$(free_port)
    out="$work/dhat.$rate.$RANDOM"
    valgrind --tool=dhat --dhat-out-file="$out.json" "$build/magent" -D -t 1 -l 127.0.0.1 -p "$port" "${servers[@]}" \
        > /dev/null 2> "$out.log" &
    local proxy=$!
    pids+=("$proxy")
    wait_port "$port" 300
    "$build/magent-loadgen" --port "$port" --connections 4 --duration 1 --rate 200 "$@" > /dev/null
    local result
    result=$("$build/magent-loadgen" --port "$port" --connections 4 --duration "$seconds" --rate "$rate" --skip-preload "$@" | grep '^result')
    case "$result" in *" errors=0"*) ;; *) echo "load failed: $result" >&2; exit 1 ;; esac
    kill -TERM "$proxy"
    wait "$proxy" || true
    local blocks
    blocks=$(grep -oE 'Total: +[0-9,]+ bytes in [0-9,]+ blocks' "$out.log" | head -1 | sed -E 's/.* in ([0-9,]+) blocks/\1/' | tr -d ,)
    [ -n "$blocks" ] || { echo "no dhat summary:"; tail -20 "$out.log"; exit 1; } >&2
    echo "$blocks $(sed -E 's/.*requests=([0-9]+).*/\1/' <<< "$result")"
}

printf '%-10s %12s %12s %12s %12s %16s\n' scenario requests-low blocks-low requests-high blocks-high allocs/request
for scenario in get set multi-get; do
    case $scenario in
        get) options=(--get-ratio 1) ;;
        set) options=(--get-ratio 0) ;;
        multi-get) options=(--get-ratio 1 --keys-per-get 10-100) ;;
    esac
    read -r blocks_low requests_low <<< "$(measure "$low" "${options[@]}")"
    read -r blocks_high requests_high <<< "$(measure "$high" "${options[@]}")"
    per_request=$(awk -v a="$blocks_low" -v b="$blocks_high" -v x="$requests_low" -v y="$requests_high" \
        'BEGIN { printf "%.3f", (b - a) / (y - x) }')
    printf '%-10s %12s %12s %12s %12s %16s\n' "$scenario" "$requests_low" "$blocks_low" "$requests_high" "$blocks_high" "$per_request"
done
