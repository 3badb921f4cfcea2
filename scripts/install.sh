#!/usr/bin/env bash
# `make install`: the built executables, their systemd units, the sysusers.d entry for the
# `fleetgate` user, the example configs and the READMEs, under DESTDIR + PREFIX.
#
#   PREFIX=/usr/local     binaries in PREFIX/bin. Units go where systemd looks for them: PREFIX/lib/systemd/system
#                         for /usr and /usr/local (both are on systemd's unit path), else /etc/systemd/system;
#                         the same rule places sysusers.d/fleetgate.conf.
#   DESTDIR=              staging root (packages); empty = this machine, which also creates the user
#                         (systemd-sysusers) and reloads systemd.
#   CONFIGURATION=release which .build/ directory the executables come from (debug for tests).
#   SYSCONFDIR=/etc       the configs live in SYSCONFDIR/fleetgate; an existing config is never
#                         overwritten (the new example is always in PREFIX/share/fleetgate/examples).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
CONFIGURATION=${CONFIGURATION:-release}
SYSCONFDIR=${SYSCONFDIR:-/etc}
BUILD_DIR=${BUILD_DIR:-.build/$CONFIGURATION}
PREFIX=${PREFIX%/}

case "$PREFIX" in
    /usr|/usr/local) unit_dir=$PREFIX/lib/systemd/system; sysusers_dir=$PREFIX/lib/sysusers.d ;;
    *)               unit_dir=$SYSCONFDIR/systemd/system; sysusers_dir=$SYSCONFDIR/sysusers.d ;;
esac
root=${DESTDIR%/}

# Required executables, then optional ones (built by other targets; skipped with a note).
required=(fleetgate-agent fleetgate-coordinator)
optional=(fleetgate)
for exe in "${required[@]}"; do
    [ -x "$BUILD_DIR/$exe" ] || { echo "install: $BUILD_DIR/$exe is missing: build it first (make release)" >&2; exit 1; }
done
install -d -m 0755 "$root$PREFIX/bin"
for exe in "${required[@]}"; do install -m 0755 "$BUILD_DIR/$exe" "$root$PREFIX/bin/$exe"; done
for exe in "${optional[@]}"; do
    if [ -x "$BUILD_DIR/$exe" ]; then install -m 0755 "$BUILD_DIR/$exe" "$root$PREFIX/bin/$exe"
    else echo "install: note: $BUILD_DIR/$exe not built, skipped"; fi
done

# Units name /usr/local/ in the repository (the default PREFIX); rewrite it to this PREFIX.
install -d -m 0755 "$root$unit_dir" "$root$sysusers_dir"
for unit in Agent/fleetgate-agent.service Coordinator/fleetgate-coordinator.service; do
    sed "s|/usr/local/|$PREFIX/|g" "$unit" > "$root$unit_dir/$(basename "$unit")"
    chmod 0644 "$root$unit_dir/$(basename "$unit")"
done
install -m 0644 Agent/fleetgate.sysusers "$root$sysusers_dir/fleetgate.conf"

install -d -m 0755 "$root$PREFIX/share/fleetgate/examples" "$root$PREFIX/share/doc/fleetgate/Agent" \
    "$root$PREFIX/share/doc/fleetgate/Coordinator"
install -m 0644 Agent/agent.yaml Coordinator/coordinator.yaml "$root$PREFIX/share/fleetgate/examples/"
install -m 0644 Agent/README.md "$root$PREFIX/share/doc/fleetgate/Agent/README.md"
install -m 0644 Coordinator/README.md "$root$PREFIX/share/doc/fleetgate/Coordinator/README.md"

install -d -m 0755 "$root$SYSCONFDIR/fleetgate"
for config in Agent/agent.yaml Coordinator/coordinator.yaml; do
    target=$root$SYSCONFDIR/fleetgate/$(basename "$config")
    if [ -e "$target" ]; then echo "install: kept $target (the new example is in $PREFIX/share/fleetgate/examples)"
    else install -m 0644 "$config" "$target"; fi
done

if [ -z "$root" ]; then
    command -v systemd-sysusers >/dev/null && systemd-sysusers "$sysusers_dir/fleetgate.conf"
    [ -d /run/systemd/system ] && systemctl daemon-reload
    echo "installed under $PREFIX; next: create the tokens in $SYSCONFDIR/fleetgate (Agent/README.md, Coordinator/README.md),"
    echo "then: systemctl enable --now fleetgate-coordinator fleetgate-agent"
fi
