#!/usr/bin/env bash
# Run by scripts/check-deb.sh inside its namespace, chrooted into an overlay
# of this machine whose writes vanish with the namespace, the Swift
# toolchain's directory hidden under an empty tmpfs. Installs the package with
# dpkg, checks what the maintainer scripts did, runs the installed proxy as
# its unit would against a memcached on a free loopback port, then upgrades,
# removes and purges.
# Usage: check-deb-chroot.sh PACKAGE.deb TOOLCHAIN_DIR
set -euo pipefail
# A command that fails outside a test (set -e) says where.
trap 'echo "check-deb (chroot): stopped by a failed command at line $LINENO: $BASH_COMMAND" >&2' ERR

deb=$1
toolchain=$2
here=/tmp/check
# shellcheck source=ports.sh
. "$here/ports.sh"

failures=0
fail() { echo "check-deb: FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "check-deb: FAIL: $*" >&2; exit 1; }

pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap stop_all EXIT

# forget PID: a process this script stopped (and waited for) itself.
forget() {
    local pid kept=()
    for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    pids=("${kept[@]}")
}

# exchange PORT REQUEST EXPECTED: sends REQUEST (printf escapes) and reads
# until EXPECTED's length has arrived or 5 s have passed.
exchange() {
    python3 - "$@" <<'PYTHON'
import socket, sys
port, request, expected = int(sys.argv[1]), sys.argv[2], sys.argv[3]
decode = lambda text: text.encode().decode("unicode_escape").encode("latin-1")
request, expected = decode(request), decode(expected)
connection = socket.create_connection(("127.0.0.1", port), timeout=5)
connection.sendall(request)
reply = b""
try:
    while len(reply) < len(expected):
        data = connection.recv(65536)
        if not data:
            break
        reply += data
except socket.timeout:
    pass
if reply != expected:
    print(f"port {port}: expected {expected!r}, got {reply!r}", file=sys.stderr)
    sys.exit(1)
PYTHON
}

dpkg_run() {
    local log=$here/dpkg.log
    if ! dpkg --force-confdef --force-confold "$@" > "$log" 2>&1 < /dev/null; then
        cat "$log" >&2
        die "dpkg $* failed"
    fi
    if grep -i -E "warning|error" "$log" >&2; then fail "dpkg $* warned"; fi
}

status_of() { dpkg-query -W -f='${Status}' magent 2>/dev/null || echo "not known"; }
unit=/lib/systemd/system/magent.service
wants=/etc/systemd/system/multi-user.target.wants/magent.service

# --- the toolchain is not here ----------------------------------------------
[ -d "$toolchain" ] && [ -z "$(ls -A "$toolchain")" ] || die "$toolchain is not empty in the namespace"
command -v swift >/dev/null 2>&1 && die "swift is still on PATH ($(command -v swift))"
if LD_LIBRARY_PATH=$toolchain/usr/lib/swift/linux "$here/control-program" --help > "$here/control.log" 2>&1; then
    die "a program linked to the toolchain's libswiftCore.so still runs: the toolchain is not hidden"
fi
grep -q "libswiftCore.so" "$here/control.log" || die "the control program failed for another reason: $(cat "$here/control.log")"
echo "check-deb: $toolchain is empty here; a toolchain-linked program fails: $(head -1 "$here/control.log")"

# A systemd host, as far as the maintainer scripts can tell: /run/systemd/system
# exists, no policy-rc.d forbids starting services (containers have one that
# does), and systemctl records every call: start, stop, restart, reload and
# daemon-reload succeed without doing anything, is-active says inactive, the
# rest (preset, enable, disable, is-enabled: files only) goes to the real one.
# The overlay keeps the real system's files safe.
systemctl_log=$here/systemctl.log
: > "$systemctl_log"
systemctl=$(command -v systemctl)
mv "$systemctl" "$systemctl.real"
cat > "$systemctl" <<STUB
#!/bin/sh
echo "\$*" >> $systemctl_log
for argument in "\$@"; do
    case \$argument in
        start | stop | restart | try-restart | reload | daemon-reload) exit 0 ;;
        is-active) exit 3 ;;
    esac
done
exec $systemctl.real "\$@"
STUB
chmod 0755 "$systemctl"
rm -f /usr/sbin/policy-rc.d
mkdir -p /run/systemd/system

