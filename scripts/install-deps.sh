#!/usr/bin/env bash
# Installs what building, running and testing magent needs on a fresh Debian
# machine: libevent-dev, pkg-config, memcached and the test clients. Idempotent.
set -euo pipefail

packages=(libevent-dev pkg-config memcached libmemcached-tools netcat-openbsd)

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
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: the Swift 6 toolchain (swift) is not on PATH" >&2
    exit 1
fi
