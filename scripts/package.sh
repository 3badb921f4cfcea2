#!/usr/bin/env bash
# `make package`: dist/fleetgate-VERSION-linux-ARCH.tar.gz, laid out for `tar -C / -xzf`.
# It is `make install` (PREFIX=/usr/local) into a staging root, tarred, so the two cannot drift.
# Builds nothing: `make package` builds the release first; the test packages the debug build
# that `make test` already made (CONFIGURATION=debug).
#
#   CONFIGURATION=release   which .build/ directory the executables come from
#   VERSION=                default: the VERSION file if there is one, else the latest v* tag
#                           without the v, else 0.0.0-<commit>
#   OUT_DIR=dist            where the tarball goes; its path is printed on the last line
#   GZIP_LEVEL=9            the test packages ~120 MB of debug executables and passes 1
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIGURATION=${CONFIGURATION:-release}
OUT_DIR=${OUT_DIR:-dist}
if [ -z "${VERSION:-}" ] && [ -s VERSION ]; then VERSION=$(tr -d '[:space:]' < VERSION); fi
if [ -z "${VERSION:-}" ]; then
    if tag=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null); then VERSION=${tag#v}
    else VERSION=0.0.0-$(git rev-parse --short HEAD 2>/dev/null || echo unknown); fi
fi
GZIP_LEVEL=${GZIP_LEVEL:-9}
ARCH=$(uname -m)
name=fleetgate-$VERSION-linux-$ARCH

stage=$(mktemp -d)
list=$stage.list
trap 'rm -rf "$stage" "$list"' EXIT
PREFIX=/usr/local DESTDIR="$stage" CONFIGURATION="$CONFIGURATION" bash scripts/install.sh

mkdir -p "$OUT_DIR"
out=$OUT_DIR/$name.tar.gz
# Only our files and our own directories go in: no `./`, `etc/` or `usr/local/bin/` entries, whose
# owner, mode and time `tar -C / -xzf` would otherwise impose on the host's directories.
(cd "$stage" && find etc usr \( -type f -o -type l -o \( -type d -path '*fleetgate*' \) \) -print | LC_ALL=C sort) > "$list"
# Reproducible: fixed owner and time (the commit's, when known), sorted names.
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar -C "$stage" --no-recursion --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -T "$list" -cf - | gzip -n "-$GZIP_LEVEL" > "$out"
echo "$out"
