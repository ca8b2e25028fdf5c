#!/usr/bin/env bash
# `make bench`: magent against twemproxy (nutcracker) and direct memcached, side
# by side in one run, alternating targets, every reply checked by our own load
# generator. Prints medians and ratios. `scripts/bench.sh full` runs longer.
#
# Method: the load generator is pinned to CPU 0, every server (memcached,
# nutcracker, magent) to CPU 1, so each target pays the same price. Each
# scenario runs every target in turn, REPEATS times; the table shows medians.
# Proxy CPU per request comes from /proc/PID/stat (utime+stime) over each run.
#
# MAGENT_BASELINE=/path/to/an/older/magent adds that binary (without and with
# a backup) as two more targets of the same run: before/after ratios of a
# change come from one run, on the same servers, alternating with the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-quick}
ulimit -n 65536 2>/dev/null || true
if [ "$mode" = full ]; then duration=3; repeats=5; else duration=1; repeats=3; fi

swift build -c release --product magent >/dev/null
swift build -c release --product magent-loadgen >/dev/null
bin=.build/release
loadgen=(taskset -c 0 "$bin/magent-loadgen")
server_cpu=(taskset -c 1)
if [ "$(nproc)" -lt 2 ]; then loadgen=("$bin/magent-loadgen"); server_cpu=(); fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

source scripts/lib/ports.sh

user_args=()
if [ "$(id -u)" = 0 ]; then user_args=(-u root); fi
declare -A port pid
for name in mc1 mc2 mc3; do
    port[$name]=$(free_port)
    "${server_cpu[@]}" memcached "${user_args[@]}" -l 127.0.0.1 -p "${port[$name]}" -U 0 -m 256 -t 1 -c 20000 &
    pid[$name]=$!; pids+=($!)
done
for name in mc1 mc2 mc3; do wait_port "${port[$name]}" 100 0.05; done

port[nutcracker]=$(free_port)
cat > "$work/nutcracker.yml" <<YAML
pool:
  listen: 127.0.0.1:${port[nutcracker]}
  hash: md5
  distribution: ketama
  timeout: 1000
  server_connections: 1
  servers:
    - 127.0.0.1:${port[mc1]}:1
    - 127.0.0.1:${port[mc2]}:1
YAML
"${server_cpu[@]}" nutcracker -c "$work/nutcracker.yml" -o "$work/nutcracker.log" &
pid[nutcracker]=$!; pids+=($!)

# start_proxy NAME BINARY [extra args]: one proxy target over the two primaries.
start_proxy() {
    local name=$1 binary=$2; shift 2
    port[$name]=$(free_port)
    "${server_cpu[@]}" "$binary" -D -l 127.0.0.1 -p "${port[$name]}" -n 20000 -t 1 -k \
        -s 127.0.0.1:${port[mc1]} -s 127.0.0.1:${port[mc2]} "$@" &
    pid[$name]=$!; pids+=($!)
}
start_proxy magent "$bin/magent"
start_proxy magent_backup "$bin/magent" -b 127.0.0.1:${port[mc3]}
port[direct]=${port[mc1]}
pid[direct]=${pid[mc1]}
targets=(direct nutcracker magent magent_backup)
if [ -n "${MAGENT_BASELINE:-}" ]; then
    start_proxy baseline "$MAGENT_BASELINE"
    start_proxy baseline_backup "$MAGENT_BASELINE" -b 127.0.0.1:${port[mc3]}
    targets+=(baseline baseline_backup)
fi
for name in "${targets[@]}"; do [ "$name" = direct ] || wait_port "${port[$name]}" 100 0.05; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Preload every target's servers once (all targets share the same memcached).
for name in "${targets[@]}"; do
    "${loadgen[@]}" --port "${port[$name]}" --connections 4 --duration 0.1 --keys 10000 >/dev/null
done

memory_lines=""
# Memory first, while the proxies are fresh (after a load their heap stays at its high-water mark):
# resident size with 10,000 idle client connections, above the process before them.
for name in nutcracker magent; do
    before=$(awk '/VmRSS/ {print $2}' "/proc/${pid[$name]}/status")
    "${loadgen[@]}" --port "${port[$name]}" --skip-preload --keys 10 --connections 10000 --active 1 --duration 0.2 --hold 3 \
        > "$work/hold.log" 2>&1 &
    holder=$!
    for _ in $(seq 1 300); do grep -q holding "$work/hold.log" 2>/dev/null && break; sleep 0.1; done
    during=$(awk '/VmRSS/ {print $2}' "/proc/${pid[$name]}/status")
    wait $holder || { echo "FAILED: idle connections to $name: $(cat "$work/hold.log")" >&2; exit 1; }
    # After the hold the load generator asks each idle connection once and checks the reply.
    alive=$(sed -n 's/.* idle_checked=\([0-9]*\).*/\1/p' "$work/hold.log")
    memory_lines+=$(printf 'memory %-12s %8d KiB resident idle, %8d KiB with 10000 idle clients (%.2f KiB each), %s idle answered after %ss' \
        "$name" "$before" "$during" "$(awk -v a="$before" -v b="$during" 'BEGIN {print (b - a) / 10000}')" "${alive:-0}" 3)$'\n'
