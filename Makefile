# Klavi Link "API Only" demo portal. `make run` and `make test` are the two commands a newcomer needs;
# `make help` lists the others.
-include .env

GO       ?= go
BIN      ?= bin/portal
# playwright-go drives a system chromium through the playwright-core driver, installed by e2e-deps into an
# absolute, git-ignored directory (a relative PLAYWRIGHT_DRIVER_PATH would make it try to download).
DRIVER_ROOT   := $(CURDIR)/.cache/playwright-driver
CHROMIUM_PATH ?= /usr/bin/chromium
PW_MODULE     := github.com/playwright-community/playwright-go
# axe-core checks every page the e2e suite visits for accessibility (e2e/axe_test.go); pinned, from npm.
AXE_VERSION   := 4.14.1
AXE_DIR       := $(CURDIR)/.cache/axe-core/$(AXE_VERSION)
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZTIME      ?= 10s
# What the diagnostics page shows of the build. Go's own build information has the commit too, unless VCS stamping
# is off (-buildvcs=false), so the build target stamps it as well.
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT        ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS       := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildTime=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: run
run: ## build and start the portal with the embedded Klavi sandbox
	$(GO) run .

.PHONY: help
help: ## list the targets and what they do
	@awk -F ':.*## ' '/^[a-zA-Z0-9_-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

.PHONY: build
build: ## build the portal binary (BIN, default bin/portal)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

.PHONY: generate
generate: ## regenerate templ components (*_templ.go are committed)
	$(GO) tool templ generate

