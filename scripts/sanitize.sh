#!/usr/bin/env bash
# `make test-asan` / `make test-tsan`: the whole package (proxy and tests) built
# with -sanitize=address or -sanitize=thread in its own build folder
# (.build/asan, .build/tsan; the normal build is untouched), then every test run
# against that proxy. Any sanitizer report, from the proxy or from the tests,
# fails the run; reports are kept in .build/<kind>/reports.
# Usage: sanitize.sh address|thread [swift test --filter pattern]
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?address or thread}
filter=${2:-}
case "$kind" in
    address) dir=.build/asan ;;
    thread) dir=.build/tsan ;;
    *) echo "usage: $0 address|thread [filter]" >&2; exit 2 ;;
esac
swift build --build-tests --sanitize="$kind" --scratch-path "$dir"
reports="$PWD/$dir/reports"
rm -rf "$reports"
mkdir -p "$reports"
# Leaks are checked by `make test-leaks` (valgrind); here memory errors and races.
export ASAN_OPTIONS="detect_leaks=0:log_path=$reports/asan:abort_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:second_deadlock_stack=1"
# Resident-memory bounds are meaningless with the sanitizers' allocators (quarantine, shadow).
export MAGENT_SANITIZER=$kind
status=0
MAGENT_BINARY="$PWD/$dir/debug/magent" swift test --skip-build --scratch-path "$dir" ${filter:+--filter "$filter"} || status=$?
if compgen -G "$reports/*" > /dev/null; then
    echo "sanitize ($kind): reports in $reports:" >&2
    head -60 "$reports"/* >&2
    exit 1
fi
[ "$status" = 0 ] || { echo "sanitize ($kind): tests failed" >&2; exit "$status"; }
echo "sanitize ($kind): every test passed, no reports"
