#!/usr/bin/env bash
# Runs one command against an installed root: a directory holding a root skeleton plus
# `tar -xzf` of the package (test_package.py). Always started as
#   unshare --mount --propagation private bash in_root.sh ROOT MODE [--uid N --gid N] [--rw DIR]... -- COMMAND...
# so every mount made here is private to this command and gone when it exits. Every step `exec`s,
# so COMMAND keeps the PID the caller started: signal it, and read it from its ready file.
#
# The root is assembled as on a Debian host that extracted the package: ROOT/usr is the package's
# files laid over the host's /usr (read-only overlay: libc, OpenSSL, libuv, SQLite, libcurl,
# setpriv), plus /proc, four device nodes, and the host's /opt/swift read-only when it exists
# (debug builds link the Swift runtime from the toolchain; `make package` links it statically, and
# IN_ROOT_TOOLCHAIN=0 leaves it out to show that).
#
# MODE
#   analyze   COMMAND is a host program (systemd-analyze --root=ROOT) run beside the assembled root
#   root      COMMAND runs as root inside the root, root writable: an operator's setup steps
#   service   COMMAND runs the way the unit runs it, as far as can be done without systemd:
#             User=/Group= (--uid/--gid), NoNewPrivileges=, an empty CapabilityBoundingSet=, and
#             ProtectSystem=strict (the whole root read-only except the --rw directories: the
#             unit's StateDirectory= and what the test itself needs to write)
set -euo pipefail
root=$1 mode=$2
shift 2
uid= gid= rw=()
while [ "$1" != "--" ]; do
    case "$1" in
        --uid) uid=$2; shift 2 ;;
        --gid) gid=$2; shift 2 ;;
        --rw) rw+=("$2"); shift 2 ;;
        *) echo "in_root.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
shift

# A mount point of its own, so that `service` can make the root read-only under the submounts.
mount --bind "$root" "$root"
mount -t overlay fleetgate-usr -o "lowerdir=$root/usr:/usr" "$root/usr"
if [ "${IN_ROOT_TOOLCHAIN:-1}" = 1 ] && [ -d /opt/swift ]; then
    mkdir -p "$root/opt/swift"
    mount --bind /opt/swift "$root/opt/swift"
    mount -o remount,bind,ro "$root/opt/swift"
fi
mount -t proc proc "$root/proc"
for node in null zero random urandom; do
    mount --bind "/dev/$node" "$root/dev/$node"
done

case "$mode" in
    analyze)
        exec "$@" ;;
    root)
        exec chroot "$root" "$@" ;;
    service)
        [ -n "$uid" ] && [ -n "$gid" ] || { echo "in_root.sh: service needs --uid and --gid" >&2; exit 2; }
        for dir in "${rw[@]}"; do mount --bind "$root$dir" "$root$dir"; done
        mount -o remount,bind,ro "$root"
        exec chroot "$root" /usr/bin/setpriv --reuid "$uid" --regid "$gid" --clear-groups \
            --no-new-privs --bounding-set -all --inh-caps -all -- "$@" ;;
    *)
        echo "in_root.sh: unknown mode $mode" >&2; exit 2 ;;
esac