.PHONY: check-generated
check-generated: ## fail when committed *_templ.go files are stale
	$(GO) tool templ generate
	@git diff --exit-code -- '*_templ.go' || { echo "generated templ files are stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- '*_templ.go')" || { echo "uncommitted generated templ files:"; git status --porcelain -- '*_templ.go'; exit 1; }

.PHONY: lint
lint: check-generated ## golangci-lint (.golangci.yml: gofmt, vet, staticcheck, gosec, forbidigo, ...), vet of each e2e variant, templ fmt
	$(GO) tool golangci-lint run ./...
	$(GO) vet -tags e2e ./e2e/...
	$(GO) vet -tags load ./e2e/...
	$(GO) tool templ fmt -fail .

.PHONY: e2e-deps
e2e-deps: ## install Debian's chromium, the playwright-core driver pinned by playwright-go and axe-core (idempotent)
	@if [ ! -x /usr/lib/chromium/chromium ]; then \
		echo "e2e-deps: installing chromium from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi
	@$(GO) mod download $(PW_MODULE)
	@v=$$(sed -n 's/^const playwrightCliVersion = "\(.*\)"/\1/p' "$$($(GO) list -m -f '{{.Dir}}' $(PW_MODULE))/run.go"); \
	test -n "$$v" || { echo "e2e-deps: cannot read playwrightCliVersion from $(PW_MODULE)"; exit 1; }; \
	d="$(DRIVER_ROOT)/$$v"; \
	if [ ! -f "$$d/package/cli.js" ]; then \
		echo "e2e-deps: installing playwright-core@$$v from npm into $$d"; \
		mkdir -p "$$d" && (cd "$$d" && npm pack --silent "playwright-core@$$v" >/dev/null && tar xzf "playwright-core-$$v.tgz" && rm "playwright-core-$$v.tgz"); \
	fi; \
	ln -sfn "$$(command -v node)" "$$d/node"; \
	echo "$$d" > $(DRIVER_ROOT)/current
	@if [ ! -f "$(AXE_DIR)/package/axe.min.js" ]; then \
		echo "e2e-deps: installing axe-core@$(AXE_VERSION) from npm into $(AXE_DIR)"; \
		mkdir -p "$(AXE_DIR)" && (cd "$(AXE_DIR)" && npm pack --silent "axe-core@$(AXE_VERSION)" >/dev/null && tar xzf "axe-core-$(AXE_VERSION).tgz" && rm "axe-core-$(AXE_VERSION).tgz"); \
	fi

.PHONY: pg-deps
pg-deps: ## install Debian's postgresql if its server binaries are missing (the store tests start their own cluster)
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then \
		echo "pg-deps: installing postgresql from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	fi

# STORE_REQUIRE_POSTGRES=1: the PostgreSQL halves of the store and flow tests, and the e2e replica test, fail instead
# of skipping when no server can be started.
.PHONY: unit
unit: pg-deps ## vet + unit tests with the race detector; the store's tests run on SQLite and on PostgreSQL
	$(GO) vet ./...
	STORE_REQUIRE_POSTGRES=1 $(GO) test -race -count=1 -shuffle=on ./...

.PHONY: e2e
e2e: pg-deps e2e-deps ## end-to-end tests: the real portal in headless chromium (TestReplicas: two replicas on a throwaway PostgreSQL)
	STORE_REQUIRE_POSTGRES=1 PLAYWRIGHT_DRIVER_PATH="$$(cat $(DRIVER_ROOT)/current)" CHROMIUM_PATH=$(CHROMIUM_PATH) AXE_PATH=$(AXE_DIR)/package/axe.min.js \
		$(GO) test -tags e2e -count=1 -timeout 15m ./e2e/...

.PHONY: test
test: pg-deps e2e-deps lint unit e2e ## everything CI runs

.PHONY: cluster
cluster: build pg-deps ## two replicas on a throwaway PostgreSQL behind haproxy on loopback (scripts/cluster.sh); Ctrl-C stops all
	@command -v haproxy >/dev/null || { echo "cluster: installing haproxy from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq haproxy >/dev/null; }
	scripts/cluster.sh $(BIN)

.PHONY: load
load: ## webhook load test, not part of make test: 50 deliveries/s + 200 slowloris for LOAD_SECONDS (default 60)
	$(GO) test -tags load -count=1 -run TestWebhookLoad -timeout 10m -v ./e2e/

# A load test with a goal, not part of make test (docs/benchmarks.md#200-users-walking-the-flow): it fails on any
# failed request or walk, or a peak RSS above 100 MB. LOAD_PROFILE_DIR=dir also saves heap, goroutine and CPU profiles;
# LOAD_USERS, LOAD_THINK_MS, LOAD_ONCE=1 and LOAD_PORTAL_ENV change the scenario.
.PHONY: load-flow
load-flow: ## 200 users walk the whole flow for LOAD_SECONDS (default 60), not part of make test: peak RSS, per-step latency, errors
	$(GO) test -tags load -count=1 -run '^TestFlowLoad$$' -timeout 15m -v ./e2e/

# A measurement with a goal, not part of make test (docs/benchmarks.md#start-to-ready): a fresh database each time,
# exec to the first 200 from /healthz; it fails when the median is above 150 ms.
.PHONY: bench-start
bench-start: ## start the built binary START_RUNS times (default 10) on a fresh database: median and max time to /healthz 200
	$(GO) test -tags load -count=1 -run '^TestStartToReady$$' -timeout 10m -v ./e2e/

# go test -fuzz accepts one target per package and run, so each Fuzz* function found in the test files gets its own.
.PHONY: fuzz
fuzz: ## short fuzz runs of the parsers and tax-id rules: every Fuzz* target, FUZZTIME each (default 10s)
	@grep -rHo --include='*_test.go' --exclude-dir=.git --exclude-dir=.cache '^func Fuzz[A-Za-z0-9_]*' . | \
	sed 's|/[^/]*:func | |' | sort | \
	while read -r dir target; do \
		echo "fuzz: $$target in $$dir for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) "$$dir" || exit 1; \
	done

.PHONY: bench
bench: ## benchmarks of every package
	$(GO) test -run='^$$' -bench=. -benchmem ./...

.PHONY: bench-compare
bench-compare: ## the load kit (BENCH_KIT, default ../shared/bench) on a fresh build: /, /institutions, a consent page, a report page vs a bare server, one ratio table
	$(GO) build -tags benchharness -trimpath -o bin/portal-bench .
	BENCH_KIT=$(or $(BENCH_KIT),../shared/bench) scripts/bench-compare.sh bin/portal-bench

# A measurement, not a test with a limit: the ordinary e2e run skips TestFlowTiming (docs/benchmarks.md#whole-flow-in-chromium).
.PHONY: bench-flow
bench-flow: e2e-deps ## whole flow in chromium, start page to a report's transactions, default timings: 1 warm-up + 5 runs, median and steps
	FLOW_TIMING=1 PLAYWRIGHT_DRIVER_PATH="$$(cat $(DRIVER_ROOT)/current)" CHROMIUM_PATH=$(CHROMIUM_PATH) \
		$(GO) test -tags e2e -count=1 -run '^TestFlowTiming$$' -v -timeout 10m ./e2e/

.PHONY: clean
clean: ## remove the binary, local databases and e2e artifacts
	rm -rf bin data/*.db data/*.db-wal data/*.db-shm e2e/artifacts
