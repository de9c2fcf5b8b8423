# filesight — every target a fresh Debian/Ubuntu machine with Go needs.
# `make up` brings the whole system up; `make test` runs every test.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := $(CURDIR)/bin
DATA_DIR ?= $(CURDIR)/.data
export TEMPORAL_CLI_PATH := $(BIN)/temporal

# Debian packages the analyzers, the sample generator and the browser test use.
APT_PACKAGES := ffmpeg pocketsphinx pocketsphinx-en-us tesseract-ocr tesseract-ocr-eng \
	chromium fonts-dejavu-core ca-certificates
# ... and the database of `make cluster` (PostgreSQL 15 on Debian 12).
CLUSTER_APT_PACKAGES := postgresql
CLUSTER_DATA_DIR ?= $(DATA_DIR)/cluster
CLUSTER_TEST_TIMEOUT ?= 30m

PROGRAMS := worker starter localbox mlengine vault devstack replayer
TEST_TIMEOUT ?= 40m

.PHONY: all deps cluster-deps tools cluster-tools build test unit vet workflowcheck conventions lint fmt bench chaos up upload \
	cluster test-cluster replay-export replay-check describe histories composecheck refcheck mutate clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

# apt_install installs the Debian packages in $(1) that are missing
# (apt-get as root; otherwise it prints the command and fails).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "$@: all Debian packages present"; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "$@: missing$$missing, and this is not a Debian/Ubuntu system: install the equivalents by hand" >&2; exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "$@: missing Debian packages:$$missing" >&2; \
	  echo "$@: run: sudo apt-get update && sudo apt-get install -y$$missing" >&2; exit 1; fi; \
	echo "$@: installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null
endef

deps: ## install missing Debian packages (apt-get as root; otherwise print the command)
	$(call apt_install,$(APT_PACKAGES))

cluster-deps: ## install PostgreSQL for make cluster when missing (as deps does)
	$(call apt_install,$(CLUSTER_APT_PACKAGES))

# The Temporal CLI (dev server + UI) and workflowcheck are pinned in their own
# small modules under tools/, built from the Go module proxy, never downloaded
# as prebuilt binaries. See README "Why the tools have their own modules".
tools: $(BIN)/temporal $(BIN)/workflowcheck $(BIN)/composecheck ## build the pinned Temporal CLI, workflowcheck and composecheck into bin/

$(BIN)/temporal: tools/temporal/go.mod tools/temporal/go.sum
	@echo "tools: building the pinned Temporal CLI (a few minutes the first time)"
	cd tools/temporal && $(GO) build -o $@ github.com/temporalio/cli/cmd/temporal

$(BIN)/workflowcheck: tools/workflowcheck/go.mod tools/workflowcheck/go.sum
	cd tools/workflowcheck && $(GO) build -o $@ go.temporal.io/sdk/contrib/tools/workflowcheck

# gremlins (mutation testing) is pinned in tools/gremlins like the others;
# only make mutate needs it.
$(BIN)/gremlins: tools/gremlins/go.mod tools/gremlins/go.sum
	cd tools/gremlins && $(GO) build -o $@ github.com/go-gremlins/gremlins/cmd/gremlins

$(BIN)/composecheck: tools/composecheck/go.mod tools/composecheck/go.sum tools/composecheck/main.go
	cd tools/composecheck && $(GO) build -o $@ .

# The Temporal server (the one the pinned CLI embeds), its SQL schema tool
# and the UI server, pinned in tools/temporal-server/. Only make cluster and
# make test-cluster need them: about 4 minutes to build the first time.
cluster-tools: $(BIN)/temporal-server $(BIN)/temporal-sql-tool $(BIN)/temporal-ui-server ## build temporal-server, temporal-sql-tool and the UI server into bin/

$(BIN)/temporal-server: tools/temporal-server/go.mod tools/temporal-server/go.sum
	@echo "cluster-tools: building temporal-server (a few minutes the first time)"
	cd tools/temporal-server && $(GO) build -o $@ go.temporal.io/server/cmd/server

$(BIN)/temporal-sql-tool: tools/temporal-server/go.mod tools/temporal-server/go.sum
	cd tools/temporal-server && $(GO) build -o $@ go.temporal.io/server/cmd/tools/sql

$(BIN)/temporal-ui-server: tools/temporal-server/go.mod tools/temporal-server/go.sum
	cd tools/temporal-server && $(GO) build -o $@ github.com/temporalio/ui-server/v2/cmd/server

build: ## build every program into bin/
	$(GO) build -o $(BIN)/ $(addprefix ./,$(PROGRAMS))

vet: ## go vet, with and without the integration tag
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:" $$unformatted >&2; exit 1; fi

workflowcheck: $(BIN)/workflowcheck ## check workflow code for non-determinism
	$(BIN)/workflowcheck ./workflows/...

