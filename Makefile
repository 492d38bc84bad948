# relayfleet — the two commands an operator needs:
#   make demo   the main job: a local relay identity made, inspected, and proven against C tor
#   make test   every test (unit, vectors, and interop with Debian's real tor)
# Both install the Debian packages they need first (apt-get, as root or through sudo).

APT_PACKAGES := libssl-dev libsodium-dev libsqlite3-dev pkg-config tor
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test demo migrations clean

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

test: deps
	./scripts/gen-migrations --check
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	./scripts/demo

migrations:
	./scripts/gen-migrations

clean:
	rm -rf .build

# Container image, compose and Kubernetes files (containers/), built and run with real podman.
.PHONY: test-containers
test-containers: deps
	./scripts/test-containers
