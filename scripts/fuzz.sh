#!/usr/bin/env bash
# `make fuzz` (60 s per target) and the short run in `make test` (SECONDS=10):
# libFuzzer (swiftc -sanitize=fuzzer,address) over the client request parsers
# (text and meta; binary) and the backend reply parser, with the invariants in Fuzz/*.swift, starting from
# the seed corpus in Fuzz/corpus. A crash stops the run with status 1 and leaves
# its input in .build/fuzz/artifacts: turn it into a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
out=.build/fuzz
mkdir -p "$out/artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in request-parser:RequestParserFuzz binary-request-parser:BinaryRequestParserFuzz backend-reply-parser:BackendReplyParserFuzz; do
    name=${target%%:*}
    source=${target##*:}
    swiftc -O -sanitize=fuzzer,address -use-ld=lld -parse-as-library -module-name MagentCore \
        Sources/MagentCore/Protocol/*.swift Sources/MagentCore/Server/ByteBuffer.swift "Fuzz/$source.swift" -o "$out/$name"
    mkdir -p "$work/$name"
    echo "fuzz: $name for $seconds s"
    if ! "$out/$name" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name-" "$work/$name" "Fuzz/corpus/$name" > "$work/$name.log" 2>&1; then
        tail -30 "$work/$name.log"
        echo "fuzz: $name FAILED; the input is in $out/artifacts/" >&2
        exit 1
    fi
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$name.log" | sed "s/^/fuzz: $name /"
done
echo "fuzz: no crash"
