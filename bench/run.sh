#!/usr/bin/env bash
# `make bench`: install the reference peers (and the openssl CLI), build release binaries, run bench/run.py.
# BENCH_QUICK=1 for a smoke run (1 round, smaller counts). Extra arguments go to run.py.
# FLEETGATE_BENCH_BIN_DIR=DIR: use the release binaries in DIR (built elsewhere) and build nothing here.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # test certificates for the tls-* scenarios
# The managed-sockets scenario: nginx is the webhook endpoint, wrk measures its own ceiling.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
        || echo "warning: could not install ${missing[*]}; those peers will be reported unavailable"
fi

if [ -n "${FLEETGATE_BENCH_BIN_DIR:-}" ]; then
    echo "using the binaries in $FLEETGATE_BENCH_BIN_DIR (no build)"
    exec python3 bench/run.py "$@"
fi

swift build -c release --product fleetgate-bench
# The agent is optional for the harness: a failed build is reported as "fleetgate-agent not built".
if ! swift build -c release --product fleetgate-agent; then
    echo "fleetgate-agent build failed; Fleetgate will be skipped"
    rm -f .build/release/fleetgate-agent
fi
# The coordinator is needed only by the cross-gateway scenario (reported as not built otherwise).
if ! swift build -c release --product fleetgate-coordinator; then
    echo "fleetgate-coordinator build failed; the cross-gateway scenario will report it unavailable"
    rm -f .build/release/fleetgate-coordinator
fi

python3 bench/run.py "$@"
# Socket peering (issue #15): its own small harness, results in bench/results/peering.json.
if [ -x .build/release/fleetgate-agent ]; then
    python3 bench/peering.py --agent .build/release/fleetgate-agent || echo "warning: the peering benchmark failed"
    # Across two gateways (network namespaces when run as root, else loopback): the interop venv's pytest.
    if [ -x .venv/bin/pytest ] && [ -x .build/release/fleetgate-coordinator ]; then
        FLEETGATE_AGENT=$PWD/.build/release/fleetgate-agent FLEETGATE_COORDINATOR=$PWD/.build/release/fleetgate-coordinator \
            .venv/bin/pytest -q -s -p no:cacheprovider Tests/interop/measure_peering_cross.py \
            || echo "warning: the cross-gateway peering benchmark failed"
    fi
fi
