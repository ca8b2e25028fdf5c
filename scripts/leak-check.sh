#!/usr/bin/env bash
# `make test-leaks`: the debug proxy under valgrind --leak-check=full through
# connects, disconnects, half-sent values, unread replies and backend failures
# (a primary and the backup killed and restarted), then SIGTERM. Fails when
# valgrind finds a leak (definitely or indirectly lost) or a memory error.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

source scripts/lib/ports.sh
user=(); [ "$(id -u)" = 0 ] && user=(-u root)
start_memcached() { memcached -l 127.0.0.1 -p "$1" -U 0 -m 64 "${user[@]}" > /dev/null 2>&1 & echo $!; }

p1=$(free_port); p2=$(free_port); b1=$(free_port); proxy=$(free_port)
m1=$(start_memcached "$p1"); m2=$(start_memcached "$p2"); mb=$(start_memcached "$b1")
pids+=("$m1" "$m2" "$mb")
for port in "$p1" "$p2" "$b1"; do wait_port "$port"; done

valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 --log-file="$work/valgrind.log" \
    .build/debug/magent -D -l 127.0.0.1 -p "$proxy" -t 2 -s "127.0.0.1:$p1" -s "127.0.0.1:$p2" -b "127.0.0.1:$b1" \
    --request-timeout 3000 --connect-timeout 3000 2> "$work/magent.log" &
magent=$!
pids+=("$magent")
wait_port "$proxy" || { echo "leak-check: the proxy did not start"; cat "$work/magent.log"; exit 1; }

/usr/bin/python3 scripts/leak_scenario.py "$proxy" before
kill -9 "$m1" "$mb"
/usr/bin/python3 scripts/leak_scenario.py "$proxy" during
m1=$(start_memcached "$p1"); mb=$(start_memcached "$b1"); pids+=("$m1" "$mb")
wait_port "$p1"; wait_port "$b1"
sleep 3  # probes, restart detection and refill
/usr/bin/python3 scripts/leak_scenario.py "$proxy" after

kill -TERM "$magent"
status=0
wait "$magent" || status=$?
grep -E "definitely lost|indirectly lost|possibly lost|ERROR SUMMARY" "$work/valgrind.log" | sed 's/^==[0-9]*== /leak-check: /'
if [ "$status" != 0 ]; then
    echo "leak-check: FAILED (exit $status); valgrind's report:"
    cat "$work/valgrind.log"
    exit 1
fi
echo "leak-check: no leaks"
