#!/usr/bin/env bash
# Installs what building, running and testing magent needs on a fresh Debian
# machine: libevent-dev, pkg-config, memcached and the test clients. Idempotent.
set -euo pipefail

packages=(libevent-dev pkg-config memcached libmemcached-tools netcat-openbsd)
# The operations tests scrape /metrics with curl.
packages+=(curl)
# The real clients Tests/MagentIntegrationTests/ClientTests.swift runs through the proxy:
# PHP (pecl memcache, php-memcached, sessions), Java spymemcached, pymemcache, python-memcached.
packages+=(php-cli php-memcache php-memcached libspymemcached-java python3 python3-pymemcache python3-memcache)
# scripts/bench.sh measures against twemproxy (nutcracker) and pins processes with taskset.
packages+=(nutcracker util-linux)
# make test-leaks runs the proxy under valgrind.
packages+=(valgrind)
# make deb and scripts/check-deb.sh: dpkg-deb and dpkg-shlibdeps (dpkg-dev), strip and
# readelf (binutils), the maintainer scripts' adduser and deb-systemd-helper
# (init-system-helpers), unshare and mount (util-linux, mount), man -l (man-db).
packages+=(dpkg-dev binutils adduser init-system-helpers mount man-db)
# spymemcached's test client is compiled at test time: a JDK only where javac is missing.
if ! command -v javac >/dev/null 2>&1; then packages+=(default-jdk-headless); fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "install-deps: installing ${missing[*]}"
    sudo_cmd=()
    if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
    # Other checkouts on the same machine may be installing too: wait for dpkg's lock.
    apt_options=(-o DPkg::Lock::Timeout=600)
    "${sudo_cmd[@]}" apt-get "${apt_options[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: the Swift 6 toolchain (swift) is not on PATH" >&2
    exit 1
fi
