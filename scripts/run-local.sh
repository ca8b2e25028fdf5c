#!/usr/bin/env bash
# `make run`: three memcached on loopback (two primaries, one backup) and the
# proxy in the foreground on 127.0.0.1:12000. Ctrl-C stops all of them.
set -euo pipefail

magent=${MAGENT_BINARY:-.build/release/magent}
port=${MAGENT_PORT:-12000}
memcached_ports=(21201 21202 21311)

user_args=()
if [ "$(id -u)" = 0 ]; then user_args=(-u root); fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for memcached_port in "${memcached_ports[@]}"; do
    memcached "${user_args[@]}" -l 127.0.0.1 -p "$memcached_port" -U 0 -m 64 &
    pids+=($!)
done
sleep 0.3

cat <<TEXT
memcached on 127.0.0.1:${memcached_ports[0]} and :${memcached_ports[1]} (primaries), :${memcached_ports[2]} (backup)
magent on 127.0.0.1:$port. Try:  telnet 127.0.0.1 $port   then   stats
Ctrl-C stops everything.
TEXT

"$magent" -D -l 127.0.0.1 -p "$port" \
    -s 127.0.0.1:${memcached_ports[0]} -s 127.0.0.1:${memcached_ports[1]} -b 127.0.0.1:${memcached_ports[2]} "$@" &
pids+=($!)
wait "${pids[-1]}" || true
