#!/usr/bin/env bash
# Profiles the broker under the fan-in QoS 0 scenario and prints its top symbols.
#
#   bench/profile.sh                 # release fleetgate-agent
#   PROFILE_TARGET=mosquitto bench/profile.sh   # the reference peer, same procedure (to compare)
#   PROFILE_SECONDS=8 PROFILE_COUNT=2000000 bench/profile.sh
#
# Method, in order of preference:
#   1. perf record -g with the hardware cycles event, if `perf stat -e instructions true` works;
#   2. perf record -g with the cpu-clock software event (VMs without a PMU, like this machine kind);
#   3. valgrind --tool=callgrind with a reduced message count (much slower; relative costs only).
# Output: bench/results/profile-<target>/ (perf.data or callgrind.out) and the top symbols on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${PROFILE_TARGET:-fleetgate}
SECONDS_=${PROFILE_SECONDS:-6}
COUNT=${PROFILE_COUNT:-3000000}
OUT=bench/results/profile-$TARGET
GEN=.build/release/fleetgate-bench
mkdir -p "$OUT"
rm -rf "$OUT"/tmp; mkdir -p "$OUT"/tmp

[ -x "$GEN" ] || swift build -c release --product fleetgate-bench
command -v perf >/dev/null || apt-get install -y -qq linux-perf || true

method=callgrind
if command -v perf >/dev/null; then
    if perf stat -e instructions true 2>&1 | grep -qv "not supported" && ! perf stat -e instructions true 2>&1 | grep -q "not supported"; then
        method=perf-cycles
    elif perf record -e cpu-clock -o "$OUT/tmp/probe.data" true >/dev/null 2>&1; then
        method=perf-cpu-clock
    fi
fi
echo "profiling $TARGET with $method"

wrap=()
if [ "$method" = callgrind ]; then
    command -v valgrind >/dev/null || apt-get install -y -qq valgrind
    COUNT=${PROFILE_COUNT:-100000}
    wrap=(valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out")
fi

start_broker() {
    case "$TARGET" in
    fleetgate)
        [ -x .build/release/fleetgate-agent ] || swift build -c release --product fleetgate-agent
        "${wrap[@]}" .build/release/fleetgate-agent --listen 127.0.0.1:0 --data-dir "$OUT/tmp/data" \
            --ready-file "$OUT/tmp/ready.json" --log-level warning --allow-anonymous > "$OUT/broker.log" 2>&1 &
        BROKER_PID=$!
        for _ in $(seq 300); do [ -s "$OUT/tmp/ready.json" ] && break; sleep 0.1; done
        [ -s "$OUT/tmp/ready.json" ] || { echo "fleetgate-agent not ready (see $OUT/broker.log)"; kill "$BROKER_PID" 2>/dev/null; exit 1; }
        ENDPOINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"][0])' "$OUT/tmp/ready.json")
        ;;
    mosquitto)
        PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\npersistence false\n' "$PORT" > "$OUT/tmp/m.conf"
        "${wrap[@]}" mosquitto -c "$OUT/tmp/m.conf" > "$OUT/broker.log" 2>&1 &
        BROKER_PID=$!
        ENDPOINT=127.0.0.1:$PORT
        sleep 1
        ;;
    *) echo "PROFILE_TARGET must be fleetgate or mosquitto"; exit 2 ;;
    esac
}

start_broker
trap 'kill "$BROKER_PID" 2>/dev/null || true' EXIT

if [ "${method#perf}" != "$method" ]; then
    event=(); [ "$method" = perf-cpu-clock ] && event=(-e cpu-clock)
    perf record "${event[@]}" -g -F 999 -p "$BROKER_PID" -o "$OUT/perf.data" -- sleep $((SECONDS_ + 2)) \
        > "$OUT/perf-record.log" 2>&1 &
    PERF_PID=$!
    sleep 0.5
    "$GEN" fan-in --qos "${PROFILE_QOS:-0}" --broker "$ENDPOINT" --label "$TARGET" --broker-pid "$BROKER_PID" \
        --count "$COUNT" --seconds "$SECONDS_" | tee "$OUT/run.json"
    wait "$PERF_PID" || true
    kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true
    echo; echo "== top symbols (self time) =="
    perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.5 2>/dev/null \
        | grep -v '^$' | grep -E '^ +[0-9]' | head -40 | { command -v swift >/dev/null && swift demangle --simplified || cat; }
    echo; echo "== top call chains into the hottest symbols: perf report -i $OUT/perf.data --children =="
else
    "$GEN" fan-in --qos "${PROFILE_QOS:-0}" --broker "$ENDPOINT" --label "$TARGET" --count "$COUNT" --seconds 60 | tee "$OUT/run.json"
    kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true
    echo; echo "== top symbols (inclusive instruction counts) =="
    callgrind_annotate --inclusive=no "$OUT/callgrind.out" 2>/dev/null | head -45 \
        | { command -v swift >/dev/null && swift demangle --simplified || cat; }
fi
