#!/usr/bin/env bash
# Checks `make install` into a scratch DESTDIR (run by `make test`): every file
# lands where PREFIX says, the unit and keepalived example name the installed
# paths, the installed binary runs, the man page renders without warnings, and
# `make uninstall` removes what install put there but the operator's settings.
# Usage: scripts/check-install.sh [magent binary] (default .build/debug/magent)
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-.build/debug/magent}
[ -x "$binary" ] || { echo "check-install: no binary at $binary (build first)" >&2; exit 1; }

destdir=$(mktemp -d)
trap 'rm -rf "$destdir"' EXIT
failures=0
fail() { echo "check-install: FAIL: $*" >&2; failures=$((failures + 1)); }

check_layout() {
    local prefix=$1
    local root=$destdir/$2
    make -s install-files DESTDIR="$root" PREFIX="$prefix" MAGENT_BINARY="$binary" >/dev/null
    for file in bin/magent bin/magent-check; do
        [ -x "$root$prefix/$file" ] || fail "$prefix/$file missing or not executable"
    done
    for file in share/man/man1/magent.1 lib/systemd/system/magent.service \
                share/doc/magent/keepalived.conf share/doc/magent/magent.default; do
        [ -f "$root$prefix/$file" ] || fail "$prefix/$file missing"
    done
    [ -f "$root/etc/default/magent" ] || fail "/etc/default/magent missing"
    grep -q "^ExecStart=$prefix/bin/magent -D " "$root$prefix/lib/systemd/system/magent.service" \
        || fail "magent.service does not start $prefix/bin/magent"
    grep -q "^EnvironmentFile=-/etc/default/magent$" "$root$prefix/lib/systemd/system/magent.service" \
        || fail "magent.service does not read /etc/default/magent"
    grep -q "script \"$prefix/bin/magent-check " "$root$prefix/share/doc/magent/keepalived.conf" \
        || fail "keepalived.conf does not call $prefix/bin/magent-check"
    usage=$("$root$prefix/bin/magent" -h 2>&1 || true)
    grep -q -- "--metrics-port" <<< "$usage" || fail "installed magent -h does not run"
    bash -n "$root$prefix/bin/magent-check" || fail "magent-check is not valid bash"
    if command -v man >/dev/null 2>&1; then
        warnings=$(MANWIDTH=80 man --warnings -l "$root$prefix/share/man/man1/magent.1" 2>&1 >/dev/null || true)
        [ -z "$warnings" ] || fail "man page warnings: $warnings"
        # Captured first: with pipefail, man's SIGPIPE after grep -q's match would fail the check.
        page=$(MANWIDTH=80 man -l "$root$prefix/share/man/man1/magent.1" 2>/dev/null || true)
        grep -q "stats servers" <<< "$page" || fail "man page does not render"
    fi
    # Settings an operator wrote survive a reinstall and an uninstall.
    echo 'MAGENT_SERVERS="-s 127.0.0.1:1"' > "$root/etc/default/magent"
    make -s install-files DESTDIR="$root" PREFIX="$prefix" MAGENT_BINARY="$binary" >/dev/null
    grep -q '127.0.0.1:1' "$root/etc/default/magent" || fail "reinstall overwrote /etc/default/magent"
    make -s uninstall DESTDIR="$root" PREFIX="$prefix" >/dev/null
    left=$(find "$root$prefix" -type f | sed "s|^$root||")
    [ -z "$left" ] || fail "uninstall left: $left"
    [ -f "$root/etc/default/magent" ] || fail "uninstall removed /etc/default/magent"
}

check_layout /usr/local default
check_layout /opt/magent opt

if command -v systemd-analyze >/dev/null 2>&1; then
    # The unit's syntax: the binary and the man page need not be installed here.
    output=$(systemd-analyze verify conf/magent.service 2>&1 \
        | grep -v -e "/usr/local/bin/magent" -e "man magent(1)" -e "^$" || true)
    [ -z "$output" ] || fail "systemd-analyze verify: $output"
fi

if [ "$failures" -gt 0 ]; then
    echo "check-install: $failures failures" >&2
    exit 1
fi
echo "check-install: make install, uninstall and the man page are fine"
