# Fleetgate: the two commands of the README are `make run` and `make test`.
# Both install what is missing (as root on Debian), build, and go.

SHELL := /bin/bash
APT_BUILD := libuv1-dev libssl-dev libsqlite3-dev libcurl4-openssl-dev pkg-config
# APT_TEST: the reference broker and clients, certificates, network namespaces, chromium (the
# real browser that tests the coordinator's dashboard, Tests/interop/test_dashboard.py), and
# podman + runc: the fabric tests run each gateway and the coordinator in its own container
# (Tests/interop/containers.py; FLEETGATE_E2E=netns runs them in network namespaces instead)
APT_TEST  := mosquitto mosquitto-clients openssl iproute2 chromium podman runc
VENV      := .venv
PYTHON    ?= python3
SWIFT_BUILD_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: run join test build release deps test-deps venv unit interop fuzz bench clean example-client

## run: install missing packages, build release, start a coordinator (HTTP admin on 8080) and one
## agent joined to it (MQTT on 1883); SQLite files under ./data
run: deps release
	RUN_FLAGS="$(RUN_FLAGS)" exec bash scripts/run-local.sh

## join: another agent on this machine, joined to `make run`'s coordinator (GW=gw-2 PORT=1884)
GW ?= gw-2
PORT ?= 1884
join:
	mkdir -p data/$(GW)
	exec ./.build/release/fleetgate-agent --listen 0.0.0.0:$(PORT) --data-dir data/$(GW) --allow-anonymous \
	    --gateway-id $(GW) --coordinator 127.0.0.1:7420 --token-file data/token $(RUN_FLAGS)

## test: install missing packages and the Python venv, build, run every test
test: test-deps venv build example-client
	@echo "== Swift unit and runtime tests"
	swift test $(SWIFT_BUILD_FLAGS) 2>&1 | tee .build/swift-test.log; exit $${PIPESTATUS[0]}
	@echo "== Runtime test that exhausts the process's descriptors (alone, in its own process)"
	FLEETGATE_FD_EXHAUSTION_TESTS=1 swift test $(SWIFT_BUILD_FLAGS) --skip-build --filter DescriptorExhaustionTests
	@echo "== Interop tests: the built agent against paho-mqtt, aiomqtt and mosquitto clients"
	FLEETGATE_AGENT=$(CURDIR)/.build/debug/fleetgate-agent $(VENV)/bin/pytest -q -p no:cacheprovider Tests/interop

build:
	swift build $(SWIFT_BUILD_FLAGS)

## example-client: the C managed-socket device of Protocol/examples/c (plain POSIX, no dependencies)
EXAMPLE_CFLAGS := -std=c99 -Wall -Wextra -Werror -pedantic -O2
example-client: .build/examples/socket-client
.build/examples/socket-client: Protocol/examples/c/socket-client.c
	mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) -o $@ $<

release: deps
	swift build -c release --product fleetgate-agent
	swift build -c release --product fleetgate-coordinator
	swift build -c release --product fleetgate

.PHONY: install package release-static
PREFIX ?= /usr/local
# The CLI is packaged when Package.swift declares it.
PACKAGE_PRODUCTS = fleetgate-agent fleetgate-coordinator $(shell grep -qs 'executable.name: "fleetgate"[^-]' Package.swift && echo fleetgate)

## install: the release executables, hardened systemd units, the `fleetgate` user (sysusers.d) and
## example configs into DESTDIR+PREFIX (default /usr/local); configs in /etc/fleetgate are never overwritten
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash scripts/install.sh

## package: release build, then dist/fleetgate-VERSION-linux-x86_64.tar.gz for `tar -C / -xzf`
package: release-static
	bash scripts/package.sh

# Release executables with the Swift runtime linked in, so the installed ones need only Debian's
# libuv, OpenSSL, SQLite and libcurl (not the toolchain).
release-static: deps
	for p in $(PACKAGE_PRODUCTS); do swift build -c release --static-swift-stdlib --product $$p || exit 1; done

deps:
	@missing=$$(for p in $(APT_BUILD); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

test-deps: deps
	@missing=$$(for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

venv: $(VENV)/.installed
$(VENV)/.installed: Tests/interop/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r Tests/interop/requirements.txt
	touch $@

## fuzz: libFuzzer on the MQTT decoder for FUZZ_SECONDS (default 60)
fuzz:
	swift build --product fleetgate-fuzz-mqtt
	mkdir -p fuzz-corpus/mqtt
	./.build/debug/fleetgate-fuzz-mqtt --write-seeds fuzz-corpus/mqtt
	swift build --scratch-path .build-fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --product fleetgate-fuzz-mqtt
	./.build-fuzz/debug/fleetgate-fuzz-mqtt -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -print_final_stats=1 fuzz-corpus/mqtt

## bench: release build, every scenario against Fleetgate, mosquitto and nats-server; writes BENCHMARKS.md
bench:
	bash bench/run.sh

clean:
	rm -rf .build .build-fuzz $(VENV)
