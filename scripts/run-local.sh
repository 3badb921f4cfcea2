#!/usr/bin/env bash
# `make run`: one coordinator and one agent joined to it, on this machine.
#   coordinator: agent link 127.0.0.1:7420, admin HTTP + /metrics + dashboard on 127.0.0.1:8080 (bearer token in
#                ./data/admin-token), data in ./data/coordinator; registration open (--allow-new-gateways)
#                so `make join` can add gateways
#   agent gw-1:  MQTT on 0.0.0.0:1883, data in ./data/gw-1, anonymous clients allowed (development profile)
# Ctrl-C stops both. `make join GW=gw-2 PORT=1884` adds another agent from a second terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data/coordinator data/gw-1
[ -s data/token ] || { head -c 24 /dev/urandom | base64 > data/token; chmod 600 data/token; }
[ -s data/admin-token ] || { head -c 24 /dev/urandom | base64 > data/admin-token; chmod 600 data/admin-token; }
echo "admin API: curl -H \"Authorization: Bearer \$(cat data/admin-token)\" http://127.0.0.1:8080/v1/gateways"
echo "CLI:       FLEETGATE_TOKEN_FILE=data/admin-token ./.build/release/fleetgate gateways list   (or: ... fleetgate top)"
echo "dashboard: open http://127.0.0.1:8080/ and paste the token from data/admin-token"

./.build/release/fleetgate-coordinator --listen 127.0.0.1:7420 --http 127.0.0.1:8080 \
    --data-dir data/coordinator --token-file data/token --admin-token-file data/admin-token --allow-new-gateways &
coordinator=$!
trap 'kill "$coordinator" 2>/dev/null || true; wait "$coordinator" 2>/dev/null || true' EXIT INT TERM

./.build/release/fleetgate-agent --listen 0.0.0.0:1883 --data-dir data/gw-1 --allow-anonymous \
    --gateway-id gw-1 --coordinator 127.0.0.1:7420 --token-file data/token ${RUN_FLAGS:-}
