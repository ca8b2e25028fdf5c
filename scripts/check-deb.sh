#!/usr/bin/env bash
# Checks `make deb` (run by `make test`; part 2 as root): builds the package, then
#  1. its metadata, lintian-style: control fields, Depends naming the package
#     of every library the binary links (libevent's among them) at a version
#     this machine satisfies, conffiles, md5sums, owners and modes, the
#     maintainer scripts, the file list, gzip -n, the stripped binary with no
#     rpath and no library from the Swift toolchain (ldd);
#  2. the package on a copy of this machine where the toolchain is not: in a
#     private mount and PID namespace (unshare), an overlay over / with its
#     writes going to a tmpfs, an empty tmpfs mounted over the toolchain's
#     directory (/opt/swift), then chroot. There dpkg installs, upgrades,
#     removes and purges it (scripts/lib/check-deb-chroot.sh: the maintainer
#     scripts' user, enablement and systemctl calls), and the installed
#     binary, started with the unit's command line and /etc/default/magent,
#     serves a set and a get from a memcached on a free loopback port, with
#     the installed magent-check passing against it.
# Nothing it does reaches the real system: the namespace's mounts, the
# overlay's writes and every process it started end with it.
# Usage: scripts/check-deb.sh
set -euo pipefail
# A command that fails outside a test (set -e) says where.
trap 'echo "check-deb: stopped by a failed command at line $LINENO: $BASH_COMMAND" >&2' ERR
self=$(realpath "$0")
cd "$(dirname "$self")/.."

if [ "${1:-}" = --namespace ]; then
    # Inside `unshare --mount --pid --fork`: PID 1 of a fresh PID namespace,
    # mounts private to it. $2: scratch folder, $3: the .deb, $4: the toolchain.
    ns=$2/ns deb=$3 toolchain=$4
    mount -t tmpfs -o mode=0755 tmpfs "$ns"
    mkdir "$ns/upper" "$ns/overlay-work" "$ns/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$ns/upper,workdir=$ns/overlay-work" "$ns/root"
    root=$ns/root
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    # The toolchain's directory, empty: what a memcached host without Swift has.
    mount -t tmpfs -o mode=0755,size=64k tmpfs "$root$toolchain"
    mkdir -m 0755 "$root/tmp/check"
    cp "$deb" "$root/tmp/check/magent.deb"
    cp scripts/lib/check-deb-chroot.sh scripts/lib/ports.sh "$2/control-program" "$root/tmp/check/"
    status=0
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        bash /tmp/check/check-deb-chroot.sh /tmp/check/magent.deb "$toolchain" || status=$?
    exit "$status"
fi

# The namespace, the mounts and the chroot need root: sudo for them alone, as
# install-deps.sh does for apt-get (the build and the metadata checks run as
# the caller).
as_root=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo); fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "check-deb: FAIL: $*" >&2; failures=$((failures + 1)); }

if ! make -s deb DEBDIR="$work/out" > "$work/make-deb.log" 2>&1; then
    cat "$work/make-deb.log" >&2
    echo "check-deb: make deb failed" >&2
    exit 1
fi
debs=("$work"/out/magent_*.deb)
[ "${#debs[@]}" = 1 ] && [ -f "${debs[0]}" ] || { echo "check-deb: make deb made no single package: ${debs[*]}" >&2; exit 1; }
deb=${debs[0]}
swift_path=$(command -v swift) || { echo "check-deb: no swift on PATH to locate the toolchain" >&2; exit 1; }
toolchain=$(dirname "$(dirname "$(dirname "$(realpath "$swift_path")")")")
# Hidden under an empty tmpfs below: only a folder of its own, as /opt/swift.
case $toolchain in
    / | /usr | /usr/local | /opt) echo "check-deb: the toolchain lives in $toolchain, which cannot be hidden" >&2; exit 1 ;;
esac
arch=$(dpkg --print-architecture)

# --- control fields ---------------------------------------------------------
field() { dpkg-deb --field "$deb" "$1"; }
for name in Package Version Architecture Maintainer Installed-Size Depends Section Priority Description; do
    [ -n "$(field "$name")" ] || fail "control field $name missing"
