# relayfleet — the two commands an operator needs:
#   make demo   the main job: a private Tor network on 127.0.0.1 (C tor authorities, relays and
#               a client) with relaynodes in it, real client traffic through them as guard,
#               middle and exit
#   make test   every test: unit, vectors, the interop suite against Debian's real tor, and the
#               container tests with real podman (test-quick: all but the containers)
# Both install the Debian packages they need first (apt-get, as root or through sudo).

APT_PACKAGES := libssl-dev libsodium-dev libsqlite3-dev pkg-config tor openssh-server python3-stem nyx tmux prometheus
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test test-quick test-tsan test-asan demo bench-network migrations clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release -Xswiftc -enforce-exclusivity=unchecked

test: test-quick test-containers

test-quick: deps
	./scripts/gen-migrations --check
	$(SWIFT) build --build-tests
	# Suites that wait synchronously for child processes run on threads of their own
	# (.testThreads, Tests/TestSupport/TestThreads.swift), so the tests run in parallel; at
	# most 4 at a time, so the data-transfer tests are not starved of the 2 cores. The 64 MiB
	# three-relay transfer runs alone afterwards: beside the other suites it slows several-fold.
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=4 $(SWIFT) test --skip-build --skip BulkExitTests
	$(SWIFT) test --skip-build --filter BulkExitTests
	./scripts/privnet check --relaynode-bin "$$($(SWIFT) build --show-bin-path)/relaynode"

# The node's suites (relay core with its cross-loop circuits, exits and the 64 MiB transfer,
# relaynode, node database, protocol, crypto, fuzz regressions) under ThreadSanitizer, and under
# AddressSanitizer, each in a build directory of its own. Every process, relaynode children
# included, writes its reports under .build-X/X-reports; any report fails the run. The
# sanitizers' suppressions (third-party code only) are explained in scripts/sanitizers.
NODE_SUITES = RelayCoreTests|RelayNodeTests|RelayStoreTests|TorProtocolTests|TorCryptoTests|FuzzRegressionTests
test-tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	rm -rf .build-tsan/tsan-reports && mkdir -p .build-tsan/tsan-reports
	TSAN_OPTIONS="halt_on_error=0 suppressions=$(CURDIR)/scripts/sanitizers/tsan.supp print_suppressions=1 log_path=$(CURDIR)/.build-tsan/tsan-reports/tsan" \
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=2 \
	  $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --filter '$(NODE_SUITES)' --skip Bench \
	  > .build-tsan/test.log 2>&1; rc=$$?; grep -E "Test run with" .build-tsan/test.log; \
	  cat .build-tsan/tsan-reports/* 2>/dev/null | grep -E "WARNING: ThreadSanitizer|Matched|^[0-9]+ race:"; \
	  [ $$rc = 0 ] && ! cat .build-tsan/tsan-reports/* 2>/dev/null | grep -q "WARNING: ThreadSanitizer"

test-asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	rm -rf .build-asan/asan-reports && mkdir -p .build-asan/asan-reports
	ASAN_OPTIONS=log_path=$(CURDIR)/.build-asan/asan-reports/asan LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/sanitizers/lsan.supp SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=2 \
	  $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan --filter '$(NODE_SUITES)' --skip Bench \
	  > .build-asan/test.log 2>&1; rc=$$?; grep -E "Test run with" .build-asan/test.log; \
	  ls .build-asan/asan-reports | head; [ $$rc = 0 ] && [ -z "$$(ls .build-asan/asan-reports)" ]

demo: build
	./scripts/privnet demo --relaynode-bin "$$($(SWIFT) build --show-bin-path)/relaynode"

# The issue-5 benchmark: 8 parallel bulk downloads through a relaynode middle vs a C tor
# middle in the same private network (release build).
bench-network: release
	./scripts/privnet bench --relaynode-bin "$$($(SWIFT) build -c release --show-bin-path)/relaynode"

migrations:
	./scripts/gen-migrations

clean:
	rm -rf .build

# Container image, compose and Kubernetes files (containers/), built and run with real podman.
.PHONY: test-containers
test-containers: deps
	./scripts/test-containers