composecheck: $(BIN)/composecheck ## validate docker-compose.yml with the Compose spec loader (and test the checks)
	cd tools/composecheck && $(GO) test ./...
	$(BIN)/composecheck docker-compose.yml

conventions: ## no program links test code; errors are logged under the key "error" (also part of unit/test)
	$(GO) test -count=1 -run '^(TestProgramsLinkNoTestCode|TestErrorsAreLoggedUnderOneKey)$$' ./internal/program

# The repository must be complete for someone who has only the repository: no
# tracked file may point at the team's private briefing (a relative path into
# "shared", its reference copy, "DESIGN" sections) or at an absolute path of one
# machine. The patterns are spelled with brackets so that they do not match
# this file itself.
REFCHECK_PATTERNS := -e '\.\./shar[e]d' -e 'shared/referenc[e]' -e 'DESIG[N] §' \
	-e '(^|[[:space:]"`(=:])/wor[k]/'

refcheck: ## fail if a tracked file refers to something outside the repository
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "refcheck: not a git checkout; skipped"; exit 0; }; \
	if git grep -n -I -E $(REFCHECK_PATTERNS); then \
	  echo "refcheck: the lines above refer to files outside the repository; describe it in docs/ (see docs/architecture.md) instead" >&2; \
	  exit 1; fi

unit: ## unit and replay tests only (no servers)
	$(GO) test -count=1 ./...

test: deps tools vet workflowcheck composecheck refcheck ## everything: vet, workflowcheck, unit, replay and integration tests
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -tags integration ./...

# Mutation testing of the packages whose logic is pure enough to mutate
# quickly (docs/testing.md). Slow (tens of minutes on 2 cores), so not part of
# make test. One package: make mutate PKG=internal/detect.
mutate: $(BIN)/gremlins ## mutation testing: RESULT mutation <pkg> efficacy=<percent> per package, survivors in .data/mutation/
	GREMLINS=$(BIN)/gremlins OUT=$(DATA_DIR)/mutation bash tools/gremlins/mutate.sh $(PKG)

lint: vet workflowcheck composecheck refcheck conventions ## static checks

fmt:
	gofmt -w $$(git ls-files '*.go')

# make bench measures every figure of docs/benchmarks.md against its baseline
# of the same run and rewrites the figures it measured in the generated part
# of that file, keeping the others (from 35 minutes on 2 cores to over 2 hours
# when the machine is busy with other work). BENCH_ARGS adds flags and names
# figures, flags first: BENCH_ARGS="-files 100 orchestration starter".
BENCH_ARGS ?=
CHAOS_FILES ?= 100
CHAOS_ARGS ?=

bench: deps tools cluster-deps cluster-tools build ## every figure (mlengine, orchestration, starter, history, worker RSS, cluster) against its baseline; writes docs/benchmarks.md
	bash bench/run.sh -write docs/benchmarks.md $(BENCH_ARGS)

chaos: deps tools build ## 100 files through the real programs while everything fails (docs/chaos.md); CHAOS_ARGS="-seed N" repeats a run
	$(GO) build -o $(BIN)/filesight-bench ./bench
	$(BIN)/filesight-bench chaos -files $(CHAOS_FILES) $(CHAOS_ARGS)

up: deps tools build ## bring the whole system up on the embedded defaults and process a sample file
	$(BIN)/devstack -data-dir $(DATA_DIR)

cluster: deps cluster-deps cluster-tools build ## the same system on a Temporal cluster: PostgreSQL, four Temporal services, UI server, two workers
	$(BIN)/devstack -data-dir $(CLUSTER_DATA_DIR) cluster

test-cluster: deps cluster-deps cluster-tools ## on the cluster: 50 files, SIGKILL a worker and the history service, check every result
	$(GO) test -count=1 -tags cluster -timeout $(CLUSTER_TEST_TIMEOUT) -run TestCluster -v ./internal/cluster/

upload: ## upload FILE=path into the inbox of a running `make up` (of `make cluster` with DATA_DIR=.data/cluster)
	@test -n "$(FILE)" || { echo "usage: make upload FILE=path/to/media" >&2; exit 2; }
	$(GO) run ./devstack -data-dir $(DATA_DIR) upload "$(FILE)"

replay-export: ## export histories of closed workflows from a running server into workflows/testdata
	$(GO) run ./replayer export -out workflows/testdata

histories: tools ## re-record workflows/testdata from real dev-server runs (after an intended, versioned change)
	FILESIGHT_RECORD_HISTORIES=1 $(GO) test -count=1 -tags integration -run TestIntegration ./workflows/

replay-check: ## replay the last N closed workflows from a running server (pre-deploy check)
	$(GO) run ./replayer check -last $${N:-50}

describe: ## decoded summary of one run (status, stage, outcome, failure and causes): make describe ID=file-…
	@test -n "$(ID)" || { echo "usage: make describe ID=<workflow id>" >&2; exit 2; }
	$(GO) run ./replayer describe "$(ID)"

clean:
	rm -rf $(BIN)
