#!/usr/bin/env bash
# `make deb`: builds the Debian package from a release binary, with dpkg-deb
# alone (no network, no debhelper, no fakeroot: --root-owner-group).
# Usage: scripts/build-deb.sh BINARY OUTDIR   (prints the path of the .deb)
#
# The files are those `make install PREFIX=/usr` puts in place (one list, in
# the Makefile's install-files), then made Debian's way: the binary stripped,
# the man page gzipped, the unit in /lib/systemd/system (bookworm's place),
# the service running as the package's own `magent` system user. DEBIAN/
# holds the control file (Depends from dpkg-shlibdeps: the libraries the
# binary links, libevent among them), /etc/default/magent as the only
# conffile, md5sums, and the maintainer scripts of packaging/deb.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:?usage: build-deb.sh BINARY OUTDIR}
outdir=${2:?usage: build-deb.sh BINARY OUTDIR}
[ -x "$binary" ] || { echo "build-deb: no binary at $binary" >&2; exit 1; }
binary=$(realpath "$binary")

version_file=Sources/MagentCore/Configuration/MagentVersion.swift
upstream=$(sed -n 's/.*static let number = "\([^"]*\)".*/\1/p' "$version_file")
[ -n "$upstream" ] || { echo "build-deb: no version number in $version_file" >&2; exit 1; }
version=$upstream-${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-magent in Swift maintainers <maintainers@users.noreply.h-seed-4fa13018.example>}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/magent
mkdir -m 0755 "$root"

make -s install-files DESTDIR="$root" PREFIX=/usr UNITDIR=/lib/systemd/system \
    DOCDIR=/usr/share/doc/magent SYSCONFDIR=/etc MAGENT_BINARY="$binary" >/dev/null

# As dh_strip does for executables (the symbol table goes, Swift's metadata stays).
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/magent"
gzip -9n "$root/usr/share/man/man1/magent.1"
# The service runs as the user postinst creates, not as nobody.
sed -i 's/MAGENT_USER=nobody/MAGENT_USER=magent/' \
    "$root/lib/systemd/system/magent.service" "$root/etc/default/magent" \
    "$root/usr/share/doc/magent/magent.default"
install -m 0644 packaging/deb/copyright "$root/usr/share/doc/magent/copyright"
date=$(git log -1 --format=%cD 2>/dev/null || date -R)
{
    echo "magent ($version) unstable; urgency=medium"
    echo
    echo "  * Built from $(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree') by make deb."
    echo
    echo " -- $maintainer  $date"
} | gzip -9n > "$root/usr/share/doc/magent/changelog.Debian.gz"

find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/bin/magent" "$root/usr/bin/magent-check"

mkdir -m 0755 "$root/DEBIAN"
# Every file under /etc is a conffile: dpkg keeps an operator's changes.
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print \
    | sed 's|^\./||' | sort | xargs md5sum) > "$root/DEBIAN/md5sums"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/deb/$script" "$root/DEBIAN/$script"
done

# dpkg-shlibdeps looks up, for each library the binary links, the package that
# ships it and the oldest version with the symbols used (libevent-2.1-7 ...).
mkdir "$stage/debian"
printf 'Source: magent\n\nPackage: magent\nArchitecture: any\n' > "$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O "magent/usr/bin/magent" 2>"$stage/shlibdeps.err") \
    || { cat "$stage/shlibdeps.err" >&2; exit 1; }
depends=${shlibs#shlibs:Depends=}
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@SHLIBS_DEPENDS@|$depends|" \
    packaging/deb/control.in > "$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$(realpath "$outdir")/magent_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