done
[ "$(field Package)" = magent ] || fail "Package is $(field Package)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture is $(field Architecture), not $arch"
version=$(field Version)
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*-[0-9A-Za-z.+~]+$ ]] || fail "Version $version is not upstream-revision"
[ "$(basename "$deb")" = "magent_${version}_${arch}.deb" ] || fail "package file named $(basename "$deb")"
grep -q "^$(sed -n 's/.*static let number = "\([^"]*\)".*/\1/p' Sources/MagentCore/Configuration/MagentVersion.swift)-" <<< "$version" \
    || fail "Version $version is not the program's version"
[[ $(field Maintainer) =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] || fail "Maintainer is not 'name <address>'"
# (No `producer | head` or `producer | grep -q` here: with pipefail the
# producer's SIGPIPE would fail the pipeline.)
description=$(field Description)
summary=${description%%$'\n'*}
[ "${#summary}" -le 80 ] && [ -n "$summary" ] || fail "Description summary is empty or longer than 80 characters"
[ "$(wc -l <<< "$description")" -ge 3 ] || fail "Description has no long description"
depends=$(field Depends)
pre_depends=$(field Pre-Depends)
grep -q "init-system-helpers" <<< "$pre_depends" || fail "no Pre-Depends on init-system-helpers (deb-systemd-helper)"
grep -qw adduser <<< "$depends" || fail "no Depends on adduser (postinst)"

dpkg-deb -x "$deb" "$work/root"
dpkg-deb -e "$deb" "$work/control"
root=$work/root
binary=$root/usr/bin/magent

# Every library the binary loads belongs to a package the Depends line names,
# at a version this machine has; the libevent runtime is one of them.
ldd_output=$(ldd "$binary" 2>&1) || fail "ldd $binary failed"
echo "check-deb: ldd /usr/bin/magent (as packaged):"
sed 's/^/    /' <<< "$ldd_output"
grep -q "not found" <<< "$ldd_output" && fail "the packaged binary misses libraries: $ldd_output"
if grep -E -e "$toolchain/" -e 'libswift|libdispatch|libBlocksRuntime|Foundation|libicu' <<< "$ldd_output"; then
    fail "the packaged binary loads a library of the Swift toolchain"
fi
libevent_package=
while read -r library; do
    owner=
    for candidate in "$library" "/usr$library" "$(realpath "$library")"; do
        owner=$(dpkg -S "$candidate" 2>/dev/null | sed -n '1s/:.*//p') && [ -n "$owner" ] && break
    done
    if [ -z "$owner" ]; then fail "no package ships $library"; continue; fi
    case $library in */libevent*) libevent_package=$owner ;; esac
    clause=$(tr ',' '\n' <<< "$depends" | sed 's/^ *//' | awk -v name="$owner" '$1 == name && !found { print; found = 1 }')
    if [ -z "$clause" ]; then fail "Depends does not name $owner (for $library)"; continue; fi
    minimum=$(sed -n 's/^[^ ]* (>= \(.*\))$/\1/p' <<< "$clause")
    installed=$(dpkg-query -W -f='${Version}\n' "$owner" 2>/dev/null | sed -n 1p)
    if [ -n "$minimum" ] && ! dpkg --compare-versions "$installed" ge "$minimum"; then
        fail "Depends asks $clause, this machine has $owner $installed"
    fi
done < <(grep -o '/[^ ]*\.so[^ ]*' <<< "$ldd_output" | sort -u)
[ -n "$libevent_package" ] || fail "the binary does not link libevent"
echo "check-deb: Depends: $depends (libevent from $libevent_package)"

elf=$(readelf -d "$binary")
grep -E "RPATH|RUNPATH" <<< "$elf" && fail "the binary carries an rpath"
needed=$(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<< "$elf")
while read -r library; do
    case $library in
        libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|ld-linux*|libevent-*.so.*) ;;
        *) fail "the binary needs $library (only libc, libm, libstdc++, libgcc_s and libevent expected)" ;;
    esac
done <<< "$needed"
sections=$(readelf -S "$binary")
grep -q '\.symtab' <<< "$sections" && fail "the binary is not stripped"
usage=$("$binary" -h 2>&1 || true)
grep -q -- "--metrics-port" <<< "$usage" || fail "the packaged magent -h does not run"