# --- install ----------------------------------------------------------------
dpkg_run -i "$deb"
[ "$(status_of)" = "install ok installed" ] || die "after dpkg -i: $(status_of)"
dpkg --verify magent || fail "dpkg --verify: installed files differ from md5sums"
dpkg -L magent > "$here/files"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd magent) || die "postinst created no magent user"
[ "$uid" -lt 1000 ] || fail "magent is not a system user (uid $uid)"
[ "$(getent group magent | cut -d: -f3)" = "$gid" ] || fail "magent's primary group is not the magent group"
[ "$home" = /nonexistent ] || fail "magent's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "magent's shell is $shell"
[ "$(stat -c %U:%G:%a /var/lib/magent 2>/dev/null)" = magent:magent:750 ] \
    || fail "postinst made no /var/lib/magent owned by magent, mode 0750: $(stat -c %U:%G:%a /var/lib/magent 2>&1)"
[ -L "$wants" ] && [ "$(readlink "$wants")" = "$unit" ] || fail "postinst did not enable magent.service ($wants)"
grep -q -- "--system daemon-reload" "$systemctl_log" || fail "postinst did not reload systemd"
grep -q "start magent.service" "$systemctl_log" || fail "postinst did not start magent.service: $(cat "$systemctl_log")"
grep -q "restart" "$systemctl_log" && fail "a first installation restarted instead of starting"

ldd_output=$(ldd /usr/bin/magent 2>&1) || fail "ldd /usr/bin/magent failed"
echo "check-deb: ldd /usr/bin/magent (installed, toolchain hidden):"
sed 's/^/    /' <<< "$ldd_output"
grep -q "not found" <<< "$ldd_output" && fail "the installed binary misses libraries"
grep -E -e "$toolchain/" -e 'libswift|libdispatch|libBlocksRuntime|Foundation' <<< "$ldd_output" \
    && fail "the installed binary loads a toolchain library"
if command -v systemd-analyze >/dev/null 2>&1; then
    output=$(systemd-analyze verify "$unit" 2>&1 | grep -v -e "^$" || true)
    [ -z "$output" ] || fail "systemd-analyze verify $unit: $output"
fi

# --- the installed proxy, started as its unit starts it ---------------------
memcached_port=$(free_port)
memcached -u memcache -l 127.0.0.1 -p "$memcached_port" -U 0 -m 16 > "$here/memcached.log" 2>&1 &
pids+=($!)
wait_port "$memcached_port" || die "memcached did not start: $(cat "$here/memcached.log")"

# The operator's settings: this memcached, loopback, a free port.
port=$(free_port)
sed -i -e "s|^MAGENT_SERVERS=.*|MAGENT_SERVERS=\"-s 127.0.0.1:$memcached_port\"|" \
    -e 's|^MAGENT_BACKUPS=.*|MAGENT_BACKUPS=""|' -e 's|^MAGENT_LISTEN=.*|MAGENT_LISTEN=127.0.0.1|' \
    -e "s|^MAGENT_PORT=.*|MAGENT_PORT=$port|" /etc/default/magent
# What systemd does with the unit: its Environment= lines, then the
# EnvironmentFile, then ExecStart with ${VAR} as one word and $VAR split.
(
    set -a
    eval "$(sed -n 's/^Environment=//p' "$unit")"
    # shellcheck disable=SC1091
    . /etc/default/magent
    set +a
    eval "exec $(sed -n 's/^ExecStart=//p' "$unit")"
) > "$here/magent.log" 2>&1 &
magent_pid=$!
pids+=("$magent_pid")
wait_port "$port" || die "the installed magent did not start: $(cat "$here/magent.log")"
magent_uid=$(id -u magent)
switched=0
for _ in $(seq 1 50); do
    if [ "$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$magent_pid/status" 2>/dev/null)" = "$magent_uid$magent_uid$magent_uid$magent_uid" ]; then
        switched=1
        break
    fi
    sleep 0.1
done
[ "$switched" = 1 ] || fail "the proxy does not run as the magent user: $(grep '^Uid:' "/proc/$magent_pid/status" || true)"