done


declare -A results
run_scenario() {  # name, metric field, loadgen args...
    local scenario=$1 metric=$2; shift 2
    for _ in $(seq 1 "$repeats"); do
        for name in "${targets[@]}"; do
            local before after line
            before=$(cpu_ticks "${pid[$name]}")
            if ! line=$("${loadgen[@]}" --port "${port[$name]}" --skip-preload --keys 10000 --duration "$duration" "$@" 2>&1); then
                echo "FAILED: $scenario on $name: $line" >&2; exit 1
            fi
            after=$(cpu_ticks "${pid[$name]}")
            local value requests
            value=$(echo "$line" | field "$metric")
            requests=$(echo "$line" | field requests)
            results[$scenario,$name]+="$value "
            # microseconds of server CPU per request (ticks are 1/100 s)
            results[$scenario,$name,cpu]+="$(awk -v t=$((after - before)) -v r="$requests" 'BEGIN {printf "%.2f", (r > 0 ? t * 10000 / r : 0)}') "
            if [ "$metric" = p50_us ]; then
                results[$scenario,$name,p99]+="$(echo "$line" | field p99_us) "
                results[$scenario,$name,p999]+="$(echo "$line" | field p999_us) "
            fi
        done
    done
}

run_scenario get-heavy keys_per_sec --connections 50 --get-ratio 0.9 --value-size 32-100
run_scenario set-heavy keys_per_sec --connections 50 --get-ratio 0.1 --value-size 32-100
run_scenario multi-get keys_per_sec --connections 50 --get-ratio 1 --keys-per-get 10-100
run_scenario pipelined keys_per_sec --connections 10 --pipeline 32 --get-ratio 0.9
run_scenario many-conns keys_per_sec --connections 10000 --active 1000 --get-ratio 0.9
run_scenario latency p50_us --connections 50 --rate 20000 --get-ratio 0.9

line=$(printf '\n%-12s %-10s %12s %12s %12s %13s' scenario metric direct nutcracker magent "magent+backup")
[ -n "${MAGENT_BASELINE:-}" ] && line+=$(printf ' %12s %15s' baseline "baseline+backup")
echo "$line"
for scenario in get-heavy set-heavy multi-get pipelined many-conns; do
    line=$(printf '%-12s %-10s' "$scenario" "keys/s")
    for name in "${targets[@]}"; do line+=$(printf ' %12.0f' "$(echo ${results[$scenario,$name]} | tr ' ' '\n' | median)"); done
    echo "$line"
    line=$(printf '%-12s %-10s' "" "cpu us/req")
    for name in "${targets[@]}"; do line+=$(printf ' %12.2f' "$(echo ${results[$scenario,$name,cpu]} | tr ' ' '\n' | median)"); done
    echo "$line"
done
for metric in p50 p99 p999; do
    line=$(printf '%-12s %-10s' "latency" "$metric us")
    for name in "${targets[@]}"; do
        values=${results[latency,$name]}; [ $metric = p50 ] || values=${results[latency,$name,$metric]}
        line+=$(printf ' %12.0f' "$(echo $values | tr ' ' '\n' | median)")
    done
    echo "$line"
done

echo
printf '%s' "$memory_lines"
echo
for scenario in get-heavy set-heavy multi-get pipelined many-conns; do
    d=$(echo ${results[$scenario,direct]} | tr ' ' '\n' | median)
    n=$(echo ${results[$scenario,nutcracker]} | tr ' ' '\n' | median)
    m=$(echo ${results[$scenario,magent]} | tr ' ' '\n' | median)
    b=$(echo ${results[$scenario,magent_backup]} | tr ' ' '\n' | median)
    awk -v s="$scenario" -v d="$d" -v n="$n" -v m="$m" -v b="$b" \
        'BEGIN {printf "ratio %-12s magent/nutcracker %.2f  magent+backup/nutcracker %.2f  magent/direct %.2f\n", s, m/n, b/n, m/d}'
    if [ -n "${MAGENT_BASELINE:-}" ]; then
        o=$(echo ${results[$scenario,baseline]} | tr ' ' '\n' | median)
        ob=$(echo ${results[$scenario,baseline_backup]} | tr ' ' '\n' | median)
        awk -v s="$scenario" -v m="$m" -v b="$b" -v o="$o" -v ob="$ob" -v n="$n" \
            'BEGIN {printf "ratio %-12s baseline/nutcracker %.2f  baseline+backup/nutcracker %.2f  magent/baseline %.2f  magent+backup/baseline+backup %.2f\n", s, o/n, ob/n, m/o, b/ob}'
    fi
done