# --- files, owners, modes -------------------------------------------------
expected_files="./etc/default/magent
./lib/systemd/system/magent.service
./usr/bin/magent
./usr/bin/magent-check
./usr/share/doc/magent/changelog.Debian.gz
./usr/share/doc/magent/copyright
./usr/share/doc/magent/keepalived.conf
./usr/share/doc/magent/magent.default
./usr/share/man/man1/magent.1.gz"
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort)
[ "$files" = "$expected_files" ] || fail "the package's files are not the expected ones: $(diff <(echo "$expected_files") <(echo "$files") || true)"
while read -r mode owner _ _ _ path _; do
    [ "$owner" = root/root ] || fail "$path owned by $owner"
    case $mode:$path in
        d*:*) [ "$mode" = drwxr-xr-x ] || fail "$path is $mode, not drwxr-xr-x" ;;
        *:./usr/bin/*) [ "$mode" = -rwxr-xr-x ] || fail "$path is $mode, not -rwxr-xr-x" ;;
        *) [ "$mode" = -rw-r--r-- ] || fail "$path is $mode, not -rw-r--r--" ;;
    esac
done < <(dpkg-deb -c "$deb")

[ "$(cat "$work/control/conffiles")" = /etc/default/magent ] || fail "conffiles is not exactly /etc/default/magent: $(cat "$work/control/conffiles")"
while read -r conffile; do
    [ -f "$root$conffile" ] || fail "conffile $conffile is not in the package"
done < "$work/control/conffiles"
(cd "$root" && md5sum --quiet -c "$work/control/md5sums") || fail "md5sums do not match the files"
summed=$(awk '{ print "./" $2 }' "$work/control/md5sums" | sort)
unsummed=$(grep -v '^\./etc/' <<< "$expected_files")
[ "$summed" = "$unsummed" ] || fail "md5sums does not list every file outside /etc"
for file in control conffiles md5sums; do
    [ "$(stat -c %a "$work/control/$file")" = 644 ] || fail "DEBIAN/$file is not 0644"
done
for script in postinst prerm postrm; do
    file=$work/control/$script
    [ -f "$file" ] || { fail "no $script"; continue; }
    [ "$(stat -c %a "$file")" = 755 ] || fail "$script is not 0755"
    [ "$(head -1 "$file")" = "#!/bin/sh" ] || fail "$script does not start with #!/bin/sh"
    grep -q '^set -e$' "$file" || fail "$script does not set -e"
    dash -n "$file" || fail "$script is not valid sh"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst adds no system user"
grep -q "deb-systemd-helper enable 'magent.service'" "$work/control/postinst" || fail "postinst does not enable the unit"
for file in usr/share/man/man1/magent.1.gz usr/share/doc/magent/changelog.Debian.gz; do
    gzip -t "$root/$file" || fail "$file is not gzip"
    [ "$(od -An -tx1 -j4 -N4 "$root/$file" | tr -d ' \n')" = 00000000 ] || fail "$file carries a timestamp (gzip -n)"
done
if command -v man >/dev/null 2>&1; then
    warnings=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/man1/magent.1.gz" 2>&1 >/dev/null || true)
    [ -z "$warnings" ] || fail "man page warnings: $warnings"
    page=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/magent.1.gz" 2>/dev/null || true)
    grep -q "stats servers" <<< "$page" || fail "the packaged man page does not render"
fi
unit=$root/lib/systemd/system/magent.service
grep -q '^ExecStart=/usr/bin/magent -D -u ${MAGENT_USER} ' "$unit" || fail "the unit does not start /usr/bin/magent"
grep -q '^Environment=MAGENT_USER=magent ' "$unit" || fail "the unit does not run as magent"
grep -q '^EnvironmentFile=-/etc/default/magent$' "$unit" || fail "the unit does not read /etc/default/magent"
grep -q -- ' --state-dir /var/lib/magent ' "$unit" || fail "the unit does not journal kept keys in /var/lib/magent"
grep -q '^MAGENT_USER=magent$' "$root/etc/default/magent" || fail "/etc/default/magent does not name the magent user"
grep -q 'script "/usr/bin/magent-check ' "$root/usr/share/doc/magent/keepalived.conf" \
    || fail "keepalived.conf does not call /usr/bin/magent-check"
installed_size=$(du -sk "$root" | cut -f1)
declared=$(field Installed-Size)
[ $((installed_size - declared)) -le 16 ] && [ $((declared - installed_size)) -le 16 ] \
    || fail "Installed-Size $declared, the files take $installed_size KiB"

# --- the package where the toolchain is not --------------------------------
# A control: a program of the toolchain, linked to its libswiftCore.so, runs
# here with the toolchain's library folder on LD_LIBRARY_PATH; in the
# namespace the same call must fail, or the toolchain was not hidden.
cp "$toolchain/usr/bin/swift-demangle" "$work/control-program"
LD_LIBRARY_PATH=$toolchain/usr/lib/swift/linux "$work/control-program" --help >/dev/null 2>&1 \
    || fail "the control program does not run even with the toolchain"
mkdir "$work/ns"
namespace_status=0
"${as_root[@]}" timeout --kill-after=10 300 unshare --mount --propagation private --pid --fork --kill-child \
    bash "$self" --namespace "$work" "$deb" "$toolchain" || namespace_status=$?
[ "$namespace_status" = 0 ] || fail "the installed package's checks failed (status $namespace_status)"

if [ "$failures" -gt 0 ]; then
    echo "check-deb: $failures failures" >&2
    exit 1
fi
echo "check-deb: $(basename "$deb") builds, its metadata is sound, and it installs, serves and purges where the toolchain is not"