exchange "$port" 'set deb-check 0 0 5\r\nhello\r\nget deb-check\r\n' \
    'STORED\r\nVALUE deb-check 0 5\r\nhello\r\nEND\r\n' || fail "set then get through the installed proxy"
exchange "$memcached_port" 'get deb-check\r\n' 'VALUE deb-check 0 5\r\nhello\r\nEND\r\n' \
    || fail "the value set through the proxy is not on the memcached"
# keepalived runs magent-check as nobody: it needs no privileges.
runuser -u nobody -- /usr/bin/magent-check -t 2 127.0.0.1 "$port" || fail "magent-check of the package fails against it"
runuser -u nobody -- /usr/bin/magent-check -q -t 2 127.0.0.1 "$port" || fail "magent-check -q fails against it"

kill -TERM "$magent_pid"
magent_status=0
wait "$magent_pid" || magent_status=$?
forget "$magent_pid"
[ "$magent_status" = 0 ] || fail "SIGTERM: the proxy exited $magent_status, not 0: $(cat "$here/magent.log")"
check_status=0
/usr/bin/magent-check -q -t 1 127.0.0.1 "$port" || check_status=$?
[ "$check_status" = 2 ] || fail "magent-check against a stopped proxy exited $check_status, not 2"
[ -f /var/lib/magent/kept-keys.journal ] || fail "the installed magent kept no journal in /var/lib/magent (--state-dir)"
echo "check-deb: the installed magent (as user magent) served set and get from memcached on 127.0.0.1:$memcached_port; magent-check passed"

# --- upgrade (the same package again): the operator's settings stay --------
: > "$systemctl_log"
dpkg_run -i "$deb"
[ "$(status_of)" = "install ok installed" ] || fail "after reinstalling: $(status_of)"
grep -q "127.0.0.1:$memcached_port" /etc/default/magent || fail "an upgrade replaced the operator's /etc/default/magent"
grep -q "restart magent.service" "$systemctl_log" || fail "an upgrade did not restart magent.service: $(cat "$systemctl_log")"
grep -q "stop magent.service" "$systemctl_log" && fail "an upgrade stopped magent.service (postinst restarts it)"

# --- remove: the program goes, settings and user stay ----------------------
: > "$systemctl_log"
dpkg_run -r magent
[ "$(status_of)" = "deinstall ok config-files" ] || fail "after dpkg -r: $(status_of)"
grep -q "stop magent.service" "$systemctl_log" || fail "prerm did not stop magent.service: $(cat "$systemctl_log")"
for file in /usr/bin/magent /usr/bin/magent-check "$unit" /usr/share/man/man1/magent.1.gz; do
    [ ! -e "$file" ] || fail "dpkg -r left $file"
done
grep -q "127.0.0.1:$memcached_port" /etc/default/magent 2>/dev/null || fail "dpkg -r removed /etc/default/magent"
getent passwd magent >/dev/null || fail "dpkg -r removed the magent user (purge does)"

# --- purge: settings, user, group and enablement go -------------------------
dpkg_run --purge magent
case $(status_of) in "not known" | "unknown ok not-installed") ;; *) fail "after purge: $(status_of)" ;; esac
[ ! -e /etc/default/magent ] || fail "purge left /etc/default/magent"
[ ! -e /var/lib/magent ] || fail "purge left /var/lib/magent"
getent passwd magent >/dev/null && fail "purge left the magent user"
getent group magent >/dev/null && fail "purge left the magent group"
[ ! -e "$wants" ] && [ ! -L "$wants" ] || fail "purge left $wants"
state=$(ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null || true)
grep -q magent <<< "$state" && fail "purge left deb-systemd-helper's state"
while read -r path; do
    [ -d "$path" ] || [ ! -e "$path" ] || fail "purge left $path"
done < "$here/files"

# --- a fresh install after the purge starts again, with a new user ---------
: > "$systemctl_log"
dpkg_run -i "$deb"
getent passwd magent >/dev/null || fail "a reinstall after purge created no user"
grep -q "start magent.service" "$systemctl_log" || fail "a reinstall after purge did not start magent.service"
dpkg_run --purge magent

stop_all
if [ "$failures" -gt 0 ]; then
    echo "check-deb: $failures failures in the installed package" >&2
    exit 1
fi
echo "check-deb: dpkg -i, upgrade, -r and --purge did what Debian's memcached does"
